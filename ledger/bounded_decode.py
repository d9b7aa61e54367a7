"""Decoding that bounds what a block costs in memory while it decodes, not after.

`Record.decode` unpacks the whole msgpack tree before its schema checks any of it, and a
contract call's arguments may be nested lists: 16 KiB of nested empty lists decodes to some
16,000 Python lists and their checked tuples, about 70 bytes of memory per byte. A block of
`max_block_bytes` of such calls, sent by a peer, would cost half a gigabyte to decode before the
chain's bound on what a block holds (genesis `max_block_memory`) could refuse it.

`decode_bounded` reads a record along its schema with one Unpacker instead. A scalar field is
unpacked alone by an Unpacker that refuses arrays, maps and extensions, so one where a scalar
belongs is refused before anything in it is built; a list is read by its header, then item by
item. A block's transactions (`BlockTransactions`) are sliced out one at a time (`Unpacker.skip`
builds nothing), each taken from the table of decoded transactions by its bytes or else decoded
alone, and their `retained_bytes` summed: past the bound, a `BlockMemoryError` at once. Before a
transaction is decoded, what it could hold is judged from its bytes (a value takes at least one
byte), and where that might pass the room left its values are counted first, stopping past the
room; so decoding a hostile block costs the bound plus one transaction's room (and the
Unpacker's copy of the bytes), however its bytes are shaped.

For every input the result is the one `Record.decode` gives (a test compares the two), except
that a block over the bound is a DecodeError here.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgpack

from ledger.encoding import Bin, ListOf, Nested, Record, SInt, Tagged, Text, UInt, pack, unpack
from ledger.errors import ArityError, DecodeError, NonCanonicalError, OversizeError, RangeError, TrailingBytesError
from ledger.transactions import (
    _DECODED,
    ARG_OBJECT_BYTES,
    BODY_KINDS,
    TX_OBJECT_BYTES,
    BlockTransactions,
    Transaction,
)

R = TypeVar("R", bound=Record)

# The values (msgpack objects) of a valid transaction other than its call's argument values, at
# most: the transaction array, its five scalar fields, the body's [tag, fields] array, the tag
# and the fields array, and the body kind's fields (a call's argument list counts as one).
TX_FIXED_VALUES = 9 + max(len(kind.SCHEMA) for kind in BODY_KINDS.values())
_SCALARS = (UInt, SInt, Bin, Text)
_ARRAY_HEADS = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
_MAP_HEADS = frozenset([*range(0x80, 0x90), 0xDE, 0xDF])


class BlockMemoryError(DecodeError):
    """A block whose transactions hold more decoded than the chain allows (max_block_memory)."""

    reason = "block-memory"


def decode_bounded(cls: type[R], data: bytes, max_block_memory: int, *, max_size: int | None = None) -> R:
    """`cls.decode(data)` for bytes from a peer, where every transaction list inside (a block's)
    may hold at most `max_block_memory` decoded (`Transaction.retained_bytes` summed): refused
    with a BlockMemoryError as soon as a list passes it, having built at most one transaction
    beyond it. Any other invalid input is the DecodeError decoding gives (its message may
    differ)."""
    if type(data) is not bytes:
        data = bytes(data)
    limit = max_size or cls.MAX_SIZE
    if len(data) > limit:
        raise OversizeError(f"{len(data)} bytes exceeds the limit of {limit}")
    reader = _Reader(data, max_block_memory)
    try:
        rec = reader.record(cls, cls.__name__)
        end = reader.unpacker.tell()
    except DecodeError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        raise DecodeError(f"{cls.__name__}: not valid msgpack: {exc}") from exc
    if end != len(data):
        raise TrailingBytesError(f"{len(data)} bytes hold one value and trailing bytes")
    # Every leaf was checked by type, so packing the wire gives the canonical bytes of the same
    # value (in C, as `Record.decode` does): a difference is a non-minimal header somewhere.
    if pack(rec.to_wire()) != data:
        raise NonCanonicalError(f"{cls.__name__}: bytes are not the canonical encoding")
    rec.__dict__["encoded"] = data
    return rec


class _Reader:
    """One pass over `data` along a record's schema (see the module docstring)."""

    def __init__(self, data: bytes, max_block_memory: int) -> None:
        self.data = data
        self.bound = max_block_memory
        self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1), max_array_len=0,
                                         max_map_len=0, max_ext_len=0)
        self.unpacker.feed(data)

    def record(self, cls: type[R], where: str) -> R:
        """The record at the reader's position, built as `cls.from_wire` builds it."""
        count = self.unpacker.read_array_header()
        if count != len(cls._codecs):
            raise ArityError(f"{where}: expected {len(cls._codecs)} fields, got {count}")
        values, wire = [], []
        for codec, field_where in zip(cls._codecs, cls._wheres):
            value, item = self.field(codec, field_where)
            values.append(value)
            wire.append(item)
        rec = cls.__new__(cls)
        rec.__dict__.update(zip(cls._names, values))
        rec.__dict__["_wire"] = wire
        return rec

    def field(self, codec: Any, where: str) -> tuple[Any, Any]:
        """A field's value and its wire form."""
        if type(codec) is Nested:
            rec = self.record(codec.cls, where)
            return rec, rec.to_wire()
        if type(codec) is Tagged:
            if self.unpacker.read_array_header() != 2:
                raise ArityError(f"{where}: tagged value needs 2 items")
            tag = self.unpacker.unpack()
            cls = codec.by_tag.get(tag) if type(tag) is int else None
            if cls is None:
                raise RangeError(f"{where}: unknown tag {tag!r}")
            rec = self.record(cls, cls.__name__)
            return rec, [tag, rec.to_wire()]
        if type(codec) is BlockTransactions:
            txs = self.transactions(codec.max_items, where)
            return txs, [tx.to_wire() for tx in txs]
        if type(codec) is ListOf:
            count = self.unpacker.read_array_header()
            if count > codec.max_items:
                raise RangeError(f"{where}: {count} items, at most {codec.max_items}")
            if isinstance(codec.item, _SCALARS):  # a compact proposal's hashes: one unpack each
                unpack_one = self.unpacker.unpack
                wire = [unpack_one() for _ in range(count)]
                return codec.check(wire, where), wire
            items = [self.field(codec.item, where) for _ in range(count)]
            return tuple(value for value, _ in items), [item for _, item in items]
        if isinstance(codec, _SCALARS):
            item = self.unpacker.unpack()  # an array or a map here is refused before it is built
            return codec.check(item, where), item
        raise TypeError(f"{where}: {type(codec).__name__} fields are not read by decode_bounded")

    def transactions(self, max_items: int, where: str) -> tuple:
        """A block's transactions, one at a time, their `retained_bytes` summed against the bound."""
        count = self.unpacker.read_array_header()
        if count > max_items:
            raise RangeError(f"{where}: {count} items, at most {max_items}")
        data, tell, skip, found, bound = self.data, self.unpacker.tell, self.unpacker.skip, _DECODED.get, self.bound
        held, out = 0, []
        end = tell()
        for index in range(count):
            start = end
            skip()
            end = tell()
            raw = data[start:end]
            tx = found(raw)
            if tx is None:
                tx = self._decode_transaction(raw, bound - held, where, index)
            held += tx.retained_bytes
            if held > bound:
                raise BlockMemoryError(f"{where}: transactions 0..{index} hold {held} bytes decoded, "
                                       f"above the chain's {bound}")
            out.append(tx)
        return tuple(out)

    def _decode_transaction(self, raw: bytes, room: int, where: str, index: int) -> Transaction:
        """Decode one block element not decoded before (as `BlockTransactions.check` does), unless
        it would hold more than `room`: it holds its bytes, TX_OBJECT_BYTES, and ARG_OBJECT_BYTES
        per argument value, which is fewer than its bytes, so a transaction whose bytes leave
        room for that many values is decoded at once; for another, its values are counted first,
        stopping past the room (a valid one has at most TX_FIXED_VALUES that are not arguments)."""
        values_room = (room - len(raw) - TX_OBJECT_BYTES) // ARG_OBJECT_BYTES
        if values_room < 0 or (len(raw) > values_room and _values_over(raw, values_room + TX_FIXED_VALUES)):
            raise BlockMemoryError(f"{where}: transaction {index} ({len(raw)} bytes) would hold more decoded "
                                   f"than the {max(room, 0)} bytes of the chain's {self.bound} it has left")
        item = unpack(raw, max_size=len(raw))
        tx = Transaction.from_wire(item, where)
        if pack(item) != raw:
            raise NonCanonicalError(f"{where}: transaction {index} is not in its canonical encoding")
        tx.__dict__["encoded"] = raw
        return tx


def _values_over(raw: bytes, limit: int) -> bool:
    """Whether the msgpack value `raw` holds more than `limit` values (itself and everything in
    it, a map's keys included), counted from its headers without building any: a cost of at
    most `limit` steps, however many it holds."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(raw), 1))
    unpacker.feed(raw)
    pending, count = 1, 0
    while pending:
        count += 1
        if count > limit:
            return True
        pending -= 1
        head = raw[unpacker.tell()]
        if head in _ARRAY_HEADS:
            pending += unpacker.read_array_header()
        elif head in _MAP_HEADS:
            pending += 2 * unpacker.read_map_header()
        else:
            unpacker.skip()
    return False
