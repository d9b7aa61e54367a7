"""Values that cross a call's boundary: arguments, return values, storage and event fields.

Inside a call a contract computes with 256-bit integers, lists and dicts; what leaves it must be
canonical (`ledger.encoding`): integers in the int64/uint64 range, bytes, str, and lists of
those (nested at most MAX_VALUE_DEPTH deep). Dicts, booleans and anything else are converted or
refused here, so storage and receipts hold only canonical bytes.
"""

from __future__ import annotations

from typing import Any

from ledger.encoding import Value, pack, unpack
from ledger.errors import DecodeError
from vm.errors import LimitExceeded
from vm.gas import MAX_ITEMS, MAX_VALUE_BYTES, MAX_VALUE_DEPTH

CODEC = Value(max_depth=MAX_VALUE_DEPTH, max_items=MAX_ITEMS, max_len=MAX_VALUE_BYTES)


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


def encode(v: Any) -> bytes:
    raw = pack(to_wire(v))
    if len(raw) > MAX_VALUE_BYTES:
        raise LimitExceeded(f"value larger than {MAX_VALUE_BYTES} bytes")
    return raw


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
