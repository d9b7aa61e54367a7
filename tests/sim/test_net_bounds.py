"""A Byzantine validator (a valid member key) against one engine: what it may make the engine
keep or decode per message is bounded by the engine's state, not by how much it sends."""

from __future__ import annotations

import pytest

from consensus.engine import Engine
from consensus.messages import Commit, Envelope, Prepare
from consensus.simulator import Scenario, Simulation
from tests.sim.member_attack import NOW, attacked_network, from_member

@pytest.fixture(scope="module")
def sim() -> Simulation:
    return attacked_network()


def test_votes_for_views_far_ahead_are_not_kept(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    view = engine.view
    for v in range(1, 2001):
        engine.on_message(from_member(sim, Prepare(engine.height, view + v, b"\4" * 32)), NOW)
        engine.on_message(from_member(sim, Commit(engine.height, view + v, b"\4" * 32)), NOW)
    kept = engine.config.max_future_views
    assert len(engine.round.prepare_of) <= kept + 1 and len(engine.round.commit_of) <= kept + 1
    assert len(engine.round.prepares) <= kept + 1 and len(engine.round.commits) <= kept + 1


def _block_of(sim: Simulation, engine: Engine, txs: int):  # noqa: ANN202 - a Block
    """A block at the engine's height holding `txs` transfers: over 64 KiB from a few hundred."""
    from ledger.blocks import Block
    from ledger.transactions import Transaction, Transfer

    cid, users = sim.net.genesis.chain_id, sim.net.users
    body = tuple(Transaction.create(users[0], cid, k, Transfer(users[1].address, 1), fee=1) for k in range(txs))
    head = sim.apps[0].chain.head
    return Block(head.replace(height=engine.height, tx_count=len(body)), body)


def test_a_large_message_its_sender_may_not_send_is_not_decoded(sim: Simulation, decoded: list[int]) -> None:
    """A member that does not lead the view sends a block-sized proposal, and replays it: each
    copy once cost a full decode of the block (34 ms for 700 KB)."""
    from consensus.messages import NewView, Proposal

    engine: Engine = sim.engines[0]
    block = _block_of(sim, engine, 600)
    outsider = next(k for k in sim.keys[1:] if k.public_key not in (engine.proposer(engine.view),
                                                                     engine.proposer(engine.view + 1)))
    cid = sim.net.genesis.chain_id
    proposal = Envelope.seal(outsider, cid, Proposal(engine.height, engine.view, block)).encoded
    new_view = Envelope.seal(outsider, cid, NewView(engine.height, engine.view + 1, (), block)).encoded
    assert len(proposal) > 64 * 1024
    for _ in range(20):
        engine.on_message(proposal, NOW)
        engine.on_message(new_view, NOW)
    assert decoded == []


def test_a_forged_large_message_costs_a_signature_check_not_a_decode(sim: Simulation, decoded: list[int]) -> None:
    """Anyone on a link can name the view's proposer as the sender of a block it made up, each
    copy different: it is refused on its signature, before its payload is decoded."""
    from consensus.messages import CompactProposal

    engine: Engine = sim.engines[0]
    block = _block_of(sim, engine, 2500)
    leader = engine.proposer(engine.view)
    hashes = tuple(tx.hash for tx in block.txs)
    for t in range(20):
        header = block.header.replace(proposer=leader, time_ms=block.header.time_ms + t)
        payload = CompactProposal(engine.height, engine.view, header, hashes)
        forged = Envelope(leader, payload, b"\7" * 64).encoded
        assert len(forged) > 64 * 1024
        engine.on_message(forged, NOW)
    assert decoded == []


def test_a_sync_response_is_heard_once_per_sender_and_height(sim: Simulation, decoded: list[int]) -> None:
    """A member replays a block-sized sync response for the height being decided whose
    certificate does not verify: refused on its header's proof, its transactions never decoded."""
    from consensus.messages import SyncResponse

    engine: Engine = sim.engines[0]
    raw = from_member(sim, SyncResponse(_block_of(sim, engine, 600)))
    for _ in range(20):
        engine.on_message(raw, NOW)
    assert decoded == []


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_honest_runs_hold_every_invariant_when_every_message_is_judged_before_decoding(
        consensus: str, monkeypatch) -> None:  # noqa: ANN001
    """Random seeds (drops, crashes, restarts, Byzantine replicas) with the pre-decoding rules
    applied to every message but votes (which are never large), not only to those over 64 KiB:
    the rules drop nothing an honest replica needs."""
    from consensus import engine as engine_module
    from consensus.simulator import run_seed

    monkeypatch.setattr(engine_module, "REMEMBER_REFUSED_ABOVE", 300)
    failed = [r.report() for r in (run_seed(consensus, 4, seed) for seed in range(40)) if not r.ok]
    assert not failed, failed[0]


def test_future_messages_are_buffered_within_a_byte_budget_per_sender(sim: Simulation, decoded: list[int]) -> None:
    """A member sends block-sized messages for the next heights, each distinct and signed: what
    is kept for them is bounded in bytes per sender (it was 16 messages per height, each up to
    the largest honest message), and none is decoded before its height comes."""
    import dataclasses

    from consensus.messages import NewView

    engine: Engine = sim.engines[0]
    budget = 1024 * 1024
    engine.config = dataclasses.replace(engine.config, max_future_bytes_per_sender=budget)
    block = _block_of(sim, engine, 600)
    for ahead in (1, 2):
        for v in range(16):
            later = block.replace(header=block.header.replace(height=engine.height + ahead, time_ms=v))
            engine.on_message(from_member(sim, NewView(engine.height + ahead, v, (), later)), NOW)
    held = sum(len(raw) for by_sender in engine.future.values() for raw in by_sender.get(sim.keys[3].public_key, ()))
    assert 0 < held <= budget
    assert decoded == []  # kept as they came: decoded only when their height comes


@pytest.mark.parametrize("seed", range(6))
def test_an_equivocating_primary_judged_before_decoding_cannot_split_commits(seed: int, monkeypatch) -> None:  # noqa: ANN001
    """Two proposals for one view, the second refused by its route before it is decoded: no
    fork, and the equivocation happened."""
    from consensus import engine as engine_module

    monkeypatch.setattr(engine_module, "REMEMBER_REFUSED_ABOVE", 300)
    sim = Simulation(Scenario("pbft", 4, seed, min_delay_ms=1 + seed, max_delay_ms=30 + 10 * seed,
                              byzantine=((0, "equivocate"),)))
    result = sim.run()
    assert result.ok, result.report()
    assert sim.twins, "the primary never equivocated: the scenario tested nothing"


def test_a_replayed_new_view_without_its_proof_is_not_decoded(sim: Simulation, decoded: list[int]) -> None:
    """The proposer of a view ahead sends a block-sized new view without the view changes that
    would install it, and replays it: its route is one the engine takes, but the view changes
    it carries (none) are judged before its block is decoded."""
    from consensus.messages import NewView

    engine: Engine = sim.engines[0]
    n = len(engine.round.ranking)
    view = next(v for v in range(engine.view + 1, engine.view + 1 + n) if engine.proposer(v) == sim.keys[3].public_key)
    raw = from_member(sim, NewView(engine.height, view, (), _block_of(sim, engine, 600)))
    for _ in range(20):
        engine.on_message(raw, NOW)
    assert decoded == []


def test_the_proposer_of_a_view_ahead_is_heard_once_per_view(sim: Simulation, decoded: list[int]) -> None:
    """Distinct signed block-sized new views for one view it leads, then for its views far ahead:
    one is judged (on its view changes: none, so its block is not decoded), the rest are not
    even judged."""
    from consensus.messages import NewView

    engine: Engine = sim.engines[0]
    n = len(engine.round.ranking)
    me = sim.keys[3].public_key
    view = next(v for v in range(engine.view + 1, engine.view + 1 + 3 * n)
                if engine.proposer(v) == me and v not in engine.round.new_view_tried)  # another test's is tried
    block = _block_of(sim, engine, 600)
    for t in range(10):
        later = block.replace(header=block.header.replace(time_ms=block.header.time_ms + t))
        engine.on_message(from_member(sim, NewView(engine.height, view, (), later)), NOW)
    far = view + (engine.config.max_future_views // n + 1) * n
    for k in range(10):
        engine.on_message(from_member(sim, NewView(engine.height, far + k * n, (), block)), NOW)
    assert decoded == []


def test_a_message_larger_than_its_kind_can_be_is_not_decoded(sim: Simulation, decoded: list[int]) -> None:
    """Only a new view may exceed one block and its overhead: a larger sync response, whatever
    its bytes hold, is refused before decoding builds them."""
    import dataclasses

    from consensus.engine import MESSAGE_OVERHEAD
    from consensus.messages import SyncResponse

    engine: Engine = sim.engines[0]
    engine.config = dataclasses.replace(engine.config, max_block_bytes=100_000)
    raw = from_member(sim, SyncResponse(_block_of(sim, engine, 3000)))
    assert len(raw) > 100_000 + MESSAGE_OVERHEAD
    engine.on_message(raw, NOW)
    assert decoded == []


def test_catch_up_rate_state_stays_bounded_while_no_height_commits(sim: Simulation) -> None:
    """Peers may ask for other heights and views every view timeout while a height stalls;
    `sync_sent` was pruned only at a commit. Through the rate check every answer passes (a
    million subjects over 250 view timeouts), it keeps what the next view timeout needs."""
    engine: Engine = sim.engines[0]
    height = engine.height
    timeout = engine.config.view_timeout_ms
    for n in range(1_000_000):  # 4,000 subjects a view timeout
        assert engine._rate_ok((sim.keys[1].public_key, "serve", n), NOW + n * timeout // 4000)
        if n % 10_000 == 0:
            assert len(engine.sync_sent) <= 4 * 4096
    assert engine.height == height
    assert not engine._rate_ok((sim.keys[1].public_key, "serve", 999_999), NOW + 999_999 * timeout // 4000)


def _forged_cert(sim: Simulation, block) -> "PreparedCert":  # noqa: ANN001, F821 - a Block
    """A prepared certificate for `block` whose signatures are made up: no quorum prepared it."""
    from consensus.messages import PreparedCert
    from ledger.blocks import CommitSig

    return PreparedCert(0, block, tuple(CommitSig(k.public_key, b"\5" * 64) for k in sim.keys[:3]))


def test_a_view_change_with_a_forged_certificate_is_refused_before_its_block_is_decoded(
        sim: Simulation, decoded: list[int]) -> None:
    """A member asks for view after view, and again for the same one, each request carrying a
    made-up prepared certificate of a block-sized block: refused on the certificate's header and
    signatures. Each was decoded whole before (a view change is answered again, so even a copy
    was), some 0.3-0.55 s of CPU per 0.5-1 MB message for a block of nested-list calls."""
    from consensus.messages import ViewChange

    engine: Engine = sim.engines[0]
    cert = _forged_cert(sim, _block_of(sim, engine, 600))
    for v in range(1, 11):
        raw = from_member(sim, ViewChange(engine.height, engine.view + v, (cert,)))
        assert len(raw) > 64 * 1024
        engine.on_message(raw, NOW)
        engine.on_message(raw, NOW)
    small = _forged_cert(sim, _block_of(sim, engine, 100))
    raw = from_member(sim, ViewChange(engine.height, engine.view + 1, (small,)))
    assert 1024 < len(raw) < 64 * 1024
    for _ in range(10):
        engine.on_message(raw, NOW)
    assert decoded == []
    assert sim.keys[3].public_key not in engine.round.view_changes


def test_messages_for_the_next_heights_are_not_decoded_on_arrival(sim: Simulation, decoded: list[int]) -> None:
    """A member sends distinct signed block-sized messages for the next heights that the chain's
    bound on a block's decoded memory refuses: a refused one took no room in the buffer, so
    each was decoded (unbounded in count); now they are kept undecoded, within the count and
    byte bounds, until their height comes."""
    import dataclasses

    from consensus.messages import Proposal

    engine: Engine = sim.engines[0]
    engine.config = dataclasses.replace(engine.config, max_block_memory=64 * 1024,
                                        max_future_bytes_per_sender=16 * 1024 * 1024)
    engine.future.clear()  # another test's messages
    block = _block_of(sim, engine, 600)
    for ahead in (1, 2):
        for v in range(40):
            later = block.replace(header=block.header.replace(height=engine.height + ahead, time_ms=v))
            engine.on_message(from_member(sim, Proposal(engine.height + ahead, v, later)), NOW)
    assert decoded == []
    per_height = [len(by_sender.get(sim.keys[3].public_key, ())) for by_sender in engine.future.values()]
    assert per_height and max(per_height) <= engine.config.max_future_per_sender


def test_a_view_change_for_a_committed_height_is_served_without_decoding(sim: Simulation,
                                                                          decoded: list[int]) -> None:
    """A member's block-sized view changes for heights already committed (certificates made
    up): the route says whom to send which block, so each is served within the serving rates
    and none is decoded."""
    from consensus.engine import Send
    from consensus.messages import SyncResponse, ViewChange, peek

    engine: Engine = sim.engines[0]
    cert = _forged_cert(sim, _block_of(sim, engine, 600))
    served = []
    for height in range(1, engine.height):
        for _ in range(3):
            out = engine.on_message(from_member(sim, ViewChange(height, 1, (cert,))), NOW + 1)
            served += [peek(a.data) for a in out if isinstance(a, Send) and a.to == sim.keys[3].public_key]
    assert decoded == []
    assert sorted(r.height for r in served if r.kind is SyncResponse) == list(range(1, engine.height))


def test_a_new_view_is_judged_on_its_view_changes_before_any_block_is_decoded(sim: Simulation,
                                                                               decoded: list[int]) -> None:
    """The proposer of a view ahead sends new views carrying its own signed view change with a
    made-up certificate of a block-sized block, beside a block-sized block: the new view's
    block and then that view change were each decoded whole before the certificate failed
    (some 0.5 s each for blocks of nested-list calls, for every view it leads up to 16 ahead);
    now the certificate fails on its header and nothing is decoded."""
    from consensus.messages import NewView, ViewChange

    engine: Engine = sim.engines[0]
    n = len(engine.round.ranking)
    me = sim.keys[3].public_key
    views = [v for v in range(engine.view + 1, engine.view + engine.config.max_future_views + 1)
             if engine.proposer(v) == me and v not in engine.round.new_view_tried]  # other tests' are tried
    assert views and n
    block = _block_of(sim, engine, 600)
    for v in views:
        mine = from_member(sim, ViewChange(engine.height, v, (_forged_cert(sim, block),)))
        engine.on_message(from_member(sim, NewView(engine.height, v, (mine,), block)), NOW)
    assert decoded == []
