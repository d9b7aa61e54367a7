"""The market mechanisms behind one interface, with their input checks, computed by the numba
kernels or by the reference.

`KERNEL` and `PURE` check their inputs identically and then compute with the numba kernels
(numba is imported on the first call) or with `market.reference` in plain Python; their results
are the same Python values (ints, lists and tuples of ints), and so are their refusals. A
validator clears with `KERNEL`; a full node, which only re-executes what validators certified,
clears with `PURE` and never loads numba (about 130 MB of a process). `REFERENCE` is the bare
specification, unchecked, which tests compare both against.

Inputs are bounded so int64 arithmetic cannot overflow: order energy below 2^31 Wh, prices below
2^31 milli-cents/kWh, at most 2^22 orders; every scalar argument is range-checked too.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Sequence

import numpy as np

from market import reference

MAX_ENERGY = 1 << 31
MAX_PRICE = 1 << 31
MAX_ORDERS = 1 << 22


def _arr(values: Sequence[int], bound: int, what: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.int64)
    if a.ndim != 1 or a.shape[0] > MAX_ORDERS:
        raise ValueError(f"{what}: expected at most {MAX_ORDERS} values")
    if a.shape[0] and (int(a.min()) < 0 or int(a.max()) >= bound):
        raise ValueError(f"{what}: values must be in [0, {bound})")
    return a


def _paired(what: str, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Columns of one order book: the kernels index them together and numba does not check
    bounds, so a shorter column would be read (or written) past its end."""
    if len({a.shape[0] for a in arrays}) > 1:
        raise ValueError(f"{what}: columns of different lengths")
    return arrays


def _scalar(value: int, bound: int, what: str) -> int:
    """A scalar argument in [0, bound): prices and quantities the int64 kernels multiply."""
    if type(value) is not int or not 0 <= value < bound:
        raise ValueError(f"{what}: expected an integer in [0, {bound})")
    return value


def _trades(cols: tuple[np.ndarray, ...]) -> list[tuple]:
    return list(zip(*[c.tolist() for c in cols]))


def _auction(result: tuple) -> tuple[int, list[int], list[int]]:
    price, got_b, got_a = result
    return int(price), got_b.tolist(), got_a.tolist()


class Mechanisms:
    """Every mechanism, its arguments checked, computed by the kernels (`compiled`) or the
    reference. The checks come first either way, so both refuse the same inputs."""

    def __init__(self, compiled: bool) -> None:
        self.compiled = compiled

    def _run(self, name: str, finish: Callable[[Any], Any], *args: Any) -> Any:
        if self.compiled:
            from market import kernels  # numba is imported here, on first use

            return finish(getattr(kernels, name)(*args))
        return getattr(reference, name)(*[a.tolist() if isinstance(a, np.ndarray) else a for a in args])

    def merit_order_price(self, offer_price, offer_energy, total_demand: int, cap: int, fit: int) -> int:
        prices, energies = _paired("offers", _arr(offer_price, MAX_PRICE, "offer_price"),
                                   _arr(offer_energy, MAX_ENERGY, "offer_energy"))
        return self._run("merit_order_price", int, prices, energies,
                         _scalar(total_demand, MAX_ENERGY * MAX_ORDERS, "total_demand"),
                         _scalar(cap, MAX_PRICE, "cap"), _scalar(fit, MAX_PRICE, "fit"))

    def pro_rata_assign(self, demand, offer_price, offer_energy, cap: int, fit: int, price: int) -> list[tuple]:
        d = _arr(demand, MAX_ENERGY, "demand")
        p, e = _paired("offers", _arr(offer_price, MAX_PRICE, "offer_price"),
                       _arr(offer_energy, MAX_ENERGY, "offer_energy"))
        # apportion multiplies a running sum by the other side's total: keep it inside int64.
        if max(int(d.sum()), 1) * max(int(e.sum()), 1) >= 1 << 63:
            raise ValueError("quantities too large for exact int64 apportionment")
        return self._run("pro_rata_assign", _trades, d, p, e, _scalar(cap, MAX_PRICE, "cap"),
                         _scalar(fit, MAX_PRICE, "fit"), _scalar(price, MAX_PRICE, "price"))

    def lowest_price(self, sell_price) -> int:
        """002's uniform price, the least offer: one pass, nothing for numba to add."""
        return int(_arr(sell_price, MAX_PRICE, "sell_price").min(initial=MAX_PRICE)) if len(sell_price) else 0

    def double_auction(self, bid_price, bid_energy, ask_price, ask_energy) -> tuple[int, list[int], list[int]]:
        bids = _paired("bids", _arr(bid_price, MAX_PRICE, "bid_price"), _arr(bid_energy, MAX_ENERGY, "bid_energy"))
        asks = _paired("asks", _arr(ask_price, MAX_PRICE, "ask_price"), _arr(ask_energy, MAX_ENERGY, "ask_energy"))
        return self._run("double_auction", _auction, *bids, *asks)

    def zone_match(self, buy_energy, buy_zone, sell_energy, sell_zone, price: int, any_zone: int = 1) -> list[tuple]:
        buys = _paired("buys", _arr(buy_energy, MAX_ENERGY, "buy_energy"), _arr(buy_zone, 1 << 16, "buy_zone"))
        sells = _paired("sells", _arr(sell_energy, MAX_ENERGY, "sell_energy"),
                        _arr(sell_zone, 1 << 16, "sell_zone"))
        return self._run("zone_match", _trades, *buys, *sells, _scalar(price, MAX_PRICE, "price"),
                         _scalar(int(any_zone), 2, "any_zone") == 1)

    def aggregator_take(self, order_price, order_energy, quantity: int, limit: int,
                        aggregator_buys: bool) -> list[tuple]:
        orders = _paired("orders", _arr(order_price, MAX_PRICE, "order_price"),
                         _arr(order_energy, MAX_ENERGY, "order_energy"))
        return self._run("aggregator_take", _trades, *orders,
                         _scalar(quantity, MAX_ENERGY * MAX_ORDERS, "quantity"),
                         _scalar(limit, MAX_PRICE, "limit"), bool(aggregator_buys))

    def grid_settle(self, residual_wh, surplus_wh, price: int, sell_back: int) -> list[tuple[int, int]]:
        columns = _paired("participants", _arr(residual_wh, MAX_ENERGY, "residual_wh"),
                          _arr(surplus_wh, MAX_ENERGY, "surplus_wh"))
        return self._run("grid_settle", _trades, *columns, _scalar(price, MAX_PRICE, "price"),
                         _scalar(sell_back, MAX_PRICE, "sell_back"))

    def realtime_settle(self, committed_net_wh, metered_net_wh, tou: int, fit: int) -> list[int]:
        c = np.asarray(committed_net_wh, dtype=np.int64)
        m = np.asarray(metered_net_wh, dtype=np.int64)
        # min/max, not abs: abs(-2**63) overflows int64 and stays negative.
        if c.ndim != 1 or c.shape != m.shape or (c.size and not (
                -MAX_ENERGY < min(int(c.min()), int(m.min())) and max(int(c.max()), int(m.max())) < MAX_ENERGY)):
            raise ValueError(f"net energies must pair up and stay below {MAX_ENERGY} Wh in magnitude")
        return self._run("realtime_settle", np.ndarray.tolist, c, m, _scalar(tou, MAX_PRICE, "tou"),
                         _scalar(fit, MAX_PRICE, "fit"))


