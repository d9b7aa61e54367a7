"""Consensus messages and their signed envelope.

Every message travels as an `Envelope`: sender key, a typed payload, and the sender's signature.
What is signed depends on the payload, so that signatures can be reused as certificates:

* a `Commit` is signed over the ledger's commit sign-bytes (`ledger.blocks.commit_message`), so
  2f+1 commit envelopes *are* a block's quorum certificate;
* a `Prepare` is signed over `["pownode/prepare/v1", chain_id, [height, view, block_hash]]`, so
  2f+1 of them form the prepared certificate a replica carries into a view change;
* everything else is signed over `["pownode/consensus/v1", chain_id, [sender, payload]]`.

All of them include the chain id, so nothing replays across networks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

import msgpack

from ledger.blocks import (MAX_BLOCK_TXS, Block, CommitSig, Header, block_header, body_matches, commit_message,
                           encoded_txs)
from ledger.bounded_decode import decode_bounded
from ledger.encoding import (HASH, PUBKEY, SIGNATURE, U32, U64, Bin, ListOf, Nested, Record, Tagged, cached_property, pack,
                             pack_encoded, record)
from ledger.errors import DecodeError
from ledger.keys import PrivateKey, signing_message, verify
from ledger.transactions import BlockTransactions

CONSENSUS_DOMAIN = "pownode/consensus/v1"
PREPARE_DOMAIN = "pownode/prepare/v1"
MAX_ENVELOPE = Block.MAX_SIZE + 1024 * 1024


def prepare_message(chain_id: str, height: int, view: int, block_hash: bytes) -> bytes:
    return signing_message(PREPARE_DOMAIN, chain_id, [height, view, block_hash])


@record
class Proposal(Record):
    """PBFT pre-prepare: the proposer's block for (height, view)."""

    height: int
    view: int
    block: Block
    SCHEMA = {"height": U64, "view": U32, "block": Nested(Block)}

    @cached_property
    def encoded(self) -> bytes:  # type: ignore[override]
        """`pack(self.to_wire())` around the block's own encoding (`Block.encoded`)."""
        return pack_encoded([pack(self.height), pack(self.view), self.block.encoded])


@record
class CompactProposal(Record):
    """PBFT pre-prepare as an honest proposer sends it: the block's header and its transactions'
    hashes in block order. The replicas hold the transactions already (gossip): each fills the
    block from its pending ones and asks the proposer for any it lacks (`TxRequest`), so a
    transaction crosses the wire once per replica rather than twice."""

    height: int
    view: int
    header: Header
    tx_hashes: tuple
    SCHEMA = {"height": U64, "view": U32, "header": Nested(Header), "tx_hashes": ListOf(HASH, MAX_BLOCK_TXS)}


@record
class TxRequest(Record):
    """A replica's request to the proposer of (height, view) for the transactions of its compact
    proposal it does not hold."""

    height: int
    view: int
    tx_hashes: tuple
    SCHEMA = {"height": U64, "view": U32, "tx_hashes": ListOf(HASH, MAX_BLOCK_TXS)}


@record
class TxResponse(Record):
    """The proposer's answer to a `TxRequest`: those of the asked transactions its block holds."""

    height: int
    view: int
    txs: tuple
    SCHEMA = {"height": U64, "view": U32, "txs": BlockTransactions(MAX_BLOCK_TXS)}


@record
class Prepare(Record):
    height: int
    view: int
    block_hash: bytes
    SCHEMA = {"height": U64, "view": U32, "block_hash": HASH}


@record
class Commit(Record):
    height: int
    view: int
    block_hash: bytes
    SCHEMA = {"height": U64, "view": U32, "block_hash": HASH}


@record
class PreparedCert(Record):
    """Proof that a block was prepared in `view`: prepare signatures of a quorum."""

    view: int
    block: Block
    sigs: tuple
    SCHEMA = {"view": U32, "block": Nested(Block), "sigs": ListOf(Nested(CommitSig), 1024)}

    @cached_property
    def encoded(self) -> bytes:  # type: ignore[override]
        """`pack(self.to_wire())` around the block's own encoding (`Block.encoded`): a replica
        logs its prepared certificate, block and all, at every height."""
        return pack_encoded([pack(self.view), self.block.encoded, pack_encoded([s.encoded for s in self.sigs])])


