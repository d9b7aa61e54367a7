"""Precompiles: native functions contracts call by name through `precompile(name, *args)`, each
with a gas formula. The market issue registers its numba clearing kernels here (a kernel is
imported only when its precompile is first called, so numba stays out of nodes that never clear
a market). sha256 and ed25519_verify are direct API functions with their own gas entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from vm.gas import GAS, MAX_ITEMS


@dataclass(frozen=True)
class Precompile:
    name: str
    run: Callable[..., Any]
    gas: Callable[..., int]  # gas for these arguments, charged before `run`


def check_args(args: tuple, charge: Callable[[int], None]) -> None:
    """Precompile arguments are integers and flat lists or tuples of integers, nothing else (no
    range, no nesting, no str). Each argument is paid for (`charge`, per integer) before it is
    looked at, and all of them before the precompile's own formula or any native code runs: the
    same list passed a thousand times costs a thousand times."""
    for a in args:
        t = type(a)
        if t is int or t is bool:
            charge(GAS["precompile_item"])
        elif t is list or t is tuple:
            if len(a) > MAX_ITEMS:
                raise TypeError("precompile arguments are integers or lists of integers")
            charge(GAS["precompile_item"] * (1 + len(a)))
            if not all(type(v) is int for v in a):
                raise TypeError("precompile arguments are integers or lists of integers")
        else:
            raise TypeError("precompile arguments are integers or lists of integers")


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
