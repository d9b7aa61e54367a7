"""`system = "admm"`: 001's scheduling model (Salian et al., IV.B, Fig. 3) for a community.

Chain interval 0: the market's deployer deploys and sets up S1 (`admm_scheduler`: every member and
the utility, the grid's member) and S2 (`schedule_billing`), the operator certifies S2, then every
member and the utility deposit their credit in S2. Chain intervals 1 .. A (A = ceil(max_rounds /
rounds_per_interval)): the day-ahead schedule, one phase per ADMM round: every member's x-update
(`market.agents.admm_member`, private, from its own day-ahead forecast), then the close, whose
output is the next round's xbar and w; until the schedule is final. Chain intervals
A + 1 .. A + T are the day's delivery intervals (scenario intervals 0 .. T - 1): each member
follows its schedule (its battery or shiftable load moves x - preferred Wh) and its meter
certifies what happened, forecast error included; in the next chain interval S2 settles the
interval against the readings. Both phases of an interval, and every round, run in one chain
interval the same way on a cluster and in one process.

Settings, `[admm]`: rho (RHO, milli-cents per kWh per Wh), price0, eps_pri (Wh), eps_dual
(milli-cents per kWh), max_rounds, rounds_per_interval, round_intervals (S1's deadline), grace
(S2's); battery_kwh, battery_rate (of the capacity per interval), soc_min, soc_max and
battery_weight (each prosumer's battery); flexible_share (of each consumer's load, shiftable
within the day) and consumer_weight (milli-cents per kWh per Wh of deviation from the preferred
profile); grid_limit_wh. TOU and FIT are the scenario's `[market]` tou and fit, each member's
deposit its credit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ledger import accounts
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, ContractDeploy, MeterReading
from market.agents.admm_member import AdmmMember, BatteryCost, Cost, FlexibleCost, GridCost
from market.agents.households import Household
from market.contracts import source
from market.reference import realtime_settle
from pownode.scenario.community import UTILITY_CREDIT, Community
from pownode.scenario.kpis import market_state_root
from pownode.scenario.phases import GAS, Phases
from pownode.scenario.spec import ScenarioError
from pownode.toml_tables import Fields
from vm import values
from vm.machine import contract_address, read_storage

CONVERGED, UNCONVERGED = 1, 2  # S1's final statuses


@dataclass(frozen=True)
class AdmmSettings:
    rho: int
    price0: int
    eps_pri: int
    eps_dual: int
    max_rounds: int
    rounds_per_interval: int
    round_intervals: int
    grace: int
    battery_wh: int  # each prosumer's capacity
    battery_rate_wh: int  # what it may move in an interval
    soc_min: float
    soc_max: float
    battery_weight: float  # milli-cents per Wh^2
    flexible_share: float
    consumer_weight: float  # milli-cents per Wh^2
    grid_limit_wh: int

    @classmethod
    def read(cls, community: Community) -> "AdmmSettings":
        s = community.scenario
        f = Fields(s.settings, f"{s.name}: admm", ScenarioError)
        m = s.market
        capacity_wh = round(f.number("battery_kwh", 0, 1000, 0.0) * 1000)
        out = cls(f.number("rho", 1, 10**6, 2, integer=True),
                  f.number("price0", 0, 2**31 - 1, (m.fit + m.tou) // 2, integer=True),
                  f.number("eps_pri", 0, 2**24 - 1, 5, integer=True),
                  f.number("eps_dual", 0, 2**31 - 1, 60, integer=True),
                  f.number("max_rounds", 1, 256, 100, integer=True),
                  f.number("rounds_per_interval", 1, 64, 5, integer=True),
                  f.number("round_intervals", 1, 96, 2, integer=True),
                  f.number("grace", 1, 96, 1, integer=True),
                  capacity_wh, round(capacity_wh * f.number("battery_rate", 0.01, 1, 0.25)),
                  f.number("soc_min", 0, 1, 0.1), f.number("soc_max", 0, 1, 0.9),
                  f.number("battery_weight", 0.01, 10**6, 2.0) / 1000,
                  f.number("flexible_share", 0, 1, 0.0),
                  f.number("consumer_weight", 0.01, 10**6, 4.0) / 1000,
                  f.number("grid_limit_wh", 1, 2**24 - 1, 2**24 - 1, integer=True))
        f.done()
        if not out.soc_min < out.soc_max:
            raise ScenarioError(f"{f.where}: soc_min must be below soc_max")
        if s.intervals > 96 or s.members + 1 > 64:
            raise ScenarioError(f"{s.name}: admm schedules at most 96 intervals for at most 63 members and the utility")
        return out


def member_costs(community: Community, settings: AdmmSettings) -> list[Cost]:
    """Each member's private cost around its day-ahead forecast (the farthest forecast of its
    household), then the utility's. A prosumer's battery starts the day half way through its
    state-of-charge window."""
    T = community.scenario.intervals
    out: list[Cost] = []
    for m in community.members:
        h = m.household
        p = np.array([h.forecast_net_wh(t, 1, 1) for t in range(T)], dtype=float)
        if h.prosumer and settings.battery_wh:
            low, high = settings.soc_min * settings.battery_wh, settings.soc_max * settings.battery_wh
            out.append(BatteryCost(tuple(p), settings.battery_weight, settings.battery_rate_wh, (low + high) / 2, low,
                                   high))
            continue
        room = settings.flexible_share * np.maximum(-p, 0) if not h.prosumer else np.zeros(T)
        out.append(FlexibleCost(tuple(p), settings.consumer_weight, tuple(p - room), tuple(p + room),
                                bool(room.any())))
    m = community.scenario.market
    out.append(GridCost(m.tou, m.fit, settings.grid_limit_wh, T))
    return out


def metered(household: Household, t: int, preferred: float, scheduled: int) -> tuple[int, int]:
    """(produced, consumed) Wh the meter certifies when the member follows its schedule: its
    battery or load moves scheduled - preferred Wh on top of what actually happened."""
    pv, load = household.reading(t)
    shift = scheduled - round(preferred)
    return pv + max(shift - load, 0), max(load - shift, 0)


@dataclass(frozen=True)
class FeederSummary:
    """The IEEE 33-bus power flow (pandapower) of the members' metered net loads over the day."""

    v_min_pu: float
    v_max_pu: float
    intervals_outside_band: int
    losses_kwh: float


