"""The scenario runner: the shipped smoke scenario (and a short siano-poe: 003's aggregator,
transactive batteries, PoE with incentives) on a 4-process cluster and in one process ends on the
same market state, money and energy are conserved, the KPIs go the way the market should push
them, and bad scenario files are refused with the field named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ledger import accounts
from market.agents.households import BUY, SELL, Household
from pownode.scenario import run as scenario
from pownode.scenario.community import UTILITY_CREDIT, Community
from pownode.scenario.drivers import LocalDriver
from pownode.scenario.kpis import outcome
from pownode.scenario.runner import Runner
from pownode.scenario.spec import ScenarioError, parse
from tests.cluster.test_local_cluster import _free_base
from vm.machine import read_storage


@pytest.fixture(scope="module")
def smoke():
    return scenario.resolve("smoke")


def _zone(smoke):
    """The smoke community in 002's hybrid market: three areas, the grid pricing the rest."""
    from pownode.scenario.spec import GridTariff

    grid = GridTariff(tuple(24_000 for _ in range(24)), tuple(int(17 <= h <= 20) for h in range(24)),
                      tuple(int(h < 6) for h in range(24)), 1_200_000, 950_000)
    groups = tuple(replace(g, zones=(0, 1, 2)) for g in smoke.groups)
    return replace(smoke, market=replace(smoke.market, mechanism="zone", grid=grid), groups=groups)


def _local(smoke):
    community = Community(smoke, 4)
    genesis = community.genesis(1_767_225_600_000, 5_000)
    driver = LocalDriver(genesis, community.validators)
    runner = Runner(community, genesis, driver, lambda c, last: None)
    runner.run()
    return community, genesis, driver, runner, outcome(community, driver.state(), runner, driver.stats(), "local")


@pytest.mark.parametrize("mechanism", ["merit", "zone", "double"])
def test_money_and_energy_are_conserved_and_the_market_pays_off(smoke, mechanism: str) -> None:
    found = {"merit": smoke, "zone": _zone(smoke),
             "double": replace(smoke, market=replace(smoke.market, mechanism="double"))}[mechanism]
    community, genesis, driver, runner, result = _local(found)
    state = driver.state()
    # Native money: no fees, no incentives, nothing minted or burnt.
    supply = sum(b.amount for b in genesis.balances)
    held = sum(accounts.get_account(state, a).balance for a in
               [m.key.address for m in community.members] + [community.utility.address, community.deployer.address,
                                                             runner.market, runner.grid])
    assert held == supply
    # Inside the market: what members spent on net is exactly what the utility gained, and the
    # contract holds only credits (every lock and held proceeds released by settlement).
    utility = read_storage(state, runner.market, b"$" + community.utility.address)
    assert sum(m.cost_mc for m in result.members) == utility - UTILITY_CREDIT // 2
    credits = sum(read_storage(state, runner.market, b"$" + m.key.address) or 0 for m in community.members)
    assert accounts.get_account(state, runner.market).balance == credits + utility
    assert all((read_storage(state, runner.market, b"D" + m.key.address) or 0) == 0 for m in community.members)
    # Energy: every P2P Wh sold was bought; settlement saw each meter's reading of its interval.
    assert sum(m.sold_wh for m in result.members) == sum(m.bought_wh for m in result.members) == result.traded_wh > 0
    if mechanism == "zone":  # the grid contract billed every Wh the market routed to it
        bills = [read_storage(state, runner.grid, b"B" + m.key.address) or [0, 0, 0, 0] for m in community.members]
        assert sum(b[0] + b[2] for b in bills) > 0  # residual bought from it, or surplus sold back
    for m in community.members:
        for window in range(1, smoke.intervals + 1):
            settled = read_storage(state, runner.market, b"Y" + window.to_bytes(8, "big") + m.key.address)
            assert settled[1] == m.household.net_wh(window - 1) and settled[3] == 1  # metered
    # The per-interval costs add up to what left each member's credit (pro-rata rounding aside).
    for m in result.members:
        assert abs(sum(m.interval_cost_mc) - m.cost_mc) <= smoke.intervals * 2
    # Direction: consumers pay less for energy, prosumers earn more for it, nobody loses.
    classes = {c.kind: c for c in result.classes}
    assert classes["consumer"].spend_mc < classes["consumer"].baseline_spend_mc
    assert classes["prosumer"].revenue_mc > classes["prosumer"].baseline_revenue_mc
    assert all(m.cost_mc <= m.baseline_cost_mc for m in result.members)