@record
class ViewChange(Record):
    """A replica's move to `new_view` at `height`, carrying its highest prepared certificate."""

    height: int
    new_view: int
    prepared: tuple  # zero or one PreparedCert
    SCHEMA = {"height": U64, "new_view": U32, "prepared": ListOf(Nested(PreparedCert), 1)}


@record
class NewView(Record):
    """The new primary's proof (a quorum of signed view changes) and its proposal."""

    height: int
    view: int
    view_changes: tuple  # encoded Envelopes holding ViewChange payloads
    block: Block
    SCHEMA = {
        "height": U64,
        "view": U32,
        "view_changes": ListOf(Bin(max_len=MAX_ENVELOPE), 1024),
        "block": Nested(Block),
    }


@record
class Checkpoint(Record):
    height: int
    state_root: bytes
    SCHEMA = {"height": U64, "state_root": HASH}


@record
class SyncRequest(Record):
    height: int
    SCHEMA = {"height": U64}


@record
class SyncResponse(Record):
    """A committed block with its proof, for a replica that fell behind."""

    block: Block
    SCHEMA = {"block": Nested(Block)}


PAYLOAD = Tagged({
    1: Proposal, 2: Prepare, 3: Commit, 4: ViewChange, 5: NewView, 6: Checkpoint, 7: SyncRequest, 8: SyncResponse,
    9: CompactProposal, 10: TxRequest, 11: TxResponse,
})


def seal_sync_response(key: PrivateKey, chain_id: str, block_bytes: bytes) -> bytes:
    """`Envelope.seal(key, chain_id, SyncResponse(block)).encoded` for a block given as its
    stored (canonical) bytes, spliced in rather than decoded and packed again: a replica catching
    up asks for block after block, and serving one cost a strict decode of every transaction.
    The msgpack around it is written out: [sender, [8, [block]], signature], and the signed
    bytes [domain, chain_id, [sender, [8, [block]]]] (`signing_bytes`); a test holds the two
    paths byte-equal."""
    sender = key.public_key
    payload = b"\x92" + pack(PAYLOAD.tag_of_cls(SyncResponse)) + b"\x91" + block_bytes
    return b"\x93" + pack(sender) + payload + pack(key.sign(_spliced_signing_bytes(chain_id, sender, payload)))


def _spliced_signing_bytes(chain_id: str, sender: bytes, payload: bytes) -> bytes:
    """`signing_bytes` of a payload other than a vote, from its canonical bytes as they are:
    [domain, chain_id, [sender, payload]] written out around them."""
    return b"\x93" + pack(CONSENSUS_DOMAIN) + pack(chain_id) + b"\x92" + pack(sender) + payload


_ENVELOPE_HEAD = b"\x93\xc4\x20"  # a canonical envelope: [bin8 sender of 32 bytes, payload, ...
_SIGNATURE_HEAD = b"\xc4\x40"  # ... bin8 signature of 64 bytes]
_PEEK_BYTES = 1024  # enough for a payload's tag, field headers, a chain id and two integers


@dataclass(frozen=True)
class Route:
    """What a canonical envelope's first and last bytes say, read without decoding its payload:
    its signer, its kind, its height and view (a sync response's: its block's height, view 0),
    and where its signature is. Unauthenticated until `signature_ok`."""

    sender: bytes
    kind: type[Record]
    height: int
    view: int
    payload: bytes
    signature: bytes

    def signature_ok(self, chain_id: str) -> bool:
        """Whether the signer signed this payload: a hash of the bytes and one verification, no
        decoding. Votes are signed over other bytes (their certificates' messages): never."""
        if self.kind in (Prepare, Commit):
            return False
        return verify(self.sender, _spliced_signing_bytes(chain_id, self.sender, self.payload), self.signature)