def _feeder(community: Community, nets: dict[int, list[int]]) -> FeederSummary:
    """Each member's net load on its bus, `households_per_member` times, beside the case's own
    loads shaped like a household's day (as the market scenarios' feeder figures are)."""
    from market.agents.profiles import household_load
    from market.feeder import power_flow

    s = community.scenario
    by_bus: dict[int, list[int]] = {}
    for m in community.members:
        row = by_bus.setdefault(m.bus, [0] * s.intervals)
        for k in range(s.intervals):
            row[k] -= nets[m.index][k]
    shape = household_load(community.timeline, 1000.0)
    peak = max(shape) or 1
    flows = power_flow(by_bus, [x / peak for x in shape], s.interval_minutes, s.households_per_member)
    return FeederSummary(round(min(f.v_min_pu for f in flows), 4), round(max(f.v_max_pu for f in flows), 4),
                         sum(f.voltage_violation for f in flows),
                         round(sum(f.losses_kw for f in flows) * s.interval_minutes / 60, 1))


@dataclass(frozen=True)
class Round:
    k: int
    chain_interval: int
    primal_mwh: int
    dual: int  # milli-cents per kWh


@dataclass
class AdmmOutcome:
    """What the run reports (the SystemOutcome of `systems`)."""

    scenario: str
    state_root: bytes
    rounds: list[Round]
    status: int  # 1 converged, 2 unconverged (round bound or delivery start)
    prices: list[int]  # milli-cents per kWh, per interval
    schedule: dict[str, list[int]]  # member name -> Wh per interval
    transactions: int
    intervals_to_allocation: int  # chain interval the schedule was final in
    intervals_to_settlement: int  # chain interval the last delivery interval was settled in
    traded_wh: int  # scheduled exports: sold at the schedule's price (to members or the grid)
    delivered_wh: int  # of the scheduled exports, what the meters show delivered
    error_wh: int  # sum of |metered - scheduled|
    average_price: float | None  # weighted by the scheduled exports, milli-cents per kWh
    cost_mc: dict[str, int]  # per class and "all": paid (net) with the schedule
    baseline_cost_mc: dict[str, int]  # the same households with the utility alone, no scheduling
    grid_wh: list[int] = field(default_factory=list)  # scheduled from the grid (- to it), per interval
    money_held: int = 0  # S2's balance at the end: the sum of its credits
    feeder: dict[str, FeederSummary] = field(default_factory=dict)  # "with" and "without" scheduling
    seconds: float = 0.0
    mode: str = ""

    def rows(self) -> list[tuple[str, str]]:
        status = "converged" if self.status == CONVERGED else "NOT converged (last iterate is final)"
        last = self.rounds[-1]
        rows = [("ADMM rounds", f"{len(self.rounds)} ({status})"),
                ("final residuals", f"primal {last.primal_mwh / 1000:.3f} Wh, dual {last.dual} mc/kWh"),
                ("prices (mc/kWh)", f"{min(self.prices)} .. {max(self.prices)}"),
                ("transactions", str(self.transactions)),
                ("intervals_to_allocation", str(self.intervals_to_allocation)),
                ("intervals_to_settlement", str(self.intervals_to_settlement)),
                ("traded_wh", str(self.traded_wh)), ("delivered_wh", str(self.delivered_wh)),
                ("error_wh", str(self.error_wh)),
                ("average_price", "-" if self.average_price is None else f"{self.average_price:.0f}")]
        for label, f in self.feeder.items():
            rows.append((f"feeder {label} scheduling", f"{f.v_min_pu:.3f}..{f.v_max_pu:.3f} pu, "
                         f"{f.intervals_outside_band} intervals outside 0.95..1.05 pu, losses {f.losses_kwh:.1f} kWh"))
        for kind in self.cost_mc:
            rows.append((f"{kind} cost (without scheduling)",
                         f"{self.cost_mc[kind] / 100_000:.2f} ({self.baseline_cost_mc[kind] / 100_000:.2f})"))
        return rows

    def to_json(self) -> dict:
        doc = asdict(self)
        doc["state_root"] = self.state_root.hex()
        return doc

    def draw(self, out: Path) -> list[Path]:
        """admm-schedule.png (the community's schedule and the prices per interval) and
        admm-residuals.png (the residuals per round)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out.mkdir(parents=True, exist_ok=True)
        hours = range(len(self.prices))
        fig, (energy, price) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
        exports = [sum(max(x[t], 0) for x in self.schedule.values()) / 1000 for t in hours]
        imports = [-sum(max(-x[t], 0) for x in self.schedule.values()) / 1000 for t in hours]
        energy.bar(hours, exports, color="tab:green", label="scheduled exports")
        energy.bar(hours, imports, color="tab:red", label="scheduled imports")
        energy.plot(hours, [g / 1000 for g in self.grid_wh], "k.-", label="from the grid (- to it)")
        energy.set_ylabel("kWh")
        energy.legend()
        price.step(hours, [p / 1000 for p in self.prices], where="mid")
        price.set_ylabel("cents per kWh")
        price.set_xlabel("interval")
        fig.suptitle(f"{self.scenario}: day-ahead schedule and prices (S1)")
        schedule = out / "admm-schedule.png"
        fig.savefig(schedule, dpi=100)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(9, 4))
        ks = [r.k for r in self.rounds]
        ax.semilogy(ks, [max(r.primal_mwh / 1000, 1e-3) for r in self.rounds], label="primal ||xbar|| (Wh)")
        ax.semilogy(ks, [max(r.dual, 1) for r in self.rounds], label="dual (milli-cents per kWh)")
        ax.set_xlabel("round")
        ax.legend()
        residuals = out / "admm-residuals.png"
        fig.savefig(residuals, dpi=100)
        plt.close(fig)
        return [schedule, residuals]


def _address(deployer: PrivateKey, name: str) -> bytes:
    return contract_address(deployer.address, hashlib.sha256(source(name).encode()).digest())


def run(community: Community, genesis: Genesis, driver, progress) -> AdmmOutcome:
    settings = AdmmSettings.read(community)
    s = community.scenario
    T = s.intervals
    deployer, utility = community.deployer, community.utility
    s1, s2 = _address(deployer, "admm_scheduler"), _address(deployer, "schedule_billing")
    signer = Phases(genesis, driver)  # signs, numbers nonces, counts and checks phases

    def call(key: PrivateKey, contract: bytes, function: str, *args, value: int = 0):
        return signer._call_to(contract, key, function, *args, value=value)

    costs = member_costs(community, settings)
    keys = [m.key for m in community.members] + [utility]
    agents = [AdmmMember.start(c) for c in costs]
    rounds_intervals = math.ceil(settings.max_rounds / settings.rounds_per_interval)
    first = 1 + rounds_intervals
    last = first + T
    driver.enter(0)
    signer._phase([signer._sign(deployer, ContractDeploy(source("admm_scheduler"), GAS), signer.fee),
                   signer._sign(deployer, ContractDeploy(source("schedule_billing"), GAS), signer.fee),
                   call(deployer, s1, "setup", [k.address for k in keys], T, settings.rho, settings.eps_pri,
                        settings.eps_dual, settings.max_rounds, first, settings.round_intervals, 2**24,
                        settings.price0),
                   call(deployer, s2, "setup", s1, utility.address, s.market.fit, s.market.tou, settings.grace)],
                  "set up S1 and S2")
    # A node admits a certification only for a contract that exists: a phase after the deploys;
    # S2 takes credit only once certified: deposits in the phase after that.
    signer._phase([signer._sign(community.operator, CertifyMarket(s2, 1))], "certify S2")
    signer._phase([call(utility, s2, "deposit", value=UTILITY_CREDIT // 2)]
                  + [call(m.key, s2, "deposit", value=s.market.credit) for m in community.members], "deposits")
    progress(0, last)
    xbar, w = [0] * T, [settings.price0 * 1000 // settings.rho] * T
    rounds: list[Round] = []
    final = None
    for c in range(1, first):
        driver.enter(c)
        for _ in range(settings.rounds_per_interval):
            if final is not None:
                break
            k = len(rounds) + 1
            txs = [call(key, s1, "submit", k, list(a.update(tuple(xbar), tuple(w), settings.rho)))
                   for key, a in zip(keys, agents)]
            out = values.decode(signer._phase(txs + [call(deployer, s1, "close")], f"round {k}")[-1].output)
            rounds.append(Round(k, c, out[2], out[3]))
            xbar, w = list(out[4]), list(out[5])
            if out[1] != 0:
                final = (out[1], list(out[6]), c)
        progress(c, last)
    if final is None:
        raise ScenarioError(f"{s.name}: the schedule was not final after {settings.max_rounds} rounds")
    settled_in = first
    for c in range(first + 1, last + 1):
        driver.enter(c)
        t = c - 1 - first
        signer._phase([signer._sign(m.meter, MeterReading(c - 1, *metered(m.household, t, cost.preferred[t], a.x[t])))
                       for m, cost, a in zip(community.members, costs, agents)], f"readings of interval {t}")
        signer._phase([call(deployer, s2, "settle", t)], f"settle interval {t}")
        settled_in = c
        progress(c, last)
    driver.stop()
    state = driver.state()
    return _outcome(community, state, signer, rounds, final, settled_in, s2, agents)


def _outcome(community: Community, state, signer: Phases, rounds: list[Round], final: tuple, settled_in: int,
             s2: bytes, agents: list[AdmmMember]) -> AdmmOutcome:
    s = community.scenario
    T = s.intervals
    status, prices, allocated_in = final
    members = community.members
    xs = [a.x for a in agents[:len(members)]]
    traded = [sum(max(x[t], 0) for x in xs) for t in range(T)]
    delivered = error = 0
    cost = {"consumer": 0, "prosumer": 0, "all": 0}
    baseline = dict(cost)
    nets = {}  # member index -> metered net export per interval, as S2 billed it
    for m in members:
        kind = "prosumer" if m.household.prosumer else "consumer"
        nets[m.index] = []
        for t in range(T):
            x, measured, _price, scheduled, deviation, _status = read_storage(
                state, s2, b"Y" + t.to_bytes(2, "big") + m.key.address)
            nets[m.index].append(measured)
            delivered += min(max(x, 0), max(measured, 0))
            error += abs(measured - x)
            paid = -(scheduled + deviation)
            plain = -realtime_settle([0], [m.household.net_wh(t)], s.market.tou, s.market.fit)[0]
            for who in (kind, "all"):
                cost[who] += paid
                baseline[who] += plain
    credits = sum(read_storage(state, s2, b"$" + k.address) or 0 for k in [m.key for m in members] + [community.utility])
    held = accounts.get_account(state, s2).balance
    if held != credits:
        raise ScenarioError(f"S2 holds {held} but its credits sum to {credits}")
    feeder = {}
    if s.feeder != "none":
        feeder = {"with": _feeder(community, nets),
                  "without": _feeder(community, {m.index: [m.household.net_wh(t) for t in range(T)] for m in members})}
    return AdmmOutcome(
        s.name, market_state_root(state, community), rounds, status, prices,
        {m.name: list(a.x) for m, a in zip(members, agents)}, signer.transactions, allocated_in, settled_in,
        sum(traded), delivered, error,
        sum(p * v for p, v in zip(prices, traded)) / sum(traded) if sum(traded) else None, cost, baseline,
        [-sum(x[t] for x in xs) for t in range(T)], held, feeder)
