"""A scenario's outcome, read from the chain's final state, beside the same community without
the market.

With the market, a member's energy cost is what left its market credit: its deposit less its
final credit, plus any debt to the utility, less what the utility still owes it. That covers its
P2P trades, the service charge, and the real-time settlement of every interval against its
certified meters (000, II.C). Without the market, the same meters are settled with the utility
alone: imports at TOU, exports at FIT, interval by interval, with the contract's own rounding
(`market.reference.realtime_settle` with nothing committed).

With 003's aggregator, a member's cost also counts its rounds: what the aggregator paid for
metered delivery, less forfeited collateral and what it paid for energy bought from the
aggregator. The baseline is then the household without its battery (the battery only moves for
the rounds), and its wear (eq. 7) is reported beside the cost.

The market state root is the state root over every entry except what depends on how the
validators happened to cut blocks: the proposer bookkeeping (keys `p` and `s`: which validator
proposed how many blocks and whom it passed over) and, when blocks pay an incentive, the total
supply and the validators' accounts, which hold it. Everything the market, the aggregator and
the members hold is in it, and the cluster and local runs must agree on it. What a validator
earned is its account's growth beyond what the market and the aggregator moved.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ledger import accounts, schema
from ledger.cpf import PPM, cpf_ppm
from ledger.genesis import Genesis
from ledger.keys import address_of
from ledger.state import State
from market.reference import realtime_settle
from pownode.scenario.community import Community, Member
from pownode.scenario.drivers import ChainStats
from pownode.scenario.runner import Runner
from vm.machine import read_storage

BOOKKEEPING = (schema.PROPOSER, schema.SKIPPED)
SOLD, BOUGHT, GRID_SOLD, GRID_BOUGHT = 0, 1, 2, 3


def market_state_root(state: State, community: Community) -> bytes:
    aside = set()
    if community.scenario.chain.incentive != "none":
        aside = {schema.SUPPLY} | {schema.account_key(v.address) for v in community.validators}
    return State([(k, v) for k, v in state.items() if not k.startswith(BOOKKEEPING) and k not in aside]).root()


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
    degradation_mc: int  # its battery's wear, eq. (7) of 003 (own use: the same with or without the market)
    aggregator_revenue_mc: int  # 003: paid by the aggregator for metered delivery
    aggregator_spend_mc: int  # 003: paid to the aggregator for energy bought, and collateral forfeited
    incentive_mc: int  # block incentives earned as a validator

    @property
    def baseline_cost_mc(self) -> int:
        return self.baseline_spend_mc - self.baseline_revenue_mc

    @property
    def revenue_mc(self) -> int:
        return self.p2p_revenue_mc + self.utility_revenue_mc + self.aggregator_revenue_mc

    @property
    def spend_mc(self) -> int:
        return self.p2p_spend_mc + self.utility_spend_mc + self.aggregator_spend_mc

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
    aggregator_revenue_mc: int
    incentive_mc: int


@dataclass
class ValidatorOutcome:
    name: str
    member: str | None  # the member whose node it is, when validators are members
    blocks: int  # proposed
    mean_cpf: float | None  # PoE: its CPF (0..1) for the interval each of its blocks was elected by
    incentive_mc: int


@dataclass
class AggregatorOutcome:
    """003's VPP: its schedule's deviations, the rounds, and what the batteries' flows did to them."""

    rounds: int
    buying_rounds: int
    asked_wh: int
    accepted_wh: int
    delivered_wh: int
    paid_mc: int  # to prosumers for delivery, less what bidders paid it
    deviation_wh: int  # sum over intervals of |net export - schedule|, batteries idle
    deviation_after_wh: int  # the same with the batteries' metered flows
    deviation_reduction_pct: float | None


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
    peak_to_average: float | None  # of the community's net import, as metered
    baseline_peak_to_average: float | None  # without the market: the households, batteries idle or own use
    blocks: int
    transactions: int
    cpu_s: float
    proposers: list[ValidatorOutcome]  # who proposed, with which CPF, earning what
    best_cpf_pct: float | None  # PoE: blocks proposed by a validator of the best CPF
    aggregator: AggregatorOutcome | None
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


