"""`ledger.bounded_decode`: a block from a peer is decoded one transaction at a time and refused
as soon as its transactions hold more decoded than the chain's max_block_memory, so a hostile
block of nested-list calls costs the bound, not 70 times its bytes; for everything else the
result is `Record.decode`'s."""

from __future__ import annotations

import gc
import random
import tracemalloc
from typing import Any, Callable

import pytest

from consensus.messages import (
    Checkpoint,
    Commit,
    CompactProposal,
    Envelope,
    NewView,
    Prepare,
    PreparedCert,
    Proposal,
    SyncRequest,
    SyncResponse,
    TxRequest,
    TxResponse,
    ViewChange,
    seal_sync_response,
)
from ledger import transactions
from ledger.blocks import Block, CommitSig, Header
from ledger.bounded_decode import TX_FIXED_VALUES, BlockMemoryError, _values_over, decode_bounded
from ledger.devnet import make_devnet
from ledger.encoding import pack
from ledger.errors import DecodeError
from ledger.genesis import DEFAULT_MAX_BLOCK_MEMORY
from ledger.transactions import (
    BODY_KINDS,
    ContractCall,
    ContractDeploy,
    MarketOrder,
    MeterReading,
    SetValidator,
    Transaction,
    Transfer,
)

NET = make_devnet(validators=4, users=4, meters=0, label="bounded")
CID = NET.genesis.chain_id
UNBOUNDED = 1 << 62
HOSTILE_BYTES = 8 * 1024 * 1024


def _header(count: int, height: int = 1) -> Header:
    return Header(CID, height, b"\1" * 32, 5, NET.validators[0].public_key, b"\2" * 32, count, b"\3" * 32,
                  b"\4" * 32, b"\5" * 32, b"\x80", b"proof")


def _nested_call(user: int, nonce: int) -> Transaction:
    """A valid call whose arguments are 64 lists of 256 empty lists: 16 KiB of msgpack that
    holds about 1 MB decoded."""
    args = tuple(tuple(() for _ in range(256)) for _ in range(64))
    return Transaction.create(NET.users[user % 4], CID, nonce, ContractCall(bytes(20), "f", args, 10_000, 0), fee=1)


def _mixed_txs() -> list[Transaction]:
    u = NET.users
    bodies = [
        Transfer(u[1].address, 7),
        MeterReading(3, 1000, 250),
        MarketOrder(2, 1, 500, 12_000, 1, 9),
        ContractDeploy("def f():\n    return 1\n", 50_000),
        ContractCall(bytes(20), "g", (1, -2, b"\0" * 40, "text", (3, (b"", ("x",)), ()), 2**64 - 1), 9_000, 5),
        SetValidator(NET.validators[1].public_key, 3),
    ]
    return [Transaction.create(u[i % 4], CID, i, body, fee=2) for i, body in enumerate(bodies)] + [_nested_call(2, 9)]


def _messages() -> list[tuple[type, bytes]]:
    txs = tuple(_mixed_txs())
    block = Block(_header(len(txs)), txs)
    sigs = tuple(CommitSig(k.public_key, b"\6" * 64) for k in NET.validators[:3])
    cert = PreparedCert(2, block, sigs)
    key = NET.validators[1]
    view_change = Envelope.seal(key, CID, ViewChange(1, 3, (cert,))).encoded
    payloads = [
        Proposal(1, 0, block), Proposal(1, 2, Block(_header(0), ())), NewView(1, 3, (view_change, b"\7" * 9), block),
        ViewChange(1, 3, (cert,)), ViewChange(1, 4, ()), SyncResponse(block), TxResponse(1, 0, txs[:3]),
        CompactProposal(1, 0, block.header, tuple(tx.hash for tx in txs)), TxRequest(1, 0, (b"\1" * 32,)),
        Prepare(1, 0, b"\2" * 32), Commit(1, 0, b"\2" * 32), Checkpoint(4, b"\3" * 32), SyncRequest(3),
    ]
    out = [(Block, block.encoded), (Block, Block(_header(0), ()).encoded)]
    out += [(Envelope, Envelope.seal(key, CID, p).encoded) for p in payloads]
    out.append((Envelope, seal_sync_response(key, CID, block.encoded)))
    return out


