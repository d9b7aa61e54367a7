"""A scenario's outcome, read from the chain's final state, beside the same community without
the market.

With the market, a member's energy cost is what left its market credit: its deposit less its
final credit, plus any debt to the utility, less what the utility still owes it. That covers its
P2P trades, the service charge, and the real-time settlement of every interval against its
certified meters (000, II.C). Without the market, the same meters are settled with the utility
alone: imports at TOU, exports at FIT, interval by interval, with the contract's own rounding
(`market.reference.realtime_settle` with nothing committed).

The market state root is the state root over every entry except the chain's proposer
bookkeeping (keys `p` and `s`: which validator proposed how many blocks and whom it passed
over), which depends on how the validators happened to cut blocks; everything the market and
the members hold is in it, and the cluster and local runs must agree on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ledger import accounts, schema
from ledger.state import State
from market.reference import realtime_settle
from pownode.scenario.community import Community, Member
from pownode.scenario.drivers import ChainStats
from pownode.scenario.runner import Trace
from vm.machine import read_storage

BOOKKEEPING = (schema.PROPOSER, schema.SKIPPED)
SOLD, BOUGHT, GRID_SOLD, GRID_BOUGHT = 0, 1, 2, 3


def market_state_root(state: State) -> bytes:
    return State([(k, v) for k, v in state.items() if not k.startswith(BOOKKEEPING)]).root()


@dataclass
class MemberOutcome:
    name: str
    group: str
    kind: str
    bus: int
    produced_wh: int
    consumed_wh: int
    self_consumed_wh: int
    imported_wh: int
    exported_wh: int
    sold_wh: int
    bought_wh: int
    p2p_revenue_mc: int  # sold in the market at its window's price (ZONE: and its surplus sold back)
    p2p_spend_mc: int  # bought in the market, with the service charge (ZONE: and its residual from the grid)
    utility_revenue_mc: int  # real-time settlement: what the utility paid it (surpluses at FIT)
    utility_spend_mc: int  # real-time settlement: what it paid the utility (shortfalls at TOU)
    cost_mc: int  # with the market: what left its credit (negative: it earned)
    baseline_revenue_mc: int  # the utility alone: exports at FIT
    baseline_spend_mc: int  # the utility alone: imports at TOU
    interval_cost_mc: list[int]  # per interval with the market: P2P bought - sold, service, settlement
    interval_baseline_mc: list[int]  # per interval, the utility alone
    battery_cycles: float  # equivalent full cycles of its battery (0 without one)
    degradation_mc: int  # its battery's wear, eq. (7) of 003 (the same with or without the market)

    @property
    def baseline_cost_mc(self) -> int:
        return self.baseline_spend_mc - self.baseline_revenue_mc

    @property
    def revenue_mc(self) -> int:
        return self.p2p_revenue_mc + self.utility_revenue_mc

    @property
    def spend_mc(self) -> int:
        return self.p2p_spend_mc + self.utility_spend_mc

    @property
    def savings_mc(self) -> int:
        return self.baseline_cost_mc - self.cost_mc


@dataclass
class ClassOutcome:
    kind: str
    members: int
    cost_mc: int
    baseline_cost_mc: int
    savings_pct: float | None  # of the cost without the market
    spend_mc: int  # paid for energy: P2P (with the service charge) and to the utility
    baseline_spend_mc: int
    spend_savings_pct: float | None  # 000's "saving in electricity cost"
    revenue_mc: int  # received for energy: P2P and from the utility
    baseline_revenue_mc: int
    revenue_gain_pct: float | None  # 000's "profit by selling energy to the market"
    sold_wh: int
    bought_wh: int
    p2p_revenue_mc: int
    self_consumption_pct: float | None
    self_sufficiency_pct: float | None
    battery_cycles: float
    degradation_mc: int


@dataclass
class Outcome:
    scenario: str
    mode: str
    consensus: str
    validators: int
    members: list[MemberOutcome]
    classes: list[ClassOutcome]
    traded_wh: int
    windows_with_trades: int
    average_price: float | None  # milli-cents per kWh, volume-weighted
    imports_wh: int
    exports_wh: int
    peak_to_average: float | None  # of the community's net import
    blocks: int
    transactions: int
    cpu_s: float
    proposers: dict[str, int]
    market_state_root: str
    feeder: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        doc = asdict(self)
        for m, member in zip(doc["members"], self.members):
            m.update(savings_mc=member.savings_mc, baseline_cost_mc=member.baseline_cost_mc,
                     revenue_mc=member.revenue_mc, spend_mc=member.spend_mc)
        return doc


def _pct(part: float, whole: float) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _member(community: Community, state: State, market: bytes, member: Member, prices: dict[int, int]) -> MemberOutcome:
    h = member.household
    s = community.scenario
    who = member.key.address
    sold = bought = revenue = spend = from_utility = to_utility = 0
    per_interval = []
    for window in range(1, s.intervals + 1):
        w = window.to_bytes(8, "big")
        n = read_storage(state, market, b"N" + w + who) or [0, 0, 0, 0, 0]
        sold += n[SOLD]
        bought += n[BOUGHT]
        earned = n[SOLD] * prices.get(window, 0) // 1000
        paid = n[BOUGHT] * (prices.get(window, 0) + s.market.service) // 1000
        if s.market.grid is not None:  # ZONE: the rest bought from the grid, surplus sold back at the market price
            paid += n[GRID_BOUGHT] * community.grid_price(window - 1) // 1000
            earned += n[GRID_SOLD] * prices.get(window, 0) // 1000
        settled = (read_storage(state, market, b"Y" + w + who) or [0, 0, 0])[2]
        revenue += earned
        spend += paid
        from_utility += max(settled, 0)
        to_utility += max(-settled, 0)
        per_interval.append(paid - earned - settled)
    credit = read_storage(state, market, b"$" + who) or 0
    debt = read_storage(state, market, b"D" + who) or 0
    owed = read_storage(state, market, b"O" + who) or 0
    nets = [h.net_wh(k) for k in range(s.intervals)]
    baseline = realtime_settle([0] * len(nets), nets, s.market.tou, s.market.fit)
    return MemberOutcome(
        h.name, member.group.name, member.group.kind, member.bus, sum(h.produced_wh), sum(h.consumed_wh),
        sum(min(p, c) for p, c in zip(h.produced_wh, h.consumed_wh)), sum(max(-n, 0) for n in nets),
        sum(max(n, 0) for n in nets), sold, bought, revenue, spend, from_utility, to_utility,
        s.market.credit - credit + debt - owed, sum(max(a, 0) for a in baseline), sum(max(-a, 0) for a in baseline),
        per_interval, [-a for a in baseline], round(member.battery.cycles, 3) if member.battery else 0.0,
        member.battery.degradation_mc if member.battery else 0)


def _classes(members: list[MemberOutcome]) -> list[ClassOutcome]:
    """Per kind (consumer, prosumer), for all members, and per group when a kind has several."""
    sets = [(kind, [m for m in members if kind in ("all", m.kind)]) for kind in ("consumer", "prosumer", "all")]
    groups = sorted({m.group for m in members} - {"consumer", "prosumer", "all"})
    if len(groups) > 1:
        sets += [(g, [m for m in members if m.group == g]) for g in groups]
    out = []
    for kind, group in sets:
        if not group:
            continue
        cost = sum(m.cost_mc for m in group)
        base = sum(m.baseline_cost_mc for m in group)
        spend, base_spend = sum(m.spend_mc for m in group), sum(m.baseline_spend_mc for m in group)
        revenue, base_revenue = sum(m.revenue_mc for m in group), sum(m.baseline_revenue_mc for m in group)
        out.append(ClassOutcome(
            kind, len(group), cost, base, _pct(base - cost, abs(base)), spend, base_spend,
            _pct(base_spend - spend, base_spend), revenue, base_revenue, _pct(revenue - base_revenue, base_revenue),
            sum(m.sold_wh for m in group),
            sum(m.bought_wh for m in group), sum(m.p2p_revenue_mc for m in group),
            _pct(sum(m.self_consumed_wh for m in group), sum(m.produced_wh for m in group)),
            _pct(sum(m.self_consumed_wh for m in group), sum(m.consumed_wh for m in group)),
            round(sum(m.battery_cycles for m in group), 3), sum(m.degradation_mc for m in group)))
    return out


def outcome(community: Community, state: State, market: bytes, trace: Trace, stats: ChainStats, mode: str) -> Outcome:
    s = community.scenario
    prices = {w.window: w.price for w in trace.windows}
    members = [_member(community, state, market, m, prices) for m in community.members]
    traded = sum(w.volume_wh for w in trace.windows)
    load = [sum(-m.household.net_wh(k) for m in community.members) for k in range(s.intervals)]
    imports = [max(x, 0) for x in load]
    mean = sum(imports) / len(imports)
    proposers = {f"node{i}": accounts.proposer_stats(state, v.public_key).blocks
                 for i, v in enumerate(community.validators)}
    return Outcome(
        s.name, mode, s.consensus, len(community.validators), members, _classes(members), traded,
        sum(1 for w in trace.windows if w.volume_wh), round(sum(w.price * w.volume_wh for w in trace.windows) / traded, 1)
        if traded else None, sum(m.imported_wh for m in members), sum(m.exported_wh for m in members),
        round(max(imports) / mean, 4) if mean else None, stats.blocks, stats.transactions, round(stats.cpu_s, 2),
        proposers, market_state_root(state).hex())
