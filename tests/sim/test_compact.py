"""Compact proposals: replicas fill blocks from their pending transactions and fetch the rest
from the proposer; a proposer that names transactions nobody has, or one twice, costs a view
change and never stalls anyone."""

from __future__ import annotations

import dataclasses

import pytest

from consensus.engine import Broadcast, Send, SetTimer
from consensus.messages import CompactProposal, Envelope, Prepare, TxRequest
from consensus.simulator import REPEATED_TXS, UNKNOWN_TXS, Scenario, Simulation, random_scenario


def _committed_txs(sim: Simulation) -> int:
    return sum(len(sim.checker.store.block(h).txs) for h in range(1, sim.checker.height + 1))


@pytest.mark.parametrize("consensus, fill_wait_ms", [("pbft", 0), ("pos", 0), ("pbft", 50)])
def test_a_replica_gossip_never_reached_fetches_what_it_lacks(consensus: str, fill_wait_ms: int) -> None:
    sim = Simulation(Scenario(consensus, 4, 2, unfed=(3,), target_height=6, fill_wait_ms=fill_wait_ms),
                     keep_trace=True)
    result = sim.run()
    assert result.ok, result.report()
    assert _committed_txs(sim) > 0
    assert any("TxRequest" in line and "r3 ->" in line for line in sim.trace), "the unfed replica never fetched"
    assert sim.heights[3] >= 6


@pytest.mark.parametrize("seed", range(16))
def test_unfed_replicas_under_random_faults_stay_safe_and_live(seed: int) -> None:
    scenario = dataclasses.replace(random_scenario("pbft", 4, seed), unfed=(seed % 4,), fill_wait_ms=50 * (seed % 2))
    result = Simulation(scenario).run()
    assert result.ok, result.report()


@pytest.mark.parametrize("behaviour", [UNKNOWN_TXS, REPEATED_TXS])
@pytest.mark.parametrize("consensus", ["pbft", "poe"])
def test_a_proposer_naming_missing_or_repeated_transactions_only_costs_its_view(consensus: str, behaviour: str) -> None:
    probe = Simulation(Scenario(consensus, 4, 0))
    first = probe.engines[0].proposer(0)
    sim = Simulation(Scenario(consensus, 4, 0, byzantine=((probe.index[first], behaviour),), target_height=6))
    result = sim.run()
    assert result.ok, result.report()
    assert result.view_changes > 0
    liar = sim.keys[probe.index[first]].public_key
    assert all(sim.checker.store.block(h).header.proposer != liar for h in range(1, sim.checker.height + 1)
               if sim.checker.store.block(h).txs)  # none of its blocks with transactions committed


def test_a_replica_asks_once_per_view_and_only_for_what_it_lacks() -> None:
    sim = Simulation(Scenario("pbft", 4, 0, unfed=(1,), fill_wait_ms=200))
    engine = sim.engines[1]
    proposer = sim.engines[[e.key.public_key for e in sim.engines].index(engine.proposer(0))]
    assert proposer is not engine
    block = proposer.app.propose(proposer.key.public_key, sim.genesis_ms + 1000, [])
    assert block.txs, "the proposer has transactions to propose"
    compact = CompactProposal(1, 0, block.header, tuple(tx.hash for tx in block.txs))
    raw = Envelope.seal(proposer.key, sim.net.genesis.chain_id, compact).encoded
    out = engine.on_message(raw, sim.genesis_ms + 1000)
    timers = [a.timer for a in out if isinstance(a, SetTimer) and a.timer.kind == "fill"]
    assert len(timers) == 1 and not [a for a in out if isinstance(a, Send)]  # gossip may still bring them
    assert engine.on_message(raw, sim.genesis_ms + 1001) == []  # the same proposal again: nothing more
    out = engine.on_timer(timers[0], sim.genesis_ms + 1200)
    asks = [Envelope.decode(a.data).payload for a in out if isinstance(a, Send)]
    assert len(asks) == 1 and isinstance(asks[0], TxRequest) and set(asks[0].tx_hashes) == set(compact.tx_hashes)
    assert engine.on_timer(timers[0], sim.genesis_ms + 1400) == []  # asked once per view


def test_a_compact_proposal_completed_by_admission_needs_no_request() -> None:
    sim = Simulation(Scenario("pbft", 4, 0, unfed=(1,), fill_wait_ms=200))
    engine = sim.engines[1]
    proposer = sim.engines[[e.key.public_key for e in sim.engines].index(engine.proposer(0))]
    block = proposer.app.propose(proposer.key.public_key, sim.genesis_ms + 1000, [])
    compact = CompactProposal(1, 0, block.header, tuple(tx.hash for tx in block.txs))
    raw = Envelope.seal(proposer.key, sim.net.genesis.chain_id, compact).encoded
    engine.on_message(raw, sim.genesis_ms + 1000)
    assert engine.filling
    assert len(block.txs) >= 2
    half = len(block.txs) // 2
    for tx in block.txs:  # gossip arrives after the proposal
        engine.app.mempool.add(tx, engine.app.chain.state)
    assert engine.on_txs_admitted(block.txs[:half], sim.genesis_ms + 1005) == []
    assert engine.filling  # the rest is admitted, but the engine is told of half only
    out = engine.on_txs_admitted(block.txs[half:], sim.genesis_ms + 1010)
    sent = [Envelope.decode(a.data).payload for a in out if isinstance(a, (Send, Broadcast))]
    assert not engine.filling and [p for p in sent if isinstance(p, Prepare)]
    assert not [p for p in sent if isinstance(p, TxRequest)]