Flows = dict[tuple[bytes, int], tuple[int, int]]


def _aggregator_flows(state: State, runner: Runner) -> Flows:
    """Per (member, window): (paid by the aggregator for delivery, paid to it: for energy bought
    and forfeited collateral), from the settled rounds' accepted orders."""
    flows: Flows = {}
    for r in runner.trace.rounds:
        for k in range(r.answers):
            a = read_storage(state, runner.aggregator, f"acc:{r.window}:{k.to_bytes(2, 'big').hex()}")
            if a is None:
                continue
            owner, _accepted, _price, held, _delivered, pay = a
            revenue, spend = flows.get((owner, r.window), (0, 0))
            flows[owner, r.window] = (revenue + pay, spend + held - pay) if r.buys else (revenue, spend + pay)
    return flows


def _member(community: Community, state: State, runner: Runner, member: Member, prices: dict[int, int],
            flows: Flows) -> MemberOutcome:
    h = member.household
    s = community.scenario
    market = runner.market
    who = member.key.address
    sold = bought = revenue = spend = from_utility = to_utility = agg_revenue = agg_spend = 0
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
        from_aggregator, to_aggregator = flows.get((who, window), (0, 0))
        agg_revenue += from_aggregator
        agg_spend += to_aggregator
        revenue += earned
        spend += paid
        from_utility += max(settled, 0)
        to_utility += max(-settled, 0)
        per_interval.append(paid - earned - settled - from_aggregator + to_aggregator)
    credit = read_storage(state, market, b"$" + who) or 0
    debt = read_storage(state, market, b"D" + who) or 0
    owed = read_storage(state, market, b"O" + who) or 0
    battery = member.dispatch()
    produced, consumed = member.metered()
    nets = [p - c for p, c in zip(produced, consumed)]
    baseline = realtime_settle([0] * s.intervals, [h.net_wh(k) for k in range(s.intervals)], s.market.tou, s.market.fit)
    incentive = 0
    if any(v.address == who for v in community.validators) and s.chain.incentive != "none":
        # its account: genesis, less its market deposit, plus what the aggregator moved, plus incentives
        balance = accounts.get_account(state, who).balance
        incentive = balance - community.genesis_balance(who) + s.market.credit - (agg_revenue - agg_spend)
    return MemberOutcome(
        h.name, member.group.name, member.group.kind, member.bus, sum(produced), sum(consumed),
        sum(min(p, c) for p, c in zip(produced, consumed)), sum(max(-n, 0) for n in nets),
        sum(max(n, 0) for n in nets), sold, bought, revenue, spend, from_utility, to_utility,
        s.market.credit - credit + debt - owed - agg_revenue + agg_spend, sum(max(a, 0) for a in baseline),
        sum(max(-a, 0) for a in baseline), per_interval, [-a for a in baseline], round(battery.cycles, 3) if battery else 0.0, battery.degradation_mc if battery else 0,
        agg_revenue, agg_spend, incentive)


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
            round(sum(m.battery_cycles for m in group), 3), sum(m.degradation_mc for m in group),
            sum(m.aggregator_revenue_mc for m in group), sum(m.incentive_mc for m in group)))
    return out


def _par(load: list[int]) -> float | None:
    imports = [max(x, 0) for x in load]
    mean = sum(imports) / len(imports)
    return round(max(imports) / mean, 4) if mean else None


