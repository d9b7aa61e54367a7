"""Paged clearing equals the reference on whole books, and every settlement conserves money and
energy: property tests over random books and readings on a real chain."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market import reference
from tests.market.helpers import NET, interval_time
from tests.market.test_p2p_contract import CAP, CONSUMERS, FIT, I0, PROSUMERS, UTILITY, W, Market, _deviation

TRADERS = PROSUMERS + CONSUMERS


def _post_random(m: Market, rng: random.Random, offers: int, demands: int, supply_scale: int) -> tuple:
    """Post a random book (owners cycle through the members, ids count up); returns the offers
    and demands in posting order with their owners."""
    book_offers, book_demands, calls = [], [], []
    sides = [1] * offers + [0] * demands
    rng.shuffle(sides)
    for n, side in enumerate(sides):
        key = TRADERS[n % len(TRADERS)]
        if side == 1:
            e, p = rng.randint(1, 5_000 * supply_scale), rng.randint(FIT + 1, CAP - 1)
            calls.append(m.on(key, "post", W, 1, e, p, n))
            book_offers.append((key.address, e, p))
        else:
            d = rng.randint(1, 5_000)
            calls.append(m.on(key, "post", W, 0, d, 0, n))
            book_demands.append((key.address, d))
    for start in range(0, len(calls), 200):
        receipts = m.block(calls[start:start + 200], interval_time(I0, 100 + start // 20))
        assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status][:3]
    return book_offers, book_demands


def _check_against_reference(m: Market, offers: list, demands: list, steps: int) -> int:
    result, calls = m.clear_all(W, steps=steps, time_ms=interval_time(W, 10))
    price, volume, count = result[:3]
    sell_p, sell_e = [p for _, _, p in offers], [e for _, e, _ in offers]
    demand = [d for _, d in demands]
    assert price == reference.merit_order_price(sell_p, sell_e, sum(demand), CAP, FIT)
    expected = reference.pro_rata_assign(demand, sell_p, sell_e, CAP, FIT, price)
    assert count == len(expected) and volume == min(sum(demand), sum(sell_e))
    for k, (s, b, e, pay) in enumerate(expected):
        assert m.view("trade", W, k) == (offers[s][0], demands[b][0], e, pay)
    return calls


def test_a_window_of_600_orders_clears_page_by_page_as_the_reference() -> None:
    for seed, scale in ((1, 1), (2, 3)):  # demand above supply, then supply above demand
        rng = random.Random(seed)
        m = Market()
        money = m.total_money()
        offers, demands = _post_random(m, rng, 300, 300, scale)
        calls = _check_against_reference(m, offers, demands, steps=97)
        assert calls > 5  # it really took many transactions
        assert m.balance(m.address) == m.contract_holdings()
        assert m.total_money() == money


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_offers=st.integers(0, 12), n_demands=st.integers(0, 12),
       steps=st.integers(1, 40), missing=st.sets(st.integers(0, len(TRADERS) - 1), max_size=4))
def test_settlement_conserves_money_and_energy(seed, n_offers, n_demands, steps, missing) -> None:
    rng = random.Random(seed)
    m = Market(grace=0)
    money = m.total_money()
    offers, demands = _post_random(m, rng, n_offers, n_demands, rng.randint(1, 3))
    _check_against_reference(m, offers, demands, steps)
    committed = {k.address: m.view("committed", W, k.address) for k in TRADERS}
    assert sum(c[0] for c in committed.values()) == sum(c[1] for c in committed.values())  # energy
    energy = {}
    for i, k in enumerate(TRADERS):
        if i not in missing:
            energy[NET.users.index(k)] = (rng.randint(0, 8_000), rng.randint(0, 8_000))
    m.readings(W, energy, interval_time(W + 1, 1))
    before = {k.address: m.credit(k) + m.view("owed", k.address) - m.view("debt", k.address) for k in TRADERS}
    utility = m.credit(UTILITY)
    m.settle_all(W, steps=rng.randint(1, 20))
    moved = 0
    for i, k in enumerate(TRADERS):
        a = k.address
        c = committed[a]
        net = c[0] + c[2] - c[1] - c[3]
        p, q = energy.get(NET.users.index(k), (0, 0))
        metered = min(net, 0) if i in missing else p - q
        amount = _deviation(net, metered)
        after = m.credit(k) + m.view("owed", a) - m.view("debt", a)
        assert after - before[a] == c[4] + amount  # held proceeds and collateral, and the deviation
        moved += amount
    owed_by_utility = sum(m.view("owed", k.address) for k in TRADERS)
    debts = sum(m.view("debt", k.address) for k in TRADERS)
    assert m.credit(UTILITY) - utility == -moved - debts + owed_by_utility
    assert m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money