def test_a_cluster_and_one_process_end_on_the_same_market_state(smoke, tmp_path: Path) -> None:
    # Three windows (five chain intervals, not eight): every phase of the runner (set-up, orders,
    # clearing, readings, settlement) runs, and from chain interval 2 on they share an interval
    # as in a longer run, which only repeats that.
    short = replace(smoke, intervals=3)
    local = scenario.run(short, local=True, show=False)
    assert local.traded_wh > 0  # the state compared holds trades
    # 10 s chain intervals: room for six setup phases in interval 0 on a slow, loaded machine.
    cluster = scenario.run(short, local=False, validators=4, interval_s=10.0, out=tmp_path, show=False,
                           base_port=_free_base(8))
    assert cluster.market_state_root == local.market_state_root
    assert cluster.blocks > 0 and cluster.cpu_s > 0 and sum(v.blocks for v in cluster.proposers) == cluster.blocks
    assert [m.cost_mc for m in cluster.members] == [m.cost_mc for m in local.members]
    assert {"kpis.json", "intervals.csv", "community-load.png", "costs-by-class.png", "report.md"} <= {
        p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "intervals.csv").read_text().count("\n") == 1 + short.intervals * short.members


def test_forecasts_and_orders_are_deterministic_and_integer() -> None:
    h = Household("p", True, (0, 500, 900), (200, 200, 1000), 12_000, 0.3, 5)
    assert h.order(1, 2, 4) == h.order(1, 2, 4)
    assert h.order(1, 2, 4).side == SELL and isinstance(h.order(1, 2, 4).energy_wh, int)
    assert h.order(0, 1, 4).side == BUY and h.order(0, 1, 4).price == 0
    exact = replace(h, forecast_error=0.0)
    assert exact.order(1, 4, 4).energy_wh == 300 and exact.order(2, 1, 4).energy_wh == 100
    consumer = replace(exact, prosumer=False)
    assert consumer.order(1, 1, 4) is None  # only a prosumer offers


