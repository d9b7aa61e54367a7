"""A Byzantine validator (a valid member key) floods an engine: what it may keep and do per
message is bounded. Each attack cost memory or quadratic work before these bounds."""

from __future__ import annotations

import dataclasses

import pytest

from consensus.engine import Engine, Send
from consensus.messages import Checkpoint, Envelope, Prepare, SyncRequest, ViewChange
from consensus.simulator import Simulation
from tests.sim.member_attack import NOW, attacked_network, from_member

@pytest.fixture(scope="module")
def sim() -> Simulation:
    return attacked_network()


def test_a_view_change_storm_keeps_one_entry_per_voter(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    view = engine.view
    for v in range(1, 3001):
        engine.on_message(from_member(sim, ViewChange(engine.height, view + v, ())), NOW)
    assert len(engine.round.view_changes) <= len(sim.keys)
    assert engine.view == view and not engine.view_changing  # a quarter of the power cannot move it


def test_future_messages_are_buffered_a_few_per_sender(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    replayed = from_member(sim, Prepare(engine.height + 2, 0, b"\1" * 32))
    for _ in range(10_000):
        engine.on_message(replayed, NOW)
    for v in range(1000):
        engine.on_message(from_member(sim, Prepare(engine.height + 1, v, b"\2" * 32)), NOW)
    buffered = sum(len(q) for by_sender in engine.future.values() for q in by_sender.values())
    assert buffered <= 2 * engine.config.max_future_per_sender


def test_checkpoints_far_ahead_are_not_kept(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    interval = engine.config.checkpoint_interval
    for k in range(1, 5001):
        engine.on_message(from_member(sim, Checkpoint(interval * k, b"\3" * 32)), NOW)
    assert len(engine.checkpoints) <= 2


def test_sync_requests_are_served_within_a_budget(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    assert engine.height > 3
    engine.config = dataclasses.replace(engine.config, max_served_per_window=2)
    sent = []
    for _ in range(1000):
        sent += [a for a in engine.on_message(from_member(sim, SyncRequest(1)), NOW + 5) if isinstance(a, Send)]
    assert len(sent) == 1  # one answer per height per view timeout
    for _ in range(100):
        for h in range(1, engine.height):
            sent += [a for a in engine.on_message(from_member(sim, SyncRequest(h)), NOW + 10) if isinstance(a, Send)]
    assert len(sent) <= engine.config.max_served_per_window
    later = NOW + 10 + 2 * engine.config.view_timeout_ms
    assert any(isinstance(a, Send) for a in engine.on_message(from_member(sim, SyncRequest(1)), later))  # served again
    # View changes for committed heights are answered with the block too: within the same budget.
    for h in range(1, engine.height):
        sent += [a for a in engine.on_message(from_member(sim, ViewChange(h, 1, ())), later) if isinstance(a, Send)]
    assert len(sent) <= 2 * engine.config.max_served_per_window


def test_requests_for_blocks_that_do_not_exist_leave_nothing_behind(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    before = len(engine.sync_sent)
    for h in range(10_000):
        engine.on_message(from_member(sim, SyncRequest(engine.height + 1 + h)), NOW + 20)
    assert len(engine.sync_sent) == before


def test_a_garbage_proposal_is_executed_once_however_often_it_is_replayed(sim: Simulation, monkeypatch) -> None:
    from consensus.messages import Proposal
    from ledger.errors import InvalidBlock

    engine: Engine = sim.engines[0]
    validated = []

    def refuse(block) -> None:  # noqa: ANN001 - the application's validate
        validated.append(block.hash)
        raise InvalidBlock("garbage")

    monkeypatch.setattr(engine.app, "validate", refuse)
    proposer = next(k for k in sim.keys if k.public_key == engine.proposer(engine.view + 1))
    ranking = engine.round.ranking
    above = ranking[:ranking.index(proposer.public_key)]
    base = sim.apps[0].chain.build_block([], proposer.public_key, sim.apps[0].chain.head.time_ms + 1, skipped=above)[0]
    for t in range(200):  # distinct blocks for a view ahead of ours, each replayed
        block = base.replace(header=base.header.replace(time_ms=base.header.time_ms + t))
        raw = Envelope.seal(proposer, sim.net.genesis.chain_id, Proposal(engine.height, engine.view + 1, block)).encoded
        for _ in range(5):
            engine.on_message(raw, NOW + 30)
    assert len(validated) == 1


def test_oversized_and_refused_messages_cost_no_decoding(sim: Simulation, monkeypatch) -> None:
    """A message larger than any honest one is dropped before decoding, and a large garbage
    message refused once costs a hash when replayed."""
    engine: Engine = sim.engines[0]
    engine.config = dataclasses.replace(engine.config, max_block_bytes=100_000)
    decoded = []
    real = Engine._decode

    def counting(self, data):  # noqa: ANN001, ANN202
        decoded.append(len(data))
        return real(self, data)

    monkeypatch.setattr(Engine, "_decode", counting)
    huge = b"\x93" + b"\0" * (len(sim.keys) + 2) * (100_000 + 256 * 1024)
    engine.on_message(huge, NOW)
    assert decoded == []
    garbage = b"\x93" + b"\1" * 200_000
    for _ in range(50):
        engine.on_message(garbage, NOW)
    assert len(decoded) <= 1  # none since large messages are judged by their route first


def test_sync_serving_is_bounded_in_bytes(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    assert engine.height > 3
    one_block = len(engine.app.block_at(1).encoded)
    engine.config = dataclasses.replace(engine.config, max_served_per_window=1000,
                                        max_served_bytes_per_window=one_block)
    later = NOW + 10 * engine.config.view_timeout_ms
    sent = []
    for h in range(1, engine.height):
        sent += [a for a in engine.on_message(from_member(sim, SyncRequest(h)), later) if isinstance(a, Send)]
    assert len(sent) == 1  # the byte budget was spent on the first block


def test_proposals_for_views_far_from_ours_are_not_executed(sim: Simulation, monkeypatch) -> None:
    """A validator is the proposer of every n-th view: proposals for views we are not in are kept
    only near our view (one of them may still gather a commit certificate), so it cannot make us
    execute a block for each of its views ahead, or keep a record of each."""
    from consensus.messages import Proposal

    engine: Engine = sim.engines[0]
    validated = []
    monkeypatch.setattr(engine.app, "validate", lambda block: validated.append(block.hash))
    proposer = next(k for k in sim.keys if k.public_key == engine.proposer(engine.view + 1))
    n = len(engine.round.ranking)
    ranking = engine.round.ranking
    above = ranking[:ranking.index(proposer.public_key)]
    block = sim.apps[0].chain.build_block([], proposer.public_key, sim.apps[0].chain.head.time_ms + 1, skipped=above)[0]
    for k in range(200):  # its views ahead of ours, one after another
        view = engine.view + 1 + k * n
        engine.on_message(Envelope.seal(proposer, sim.net.genesis.chain_id, Proposal(engine.height, view, block.replace(
            header=block.header.replace(time_ms=block.header.time_ms + k)))).encoded, NOW + 40)
    assert len(validated) <= 1 and len(engine.round.tried_views) <= 2
