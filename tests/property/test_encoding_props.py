"""Round trips for every record type, and rejection of every non-canonical re-encoding."""

from __future__ import annotations

import contextlib
import copy
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
from ledger.keys import signing_message
from ledger.transactions import BODY, TX_DOMAIN, Transaction
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


# Wire values a hostile peer could put where a field belongs: wrong types, the edges of each
# integer and length bound, and strings whose UTF-8 size differs from their length.
_ODD_VALUES = [
    -1, 0, 1, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64,
    -(2**63), -(2**63) - 1, True, 1.5, None, {}, {"a": 1}, [], [1], [[1, 2]], b"", b"\x00" * 20,
    b"\x01" * 32, b"\x02" * 33, b"\x03" * 64, b"\x04" * 70000, "", "x", "x" * 16, "\u00e9" * 16,
    "\U0001f600" * 16, "\U0001f600" * 17, "y" * 64, "y" * 65,
]


def _outcome(decode, wire) -> tuple:
    try:
        rec = decode(wire)
    except Exception as exc:  # noqa: BLE001 - whatever one raises, the other must raise alike
        return type(exc), str(exc)
    return rec, {k: type(v) for k, v in rec.__dict__.items()}


def _variants(wire: list):
    """`wire` with each field, and the first item of each list field, replaced by each odd value;
    then with an extra field, one missing, and not an array at all."""
    for index, field in enumerate(wire):
        for odd in _ODD_VALUES:
            yield [*wire[:index], odd, *wire[index + 1:]]
            if isinstance(field, list) and field:
                yield [*wire[:index], [odd, *field[1:]], *wire[index + 1:]]
    yield [*wire, 0]
    yield wire[:-1]
    yield from _ODD_VALUES


@pytest.mark.parametrize("cls", RECORD_TYPES, ids=lambda c: c.__name__)
@settings(max_examples=5, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_decoder_matches_the_generic_one(cls: type[Record], data: st.DataObject) -> None:
    """Each class's generated `from_wire` accepts, builds and rejects (same error, same message)
    exactly as the generic field-by-field decoder: on a valid array, and on every variant with
    one field or one nested item replaced by an odd value, or the arity changed."""
    assert "from_wire" in cls.__dict__  # its own generated decoder
    wire = copy.deepcopy(data.draw(records(cls)).to_wire())
    assert _outcome(cls.from_wire, wire)[0] == cls._generic_from_wire(wire)
    for variant in _variants(wire):
        assert _outcome(cls.from_wire, variant) == _outcome(cls._generic_from_wire, variant)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_transactions_sign_bytes_cut_from_its_encoding_are_the_packed_ones(data: st.DataObject) -> None:
    tx = Transaction.decode(data.draw(records(Transaction)).encoded)
    assert tx.signing_bytes == signing_message(TX_DOMAIN, tx.chain_id, [tx.sender, tx.nonce, tx.fee, BODY.wire(tx.body)])