def peek(data: bytes) -> Route | None:
    """The route of an encoded envelope, or None where it cannot be a canonical envelope of a
    kind whose messages may be large (a checkpoint, whose second field is a root, never is). A
    large message is judged by it (would the engine use a message of this kind, height and view
    from this sender?) before its payload is decoded."""
    if len(data) < len(_ENVELOPE_HEAD) + 32 + 66 or data[:3] != _ENVELOPE_HEAD or data[-66:-64] != _SIGNATURE_HEAD:
        return None
    payload = data[35:-66]
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(payload[:_PEEK_BYTES])
    try:
        if unpacker.read_array_header() != 2:
            return None
        tag = unpacker.unpack()
        kind = PAYLOAD.by_tag.get(tag) if type(tag) is int else None
        fields = unpacker.read_array_header()
        if kind is SyncResponse:  # [[header fields...], txs]: the header's chain id, then height
            unpacker.read_array_header()
            unpacker.read_array_header()
            unpacker.skip()
            height, view = unpacker.unpack(), 0
        else:
            height = unpacker.unpack()
            view = unpacker.unpack() if fields > 1 else 0
    except (ValueError, msgpack.UnpackException):  # OutOfData and ExtraData included
        return None
    if kind is None or type(height) is not int or type(view) is not int:
        return None
    return Route(data[3:35], kind, height, view, payload, data[-64:])


def sync_header(route: Route) -> Header:
    """The header of a sync response's block, its transactions neither built nor read: its proof
    certifies the header's hash, so a forged one is refused before the block is decoded (a
    block's worth of nested-list calls, up to the chain's memory bound). A DecodeError for
    another kind or bytes not of that shape."""
    header = _certified_block(route) if route.kind is SyncResponse else None
    if not isinstance(header, Header):
        raise DecodeError(f"a {route.kind.__name__} is not a sync response")
    return header


def prepared_head(route: Route) -> PreparedCert | None:
    """A view change's prepared certificate around its block's header and none of its
    transactions (they are skipped, never built): the prepare signatures certify the header's
    hash, so a forged certificate is refused before its block is decoded. None for a view
    change without one; a DecodeError for another kind or bytes not of that shape."""
    if route.kind is not ViewChange:
        raise DecodeError(f"a {route.kind.__name__} is not a view change")
    cert = _certified_block(route)
    return cert if isinstance(cert, PreparedCert) else None


def _certified_block(route: Route) -> Header | PreparedCert | None:
    """Walk a sync response's or a view change's payload to the block inside: a sync
    response's header, a view change's certificate around a block of no transactions (None:
    it has none)."""
    data = route.payload
    unpacker = _payload_unpacker(data)
    try:
        view_start = _to_block(unpacker, route.kind)
        if view_start is None:
            return None
        block_start = unpacker.tell()
        if unpacker.read_array_header() != 2:
            raise DecodeError("a block is [header, transactions]")
        header_start = unpacker.tell()
        unpacker.skip()
        header_end = unpacker.tell()
        unpacker.skip()  # the transactions
        if route.kind is SyncResponse:
            return decode_bounded(Header, data[header_start:header_end], 0)
        sigs_start = unpacker.tell()
        unpacker.skip()
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"{route.kind.__name__}: not valid msgpack: {exc}") from None
    empty_block = b"\x92" + data[header_start:header_end] + b"\x90"
    return decode_bounded(PreparedCert, b"\x93" + data[view_start:block_start] + empty_block
                          + data[sigs_start:unpacker.tell()], 0)


def carried_body_matches(route: Route) -> bool:
    """Whether the block a proposal, new view, sync response or view change carries holds the
    transactions its header commits to (`ledger.blocks.body_matches`), read from its bytes:
    each transaction's slice hashed, none built. A certificate covers a header, not a body sent
    with it: a member holding a genuine one could otherwise attach a block's worth of its own
    transactions, decoded and built by every replica before the root told them apart. True for
    a message that carries no block (a view change without a certificate, a vote); a
    DecodeError for bytes not of their kind's shape."""
    data = route.payload
    unpacker = _payload_unpacker(data)
    try:
        if _to_block(unpacker, route.kind) is None:
            return True
        start = unpacker.tell()
        unpacker.skip()
        raw = data[start:unpacker.tell()]
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"{route.kind.__name__}: not valid msgpack: {exc}") from None
    return body_matches(block_header(raw), [hashlib.sha256(tx).digest() for tx in encoded_txs(raw)])