BASE = {"start": __import__("datetime").datetime.fromisoformat("2026-06-21T11:00:00+09:00"), "intervals": 2,
        "group": [{"name": "c", "kind": "consumer", "buses": [3]}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"consensus": "raft"}, "consensus must be one of"),
    ({"market": {"mechanism": "lottery"}}, "mechanism must be one of merit, zone, double"),
    ({"intervals": 0}, "intervals must be from 1"),
    ({"interval_minutes": 20}, "multiple of 15"),
    ({"market": {"alpha": 0.2}}, "must be above fit"),
    ({"market": {"lead": "one"}}, "lead must be an integer"),
    ({"group": [{"name": "c", "kind": "consumer", "buses": [40]}]}, "bus numbers 1..32"),
    ({"group": [{"name": "p", "kind": "prosumer", "buses": [3]}]}, "needs pv_kwp or pv_csv"),
    ({"group": [{"name": "c", "buses": [3], "colour": "red"}]}, "unknown fields"),
    ({"group": [{"name": "c", "buses": [3], "load_csv": "absent.csv"}]}, "no such file"),
    ({"start": "noon"}, "start must be a date-time"),
    ({"paper": {"source": "000", "consumer.happiness_pct": 1}}, "is not WHO.KPI"),
    ({"paper": {"consumer.spend_savings_pct": 6}}, "source is required"),
    ({"chain": {"validators": "nobody"}}, "is not a group's name"),
    ({"chain": {"incentive": "gold"}}, "incentive must be one of"),
    ({"aggregator": {"buy_price": 10}}, "buy_price must be from"),
    ({"aggregator": {"spread": 1}}, "unknown fields"),
])
def test_bad_scenarios_are_refused_with_the_field_named(change: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse({**BASE, **change}, "bad", tmp_path)


def test_the_report_sets_the_papers_numbers_beside_ours(smoke, tmp_path: Path) -> None:
    from pownode.scenario import report
    from pownode.scenario.spec import PaperFigures

    quoted = replace(smoke, paper=PaperFigures("a paper", (("consumer.spend_savings_pct", 6.0),
                                                            ("prosumer.revenue_gain_pct", -5.0))))
    result = scenario.run(quoted, local=True, show=False)
    report.write(tmp_path / "report.md", quoted, result, [])
    text = (tmp_path / "report.md").read_text()
    consumer = next(c for c in result.classes if c.kind == "consumer")
    assert f"| `consumer.spend_savings_pct` | 6 | {consumer.spend_savings_pct:.4g} | yes |" in text
    assert "| `prosumer.revenue_gain_pct` | -5 |" in text and text.count("| no |") == 1


def test_profiles_come_from_csv_when_given(tmp_path: Path) -> None:
    (tmp_path / "load.csv").write_text("c-0\n100\n250\n")
    found = parse({**BASE, "group": [{"name": "c", "buses": [3], "load_csv": "load.csv"}]}, "csv", tmp_path)
    assert Community(found, 4).members[0].household.consumed_wh == (100, 250)
    (tmp_path / "load.csv").write_text("c-0\n100\nlots\n")
    with pytest.raises(ValueError, match="row 3: c-0 is not a whole number"):
        Community(found, 4)


def test_profiles_from_demandlib_and_pvlib_have_the_right_size() -> None:
    from datetime import datetime, timedelta, timezone

    from market.agents.profiles import Site, Timeline, household_load, pv_output

    day = Timeline(datetime(2026, 3, 10, tzinfo=timezone(timedelta(hours=1))), 96, 15)
    load = household_load(day, 3650)
    assert all(isinstance(x, int) and x >= 0 for x in load)
    assert 7_000 < sum(load) < 13_000  # about a 365th of 3,650 kWh, shaped by the BDEW h0 profile
    assert max(load[68:88]) > max(load[8:20])  # evenings above the small hours
    pv = pv_output(day, Site(52.5, 13.4), 4.0)
    assert pv[0] == pv[95] == 0 and pv[48] > 0  # nothing at night, most at noon
    assert 8_000 < sum(pv) < 30_000  # 4 kWp on a clear March day in Berlin
    assert sum(household_load(Timeline(day.start, 24, 60), 3650)) == sum(load)  # hours sum the quarters


def test_a_sweep_runs_every_variant_locally_and_on_a_dask_cluster(tmp_path: Path) -> None:
    from distributed import LocalCluster

    from pownode.scenario.sweep import parse_vary, sweep

    variation = parse_vary("group.prosumer.ask_markup=0.2,0.9")
    assert variation.values == (0.2, 0.9)
    path = scenario.locate("smoke")
    local = sweep(path, variation, workers=2, out=tmp_path)
    assert [r["value"] for r in local] == [0.2, 0.9]
    # A higher ask moves the gain from consumers to prosumers.
    assert local[0]["consumers pay less (%)"] > local[1]["consumers pay less (%)"]
    assert local[0]["prosumers earn more (%)"] < local[1]["prosumers earn more (%)"]
    assert {"sweep.json", "sweep.png"} <= {p.name for p in tmp_path.iterdir()}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = sweep(path, variation, scheduler=cluster.scheduler_address)
    assert [r["market_state_root"] for r in remote] == [r["market_state_root"] for r in local]
    with pytest.raises(ScenarioError, match="no group named 'nobody'"):
        sweep(path, parse_vary("group.nobody.pv_kwp=1,2"))
    with pytest.raises(ScenarioError, match="ask_markup must be from"):
        sweep(path, parse_vary("group.prosumer.ask_markup=0.5,7"))


def test_a_group_with_batteries_meters_their_flows_and_reports_their_wear(smoke, tmp_path: Path) -> None:
    afternoon = __import__("datetime").datetime.fromisoformat("2026-06-21T14:00:00+09:00")  # sun, then evening
    doc = {**BASE, "start": afternoon, "intervals": 28, "market": {"tou": 32000},
           "site": {"latitude": 34.7, "longitude": 135.5},
           "group": [{"name": "p", "kind": "prosumer", "buses": [3, 4], "pv_kwp": 5.0, "battery_kwh": 5.0},
                     {"name": "c", "kind": "consumer", "buses": [5]}]}
    found = parse(doc, "batteries", tmp_path)
    community = Community(found, 4)
    prosumer = community.members[0]
    assert prosumer.battery is not None and community.members[2].battery is None
    plain = Community(replace(found, groups=(replace(found.groups[0], battery=None), found.groups[1])), 4).members[0]
    charged = [c - p for c, p in zip(prosumer.household.consumed_wh, plain.household.consumed_wh)]
    assert sum(charged) > 0 and all(x >= 0 for x in charged)  # its meter counts the charging
    result = scenario.run(found, local=True, show=False)
    p = next(c for c in result.classes if c.kind == "prosumer")
    assert p.battery_cycles > 0 and p.degradation_mc == sum(m.battery.degradation_mc for m in community.members[:2])


@pytest.fixture(scope="module")
def siano():
    """siano-poe from 09:00 for 8 hours: PV surpluses and shortfalls against the schedule."""
    found = scenario.resolve("siano-poe")
    start = found.start.replace(hour=9)
    return replace(found, start=start, intervals=8)


def test_the_aggregators_rounds_pay_what_the_meters_show_and_money_is_conserved(siano) -> None:
    community, genesis, driver, runner, result = _local(siano)
    state = driver.state()
    # Money: every account together holds the genesis supply plus what blocks minted, and what
    # was minted is what the validators earned (their accounts, net of market and rounds).
    everyone = [m.key.address for m in community.members] + [
        community.utility.address, community.deployer.address, community.aggregator_key.address, runner.market,
        runner.aggregator]
    minted = accounts.supply(state) - sum(b.amount for b in genesis.balances)
    assert minted > 0 and sum(accounts.get_account(state, a).balance for a in everyone) == accounts.supply(state)
    assert sum(v.incentive_mc for v in result.proposers) == minted
    # The aggregator's rounds: all settled, nothing left in the contract, delivery as metered.
    a = result.aggregator
    assert a.rounds > 0 and 0 < a.delivered_wh <= a.accepted_wh <= a.asked_wh
    assert accounts.get_account(state, runner.aggregator).balance == 0
    for r in runner.trace.rounds:
        assert read_storage(state, runner.aggregator, f"round:{r.window}")[5] == 2  # SETTLED
    # The batteries moved only for accepted rounds, within eq. (1), and the meters saw them.
    flexible = [m for m in community.members if m.flexible is not None]
    assert flexible and all(m.flexible is None for m in community.members if m.group.kind == "consumer")
    for m in flexible:
        produced, consumed = m.metered()
        spec = m.flexible.battery.spec
        moved = [p - c - m.household.net_wh(k) for k, (p, c) in enumerate(zip(produced, consumed))]
        assert all(moved[k] == 0 for k in range(siano.intervals) if k not in m.flexible.committed)
        assert all(spec.soc_min - 1e-9 <= x <= spec.soc_max + 1e-9 for x in m.flexible.soc)
    # ... and a TCR never offers below its battery's degradation cost (eq. 8).
    for r in runner.trace.rounds:
        for k in range(r.answers):
            acc = read_storage(state, runner.aggregator, f"acc:{r.window}:{k.to_bytes(2, 'big').hex()}")
            if acc is not None and r.buys:
                assert acc[2] >= flexible[0].flexible.battery.spec.degradation_mc_per_kwh
    # Direction: the batteries cut the deviation from the schedule, the prosumers earn from it.
    assert a.deviation_after_wh < a.deviation_wh
    prosumers = next(c for c in result.classes if c.kind == "prosumer")
    assert prosumers.aggregator_revenue_mc > 0 and prosumers.cost_mc < prosumers.baseline_cost_mc
    # Proof of Energy: the validators are the first prosumers, every block by a best-CPF one.
    assert [v.member for v in result.proposers] == [m.name for m in flexible[:4]]
    assert result.best_cpf_pct == 100.0 and all(v.mean_cpf is not None for v in result.proposers)


def test_siano_on_a_poe_cluster_ends_on_the_local_market_state(siano, tmp_path: Path) -> None:
    short = replace(siano, intervals=4)
    local = scenario.run(short, local=True, show=False)
    cluster = scenario.run(short, local=False, validators=4, interval_s=10.0, out=tmp_path, show=False,
                           base_port=_free_base(8))
    assert cluster.market_state_root == local.market_state_root
    assert cluster.aggregator == local.aggregator and cluster.aggregator.rounds > 0
    assert sum(v.incentive_mc for v in cluster.proposers) > 0 and cluster.best_cpf_pct is not None
