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


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(4096, 12_000), bits=st.sampled_from([2, 16, 17, 40, 62]))
def test_radix_argsort_is_a_stable_sort(seed: int, n: int, bits: int) -> None:
    import numpy as np

    from market.kernels import stable_argsort

    keys = np.random.default_rng(seed).integers(0, 1 << bits, n)
    assert np.array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_large_books_take_the_radix_path_and_still_match(seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    n = 6_000
    sell_p = rng.integers(6_000, 26_000, n).tolist()
    sell_e = rng.integers(0, 10_000, n).tolist()
    buy_e = rng.integers(0, 10_000, n).tolist()
    buy_p = rng.integers(6_000, 26_000, n).tolist()
    fit, cap = 5_000, 24_000
    for supply_scale in (1, 3):  # demand above and below supply
        demand = [d * supply_scale for d in buy_e]
        price = KERNEL.merit_order_price(sell_p, sell_e, sum(demand), cap, fit)
        assert price == REFERENCE.merit_order_price(sell_p, sell_e, sum(demand), cap, fit)
        assert KERNEL.pro_rata_assign(demand, sell_p, sell_e, cap, fit, price) == REFERENCE.pro_rata_assign(
            demand, sell_p, sell_e, cap, fit, price)
    assert KERNEL.double_auction(buy_p, buy_e, sell_p, sell_e) == REFERENCE.double_auction(buy_p, buy_e, sell_p, sell_e)
    for buys in (True, False):
        assert KERNEL.aggregator_take(sell_p, sell_e, 10**7, 15_000, buys) == REFERENCE.aggregator_take(
            sell_p, sell_e, 10**7, 15_000, buys)


def _outcome(mechanism, name: str, args: tuple):
    try:
        return "ok", getattr(mechanism, name)(*args)
    except Exception as exc:  # noqa: BLE001 - a refusal's type and text reach the receipt, hashed
        return type(exc).__name__, str(exc)


# Anything a contract can pass: negative, huge and non-integer values, mismatched columns.
wild_ints = st.one_of(st.integers(-5, 40_000), st.sampled_from([-(1 << 63), (1 << 31) - 1, 1 << 31, 1 << 40, 1 << 63]))
wild_lists = st.lists(wild_ints, max_size=12)
wild_scalar = st.one_of(wild_ints, st.booleans())


@SETTINGS
@given(data=st.data(), name=st.sampled_from(["merit_order_price", "pro_rata_assign", "lowest_price", "double_auction",
                                             "zone_match", "aggregator_take", "grid_settle", "realtime_settle"]))
def test_pure_refuses_and_answers_exactly_as_the_kernels(data, name: str) -> None:
    """A full node clears with PURE and a validator with KERNEL: any difference, a result or a
    refusal (its reason reaches the receipt), would make the full node reject the validators'
    blocks. The arguments are what the VM lets through: integers, booleans, lists of integers."""
    from market.clearing import PURE

    shapes = {"merit_order_price": "LLsss", "pro_rata_assign": "LLLsss", "lowest_price": "L", "double_auction": "LLLL",
              "zone_match": "LLLLss", "aggregator_take": "LLssb", "grid_settle": "LLss", "realtime_settle": "LLss"}
    draw = {"L": wild_lists, "s": wild_scalar, "b": st.booleans()}
    args = tuple(data.draw(draw[kind]) for kind in shapes[name])
    assert _outcome(PURE, name, args) == _outcome(KERNEL, name, args)
