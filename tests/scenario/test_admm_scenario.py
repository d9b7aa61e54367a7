"""001's scheduling scenario (`system = "admm"`, salian-admm): the day converges to prices between
FIT and TOU and lowers the community's bill; a short form conserves money, bills every member
from its certified meter, and ends on the same state root on a 4-process cluster as in one
process."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ledger import accounts
from market.agents.admm_member import centralised
from pownode.scenario import admm
from pownode.scenario import run as scenario
from pownode.scenario.community import UTILITY_CREDIT, Community
from pownode.scenario.drivers import LocalDriver
from pownode.scenario.spec import ScenarioError
from tests.cluster.test_local_cluster import _free_base
from tests.market.test_admm_scheduler import SCHEDULE_TOLERANCE_WH
from vm.machine import read_storage


@pytest.fixture(scope="module")
def day():
    return scenario.resolve("salian-admm")


@pytest.fixture(scope="module")
def short(day):
    """Two prosumers and two consumers, two hours from 10:00, at most 10 rounds (two chain
    intervals of five): the schedule is fixed unconverged, as its last iterate."""
    return replace(day, start=day.start.replace(hour=10), intervals=2,
                   groups=tuple(replace(g, buses=g.buses[:2]) for g in day.groups),
                   settings={**day.settings, "max_rounds": 10, "rounds_per_interval": 5, "price0": 6500,
                             "eps_pri": 20, "eps_dual": 200})


def test_the_day_converges_between_fit_and_tou_and_lowers_the_bill(day) -> None:
    result = scenario.run(day, local=True, show=False)
    settings = admm.AdmmSettings.read(Community(day, 4))
    assert result.status == admm.CONVERGED and len(result.rounds) <= settings.max_rounds
    last = result.rounds[-1]
    assert last.primal_mwh <= settings.eps_pri * 1000 and last.dual <= settings.eps_dual
    # The centralised problem of the same private costs (cvxpy): each schedule within
    # SCHEDULE_TOLERANCE_WH per interval, each price within the day's eps_dual (60 milli-cents
    # per kWh; measured: 2.5 Wh and 36 milli-cents per kWh).
    community = Community(day, 4)
    ref = centralised(admm.member_costs(community, settings))
    for m, x in zip(community.members, ref.schedules):
        assert max(abs(a - b) for a, b in zip(result.schedule[m.name], x)) <= SCHEDULE_TOLERANCE_WH
    assert max(abs(a - b) for a, b in zip(result.prices, ref.prices)) <= settings.eps_dual
    assert all(day.market.fit - settings.eps_dual <= p <= day.market.tou + settings.eps_dual for p in result.prices)
    assert result.cost_mc["all"] < result.baseline_cost_mc["all"]
    assert result.delivered_wh <= result.traded_wh and result.error_wh > 0  # forecasts err; meters tell
    assert result.intervals_to_allocation < result.intervals_to_settlement
    # The same households on the feeder, with and without the schedule's shifts.
    assert set(result.feeder) == {"with", "without"} and result.feeder["with"] != result.feeder["without"]
    assert all(0.85 < f.v_min_pu <= f.v_max_pu <= 1.05 and f.losses_kwh > 0 for f in result.feeder.values())


def test_the_short_form_conserves_money_and_bills_from_the_meters(short) -> None:
    community = Community(short, 4)
    genesis = community.genesis(1_767_225_600_000, 5_000)
    driver = LocalDriver(genesis, community.validators)
    result = admm.run(community, genesis, driver, lambda c, last: None)
    state = driver.state()
    s1 = admm._address(community.deployer, "admm_scheduler")
    s2 = admm._address(community.deployer, "schedule_billing")
    everyone = [m.key.address for m in community.members] + [community.utility.address, community.deployer.address,
                                                             s1, s2]
    assert sum(accounts.get_account(state, a).balance for a in everyone) == sum(b.amount for b in genesis.balances)
    settings = admm.AdmmSettings.read(community)
    assert result.status == admm.UNCONVERGED and len(result.rounds) == settings.max_rounds  # the round bound
    assert read_storage(state, s1, "final")[3] == tuple(result.prices)
    received = 0

    def billed(price: int) -> int:  # S2 bills the schedule's price within FIT..TOU
        return min(max(price, short.market.fit), short.market.tou)

    for m in community.members:
        assert tuple(read_storage(state, s1, b"X" + m.key.address)) == tuple(result.schedule[m.name])
        amounts = 0
        for t in range(short.intervals):
            x, metered, price, scheduled, deviation, status = read_storage(
                state, s2, b"Y" + t.to_bytes(2, "big") + m.key.address)
            produced, consumed = admm.metered(m.household, t, admm.member_costs(community, settings)[m.index]
                                              .preferred[t], x)
            assert status == 1 and metered == produced - consumed and price == billed(result.prices[t])
            assert scheduled == (x * price // 1000 if x >= 0 else -(-x * price // 1000))
            amounts += scheduled + deviation
        credit = read_storage(state, s2, b"$" + m.key.address) or 0
        debt = read_storage(state, s2, b"D" + m.key.address) or 0
        owed = read_storage(state, s2, b"O" + m.key.address) or 0
        assert credit - debt + owed == short.market.credit + amounts
        received += amounts
    assert read_storage(state, s2, b"$" + community.utility.address) == UTILITY_CREDIT // 2 - received
    assert result.transactions == driver.stats().transactions


def test_a_typo_in_the_admm_table_names_the_field(short) -> None:
    with pytest.raises(ScenarioError, match=r"admm: unknown fields \['rhoo'\]"):
        admm.AdmmSettings.read(Community(replace(short, settings={**short.settings, "rhoo": 3}), 4))


def test_a_cluster_and_one_process_end_on_the_same_schedule_and_bills(short, tmp_path: Path) -> None:
    local = scenario.run(short, local=True, show=False)
    # 6 s chain intervals: five rounds of five transactions (a phase each) fit on a loaded machine
    # (the whole day runs ten rounds of 17 in each).
    cluster = scenario.run(short, local=False, validators=4, interval_s=6.0, out=tmp_path, show=False,
                           base_port=_free_base(8))
    assert cluster.state_root == local.state_root
    same = ("rounds", "status", "prices", "schedule", "transactions", "intervals_to_allocation",
            "intervals_to_settlement", "traded_wh", "delivered_wh", "error_wh", "cost_mc")
    assert {k: getattr(cluster, k) for k in same} == {k: getattr(local, k) for k in same}
    assert {"kpis.json", "admm-schedule.png", "admm-residuals.png"} <= {p.name for p in tmp_path.iterdir()}
