"""Algorithm 1's operator policy (004 V.C) and the crowdsourcees' answers to it.

For each interval the operator solves CES-ID (`incentives.design`) and turns the awards into
integer offers (line 4): energy in Wh, the DLMP and the incentive in milli-cents per kWh. A
participant accepts (line 6) or refuses. On a refusal the operator raises the incentive (line 8),
by `raise_ppm` each time, at most `max_raises` times and to at most `raise_cap_ppm` of the first
incentive (the threshold), within the budget left; it updates that participant's eta and zeta for
the CES-ID of later intervals (line 9): eta up (it costs more), zeta down (steering it to its
equilibrium is worth less), and its incentive floor up to what it refused. Past the threshold, or
with no budget left, the energy comes from traditional generation (line 10): a supplement.

The participants' side (whether they accept, what their meters show) is `participant`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from market.ces.assets import BusAssets
from market.ces.incentives import Candidate, IncentiveDesign
from market.ces.opf import BusSchedule, OpfResult

PPM = 1_000_000
MAX_PRICE = (1 << 31) - 1  # the kernels' price bound, milli-cents per kWh
MAX_WH = (1 << 24) - 1  # and energy bound
MAX_FLOOR = 1.0  # an incentive floor never exceeds the DLMP itself


@dataclass(frozen=True)
class Policy:
    """Algorithm 1's knobs. eta_step/zeta_step: a refusal multiplies the participant's eta by
    1 + eta_step and its zeta by 1 - zeta_step (line 9)."""

    max_raises: int
    raise_cap_ppm: int  # a raised incentive is at most this share of the first (line 8's threshold)
    raise_ppm: int  # each raise adds this share of the current incentive
    eta_step: float
    zeta_step: float

    def __post_init__(self) -> None:
        if self.max_raises < 0 or self.raise_cap_ppm < PPM or self.raise_ppm <= 0:
            raise ValueError("policy: max_raises >= 0, raise_cap_ppm >= 1,000,000 and raise_ppm > 0")
        if self.eta_step < 0 or not 0 <= self.zeta_step < 1:
            raise ValueError("policy: eta_step >= 0 and 0 <= zeta_step < 1")


@dataclass(frozen=True)
class Weights:
    """The operator's view of one participant for CES-ID (2a): eta, zeta and the incentive floor
    (a share of the DLMP), learnt from its answers."""

    eta: float
    zeta: float
    floor: float


@dataclass(frozen=True)
class Offer:
    """An offer as the contract holds it: integers."""

    participant: int
    interval: int
    energy_wh: int
    dlmp: int  # milli-cents per kWh
    incentive: int  # milli-cents per kWh
    first_incentive: int
    raises: int = 0

    @property
    def escrow(self) -> int:
        """What the contract sets aside for it: energy_wh * (dlmp + incentive) // 1000."""
        return escrow(self.energy_wh, self.dlmp, self.incentive)


def escrow(energy_wh: int, dlmp: int, incentive: int) -> int:
    return energy_wh * (dlmp + incentive) // 1000


def offers(interval: int, design: IncentiveDesign, dlmp: dict[int, float]) -> list[Offer]:
    """Algorithm 1 line 4: CES-ID's awards as integer offers; an award under 1 Wh is no offer.
    The incentive rounds up (lambda^a > 0, 004 eq. 2c), the energy down (never more than awarded)."""
    out = []
    for award in design.awards:
        energy = min(math.floor(award.energy_wh), MAX_WH)
        price = min(max(1, round(dlmp[award.participant])), MAX_PRICE)
        incentive = min(max(1, math.ceil(award.incentive)), MAX_PRICE - price)
        if energy >= 1:
            out.append(Offer(award.participant, interval, energy, price, incentive, incentive))
    return out


