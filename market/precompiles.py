"""The market mechanisms as VM precompiles, each priced per order (and per trade it can produce).

A validator assembles its VM with `VM(precompiles=MARKET_PRECOMPILES)` (the numba kernels,
imported when a market precompile first runs); a full node with
`market_precompiles(clearing.PURE)`, the same checks and results in plain Python. Contracts call
`precompile("merit_order_price", prices, energies, demand, cap, fit)` and so on. Arguments are
the contract's lists of integers; results are integers or lists of integer tuples.
"""

from __future__ import annotations

from typing import Any

from market import clearing
from vm.precompiles import Precompile

GAS_BASE = 500
GAS_PER_ORDER = 40  # sorting and a pass over the book, plus the trade it may produce


def _orders(*lists: Any) -> int:
    return sum(len(x) for x in lists if isinstance(x, (list, tuple)))


def market_precompiles(mechanisms: clearing.Mechanisms) -> dict[str, Precompile]:
    """Every mechanism of `mechanisms` as a precompile of the same name and price."""
    return {name: Precompile(name, getattr(mechanisms, name), lambda *args: GAS_BASE + GAS_PER_ORDER * _orders(*args))
            for name in clearing.NAMES}


MARKET_PRECOMPILES = market_precompiles(clearing.KERNEL)
