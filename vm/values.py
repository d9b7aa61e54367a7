"""The VM's closed value model, and the values that cross a call's boundary.

Inside a call a contract computes with exactly these types, each bounded when it is built:

- scalars: `int` (|v| < 2**256), `bool`, `None`, `bytes` and `str` (at most MAX_ITEMS bytes or
  characters; a str holds only Unicode scalar values, since literals are checked at deploy and
  every other str is made from valid ones);
- `tuple`: immutable, holding scalars and tuples, nested at most MAX_TUPLE_DEPTH deep;
- `list` and `dict`: mutable, held by variables, never inside another container. Placing a list
  in a container stores a tuple snapshot of it (value semantics), and a dict cannot be placed at
  all. So no value is shared or cyclic, and a container's depth is fixed when it is built:
  mutating a list never deepens anything that holds it.
- `range`, from `range()` only: iterable and indexable, never stored.

Dict keys are `int` with |k| < 2**61 - 1, `bool`, `bytes` or `str`. CPython hashes such an int to
itself, so no two keys share a hash (a dict of multiples of 2**61 - 1 would otherwise degrade to
a list); bytes and str hash with the process's random SipHash key. Tuples are not keys: hashing
one costs its whole size on every lookup.

Comparisons, membership, hashing and sorting cost time in proportion to their operands, so each
value has a *weight* (one unit per scalar or container slot, plus one per COMPARE_BYTES of
str/bytes) and an upper bound on its canonical encoding, both charged before the work. A tuple's
shape is computed once per transaction and cached by identity (the cache holds the tuple, so the
identity cannot be reused), which makes nesting, comparing and encoding a large tuple O(1) after
its first use.

What leaves a call must be canonical (`ledger.encoding`): integers in the int64/uint64 range,
bytes, str, and lists of those nested at most MAX_VALUE_DEPTH deep.
"""

from __future__ import annotations

from typing import Any, Callable

from ledger.encoding import Value, pack, unpack
from ledger.errors import DecodeError
from vm.errors import LimitExceeded
from vm.gas import (COMPARE_BYTES, GAS, INT_BITS, MAX_ITEMS, MAX_TUPLE_DEPTH, MAX_VALUE_BYTES,
                    MAX_VALUE_DEPTH, TUPLE_UNITS)

CODEC = Value(max_depth=MAX_VALUE_DEPTH, max_items=MAX_ITEMS, max_len=MAX_VALUE_BYTES)
KEY_INT_BOUND = (1 << 61) - 1
_INT_BOUND = 1 << INT_BITS
NoneType = type(None)

# (depth, weight, encoded-size bound) of a value.
Shape = tuple[int, int, int]
_INT_SHAPE: Shape = (0, 1, 9)
CACHE_ENTRY_UNITS = 4  # allocation units a shape-cache entry costs (a dict slot and a shape)
_ONE_BYTE: Shape = (0, 1, 1)