NAMES = ("merit_order_price", "pro_rata_assign", "lowest_price", "double_auction", "zone_match", "aggregator_take",
         "grid_settle", "realtime_settle")
KERNEL = Mechanisms(compiled=True)
PURE = Mechanisms(compiled=False)
REFERENCE = SimpleNamespace(**{name: getattr(reference, name) for name in NAMES})
def self_check(seed: int = 7, orders: int = 300) -> None:
    """Run every mechanism through kernel and reference on a seeded book; raise on any
    difference. A node runs this before it clears a market: a miscompiled or stale kernel cache
    must stop the node, not fork the chain."""
    rng = np.random.default_rng(seed)
    n = orders // 2
    sell_p, sell_e = rng.integers(6_000, 26_000, n).tolist(), rng.integers(0, 10_000, n).tolist()
    buy_p, buy_e = rng.integers(6_000, 26_000, n).tolist(), rng.integers(0, 10_000, n).tolist()
    zones_s, zones_b = rng.integers(0, 4, n).tolist(), rng.integers(0, 4, n).tolist()
    fit, cap = 5_000, 24_000
    price = reference.merit_order_price(sell_p, sell_e, sum(buy_e), cap, fit)
    checks = [
        ("merit_order_price", (sell_p, sell_e, sum(buy_e), cap, fit)),
        ("pro_rata_assign", (buy_e, sell_p, sell_e, cap, fit, price)),
        ("double_auction", (buy_p, buy_e, sell_p, sell_e)),
        ("zone_match", (buy_e, zones_b, sell_e, zones_s, price, 1)),
        ("zone_match", (buy_e, zones_b, sell_e, zones_s, price, 0)),
        ("lowest_price", (sell_p,)),
        ("aggregator_take", (sell_p, sell_e, sum(sell_e) // 2, 15_000, True)),
        ("grid_settle", (buy_e, sell_e, 24_000, 7_000)),
        ("realtime_settle", ([s - b for s, b in zip(sell_e, buy_e)], [b - s for s, b in zip(sell_e, buy_e)], 30_000, fit)),
    ]
    for name, args in checks:
        if getattr(KERNEL, name)(*args) != getattr(REFERENCE, name)(*args):
            raise RuntimeError(f"market kernel {name} disagrees with its reference: refusing to clear")