def raised(policy: Policy, offer: Offer, budget_left: int) -> Offer | None:
    """Algorithm 1 line 8: the offer with its incentive raised, or None when it is at its
    threshold (`max_raises`, `raise_cap_ppm` of the first incentive) or the budget cannot pay."""
    cap = offer.first_incentive * policy.raise_cap_ppm // PPM
    incentive = min(offer.incentive + max(1, offer.incentive * policy.raise_ppm // PPM), cap, MAX_PRICE - offer.dlmp)
    if offer.raises >= policy.max_raises or incentive <= offer.incentive:
        return None
    bigger = replace(offer, incentive=incentive, raises=offer.raises + 1)
    return bigger if bigger.escrow - offer.escrow <= budget_left else None


def learn(policy: Policy, weights: Weights, refused: Offer) -> Weights:
    """Algorithm 1 line 9, after a refusal: eta up, zeta down, and the floor at least the refused
    incentive one raise up, so later intervals start where this one left off."""
    floor = refused.incentive * (PPM + policy.raise_ppm) / PPM / refused.dlmp
    return Weights(weights.eta * (1 + policy.eta_step), weights.zeta * (1 - policy.zeta_step),
                   min(MAX_FLOOR, max(weights.floor, floor)))


@dataclass(frozen=True)
class Outcome:
    """How one offer ended: accepted (at `offer`'s incentive) or supplemented."""

    offer: Offer
    accepted: bool


class Negotiation:
    """Algorithm 1 lines 5-11 for one interval's offers, one round at a time: the participants
    answer every open offer (`answer`), then `next_round` raises the refused ones it can and
    supplements the rest. The caller (a test, or the scenario through the chain) drives it."""

    def __init__(self, policy: Policy, weights: dict[int, Weights], offers: list[Offer], budget_left: int) -> None:
        self.policy = policy
        self.weights = weights
        self.open = list(offers)
        self.refused: list[Offer] = []
        self.outcomes: list[Outcome] = []
        self.budget_left = budget_left
        self.raised = 0

    def answer(self, offer: Offer, accepted: bool) -> None:
        self.open.remove(offer)
        if accepted:
            self.outcomes.append(Outcome(offer, True))
        else:
            self.refused.append(offer)
            self.weights[offer.participant] = learn(self.policy, self.weights[offer.participant], offer)

    def next_round(self) -> tuple[list[Offer], list[Offer]]:
        """(raised offers, open again; refused offers the operator supplements)."""
        if self.open:
            raise ValueError("every open offer needs its answer before the next round")
        more, supplemented = [], []
        for offer in self.refused:
            bigger = raised(self.policy, offer, self.budget_left)
            if bigger is None:
                supplemented.append(offer)
                self.outcomes.append(Outcome(offer, False))
            else:
                self.budget_left -= bigger.escrow - offer.escrow
                more.append(bigger)
        self.refused, self.open = [], more
        self.raised += len(more)
        return more, supplemented

    @property
    def done(self) -> bool:
        return not self.open and not self.refused


def equilibrium_wh(schedule: BusSchedule, interval_minutes: int) -> list[int]:
    """A participant's CES-OPF set-points u^eq as the chain holds them: its assets' net injection
    (solar + battery discharge - battery charge) in Wh per interval, negative while it charges."""
    return [p - c for p, c in (schedule.der_wh(t, interval_minutes) for t in range(len(schedule.solar_kw)))]


def candidates(t: int, participants: dict[int, int], opf: OpfResult, assets: dict[int, BusAssets],
               weights: dict[int, Weights], interval_minutes: int) -> list[Candidate]:
    """CES-ID's inputs at interval t for the Type 2 participants (participant -> bus) whose
    equilibrium injects: u^eq from CES-OPF, and at most what its solar and battery could give at
    full power (U^a)."""
    hours = interval_minutes / 60
    out = []
    for participant, bus in sorted(participants.items()):
        export_kw = opf.buses[bus].der_export_kw[t]
        if export_kw * hours * 1000 < 1:
            continue
        a = assets[participant]
        capability_kw = a.pv_kw[t] + a.battery_kw
        w = weights[participant]
        out.append(Candidate(participant, opf.dlmp[bus][t], export_kw * hours * 1000, capability_kw * hours * 1000,
                             w.eta, w.zeta, w.floor))
    return out