def _proposers(community: Community, state: State, genesis: Genesis, stats: ChainStats,
               members: list[MemberOutcome]) -> tuple[list[ValidatorOutcome], float | None]:
    """Blocks per validator and, under PoE, the mean CPF it was elected with (of its own meters,
    for the last interval settled before its block's parent, as `consensus.election.PoeElection`
    ranks), and the share of blocks proposed by a validator of the best CPF. CPFs are of the
    final state's readings: a block elected before its interval's readings committed was ranked
    on CPF 0 for everyone, by the election's tie-break."""
    owner = {m.key.address: m.name for m in community.members}
    earned = {m.name: m.incentive_mc for m in members}
    unit = genesis.positive_param("poe_wh_per_unit", 1000)
    memo: dict[tuple[bytes, int], int] = {}

    def cpf(key: bytes, interval: int) -> int:
        if interval < 0:
            return 0
        if (key, interval) not in memo:
            e = accounts.owner_energy(state, address_of(key), interval)
            memo[key, interval] = cpf_ppm(e.produced_wh, e.consumed_wh, unit) if e.complete else 0
        return memo[key, interval]

    cpfs: dict[bytes, list[int]] = {}
    best = 0
    for p in stats.proposals:
        settled = genesis.interval_of(p.parent_time_ms) - 1
        mine = cpf(p.proposer, settled)
        cpfs.setdefault(p.proposer, []).append(mine)
        best += mine == max(cpf(v.public_key, settled) for v in community.validators)
    poe = community.scenario.consensus == "poe"
    out = []
    for i, v in enumerate(community.validators):
        mine = cpfs.get(v.public_key, [])
        name = owner.get(v.address)
        mean = round(sum(mine) / len(mine) / PPM, 4) if mine and poe else None
        out.append(ValidatorOutcome(f"node{i}", name, len(mine), mean, earned.get(name, 0) if name else 0))
    return out, _pct(best, len(stats.proposals)) if poe else None


def _aggregator(community: Community, runner: Runner, state: State) -> AggregatorOutcome | None:
    vpp = community.aggregator
    if vpp is None:
        return None
    delivered = paid = 0
    for r in runner.trace.rounds:
        result = read_storage(state, runner.aggregator, f"result:{r.window}") or [0, 0, 0, 0, 0]
        delivered += result[3]
        paid += result[4] if r.buys else -result[4]
    intervals = range(community.scenario.intervals)
    metered = [sum(m.metered_net_wh(k) for m in community.members) for k in intervals]
    before = sum(abs(vpp.actual[k] - vpp.schedule[k]) for k in intervals)
    after = sum(abs(metered[k] - vpp.schedule[k]) for k in intervals)
    rounds = runner.trace.rounds
    return AggregatorOutcome(len(rounds), sum(r.buys for r in rounds), sum(r.quantity_wh for r in rounds),
                             sum(r.accepted_wh for r in rounds), delivered, paid, before, after, _pct(before - after, before))


def outcome(community: Community, state: State, runner: Runner, stats: ChainStats, mode: str) -> Outcome:
    s = community.scenario
    trace = runner.trace
    prices = {w.window: w.price for w in trace.windows}
    flows = _aggregator_flows(state, runner)
    members = [_member(community, state, runner, m, prices, flows) for m in community.members]
    traded = sum(w.volume_wh for w in trace.windows)
    intervals = range(s.intervals)
    return Outcome(
        s.name, mode, s.consensus, len(community.validators), members, _classes(members), traded,
        sum(1 for w in trace.windows if w.volume_wh), round(sum(w.price * w.volume_wh for w in trace.windows) / traded, 1)
        if traded else None, sum(m.imported_wh for m in members), sum(m.exported_wh for m in members),
        _par([sum(-m.metered_net_wh(k) for m in community.members) for k in intervals]),
        _par([sum(-m.household.net_wh(k) for m in community.members) for k in intervals]),
        stats.blocks, stats.transactions, round(stats.cpu_s, 2),
        *_proposers(community, state, runner.genesis, stats, members), _aggregator(community, runner, state),
        market_state_root(state, community).hex())
