"""Canonical decoding rejects each kind of bad input with its own exception type."""

from __future__ import annotations

import msgpack
import pytest

from ledger.accounts import Account
from ledger.blocks import Block
from ledger.encoding import pack, unpack
from ledger.errors import (
    ArityError,
    DecodeError,
    FieldTypeError,
    FloatRejectedError,
    MapRejectedError,
    NonCanonicalError,
    OversizeError,
    RangeError,
    TrailingBytesError,
)
from ledger.keys import PrivateKey
from ledger.transactions import MarketOrder, Transaction, Transfer


def test_roundtrip_is_byte_exact() -> None:
    acc = Account(12345, 7)
    assert Account.decode(acc.encoded) == acc
    assert Account.decode(acc.encoded).encoded == acc.encoded


@pytest.mark.parametrize(
    "raw, error",
    [
        (msgpack.packb([1.5, 0]), FloatRejectedError),
        (msgpack.packb({"balance": 1, "nonce": 0}), MapRejectedError),
        (msgpack.packb([1, 0]) + b"\x00", TrailingBytesError),
        (msgpack.packb([1, 0, 0]), ArityError),
        (msgpack.packb([1]), ArityError),
        (msgpack.packb([-1, 0]), RangeError),
        (msgpack.packb([True, 0]), FieldTypeError),
        (msgpack.packb([None, 0]), FieldTypeError),
        (msgpack.packb(["1", 0]), FieldTypeError),
        (msgpack.packb([msgpack.ExtType(1, b"x"), 0]), FieldTypeError),
        (b"\x92\xcd\x00\x01\x00", NonCanonicalError),  # 1 as uint16: valid msgpack, not minimal
        (b"\x92\x01", DecodeError),  # truncated
        (b"\xc1", DecodeError),  # reserved byte
    ],
)
def test_each_rejection_has_its_type(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        Account.decode(raw)


def test_out_of_range_integer_is_rejected() -> None:
    # side is uint8 in MarketOrder
    raw = pack([1, 256, 1, 1, 0, 1])
    with pytest.raises(RangeError):
        MarketOrder.decode(raw)


def test_oversize_input_rejected_before_parsing() -> None:
    with pytest.raises(OversizeError):
        Transaction.decode(b"\x90" * (Transaction.MAX_SIZE + 1))


def test_invalid_utf8_is_a_decode_error() -> None:
    key = PrivateKey.from_label("enc")
    tx = Transaction.create(key, "chain", 0, Transfer(b"\1" * 20, 5), fee=1)
    raw = bytearray(tx.encoded)
    i = raw.index(b"chain")
    raw[i] = 0xFF
    with pytest.raises(DecodeError):
        Transaction.decode(bytes(raw))


def test_str_where_bytes_belong_is_rejected() -> None:
    key = PrivateKey.from_label("enc")
    tx = Transaction.create(key, "chain", 0, Transfer(b"\1" * 20, 5), fee=1)
    wire = unpack(tx.encoded)  # a fresh copy: to_wire() is read-only
    wire[1] = "x" * 32  # sender must be 32 bytes, not a str
    with pytest.raises(FieldTypeError):
        Transaction.decode(pack(wire))


def test_unknown_body_tag_is_rejected() -> None:
    key = PrivateKey.from_label("enc")
    wire = unpack(Transaction.create(key, "chain", 0, Transfer(b"\1" * 20, 5), fee=1).encoded)
    wire[4][0] = 99
    with pytest.raises(RangeError, match="unknown tag"):
        Transaction.decode(pack(wire))


def _block_with(tx: Transaction) -> Block:
    from ledger.blocks import genesis_header

    header = genesis_header("test", b"\1" * 32, 1, b"\2" * 32, [])
    return Block(header, (tx,))


def test_a_block_takes_an_already_decoded_transaction_instead_of_decoding_it_again() -> None:
    key = PrivateKey.from_label("interned")
    tx = Transaction.decode(Transaction.create(key, "test", 0, Transfer(b"\3" * 20, 5), fee=1).encoded)
    block = Block.decode(_block_with(tx).encoded)
    assert block.txs[0] is tx
    fresh = Transaction.create(key, "test", 1, Transfer(b"\3" * 20, 5), fee=1)  # never decoded
    other = Block.decode(_block_with(fresh).encoded)
    assert other.txs[0] == fresh and other.txs[0] is not fresh and other.txs[0].encoded == fresh.encoded


def test_the_interning_table_keeps_only_the_most_recently_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decoded transaction enters the table: it is bounded, oldest out first, and a block
    takes the interned object only while it is still there."""
    from ledger import transactions
    monkeypatch.setattr(transactions, "_DECODED", transactions._Interned(3, 1 << 20))
    key = PrivateKey.from_label("interned")
    txs = [Transaction.decode(Transaction.create(key, "test", n, Transfer(b"\3" * 20, 5), fee=1).encoded)
           for n in range(5)]
    assert list(transactions._DECODED.items.values()) == txs[2:]
    assert Block.decode(_block_with(txs[4]).encoded).txs[0] is txs[4]
    evicted = Block.decode(_block_with(txs[0]).encoded).txs[0]
    assert evicted == txs[0] and evicted is not txs[0]


def test_the_interning_table_is_bounded_in_bytes_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding precedes the signature check, so anyone can have large transactions decoded:
    the table holds at most its bytes (of what they hold), however few transactions that is."""
    from ledger import transactions
    from ledger.transactions import ContractDeploy

    monkeypatch.setattr(transactions, "_DECODED", transactions._Interned(10_000, 200_000))
    key = PrivateKey.from_label("interned-large")
    for n in range(10):  # ~64 KiB each
        big = Transaction.create(key, "test", n, ContractDeploy("x = 1\n" + "#" * 64_000, 10), fee=1)
        Transaction.decode(big.encoded)
    table = transactions._DECODED
    assert len(table.items) == 3 and table.bytes == sum(tx.retained_bytes for tx in table.items.values()) <= 200_000


def test_the_interning_table_counts_what_arguments_hold_not_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A contract call's 16 KiB of nested empty lists holds some 70 times that once decoded: it
    takes that much of the table's bound, not its encoding's."""
    from ledger import transactions
    from ledger.transactions import ContractCall

    monkeypatch.setattr(transactions, "_DECODED", transactions._Interned(10_000, 8 * 1024 * 1024))
    key = PrivateKey.from_label("interned-nested")
    args = tuple(tuple(() for _ in range(256)) for _ in range(64))
    for n in range(10):
        Transaction.decode(Transaction.create(key, "test", n, ContractCall(bytes(20), "f", args, 10, 0), fee=1).encoded)
    table = transactions._DECODED
    assert len(table.items) == 3 and sum(len(raw) for raw in table.items) < 100_000


def test_an_interned_transaction_never_lets_a_non_canonical_lookalike_through() -> None:
    """True == 1 and 1.0 == 1 in Python: an element equal in value to an interned transaction
    but of another type packs to other bytes, misses, and is refused as without the table."""
    key = PrivateKey.from_label("interned")
    tx = Transaction.decode(Transaction.create(key, "test", 1, Transfer(b"\3" * 20, 5), fee=1).encoded)
    assert tx.nonce == 1
    for lookalike in (True, 1.0):
        wire = _block_with(tx).to_wire()
        forged = [wire[0], [[*wire[1][0][:2], lookalike, *wire[1][0][3:]]]]
        with pytest.raises(DecodeError):
            Block.decode(msgpack.packb(forged, use_bin_type=True))


@pytest.mark.parametrize("bad", [[1, object()], [b"x", [2, 1.5j]], [1 << 64]])
def test_pack_after_a_failed_pack_is_unaffected(bad: list) -> None:
    """`pack` shares one msgpack Packer: what a failed call had written must not leak into the
    next value's bytes."""
    good = [1, b"\x00" * 40, "text", [1 << 63, 7]]
    with pytest.raises((TypeError, OverflowError)):
        pack(bad)
    assert pack(good) == msgpack.packb(good, use_bin_type=True)
    assert unpack(pack(good)) == good
