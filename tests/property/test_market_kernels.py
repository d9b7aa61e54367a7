"""Every market kernel equals its pure-Python reference on random order books, and the trades
conserve energy and money and respect capacities and bounds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from market.clearing import KERNEL, REFERENCE

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
prices = st.integers(1, 40_000)
energies = st.integers(0, 50_000)


@st.composite
def books(draw, n_max: int = 40):
    """Order books including empty sides, ties, one giant order and all prices equal."""
    n_s = draw(st.integers(0, n_max))
    n_b = draw(st.integers(0, n_max))
    style = draw(st.sampled_from(["random", "ties", "giant", "equal"]))
    if style == "ties":
        p = st.sampled_from([10_000, 12_000, 15_000])
    elif style == "equal":
        p = st.just(draw(prices))
    else:
        p = prices
    sell_p = draw(st.lists(p, min_size=n_s, max_size=n_s))
    sell_e = draw(st.lists(energies, min_size=n_s, max_size=n_s))
    buy_e = draw(st.lists(energies, min_size=n_b, max_size=n_b))
    if style == "giant" and n_s:
        sell_e[draw(st.integers(0, n_s - 1))] = 1_000_000_000
    return sell_p, sell_e, buy_e


bounds = st.tuples(st.integers(0, 20_000), st.integers(20_001, 45_000))  # (fit, cap = alpha * TOU)


@SETTINGS
@given(book=books(), fit_cap=bounds)
def test_merit_order_price(book, fit_cap) -> None:
    sell_p, sell_e, buy_e = book
    fit, cap = fit_cap
    demand = sum(buy_e)
    price = KERNEL.merit_order_price(sell_p, sell_e, demand, cap, fit)
    assert price == REFERENCE.merit_order_price(sell_p, sell_e, demand, cap, fit)
    if demand > 0:
        assert fit < price <= cap


@SETTINGS
@given(book=books(), fit_cap=bounds)
def test_pro_rata_assignment(book, fit_cap) -> None:
    sell_p, sell_e, buy_e = book
    fit, cap = fit_cap
    price = REFERENCE.merit_order_price(sell_p, sell_e, sum(buy_e), cap, fit)
    trades = KERNEL.pro_rata_assign(buy_e, sell_p, sell_e, cap, fit, price)
    assert trades == REFERENCE.pro_rata_assign(buy_e, sell_p, sell_e, cap, fit, price)
    eligible = [e if fit < p < cap else 0 for p, e in zip(sell_p, sell_e)]
    sold = [0] * len(sell_p)
    bought = [0] * len(buy_e)
    for s, b, e, pay in trades:
        assert e > 0 and pay == e * price // 1000
        sold[s] += e
        bought[b] += e
    assert sum(sold) == sum(bought) == min(sum(buy_e), sum(eligible))  # conservation, full volume
    assert all(x <= cap_ for x, cap_ in zip(sold, eligible)) and all(x <= d for x, d in zip(bought, buy_e))


@SETTINGS
@given(book=books(), bid_p=st.lists(prices, max_size=40))
def test_double_auction(book, bid_p) -> None:
    ask_p, ask_e, bid_e = book
    bid_p = (bid_p + [20_000] * len(bid_e))[: len(bid_e)]
    got = KERNEL.double_auction(bid_p, bid_e, ask_p, ask_e)
    assert got == REFERENCE.double_auction(bid_p, bid_e, ask_p, ask_e)
    price, got_b, got_a = got
    assert sum(got_b) == sum(got_a)
    assert all(g <= e for g, e in zip(got_b, bid_e)) and all(g <= e for g, e in zip(got_a, ask_e))
    if sum(got_b):
        assert all(p >= price for p, g in zip(bid_p, got_b) if g) and all(p <= price for p, g in zip(ask_p, got_a) if g)


@SETTINGS
@given(book=books(), zones=st.data())
def test_zone_matching(book, zones) -> None:
    sell_p, sell_e, buy_e = book
    sell_z = zones.draw(st.lists(st.integers(0, 4), min_size=len(sell_e), max_size=len(sell_e)))
    buy_z = zones.draw(st.lists(st.integers(0, 4), min_size=len(buy_e), max_size=len(buy_e)))
    price = REFERENCE.lowest_price(sell_p)
    trades = KERNEL.zone_match(buy_e, buy_z, sell_e, sell_z, price)
    assert trades == REFERENCE.zone_match(buy_e, buy_z, sell_e, sell_z, price)
    assert sum(t[2] for t in trades) == min(sum(buy_e), sum(sell_e))
    for s in range(len(sell_e)):
        assert sum(t[2] for t in trades if t[0] == s) <= sell_e[s]


@SETTINGS
@given(book=books(), quantity=st.integers(0, 300_000), limit=prices, buys=st.booleans())
def test_aggregator_auction(book, quantity, limit, buys) -> None:
    order_p, order_e, _ = book
    trades = KERNEL.aggregator_take(order_p, order_e, quantity, limit, buys)
    assert trades == REFERENCE.aggregator_take(order_p, order_e, quantity, limit, buys)
    assert sum(e for _, e, _ in trades) <= quantity
    for k, e, pay in trades:
        assert (order_p[k] < limit if buys else order_p[k] > limit) and e <= order_e[k]
        assert pay == e * order_p[k] // 1000


@SETTINGS
@given(residual=st.lists(energies, max_size=30), price=prices, sell_back=prices)
def test_grid_settlement(residual, price, sell_back) -> None:
    surplus = list(reversed(residual))
    assert KERNEL.grid_settle(residual, surplus, price, sell_back) == REFERENCE.grid_settle(
        residual, surplus, price, sell_back)


@SETTINGS
@given(pairs=st.lists(st.tuples(st.integers(-50_000, 50_000), st.integers(-50_000, 50_000)), max_size=30),
       tou=prices, fit=prices)
def test_realtime_settlement(pairs, tou, fit) -> None:
    committed = [c for c, _ in pairs]
    metered = [m for _, m in pairs]
    out = KERNEL.realtime_settle(committed, metered, tou, fit)
    assert out == REFERENCE.realtime_settle(committed, metered, tou, fit)
    for c, m, amount in zip(committed, metered, out):
        assert (amount < 0) <= (m < c) and (amount > 0) <= (m > c)
