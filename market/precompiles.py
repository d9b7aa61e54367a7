"""The market kernels as VM precompiles, each priced per order (and per trade it can produce).

A node assembles its VM with `VM(precompiles=MARKET_PRECOMPILES)`; contracts call
`precompile("merit_order_price", prices, energies, demand, cap, fit)` and so on. Arguments are
the contract's lists of integers; results are integers or lists of integer tuples. numba is
imported when a market precompile first runs, not before.
"""

from __future__ import annotations

from typing import Any

from market import clearing
from vm.precompiles import Precompile

GAS_BASE = 500
GAS_PER_ORDER = 40  # sorting and a pass over the book, plus the trade it may produce


def _orders(*lists: Any) -> int:
    return sum(len(x) for x in lists if isinstance(x, (list, tuple)))


def _priced(name: str, run: Any) -> Precompile:
    return Precompile(name, run, lambda *args: GAS_BASE + GAS_PER_ORDER * _orders(*args))


MARKET_PRECOMPILES: dict[str, Precompile] = {
    "merit_order_price": _priced("merit_order_price", clearing.merit_order_price),
    "pro_rata_assign": _priced("pro_rata_assign", clearing.pro_rata_assign),
    "double_auction": _priced("double_auction", clearing.double_auction),
    "zone_match": _priced("zone_match", clearing.zone_match),
    "lowest_price": _priced("lowest_price", clearing.lowest_price),
    "aggregator_take": _priced("aggregator_take", clearing.aggregator_take),
    "grid_settle": _priced("grid_settle", clearing.grid_settle),
    "realtime_settle": _priced("realtime_settle", clearing.realtime_settle),
}
