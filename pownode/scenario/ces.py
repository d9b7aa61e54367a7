"""004's crowdsourced energy system on a chain (`system = "ces"`, settings in `[ces]`): Algorithm 1
end to end, the operator off chain (`market.ces`) and the `ces_incentives` contract on chain.

Every bus of the feeder has 004 VI's assets (`market.ces.assets`); the scenario's members are the
Type 2 crowdsourcees at their buses (one per bus), the other buses Type 1, dispatched by the
operator. Chain interval 0: the operator (the community's market deployer) deploys the contract,
sets it up, the chain's operator certifies it (it pays against meters), the operator funds the
budget and enrols the members; each member posts its preferences X (line 1); the operator reads
them back from the contract's state (view calls: a cluster's state is not readable from outside
while it runs, a committed view call's receipt is), solves CES-OPF (line 2) with the Type 1 buses
and posts each member's set-points with the inputs' sha256.

Scenario interval s is chain interval s + 1. In chain interval c:
1. every member's meter signs what it did in chain interval c - 1: the accepted offer's energy as
   net export, its battery idle after a refusal, its CES-OPF schedule otherwise (`participant`);
2. each reconciliation period that ends at c is reconciled, participant by participant (line 12);
3. for chain interval c + 1, the operator reads its budget, solves CES-ID (line 4) and offers;
   the members answer (lines 5-7) by their acceptance model; the operator raises what it can and
   supplements the rest (lines 8-10), round by round until every offer is settled.

Each step is one phase (see `drivers`): one transaction per member, or the operator's adjacent.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, ContractDeploy, MeterReading, Transaction
from market.agents.profiles import Site, Timeline, household_load, pv_output
from market.ces import assets as ces_assets
from market.ces.feeder import RadialFeeder, case33bw
from market.ces.incentives import design
from market.ces.operator_policy import Negotiation, Offer, Policy, Weights, candidates, equilibrium_wh, offers
from market.ces.opf import OpfResult, Tariff, inputs_digest, solve
from market.ces.participant import Acceptance, reading
from market.contracts import source
from pownode.scenario.ces_outcome import CesOutcome, chain_offers
from pownode.scenario.community import Community
from pownode.scenario.kpis import market_state_root
from pownode.scenario.phases import GAS, Phases
from pownode.scenario.spec import ScenarioError
from pownode.toml_tables import Fields
from vm.machine import contract_address, read_storage

DAY = 0  # the contract's calendar day of the preferences and set-points: interval 0's
OPERATOR_BALANCE = 10**9  # the deployer's genesis balance (`Community.genesis`): the budget's ceiling
MAX_RECONCILE_CALLS = 64
ACCEPTANCE = ("everyone", "drawn")


@dataclass(frozen=True)
class CesSettings:
    """[ces]: the operator's tariff, budget and Algorithm 1's knobs, and the acceptance model."""

    price: float  # milli-cents per kWh at the substation, off peak
    peak_price: float
    peak_hours: tuple[int, ...]
    quadratic: float  # milli-cents per kWh per MW imported (004 III.A.4's quadratic cost)
    battery_wear: float
    budget: int  # milli-cents the operator funds
    period_intervals: int  # the reconciliation period (line 12)
    policy: Policy
    eta: float
    zeta: float
    floor: float  # the first incentive floor, a share of the DLMP
    supplement_price: float  # milli-cents per kWh of traditional generation instead (CES-ID's slack)
    acceptance: str  # everyone (004 VI) or drawn
    reservation_max_ppm: int
    figure_bus: int


def read_settings(community: Community) -> CesSettings:
    s = community.scenario
    f = Fields(s.settings, f"{s.name}: ces", ScenarioError)
    hours = f.get("peak_hours", list, [17, 18, 19, 20])
    if not all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h < 24 for h in hours):
        raise ScenarioError(f"{f.where}: peak_hours must be an array of hours 0..23")
    policy = Policy(f.number("max_raises", 0, 16, 2, integer=True),
                    f.number("raise_cap_ppm", 1_000_000, 100_000_000, 2_000_000, integer=True),
                    f.number("raise_ppm", 1, 10_000_000, 250_000, integer=True),
                    f.number("eta_step", 0, 10, 0.25), f.number("zeta_step", 0, 0.99, 0.25))
    out = CesSettings(f.number("price", 1, 10**7, 12_000), f.number("peak_price", 1, 10**7, 20_000), tuple(hours),
                      f.number("quadratic", 0, 10**7, 2_000), f.number("battery_wear", 0, 10**6, 500),
                      f.number("budget", 1, OPERATOR_BALANCE, 500_000_000, integer=True),
                      f.number("period_intervals", 1, 2976, s.intervals + 1, integer=True), policy,
                      f.number("eta", 0.01, 100, 1.0), f.number("zeta", 0, 10**7, 5_000),
                      f.number("floor", 0.0001, 1.0, 0.05), f.number("supplement_price", 1, 10**8, 100_000),
                      f.choice("acceptance", ACCEPTANCE, "everyone"),
                      f.number("reservation_max_ppm", 0, 1_000_000, 150_000, integer=True),
                      f.number("figure_bus", 1, 32, 5, integer=True))
    f.done()
    if s.feeder != "case33bw":
        raise ScenarioError(f"{s.name}: the ces system runs on the case33bw feeder (the SCE 56-bus substitute)")
    buses = [m.bus for m in community.members]
    if len(set(buses)) != len(buses):
        raise ScenarioError(f"{s.name}: the ces system takes one member (a Type 2 crowdsourcee) per bus")
    if not 1 <= s.intervals <= 96:
        raise ScenarioError(f"{s.name}: the ces system's horizon is 1..96 intervals (the contract's MAX_T)")
    return out


def day_shapes(community: Community) -> tuple[list[float], list[float]]:
    """The public shapes (peak 1) per scenario interval: the uncontrollable load's (BDEW h0) and
    the solar panels' (pvlib clear sky at the scenario's site), over whole local days."""
    s, timeline = community.scenario, community.timeline
    midnight = datetime.combine(s.start.date(), datetime.min.time(), s.start.tzinfo)
    offset = (s.start - midnight) // timedelta(minutes=s.interval_minutes)
    per_day = 24 * 60 // s.interval_minutes
    days = Timeline(midnight, math.ceil((offset + timeline.intervals) / per_day) * per_day, s.interval_minutes)
    load = household_load(days, 1000.0)
    pv = pv_output(days, Site(s.latitude, s.longitude, s.altitude), 1.0)
    window = slice(offset, offset + timeline.intervals)
    return [x / max(load) for x in load[window]], [x / (max(pv) or 1) for x in pv[window]]


class CesRun(Phases):
    def __init__(self, community: Community, genesis: Genesis, driver, progress) -> None:
        self.settings = read_settings(community)  # first: a typo is an error before anything runs
        super().__init__(genesis, driver)
        self.community = community
        self.progress = progress
        self.scenario = community.scenario
        self.operator = community.deployer
        self.contract = contract_address(self.operator.address,
                                         hashlib.sha256(source("ces_incentives").encode()).digest())
        self.feeder: RadialFeeder = case33bw()
        self.hours = [community.timeline.at(k).hour for k in range(self.scenario.intervals)]
        self.load_shape, self.pv_shape = day_shapes(community)
        window = sum(ces_assets.SHAPABLE_WINDOW[0] <= h < ces_assets.SHAPABLE_WINDOW[1] for h in self.hours)
        self.window_hours = int(window * self.scenario.interval_minutes / 60)
        if self.window_hours < 1:
            raise ScenarioError(f"{self.scenario.name}: the horizon does not reach the shapable loads' window "
                                f"(9 am to midnight)")
        st = self.settings
        self.tariff = Tariff(tuple(float(st.peak_price if h in st.peak_hours else st.price) for h in self.hours),
                             st.quadratic, st.battery_wear)
        n = len(community.members)
        self.acceptance = (Acceptance.everyone(n) if st.acceptance == "everyone"
                           else Acceptance.drawn(n, self.scenario.seed, st.reservation_max_ppm))
        self.weights = {i: Weights(st.eta, st.zeta, st.floor) for i in range(n)}
        self.excluded: list[int] = []  # members whose posted preferences were unusable
        self.opf: OpfResult | None = None
        self.assets: dict[int, ces_assets.BusAssets] = {}
        self.setpoints: dict[int, list[int]] = {}
        self.accepted: dict[tuple[int, int], Offer] = {}  # (participant, chain interval)
        self.refused: set[tuple[int, int]] = set()
        self.ids: dict[tuple[int, int], int] = {}  # (participant, chain interval) -> offer id
        self.supplement_wh: list[float] = [0.0] * self.scenario.intervals  # CES-ID's slack, per interval
        self.refusals = 0
        self.raises = 0
        self.id_seconds = 0.0

    def _call(self, key: PrivateKey, function: str, *args, value: int = 0) -> Transaction:
        return self._call_to(self.contract, key, function, *args, value=value)

    # --- the run --------------------------------------------------------------------------

    def run(self) -> CesOutcome:
        started = time.perf_counter()
        n = self.scenario.intervals
        period = self.settings.period_intervals
        last = math.ceil((n + 1) / period) * period  # the last offer's period has ended and is reconciled
        for c in range(last + 1):
            self.driver.enter(c)
            if c == 0:
                self._setup()
                self._equilibrium()
            elif c - 1 <= n:
                self._readings(c - 1)
            if c and c % period == 0:
                self._reconcile(c // period - 1)
            if c + 1 <= n:
                self._negotiate(c + 1)
            self.progress(c, last)
        self.driver.stop()
        state = self.driver.state()
        assert self.opf is not None
        return CesOutcome.build(self.scenario, self.community, self.settings, self.opf, self.setpoints,
                                chain_offers(state, self.contract), read_storage(state, self.contract, "budget"),
                                read_storage(state, self.contract, "held"), self.supplement_wh, self.refusals,
                                self.raises, self.id_seconds, self.transactions, self.driver.stats(),
                                market_state_root(state, self.community), time.perf_counter() - started)

    def _setup(self) -> None:
        st, op, members = self.settings, self.operator, self.community.members
        self._phase([self._sign(op, ContractDeploy(source("ces_incentives"), GAS), self.fee),
                     self._call(op, "setup", st.period_intervals, st.policy.max_raises, st.policy.raise_cap_ppm,
                                self.community.utility.address),
                     self._call(op, "fund", value=st.budget)]
                    + [self._call(op, "enrol", m.key.address, m.bus) for m in members], "deploy and set up")
        # Algorithm 1 line 1: each crowdsourcee posts its preferences X, sized as 004 VI sizes them
        # (a node admits a certification only once the contract exists: it goes in this phase)
        self._phase([self._call(m.key, "prefer", DAY, self.preferences(m.bus).to_ints()) for m in members]
                    + [self._sign(self.community.operator, CertifyMarket(self.contract, 1))], "preferences")

    def preferences(self, bus: int) -> ces_assets.Preferences:
        """The assets at `bus` (a member's, or a Type 1 bus's that the operator knows), drawn from
        the scenario's seed and the bus, so they do not depend on who sits where."""
        rng = random.Random(f"ces/{self.scenario.seed}/{bus}")
        return ces_assets.size(self.feeder.peak_kw[bus] * 1000, rng, self.window_hours)

    def _bus_assets(self, prefs: ces_assets.Preferences, bus: int) -> ces_assets.BusAssets:
        return ces_assets.assets(prefs, self.feeder.q_ratio[bus], self.load_shape, self.pv_shape, self.hours)

    def opf_buses(self, stored: list) -> list[ces_assets.BusAssets]:
        """CES-OPF's buses: each member's from the preferences the contract stores (in member
        order), every other bus's from the operator's own data (Type 1)."""
        by_bus = {}
        for i, (m, ints) in enumerate(zip(self.community.members, stored)):
            try:
                prefs = ces_assets.Preferences.from_ints(list(ints or []))
            except ValueError:  # X the operator cannot use: no set-points, no offers; its bus as Type 1
                self.excluded.append(i)
                continue
            self.assets[i] = by_bus[m.bus] = self._bus_assets(prefs, m.bus)
        return [by_bus.get(b) or (self._bus_assets(self.preferences(b), b) if self.feeder.peak_kw[b]
                                  else ces_assets.BusAssets.idle(self.scenario.intervals))
                for b in range(self.feeder.buses)]

    def _equilibrium(self) -> None:
        """Algorithm 1 line 2: the members' preferences as the contract stores them, CES-OPF over
        every bus, and each member's set-points with the inputs' hash."""
        members = self.community.members
        stored = self._outputs([self._call(self.operator, "prefs_of", DAY, m.key.address) for m in members],
                               "read the preferences")
        buses = self.opf_buses(stored)
        minutes = self.scenario.interval_minutes
        self.opf = solve(self.feeder, buses, self.tariff, minutes)
        digest = inputs_digest(self.feeder, buses, self.tariff, minutes)
        for i in self.assets:
            self.setpoints[i] = equilibrium_wh(self.opf.buses[members[i].bus], minutes)
        self._phase([self._call(self.operator, "equilibrium", DAY, digest, members[i].key.address, self.setpoints[i])
                     for i in sorted(self.assets)], "set-points")

    def _readings(self, k: int) -> None:
        """The members' meters sign chain interval k (scenario interval k - 1)."""
        if k < 1:
            return
        txs = []
        for i, m in enumerate(self.community.members):
            produced, consumed = reading(self.opf.buses[m.bus], k - 1, self.scenario.interval_minutes,
                                         self.accepted.get((i, k)), (i, k) in self.refused)
            txs.append(self._sign(m.meter, MeterReading(k, produced, consumed)))
        self._phase(txs, f"readings of interval {k}")

    def _reconcile(self, period: int) -> None:
        """Line 12: every member with an accepted offer in the period is paid for metered delivery."""
        p = self.settings.period_intervals
        waiting = sorted({i for (i, k) in self.accepted if k // p == period})
        for _ in range(MAX_RECONCILE_CALLS):
            if not waiting:
                return
            members = [self.community.members[i] for i in waiting]
            out = self._outputs([self._call(self.operator, "reconcile", m.key.address, period) for m in members],
                                f"reconcile period {period}")
            waiting = [i for i, r in zip(waiting, out) if r[3] > 0]
        raise ScenarioError(f"period {period}: reconcile did not finish in {MAX_RECONCILE_CALLS} calls")

    def _negotiate(self, k: int) -> None:
        """Algorithm 1 lines 4-11 for chain interval k (scenario interval t = k - 1)."""
        t = k - 1
        minutes = self.scenario.interval_minutes
        enrolled = {i: self.community.members[i].bus for i in self.assets}
        people = candidates(t, enrolled, self.opf, self.assets, self.weights, minutes)
        if not people:
            return
        budget = self._outputs([self._call(self.operator, "budget")], "read the budget")[0]
        # b_t (2b): the budget left, shared over the remaining intervals by their shortage d
        ahead = [sum(max(0, u[s]) for u in self.setpoints.values()) for s in range(t, self.scenario.intervals)]
        shortage = sum(c.equilibrium_wh for c in people)
        share = budget * shortage / max(sum(ahead), shortage)
        started = time.perf_counter()
        designed = design(people, shortage, share, self.settings.supplement_price)
        self.id_seconds += time.perf_counter() - started
        self.supplement_wh[t] = designed.supplement_wh
        made = offers(k, designed, {c.participant: c.dlmp for c in people})
        affordable, left = [], budget
        for o in made:  # the incentives round up: keep within what the contract holds (2b)
            if o.escrow <= left:
                affordable.append(o)
                left -= o.escrow
        made = affordable
        members = self.community.members
        ids = self._outputs([self._call(self.operator, "offer", members[o.participant].key.address, k, o.energy_wh,
                                        o.dlmp, o.incentive) for o in made], f"offers for interval {k}")
        for o, offer_id in zip(made, ids):
            self.ids[(o.participant, k)] = offer_id
        talk = Negotiation(self.settings.policy, self.weights, made, left)
        while not talk.done:
            answers = [(o, self.acceptance.accepts(o)) for o in talk.open]
            self._phase([self._call(members[o.participant].key, "accept" if yes else "refuse",
                                    self.ids[(o.participant, k)]) for o, yes in answers], f"answers for interval {k}")
            for o, yes in answers:
                talk.answer(o, yes)
                self.refusals += not yes
            more, given_up = talk.next_round()
            self.raises += len(more)
            self._phase([self._call(self.operator, "raise_offer", self.ids[(o.participant, k)], o.incentive)
                         for o in more]
                        + [self._call(self.operator, "supplement", self.ids[(o.participant, k)]) for o in given_up],
                        f"raises and supplements for interval {k}")
        for outcome in talk.outcomes:
            if outcome.accepted:
                self.accepted[(outcome.offer.participant, k)] = outcome.offer
            else:
                self.refused.add((outcome.offer.participant, k))


def run(community: Community, genesis: Genesis, driver, progress) -> CesOutcome:
    return CesRun(community, genesis, driver, progress).run()
