"""A Type 2 crowdsourcee's side of Algorithm 1: whether it accepts an offer, and what its meter
shows it did.

Each participant has a reservation incentive (a share of its DLMP) and accepts an offer whose
incentive is at least that. 004's own run assumes every crowdsourcee accepts
(`Acceptance.everyone`); `Acceptance.drawn` draws reservations from the scenario's seed, so
refusals, raises and supplements happen.

Its certified meter measures its crowdsourced assets, the solar panels and the battery (004 IV:
incentives steer p^r and p^b; the uncontrollable and shapable loads sit behind the household's
own meter and follow the CES-OPF schedule at the DLMP). What it certifies for an interval: when it
accepted an offer, the offer's energy as net injection (the set-point; its battery makes up any
difference from the CES-OPF schedule); when it refused, its own preference (its battery idle: it
will not cycle it for that price); with no offer, the CES-OPF schedule it received.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from market.ces.operator_policy import PPM, Offer
from market.ces.opf import BusSchedule


@dataclass(frozen=True)
class Acceptance:
    """Each participant's reservation incentive, in ppm of its DLMP: it accepts an offer whose
    incentive is at least that. All zero: everyone accepts everything (004 VI)."""

    reservation_ppm: tuple[int, ...]

    @classmethod
    def everyone(cls, participants: int) -> "Acceptance":
        return cls((0,) * participants)

    @classmethod
    def drawn(cls, participants: int, seed: int, max_ppm: int) -> "Acceptance":
        """Reservations drawn uniformly from 0..max_ppm, one per participant, from `seed`."""
        rng = random.Random(f"ces-acceptance/{seed}")
        return cls(tuple(rng.randint(0, max_ppm) for _ in range(participants)))

    def accepts(self, offer: Offer) -> bool:
        return offer.incentive * PPM >= self.reservation_ppm[offer.participant] * offer.dlmp


def reading(schedule: BusSchedule, t: int, interval_minutes: int, accepted: Offer | None = None,
            refused: bool = False) -> tuple[int, int]:
    """(produced, consumed) Wh the participant's meter signs for interval t."""
    if refused:
        return round(schedule.solar_kw[t] * interval_minutes / 60 * 1000), 0
    produced, consumed = schedule.der_wh(t, interval_minutes)
    if accepted is not None:
        gap = accepted.energy_wh - (produced - consumed)
        produced, consumed = produced + max(gap, 0), consumed + max(-gap, 0)
    return produced, consumed
