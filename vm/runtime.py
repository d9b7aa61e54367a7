"""Run-time helpers the instrumented code calls: gas, integer bounds, allocation, safe builtins.

Every helper checks its operand types itself: an operation outside the language (a float, a
set, comparing unlike types, str % formatting) raises, and the call fails with the exception's
class name as its reason (never its message, which differs between CPython versions).
Allocation is accounted per transaction (`Meter.memory`, monotone, never freed): a simple,
deterministic bound that stops memory bombs before they allocate.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from vm.errors import LimitExceeded, OutOfGas
from vm.gas import GAS, INT_BITS, MAX_FRAMES, MAX_ITEMS, MAX_MEMORY

BOUND = 1 << INT_BITS
_SEQ = (str, bytes, list, tuple)


class Meter:
    """Gas, allocation and frame depth for one transaction (shared by nested contract calls)."""

    __slots__ = ("gas", "limit", "memory", "frames")

    def __init__(self, gas_limit: int) -> None:
        self.gas = gas_limit
        self.limit = gas_limit
        self.memory = 0
        self.frames = 0

    @property
    def used(self) -> int:
        return self.limit - max(self.gas, 0)

    def charge(self, gas: int) -> None:
        self.gas -= gas
        if self.gas < 0:
            raise OutOfGas(f"out of gas (limit {self.limit})")

    def tick(self, gas: int, memory: int = 0) -> None:
        self.gas -= gas
        if self.gas < 0:
            raise OutOfGas(f"out of gas (limit {self.limit})")
        if memory:
            self.alloc(memory)

    def alloc(self, units: int) -> None:
        self.memory += units
        if self.memory > MAX_MEMORY:
            raise LimitExceeded(f"memory bound of {MAX_MEMORY} units exceeded")
        self.charge(GAS["alloc_item"] * units)

    def enter(self) -> None:
        self.frames += 1
        if self.frames > MAX_FRAMES:
            raise LimitExceeded(f"more than {MAX_FRAMES} nested function calls")
        self.charge(GAS["call"])

    def leave(self) -> None:
        self.frames -= 1


def _int(v: Any) -> int:
    if type(v) is int:
        return v
    if type(v) is bool:
        return int(v)
    raise TypeError("integer expected")


def _bounded(r: int) -> int:
    if -BOUND < r < BOUND:
        return r
    raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")


def _size(n: int) -> int:
    if n > MAX_ITEMS:
        raise LimitExceeded(f"sequence longer than {MAX_ITEMS}")
    return n


def helpers(meter: Meter) -> dict[str, Callable[..., Any]]:
    """The `_vm_*` functions for one transaction, closed over its meter."""
    alloc = meter.alloc

    def add(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            r = a + b
            if -BOUND < r < BOUND:
                return r
            raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
        if type(a) is type(b) and type(a) in _SEQ:
            alloc(_size(len(a) + len(b)))
            return a + b
        return _bounded(_int(a) + _int(b))

    def sub(a: Any, b: Any) -> int:
        if type(a) is int and type(b) is int:
            r = a - b
            if -BOUND < r < BOUND:
                return r
            raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
        return _bounded(_int(a) - _int(b))

    def mul(a: Any, b: Any) -> Any:
        if type(a) is int and type(b) is int:
            if a.bit_length() + b.bit_length() > INT_BITS + 1:
                raise LimitExceeded(f"integer overflow: result exceeds {INT_BITS} bits")
            return _bounded(a * b)
        if type(a) in _SEQ:
            a, b = b, a
        if type(b) in _SEQ:
            n = _int(a)
            alloc(_size(len(b) * max(n, 0)))
            return b * n
        return _bounded(_int(a) * _int(b))

    def floordiv(a: Any, b: Any) -> int:
        return _bounded(_int(a) // _int(b))

    def mod(a: Any, b: Any) -> int:
        return _int(a) % _int(b)  # |a % b| < |b|: no new bound needed; str % is a TypeError

    def pow_(a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative exponent")
        if abs(a) > 1 and (a.bit_length() - 1) * b > INT_BITS:
            raise LimitExceeded(f"integer overflow: power exceeds {INT_BITS} bits")
        return _bounded(a**b)

    def lshift(a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative shift")
        if a and a.bit_length() + b > INT_BITS:
            raise LimitExceeded(f"integer overflow: shift exceeds {INT_BITS} bits")
        return _bounded(a << b)

    def rshift(a: Any, b: Any) -> int:
        a, b = _int(a), _int(b)
        if b < 0:
            raise ValueError("negative shift")
        return a >> min(b, INT_BITS + 1)

    def bitand(a: Any, b: Any) -> int:
        return _int(a) & _int(b)

    def bitor(a: Any, b: Any) -> int:
        return _int(a) | _int(b)

    def bitxor(a: Any, b: Any) -> int:
        return _bounded(_int(a) ^ _int(b))

    def invert(a: Any) -> int:
        return _bounded(~_int(a))

    def slice_(obj: Any, lo: Any, hi: Any, step: Any) -> Any:
        if type(obj) not in _SEQ:
            raise TypeError("slice of a non-sequence")
        out = obj[lo:hi:step]
        alloc(len(out))
        return out

    def setitem(obj: Any, key: Any, value: Any) -> None:
        if type(obj) is dict:
            if key not in obj:
                _size(len(obj) + 1)
                alloc(1)
            obj[key] = value
        elif type(obj) is list:
            obj[key] = value
        else:
            raise TypeError("item assignment only into a list or dict")

    def delitem(obj: Any, key: Any) -> None:
        if type(obj) not in (list, dict):
            raise TypeError("del only from a list or dict")
        del obj[key]

    def bounded_list(items: Iterable[Any]) -> list:
        """Materialise an iterable element by element, charging each, stopping at the bound."""
        if type(items) in (list, tuple, str, bytes, dict):
            alloc(_size(len(items)))
            return list(items)
        out = []
        for x in items:
            if len(out) >= MAX_ITEMS:
                raise LimitExceeded(f"sequence longer than {MAX_ITEMS}")
            alloc(1)
            out.append(x)
        return out

    def method(kind: tuple[type, ...], fn: Callable[..., Any], cost: Callable[[Any], int] | None = None):
        def call(obj: Any, *args: Any) -> Any:
            if type(obj) not in kind:
                raise TypeError("method not available on this type")
            meter.charge(GAS["method"])
            if cost is not None:
                alloc(cost(obj))
            return fn(obj, *args)
        return call

    def append(obj: list, v: Any) -> None:
        _size(len(obj) + 1)
        obj.append(v)

    def extend(obj: list, items: Any) -> None:
        more = bounded_list(items)
        _size(len(obj) + len(more))
        obj.extend(more)

    def insert(obj: list, i: Any, v: Any) -> None:
        _size(len(obj) + 1)
        obj.insert(_int(i), v)

    seq = (list, tuple, str, bytes)
    text = (str, bytes)
    return {
        "_vm_tick": meter.tick,
        "_vm_enter": meter.enter,
        "_vm_leave": meter.leave,
        "_vm_add": add, "_vm_sub": sub, "_vm_mul": mul, "_vm_floordiv": floordiv, "_vm_mod": mod,
        "_vm_pow": pow_, "_vm_lshift": lshift, "_vm_rshift": rshift, "_vm_and": bitand, "_vm_or": bitor,
        "_vm_xor": bitxor, "_vm_invert": invert, "_vm_slice": slice_, "_vm_setitem": setitem,
        "_vm_delitem": delitem,
        "_vm_m_append": method((list,), append, lambda o: 1),
        "_vm_m_extend": method((list,), extend),
        "_vm_m_insert": method((list,), insert, lambda o: 1),
        "_vm_m_pop": method((list, dict), lambda o, *a: o.pop(*a)),
        "_vm_m_index": method(seq, lambda o, *a: o.index(*a), len),
        "_vm_m_count": method(seq, lambda o, *a: o.count(*a), len),
        "_vm_m_get": method((dict,), lambda o, *a: o.get(*a)),
        "_vm_m_keys": method((dict,), lambda o: list(o.keys()), len),
        "_vm_m_values": method((dict,), lambda o: list(o.values()), len),
        "_vm_m_items": method((dict,), lambda o: list(o.items()), len),
        "_vm_m_startswith": method(text, lambda o, p: o.startswith(p)),
        "_vm_m_endswith": method(text, lambda o, p: o.endswith(p)),
        "_vm_m_hex": method((bytes,), lambda o: o.hex(), lambda o: 2 * len(o)),
        # Safe builtins: anything that consumes an iterable goes through bounded_list.
        "len": len,
        "range": lambda *a: range(*[_int(x) for x in a]),
        "abs": lambda x: abs(_int(x)),
        "bool": bool,
        "divmod": lambda a, b: (floordiv(a, b), mod(a, b)),
        "min": lambda *a: min(bounded_list(a[0]) if len(a) == 1 else a),
        "max": lambda *a: max(bounded_list(a[0]) if len(a) == 1 else a),
        "list": lambda items=(): bounded_list(items),
        "tuple": lambda items=(): tuple(bounded_list(items)),
        "dict": lambda items=(): dict(bounded_list(items)),
        "sorted": lambda items, reverse=False: sorted(bounded_list(items), reverse=bool(reverse)),
        "reversed": lambda items: bounded_list(items)[::-1],
        "enumerate": lambda items: list(enumerate(bounded_list(items))),
        "zip": lambda *its: list(zip(*[bounded_list(i) for i in its])),
        "str": _to_str,
    }


def _to_str(v: Any = "") -> str:
    if type(v) is str:
        return v
    return str(_int(v))  # ints only: 256-bit values print in at most 78 digits
