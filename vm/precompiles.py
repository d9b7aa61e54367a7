"""Precompiles: native functions contracts call by name through `precompile(name, *args)`, each
with a gas formula. The market issue registers its numba clearing kernels here (a kernel is
imported only when its precompile is first called, so numba stays out of nodes that never clear
a market). sha256 and ed25519_verify are direct API functions with their own gas entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vm.gas import MAX_ITEMS


@dataclass(frozen=True)
class Precompile:
    name: str
    run: Callable[..., Any]
    gas: Callable[..., int]  # gas for these arguments, charged before `run`


def check_args(args: tuple) -> int:
    """Precompile arguments are integers and flat lists or tuples of integers, nothing else (no
    range, no nesting, no str): returns how many integers they hold, which the caller charges
    before the precompile's own formula and before any native code sees them."""
    items = 0
    for a in args:
        t = type(a)
        if t is int or t is bool:
            items += 1
        elif t is list or t is tuple:
            if len(a) > MAX_ITEMS or not all(type(v) is int for v in a):
                raise TypeError("precompile arguments are integers or lists of integers")
            items += len(a)
        else:
            raise TypeError("precompile arguments are integers or lists of integers")
    return items


def _int_list(values: Any) -> list[int]:
    if type(values) not in (list, tuple) or not all(type(v) is int for v in values):
        raise TypeError("expected a list of integers")
    return list(values)


def _sum_ints(values: Any) -> int:
    return sum(_int_list(values))


PRECOMPILES: dict[str, Precompile] = {
    # A reference precompile exercising the hook: integer sum of a list, 3 gas per element.
    "sum": Precompile("sum", _sum_ints, lambda values, *_: 3 * len(_int_list(values))),
}