class Shapes:
    """Shapes of one transaction's values. `charge` pays for walking a container's slots,
    `alloc` for the slots of a snapshot."""

    __slots__ = ("charge", "alloc", "cache")

    def __init__(self, charge: Callable[[int], None], alloc: Callable[[int], None]) -> None:
        self.charge = charge
        self.alloc = alloc
        self.cache: dict[int, tuple[Any, Shape]] = {}

    def of(self, v: Any) -> Shape:
        t = type(v)
        if t is int:
            return _INT_SHAPE
        if t is bool or v is None:
            return _ONE_BYTE
        if t is bytes:
            return (0, 1 + len(v) // COMPARE_BYTES, len(v) + 5)
        if t is str:
            if v.isascii():  # O(1): CPython keeps the flag
                return (0, 1 + len(v) // COMPARE_BYTES, len(v) + 5)
            return self._cached(v, self._text)
        if t is tuple:
            return self._cached(v, self._container)
        if t is list:
            return self._container(v)
        if t is dict:
            self.charge(2 * len(v))
            d, w, size = 1, 1, 5
            for k, x in v.items():
                kd, kw, ks = self.of(k)
                xd, xw, xs = self.of(x)
                d, w, size = max(d, 1 + xd), w + kw + xw, size + ks + xs
            return (d, w, size)
        if t is range:
            return _INT_SHAPE
        raise TypeError(f"{t.__name__} is not a VM value")

    def _cached(self, v: Any, compute: Callable[[Any], Shape]) -> Shape:
        hit = self.cache.get(id(v))
        if hit is not None and hit[0] is v:
            return hit[1]
        shape = compute(v)
        self.alloc(CACHE_ENTRY_UNITS)  # the entry keeps v alive for the transaction
        self.cache[id(v)] = (v, shape)
        return shape

    def _text(self, v: str) -> Shape:
        size = len(v.encode("utf-8"))
        self.charge(1 + size // COMPARE_BYTES)
        return (0, 1 + 4 * len(v) // COMPARE_BYTES, size + 5)

    def _container(self, v: Any) -> Shape:
        self.charge(len(v))
        d, w, size = 0, 1, 5
        for x in v:
            t = type(x)
            if t is int or t is bool or x is None:
                w += 1
                size += 9
                continue
            xd, xw, xs = self.of(x)
            if xd > d:
                d = xd
            w += xw
            size += xs
        return (d + 1, w, size)

    def weight(self, v: Any) -> int:
        return self.of(v)[1]

    # --- building containers -------------------------------------------------------------

    def element(self, v: Any) -> Any:
        """`v` as a container holds it: scalars and tuples as they are, a list as a tuple
        snapshot; anything else is refused."""
        t = type(v)
        if t is int or t is str or t is bytes or t is bool or t is tuple or v is None:
            return v
        if t is list:
            self.alloc(TUPLE_UNITS + len(v))  # the snapshot is a new tuple
            return self.tuple_of(v)
        if t is dict:
            raise TypeError("a dict cannot be placed in a container")
        raise TypeError(f"{t.__name__} cannot be placed in a container")

    def tuple_of(self, items: Any) -> tuple:
        """A tuple of `items` (a list or tuple of values), refused if it would nest too deep."""
        for x in items:
            t = type(x)
            if not (t is int or t is str or t is bytes or t is bool or x is None):
                break
        else:
            return tuple(items)  # flat: depth 1
        out = tuple([self.element(x) for x in items])
        if self.of(out)[0] > MAX_TUPLE_DEPTH:
            raise LimitExceeded(f"tuple nested deeper than {MAX_TUPLE_DEPTH}")
        return out

    def elements(self, items: Any) -> list:
        """A list of `items` as a list holds them."""
        for x in items:
            t = type(x)
            if not (t is int or t is str or t is bytes or t is bool or t is tuple or x is None):
                break
        else:
            return list(items)
        return [self.element(x) for x in items]

    # --- values from outside -------------------------------------------------------------

    def imported(self, v: Any, depth: int = 0) -> Any:
        """A value made by native code (a precompile's result) in the value model: integers
        within 256 bits, bytes, str, and lists/tuples of those (nested ones become tuples)."""
        t = type(v)
        if t is int:
            if -_INT_BOUND < v < _INT_BOUND:
                return v
            raise LimitExceeded(f"integer wider than {INT_BITS} bits")
        if t is bool or t is bytes or t is str:
            return v
        if t is list or t is tuple:
            if depth > MAX_TUPLE_DEPTH or len(v) > MAX_ITEMS:
                raise LimitExceeded("value too deep or too long")
            self.charge(len(v))
            inner = [self.imported(x, depth + 1) for x in v]
            return inner if depth == 0 and t is list else self.tuple_of(inner)
        raise TypeError(f"{t.__name__} is not a VM value")

    # --- values that leave a call --------------------------------------------------------

    def encode(self, v: Any) -> bytes:
        """Canonical bytes of `v`, its size bounded (and charged) before anything is copied."""
        size = self.of(v)[2]
        if size > MAX_VALUE_BYTES + 16:
            raise LimitExceeded(f"value larger than {MAX_VALUE_BYTES} bytes")
        self.charge(GAS["encode_byte"] * size)
        raw = pack(to_wire(v))
        if len(raw) > MAX_VALUE_BYTES:
            raise LimitExceeded(f"value larger than {MAX_VALUE_BYTES} bytes")
        return raw


def is_key(k: Any) -> bool:
    """Whether `k` may be a dict key (see the module docstring for why)."""
    t = type(k)
    return t is str or t is bytes or t is bool or (t is int and -KEY_INT_BOUND < k < KEY_INT_BOUND)


def to_wire(v: Any, depth: int = 0) -> Any:
    t = type(v)
    if t is bool:
        return int(v)
    if t is int:
        if not Value.INT_MIN <= v <= Value.INT_MAX:
            raise LimitExceeded("integer outside the int64/uint64 range cannot leave the call")
        return v
    if t is bytes or t is str:
        return v
    if t is list or t is tuple:
        if depth >= MAX_VALUE_DEPTH:
            raise LimitExceeded(f"value nested deeper than {MAX_VALUE_DEPTH}")
        return [to_wire(x, depth + 1) for x in v]
    if v is None:
        raise TypeError("None cannot leave the call")
    raise TypeError(f"{t.__name__} is not a canonical value")


def decode(raw: bytes) -> Any:
    try:
        return CODEC.check(unpack(raw, max_size=MAX_VALUE_BYTES + 16), "value")
    except DecodeError as exc:
        raise TypeError(f"stored value is not canonical: {exc}") from exc


def to_json(v: Any) -> Any:
    """A decoded value for JSON (API answers, event streams): bytes as hex, lists as lists."""
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


def bounded_text(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8 on a character boundary, with anything that
    is not a Unicode scalar value replaced: receipts always encode and decode."""
    raw = text.encode("utf-8", "replace")[:max_bytes]
    return raw.decode("utf-8", "ignore")
