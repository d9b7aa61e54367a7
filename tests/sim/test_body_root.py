"""A member holding a genuine certificate for a block's header (a commit certificate, or the
prepare signatures of a quorum) attaches transactions of its own under that header. The header
hash covers the transactions only through `tx_root`, so the certificate still verifies: a
replica must judge the body against the header before it builds the transactions, and must not
hold a body's fault against the header (the genuine block with that hash must still pass)."""

from __future__ import annotations

import pytest

from consensus.engine import Engine
from consensus.messages import Envelope, PreparedCert, SyncResponse, ViewChange, prepare_message
from consensus.simulator import Simulation
from ledger.blocks import Block, CommitSig, make_quorum, sign_commit
from ledger.transactions import Transaction, Transfer
from tests.sim.member_attack import NOW, attacked_network, from_member


@pytest.fixture
def sim() -> Simulation:
    return attacked_network()


def _genuine_next_block(sim: Simulation, engine: Engine) -> Block:
    """The block the view-0 proposer of the engine's height would propose, built on another
    replica's ledger at the same height (the engine's own ledger holds nothing of it)."""
    app = next(a for a in sim.apps[1:] if a.last_header().height == engine.height - 1)
    head = app.last_header()
    block = app.propose(engine.proposer(0), head.time_ms + 1, [])
    app.chain.discard_pending()
    return block


def _hostile_body(sim: Simulation, block: Block, txs: int) -> Block:
    """`block`'s header (and proof) over `txs` signed transfers it does not hold."""
    cid, users = sim.net.genesis.chain_id, sim.net.users
    body = tuple(Transaction.create(users[0], cid, 50 + k, Transfer(users[1].address, 1), fee=1) for k in range(txs))
    return Block(block.header, body)


def _prepared(sim: Simulation, block: Block) -> PreparedCert:
    """A genuine prepared certificate of `block` in view 0: three of four validators' signatures."""
    message = prepare_message(sim.net.genesis.chain_id, block.height, 0, block.hash)
    return PreparedCert(0, block, tuple(CommitSig(k.public_key, k.sign(message)) for k in sim.keys[:3]))


def test_a_certified_header_over_a_foreign_body_does_not_stop_the_genuine_block(sim: Simulation) -> None:
    """A replica catching up gets the committed header with its real commit certificate over a
    member's transactions first, then the genuine block: the first used to mark the header's hash
    invalid for the height, so the genuine block was refused from every peer and the replica
    never left the height."""
    engine: Engine = sim.engines[0]
    height = engine.height
    block = _genuine_next_block(sim, engine)
    proof = make_quorum(block.header, [sign_commit(k, block.header) for k in sim.keys[:3]])
    certified = block.replace(header=block.header.replace(proof=proof))
    engine.on_message(from_member(sim, SyncResponse(_hostile_body(sim, certified, 5))), NOW)
    assert engine.height == height
    honest = Envelope.seal(sim.keys[1], sim.net.genesis.chain_id, SyncResponse(certified)).encoded
    engine.on_message(honest, NOW)
    assert engine.height == height + 1
    assert sim.apps[0].last_header().hash == block.hash


def test_a_genuine_prepared_header_over_a_foreign_body_is_not_decoded(sim: Simulation, decoded: list[int]) -> None:
    """A member asks for every view it may ask for ahead, each request carrying the genuine
    prepared certificate of a block over a block's worth of its own transactions: each was
    decoded, its transactions built, once per (voter, view)."""
    engine: Engine = sim.engines[0]
    cert = _prepared(sim, _hostile_body(sim, _genuine_next_block(sim, engine), 600))
    for v in range(1, engine.config.max_future_views + 1):
        raw = from_member(sim, ViewChange(engine.height, engine.view + v, (cert,)))
        assert len(raw) > 64 * 1024
        engine.on_message(raw, NOW)
    assert decoded == []
    assert sim.keys[3].public_key not in engine.round.view_changes


def test_a_small_view_change_over_a_foreign_body_is_not_kept(sim: Simulation) -> None:
    """Below the size judged before decoding, a view change whose genuine certificate's block
    carries a member's transactions is refused once decoded: kept, it could be the highest a new
    primary re-proposes, a block every replica refuses."""
    engine: Engine = sim.engines[0]
    cert = _prepared(sim, _hostile_body(sim, _genuine_next_block(sim, engine), 20))
    raw = from_member(sim, ViewChange(engine.height, engine.view + 1, (cert,)))
    assert len(raw) < 64 * 1024
    engine.on_message(raw, NOW)
    assert sim.keys[3].public_key not in engine.round.view_changes
    honest = _prepared(sim, _genuine_next_block(sim, engine))
    engine.on_message(Envelope.seal(sim.keys[2], sim.net.genesis.chain_id,
                                    ViewChange(engine.height, engine.view + 1, (honest,))).encoded, NOW)
    assert sim.keys[2].public_key in engine.round.view_changes