def _payload_unpacker(data: bytes) -> msgpack.Unpacker:
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    return unpacker


def _to_block(unpacker: msgpack.Unpacker, kind: type[Record]) -> int | None:
    """Move `unpacker`, at the start of a payload of `kind`, to the start of the block it
    carries. Returns where a view change's certificate begins (its view; 0 for other kinds), or
    None when the message carries no block. Raises DecodeError, ValueError or an
    UnpackException where the bytes are not of that shape."""
    if unpacker.read_array_header() != 2:
        raise DecodeError("a payload is [tag, fields]")
    unpacker.skip()  # the tag, which `peek` read
    fields = unpacker.read_array_header()
    if kind is SyncResponse:
        if fields != 1:
            raise DecodeError("a sync response is [block]")
        return 0
    if kind is ViewChange:
        if fields != 3:
            raise DecodeError("a view change is [height, new view, prepared]")
        unpacker.skip()  # height
        unpacker.skip()  # new view
        certificates = unpacker.read_array_header()
        if certificates == 0:
            return None
        if certificates != 1 or unpacker.read_array_header() != 3:
            raise DecodeError("a prepared certificate is [view, block, signatures]")
        view_start = unpacker.tell()
        unpacker.skip()
        return view_start
    if kind is Proposal and fields == 3:  # [height, view, block]
        unpacker.skip()
        unpacker.skip()
        return 0
    if kind is NewView and fields == 4:  # [height, view, view changes, block]
        for _ in range(3):
            unpacker.skip()
        return 0
    if kind in (Proposal, NewView):
        raise DecodeError(f"a {kind.__name__} of {fields} fields")
    return None


_BIN_HEADS = frozenset([0xC4, 0xC5, 0xC6])


def new_view_changes(route: Route) -> tuple[bytes, ...]:
    """The encoded view changes a new view carries, read without decoding the block after them:
    a new view is judged by them (a quorum of signed requests for its view) before its block is
    built. A DecodeError for another kind or bytes not of that shape."""
    data = route.payload
    if route.kind is not NewView:
        raise DecodeError(f"a {route.kind.__name__} carries no view changes")
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    raws = []
    try:
        if unpacker.read_array_header() != 2:
            raise DecodeError("a payload is [tag, fields]")
        unpacker.skip()  # the tag, which `peek` read
        if unpacker.read_array_header() != 4:
            raise DecodeError("a new view is [height, view, view changes, block]")
        unpacker.skip()  # height
        unpacker.skip()  # view
        count = unpacker.read_array_header()
        if count > 1024:
            raise DecodeError(f"a new view of {count} view changes")
        for _ in range(count):
            if data[unpacker.tell()] not in _BIN_HEADS:  # a byte string, or nothing is built
                raise DecodeError("a new view's view change is a byte string")
            raws.append(unpacker.unpack())
    except (ValueError, IndexError, msgpack.UnpackException) as exc:
        raise DecodeError(f"NewView: not valid msgpack: {exc}") from None
    return tuple(raws)


def signing_bytes(chain_id: str, sender: bytes, payload: Record) -> bytes:
    if isinstance(payload, Commit):
        return commit_message(chain_id, payload.height, payload.view, payload.block_hash)
    if isinstance(payload, Prepare):
        return prepare_message(chain_id, payload.height, payload.view, payload.block_hash)
    return signing_message(CONSENSUS_DOMAIN, chain_id, [sender, PAYLOAD.wire(payload)])


@record
class Envelope(Record):
    sender: bytes
    payload: Record
    signature: bytes
    SCHEMA = {"sender": PUBKEY, "payload": PAYLOAD, "signature": SIGNATURE}
    MAX_SIZE: ClassVar[int] = MAX_ENVELOPE

    @classmethod
    def seal(cls, key: PrivateKey, chain_id: str, payload: Record) -> "Envelope":
        return cls(key.public_key, payload, key.sign(signing_bytes(chain_id, key.public_key, payload)))

    def signing_bytes(self, chain_id: str) -> bytes:
        return signing_bytes(chain_id, self.sender, self.payload)