def _outcome(decode: Callable[[], Any]) -> tuple:
    try:
        rec = decode()
    except DecodeError:
        return ("refused",)
    return ("decoded", type(rec), rec, rec.encoded, pack(rec.to_wire()))


def test_the_result_is_record_decodes_for_valid_and_mangled_messages() -> None:
    """Every kind of consensus message and block, as sent and with bytes changed, cut or added:
    decoded to the same record (fields, wire, encoding), or refused by both."""
    rng = random.Random(11)
    checked = refused = 0
    for cls, raw in _messages():
        assert _outcome(lambda: decode_bounded(cls, raw, UNBOUNDED)) == _outcome(lambda: cls.decode(raw))
        variants = [raw[:cut] for cut in range(0, len(raw), max(1, len(raw) // 40))] + [raw + b"\0", raw + b"\x90"]
        for _ in range(100):
            noisy = bytearray(raw)
            for _ in range(rng.randint(1, 3)):
                noisy[rng.randrange(len(noisy))] = rng.randrange(256)
            variants.append(bytes(noisy))
        for data in variants:
            new, old = _outcome(lambda: decode_bounded(cls, data, UNBOUNDED)), _outcome(lambda: cls.decode(data))
            assert new == old, (cls.__name__, data.hex()[:80])
            checked += 1
            refused += new[0] == "refused"
    assert refused > 500 and checked - refused > 500  # both outcomes were exercised


def test_transactions_decoded_before_are_taken_as_they_are() -> None:
    txs = [Transaction.decode(tx.encoded) for tx in _mixed_txs()]  # admitted: in the interning table
    block = decode_bounded(Block, Block(_header(len(txs)), tuple(txs)).encoded, UNBOUNDED)
    assert all(a is b for a, b in zip(block.txs, txs))


def test_the_bound_counts_what_every_transaction_holds_and_stops_past_it() -> None:
    txs = _mixed_txs()
    raw = Block(_header(len(txs)), tuple(txs)).encoded
    held = sum(tx.retained_bytes for tx in txs)
    assert decode_bounded(Block, raw, held).txs == tuple(txs)  # exactly at the bound: decoded
    with pytest.raises(BlockMemoryError):
        decode_bounded(Block, raw, held - 1)
    for tx in txs:  # hits in the interning table count as much as misses
        Transaction.decode(tx.encoded)
    with pytest.raises(BlockMemoryError):
        decode_bounded(Block, raw, held - 1)


def test_a_refusal_judged_from_a_transactions_bytes_is_exact() -> None:
    """Where a transaction's bytes might hold more than the room left, its values are counted
    before it is decoded: a call that fits to the byte is decoded, one byte less is refused."""
    call = _nested_call(1, 0)
    assert len(call.encoded) * 128 > call.retained_bytes  # its bytes alone would not tell
    raw = Block(_header(1), (call,)).encoded
    transactions._DECODED.items.pop(call.encoded, None)
    transactions._DECODED.bytes = sum(t.retained_bytes for t in transactions._DECODED.items.values())
    assert decode_bounded(Block, raw, call.retained_bytes).txs == (call,)
    with pytest.raises(BlockMemoryError):
        decode_bounded(Block, raw, call.retained_bytes - 1)


def test_a_valid_transaction_has_at_most_tx_fixed_values_besides_its_arguments() -> None:
    def values(wire: Any) -> int:
        return 1 + sum(values(v) for v in wire) if type(wire) is list else 1

    for tx in _mixed_txs():
        args = tx.body.args if type(tx.body) is ContractCall else ()
        arg_values = transactions._objects(args)
        assert values(tx.to_wire()) - arg_values <= TX_FIXED_VALUES
        assert not _values_over(tx.encoded, values(tx.to_wire()))
        assert _values_over(tx.encoded, values(tx.to_wire()) - 1)
    assert TX_FIXED_VALUES == 9 + max(len(k.SCHEMA) for k in BODY_KINDS.values())


@pytest.fixture(scope="module")
def hostile_txs() -> list[Transaction]:
    """Valid, signed nested-list calls making up 8 MiB: a block of them holds some 530 MB."""
    out: list[Transaction] = []
    size = 0
    while size < HOSTILE_BYTES - 20_000:
        out.append(_nested_call(len(out), len(out) // 4))
        size += len(out[-1].encoded)
    return out


def _peak_of(decode: Callable[[], Any]) -> tuple[int, str]:
    """Peak traced memory while `decode` runs, and the outcome's kind."""
    transactions._DECODED.items.clear()  # as on a replica that never saw them
    transactions._DECODED.bytes = 0
    gc.collect()
    tracemalloc.start()
    try:
        decode()
        outcome = "decoded"
    except BlockMemoryError:
        outcome = "refused"
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, outcome


@pytest.mark.parametrize("kind", ["block frame", "sync response", "proposal", "new view"])
def test_a_hostile_block_costs_the_bound_not_seventy_times_its_bytes(hostile_txs: list[Transaction], kind: str) -> None:
    """8 MiB of nested-list calls, as a full node's block frame or inside consensus messages:
    refused on the bound while decoding, at a peak far below the ~560 MB decoding them whole
    took (measured: 584 MiB peak for the block frame)."""
    block = Block(_header(len(hostile_txs)), tuple(hostile_txs))
    key = NET.validators[1]
    if kind == "block frame":
        cls, raw = Block, block.encoded
    elif kind == "sync response":
        cls, raw = Envelope, seal_sync_response(key, CID, block.encoded)
    elif kind == "proposal":
        cls, raw = Envelope, Envelope.seal(key, CID, Proposal(1, 0, block)).encoded
    else:
        cls, raw = Envelope, Envelope.seal(key, CID, NewView(1, 1, (), block)).encoded
    del block
    assert len(raw) > HOSTILE_BYTES - 30_000
    peak, outcome = _peak_of(lambda: decode_bounded(cls, raw, DEFAULT_MAX_BLOCK_MEMORY))
    assert outcome == "refused"
    assert peak < 2 * DEFAULT_MAX_BLOCK_MEMORY, peak  # the bound and a transaction; whole, 70x 8 MiB


def test_a_full_node_bans_the_sender_of_a_hostile_block_frame_at_the_bound(hostile_txs: list[Transaction]) -> None:
    from ledger.application import LedgerApp
    from ledger.chain import Chain
    from ledger.database import MemoryDB
    from ledger.mempool import Mempool
    from pownode.block_feed import BLOCK, BlockFollower

    class Peers:
        banned: dict[bytes, str] = {}

        def ban(self, peer: bytes, why: str) -> None:
            self.banned[peer] = why

    chain = Chain(MemoryDB(), NET.genesis)
    peers = Peers()
    follower = BlockFollower(LedgerApp(chain, Mempool(NET.genesis, chain.cache)), peers, lambda block: None)  # type: ignore[arg-type]
    # certified by the validators, as a block must be for its transactions to be decoded at all
    frame = bytes([BLOCK]) + NET.seal(Block(_header(len(hostile_txs)), tuple(hostile_txs))).encoded
    peak, _ = _peak_of(lambda: follower.on_frame(b"\x09" * 32, frame))
    assert "would hold more decoded" in peers.banned[b"\x09" * 32] and chain.height == 0
    assert peak < 2 * DEFAULT_MAX_BLOCK_MEMORY, peak


def _engine_peak(kind: str, hostile_txs: list[Transaction]) -> tuple[int, list]:
    import dataclasses

    from ledger.merkle import merkle_root
    from tests.sim.member_attack import NOW, attacked_network

    sim = attacked_network()
    engine = sim.engines[0]
    engine.config = dataclasses.replace(engine.config, max_block_memory=DEFAULT_MAX_BLOCK_MEMORY)
    key = sim.keys[3]
    head = sim.apps[0].chain.head
    # the header commits to the hostile body (a proposer's or a certified header can): a body
    # that is not its header's is refused on its hashes, before the decoding bounded here
    root = merkle_root([tx.hash for tx in hostile_txs])
    block = Block(head.replace(height=engine.height, tx_count=len(hostile_txs), tx_root=root), tuple(hostile_txs))
    if kind == "proposal":
        proposer = next(k for k in sim.keys if k.public_key == engine.proposer(engine.view))
        raw = Envelope.seal(proposer, sim.net.genesis.chain_id, Proposal(engine.height, engine.view, block)).encoded
    else:  # certified, as a sync response's block must be for its transactions to be decoded at all
        raw = seal_sync_response(key, sim.net.genesis.chain_id, sim.net.seal(block).encoded)
    del block
    refusals: list[DecodeError] = []
    real = engine._decode

    def recording(data: bytes) -> Envelope:
        try:
            return real(data)
        except DecodeError as exc:
            refusals.append(exc)
            raise

    engine._decode = recording  # type: ignore[method-assign]
    out: list = []
    peak, _ = _peak_of(lambda: out.extend(engine.on_message(raw, NOW)))
    assert len(refusals) == 1 and isinstance(refusals[0], BlockMemoryError)  # judged worth decoding, then refused
    return peak, [engine.height == head.height + 1, out]


@pytest.mark.parametrize("kind", ["proposal", "sync response"])
def test_an_engine_drops_a_hostile_block_from_a_member_at_the_bound(hostile_txs: list[Transaction], kind: str) -> None:
    """The view's proposer (or any member answering a sync) sends 8 MiB of nested-list calls:
    the engine refuses it while decoding, at a peak far below decoding it whole, and acts on
    nothing of it."""
    peak, (same_height, actions) = _engine_peak(kind, hostile_txs)
    assert peak < 2 * DEFAULT_MAX_BLOCK_MEMORY, peak
    assert same_height and actions == []


def _array(count: int) -> bytes:
    """The canonical msgpack header of an array of `count` items (fewer than 65,536)."""
    return bytes([0x90 | count]) if count < 16 else b"\xdc" + count.to_bytes(2, "big")


def _raw_call(args: int, lists: int) -> bytes:
    """The bytes of a call (its signature not checked by decoding) whose `args` arguments are
    each a list of `lists` lists of 256 empty lists."""
    arg = _array(lists) + (_array(256) + b"\x90" * 256) * lists
    body = b"\x92\x05\x95" + pack(bytes(20)) + pack("f") + _array(args) + arg * args + pack(10_000) + pack(0)
    return b"\x96" + pack(CID) + pack(b"\1" * 32) + pack(0) + pack(1) + body + pack(b"\2" * 64)


def test_one_transaction_as_large_as_a_block_is_refused_from_its_headers() -> None:
    """A single call of 4 MiB whose arguments are four million nested empty lists (it would
    hold some 540 MB decoded): its values are counted, stopping past the room, and it is refused
    before any of it is built."""
    small = _raw_call(2, 3)
    decoded = decode_bounded(Block, b"\x92" + _header(1).encoded + b"\x91" + small, UNBOUNDED).txs[0]
    assert decoded.encoded == small and len(decoded.body.args[1][2]) == 256  # the shape is a valid call
    raw_tx = _raw_call(64, 256)
    assert len(raw_tx) > 4 * 1024 * 1024
    raw = b"\x92" + _header(1).encoded + b"\x91" + raw_tx
    peak, outcome = _peak_of(lambda: decode_bounded(Block, raw, DEFAULT_MAX_BLOCK_MEMORY))
    assert outcome == "refused"
    assert peak < 16 * 1024 * 1024, peak  # the count builds nothing; whole, it would be ~70x 4 MiB


def test_an_array_where_a_scalar_belongs_is_refused_before_it_is_built() -> None:
    """Any message, not only a block: a checkpoint whose state root is 8 MiB of empty lists
    (whole, some 500 MB of them) or a compact proposal whose hashes are lists is refused at the
    first array header where a byte string belongs."""
    key = NET.validators[1]
    lists = b"\xdd" + (8 * 1024 * 1024).to_bytes(4, "big") + b"\x90" * (8 * 1024 * 1024)
    checkpoint = Envelope.seal(key, CID, Checkpoint(4, b"\3" * 32)).encoded
    hostile = checkpoint.replace(pack(b"\3" * 32), lists)
    assert len(hostile) > 8 * 1024 * 1024
    peak, _ = _peak_of(lambda: pytest.raises(DecodeError, decode_bounded, Envelope, hostile, UNBOUNDED))
    assert peak < len(hostile) + 4 * 1024 * 1024, peak  # the Unpacker's copy of the bytes, nothing built
    compact = Envelope.seal(key, CID, CompactProposal(1, 0, _header(2), (b"\1" * 32, b"\2" * 32))).encoded
    with pytest.raises(DecodeError):
        decode_bounded(Envelope, compact.replace(pack(b"\2" * 32), b"\x91\x90"), UNBOUNDED)
