"""Round trips for every record type, and rejection of every non-canonical re-encoding."""

from __future__ import annotations

import contextlib
import struct

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.accounts  # noqa: F401  (registers record types)
import ledger.blocks  # noqa: F401
import ledger.genesis  # noqa: F401
import ledger.store  # noqa: F401
from ledger.encoding import Record
from ledger.errors import DecodeError, NonCanonicalError
from tests.strategies import all_record_types, records

RECORD_TYPES = all_record_types()


def test_every_ledger_record_is_covered() -> None:
    names = {c.__name__ for c in RECORD_TYPES}
    assert {"Transaction", "Block", "Header", "Genesis", "Account", "QuorumCertificate", "MarketOrder"} <= names


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_roundtrip(cls: type[Record], data: st.DataObject) -> None:
    value = data.draw(records(cls))
    raw = value.encoded
    back = cls.decode(raw)
    assert back == value
    assert back.encoded == raw


def _wide(obj, widen: int, counter: list[int]) -> bytes:
    """A valid msgpack encoding of `obj` in which the `widen`-th item uses a wider format."""
    counter[0] += 1
    wide = counter[0] == widen
    if isinstance(obj, int):
        if wide:
            return b"\xcf" + struct.pack(">Q", obj) if obj >= 0 else b"\xd3" + struct.pack(">q", obj)
        return msgpack.packb(obj)
    if isinstance(obj, bytes):
        head = b"\xc6" + struct.pack(">I", len(obj)) if wide else _bin_head(len(obj))
        return head + obj
    if isinstance(obj, str):
        raw = obj.encode()
        head = b"\xdb" + struct.pack(">I", len(raw)) if wide else _str_head(len(raw))
        return head + raw
    if isinstance(obj, list):
        head = b"\xdd" + struct.pack(">I", len(obj)) if wide else _arr_head(len(obj))
        return head + b"".join(_wide(x, widen, counter) for x in obj)
    raise TypeError(type(obj))


def _bin_head(n: int) -> bytes:
    return b"\xc4" + bytes([n]) if n < 256 else b"\xc5" + struct.pack(">H", n) if n < 65536 else b"\xc6" + struct.pack(">I", n)


def _str_head(n: int) -> bytes:
    if n < 32:
        return bytes([0xA0 | n])
    return b"\xd9" + bytes([n]) if n < 256 else b"\xda" + struct.pack(">H", n) if n < 65536 else b"\xdb" + struct.pack(">I", n)


def _arr_head(n: int) -> bytes:
    return bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n) if n < 65536 else b"\xdd" + struct.pack(">I", n)


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_non_canonical_encodings_rejected(cls: type[Record], data: st.DataObject) -> None:
    value = data.draw(records(cls))
    wire = value.to_wire()
    count = [0]
    assert _wide(wire, 0, count) == value.encoded  # the helper reproduces the canonical form
    widen = data.draw(st.integers(1, count[0]))
    raw = _wide(wire, widen, [0])
    if raw == value.encoded:  # already the widest format (e.g. a uint64 above 2**32)
        return
    with pytest.raises(NonCanonicalError):
        cls.decode(raw)


@settings(max_examples=200)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    from ledger.transactions import Transaction

    with contextlib.suppress(DecodeError):  # any other exception type fails the test
        Transaction.decode(raw)
