"""Targeted consensus scenarios: silent primary, equivocation, tampered certificates, a broken
engine the simulator must catch."""

from __future__ import annotations

import pytest

from consensus.engine import Engine, EngineConfig
from consensus.messages import Envelope, Proposal, SyncResponse
from consensus.simulator import (CLOCK_AHEAD, CLOCK_FROZEN, READING_CENSOR, Partition, Scenario, Simulation, network,
                                 random_scenario)
from ledger.accounts import get_meter
from ledger.blocks import QuorumCertificate, make_quorum, verify_quorum
from ledger.errors import InvalidBlock
from ledger.keys import address_of
from ledger.transactions import MeterReading


def test_pbft_view_change_after_silent_primary() -> None:
    sim = Simulation(Scenario("pbft", 4, 1, byzantine=((0, "silent"),), target_height=4))
    result = sim.run()
    assert result.ok, result.report()
    assert result.view_changes >= 3  # every live replica left view 0
    first = sim.checker.store.block(1)
    assert first.header.proposer != sim.keys[0].public_key  # the next primary proposed
    assert QuorumCertificate.decode(first.header.proof).round >= 1


@pytest.mark.parametrize("seed", range(12))
def test_equivocating_primary_cannot_split_commits(seed: int) -> None:
    base = random_scenario("pbft", 4, seed)
    sim = Simulation(Scenario("pbft", 4, seed, min_delay_ms=base.min_delay_ms, max_delay_ms=base.max_delay_ms,
                              drop=base.drop, byzantine=((0, "equivocate"),)))
    result = sim.run()
    assert result.ok, result.report()
    assert sim.twins, "the primary never equivocated: the scenario tested nothing"


class FPlusOneEngine(Engine):
    """Deliberately broken: prepares and commits with f+1 votes instead of 2f+1."""

    def prepare_quorum(self) -> int:
        return self.total_power // 3 + 1

    def commit_quorum(self) -> int:
        return self.total_power // 3 + 1


def _first_violation(check_proofs: bool) -> set[str]:
    for seed in range(50):
        base = random_scenario("pbft", 4, seed)
        scenario = Scenario("pbft", 4, seed, min_delay_ms=base.min_delay_ms, max_delay_ms=base.max_delay_ms,
                            byzantine=((0, "equivocate"),))
        kinds = {v.kind for v in Simulation(scenario, engine_cls=FPlusOneEngine, check_proofs=check_proofs).run().violations}
        if kinds - {"liveness"}:
            return kinds
    return set()


def test_simulator_catches_a_broken_engine() -> None:
    assert "proof" in _first_violation(check_proofs=True)


def test_safety_check_alone_catches_divergent_commits() -> None:
    assert "safety" in _first_violation(check_proofs=False)


def _committed_run():
    sim = Simulation(Scenario("pbft", 4, 3, target_height=2))
    assert sim.run().ok
    return sim


def test_tampered_quorum_certificate_is_rejected() -> None:
    sim = _committed_run()
    block = sim.checker.store.block(1)
    validators = sim.checker.validators
    qc = QuorumCertificate.decode(block.header.proof)
    verify_quorum(block.header, validators)
    forged_sig = qc.sigs[0].replace(signature=bytes([qc.sigs[0].signature[0] ^ 1]) + qc.sigs[0].signature[1:])
    tampered = {
        "bad signature": make_quorum(block.header, [forged_sig, *qc.sigs[1:]], qc.round),
        "too few signers": make_quorum(block.header, list(qc.sigs[:2]), qc.round),
        "other round": make_quorum(block.header, list(qc.sigs), qc.round + 1),
        "duplicated signer": QuorumCertificate(qc.round, (qc.sigs[0], qc.sigs[0], qc.sigs[1])).encoded,
    }
    for name, proof in tampered.items():
        with pytest.raises(InvalidBlock):
            verify_quorum(block.header.replace(proof=proof), validators)
        # A lagging replica offered the block with that proof does not commit it.
        fresh = Simulation(Scenario("pbft", 4, 3))
        engine = fresh.engines[1]
        response = Envelope.seal(fresh.keys[2], fresh.net.genesis.chain_id,
                                 SyncResponse(block.replace(header=block.header.replace(proof=proof))))
        assert not any(type(a).__name__ == "Committed" for a in engine.on_message(response.encoded, 0)), name
        assert engine.height == 1


def test_a_forged_signature_anywhere_in_a_batched_certificate_is_rejected() -> None:
    # Seven validators: a commit certificate carries five signatures, checked in one batch.
    sim = Simulation(Scenario("pbft", 7, 3, target_height=1))
    assert sim.run().ok
    block = sim.checker.store.block(1)
    qc = QuorumCertificate.decode(block.header.proof)
    assert len(qc.sigs) >= 5
    verify_quorum(block.header, sim.checker.validators)
    for index, sig in enumerate(qc.sigs):
        forged = sig.replace(signature=sig.signature[:40] + bytes([sig.signature[40] ^ 4]) + sig.signature[41:])
        sigs = [*qc.sigs[:index], forged, *qc.sigs[index + 1:]]
        with pytest.raises(InvalidBlock, match="bad commit signature"):
            verify_quorum(block.header.replace(proof=make_quorum(block.header, sigs, qc.round)), sim.checker.validators)


def test_engine_drops_messages_from_outside_or_for_another_chain() -> None:
    sim = Simulation(Scenario("pbft", 4, 5))
    engine = sim.engines[1]
    block = sim.apps[0].propose(sim.keys[0].public_key, sim.genesis_ms + 10, [])
    net, _ = network("pbft", 4)
    outsider = Envelope.seal(net.users[0], net.genesis.chain_id, Proposal(1, 0, block))
    wrong_chain = Envelope.seal(sim.keys[0], "another-chain", Proposal(1, 0, block))
    garbage = b"\x93\x01\x02"
    for data in (outsider.encoded, wrong_chain.encoded, garbage):
        assert engine.on_message(data, sim.genesis_ms + 20) == []
    good = Envelope.seal(sim.keys[0], net.genesis.chain_id, Proposal(1, 0, block))
    assert any(type(a).__name__ == "Broadcast" for a in engine.on_message(good.encoded, sim.genesis_ms + 20))


@pytest.mark.parametrize("seed", [21, 23, 184])
def test_pinned_liveness_regressions(seed: int) -> None:
    """Seeds that once stalled PBFT: a replica racing through views alone (21), views drifting
    across heights (23), a lost NewView stranding two replicas in a view the third had left (184)."""
    from consensus.simulator import run_seed

    result = run_seed("pbft", 4, seed)
    assert result.ok, result.report()


@pytest.mark.parametrize("consensus", ["pbft", "pos"])
def test_a_censoring_proposer_is_replaced_by_the_request_timer(consensus: str) -> None:
    """The elected proposer proposes valid blocks without the pending transactions; replicas
    that see them starve for request_timeout_ms and 3 blocks ask for the next view."""
    probe = Simulation(Scenario(consensus, 4, 0))
    censor = probe.index[probe.engines[0].proposer(0)]

    def committed_txs(timeout_ms: int) -> int:
        sim = Simulation(Scenario(consensus, 4, 0, byzantine=((censor, "censor"),), target_height=15,
                                  request_timeout_ms=timeout_ms))
        result = sim.run()
        assert result.ok, result.report()
        return sum(len(sim.checker.store.block(h).txs) for h in range(1, sim.checker.height + 1))

    assert committed_txs(1_500) > 0
    if consensus == "pbft":  # a stable primary: without the timer it keeps the chain and the transactions out
        assert committed_txs(0) == 0


def test_a_poe_proposer_keeping_others_readings_out_of_full_blocks_is_replaced() -> None:
    """Proof of Energy ranks by the readings the chain holds: a proposer that commits only its
    own meters' keeps the only CPF and stays elected. Filling its blocks with a backlog of
    transfers excuses leaving transactions out, but not readings (always due): replicas that see
    them starve ask for the next view, whose proposer takes readings first."""
    probe = Simulation(Scenario("poe", 4, 0))
    censor = probe.index[probe.engines[0].proposer(0)]

    def run(timeout_ms: int) -> tuple[dict[bytes, int], float]:
        """The last interval of each other owner's readings committed, the censor's share."""
        sim = Simulation(Scenario("poe", 4, 0, byzantine=((censor, READING_CENSOR),), target_height=40,
                                  txs_per_sender=60, max_block_txs=4, request_timeout_ms=timeout_ms))
        assert sim.run().ok
        blocks = [sim.checker.store.block(h) for h in range(1, sim.checker.height + 1)]
        state, mine = sim.apps[censor].chain.state, address_of(sim.keys[censor].public_key)
        last: dict[bytes, int] = {}
        for tx in (tx for block in blocks for tx in block.txs if isinstance(tx.body, MeterReading)):
            owner = get_meter(state, tx.sender).owner
            if owner != mine:
                last[owner] = max(last.get(owner, -1), tx.body.interval)
        return last, sum(b.header.proposer == sim.keys[censor].public_key for b in blocks) / len(blocks)

    starved, share_unchecked = run(0)  # the attack: others' readings stop some intervals early
    last, share = run(1_500)
    assert len(last) == 3 and min(last.values()) >= 8 > max(starved.values()), (starved, last)
    assert share < share_unchecked


@pytest.mark.parametrize("propose_delay_ms", [200, 10])
def test_a_replica_cut_off_for_long_catches_up_with_a_fast_chain(propose_delay_ms: int) -> None:
    """Replica 3 is partitioned away for 20 s while the others commit up to ~600 blocks; after
    the heal it must reach the height they had then, even while they go on committing ~30
    blocks/s: block serving keeps the pace of a replica asking one height at a time."""
    cut = Partition(0, 20_000, ((0, 1, 2), (3,)))
    scenario = Scenario("pbft", 4, 0, min_delay_ms=5, max_delay_ms=10, partitions=(cut,), heal_ms=20_000,
                        view_timeout_ms=1000, propose_delay_ms=propose_delay_ms, max_time_ms=80_000, target_height=3)
    result = Simulation(scenario).run()
    assert result.ok, result.report()  # liveness: every honest replica, 3 included, reached the goal
    assert result.time_ms - 20_000 <= 15_000, result.time_ms


@pytest.mark.parametrize(("consensus", "silent"), [("pos", 0), ("poe", 3)])
def test_a_silent_validator_the_rule_ranks_first_stops_costing_view_changes(consensus: str, silent: int,
                                                                             monkeypatch) -> None:
    """PoS ranks a validator that never proposes ever higher (its age grows), and PoE ranks
    replica 3 of this network first for most intervals: without leader reputation each such
    height costs a view timeout. With it, the chain records the skip and the election demotes
    the silent validator, so the run costs about what a fault-free one does."""
    from consensus import election, simulator

    def run() -> int:
        result = Simulation(Scenario(consensus, 4, 3, byzantine=((silent, "silent_leader"),), target_height=40,
                                     max_time_ms=600_000)).run()
        assert result.ok, result.report()
        return result.view_changes

    fault_free = Simulation(Scenario(consensus, 4, 3, target_height=40, max_time_ms=600_000)).run().view_changes
    with_reputation = run()
    monkeypatch.setattr(simulator, "election_for", lambda name: election.ELECTIONS[name]())  # the bare rule
    without = run()
    assert without >= fault_free + 30, (fault_free, without)  # the scenario tests something
    assert with_reputation <= fault_free + 12, (fault_free, with_reputation, without)


def test_a_block_that_misstates_who_was_passed_over_is_refused() -> None:
    sim = Simulation(Scenario("pbft", 4, 5))
    engine = sim.engines[1]
    proposer = engine.proposer(0)
    others = [k for k in engine.round.ranking if k != proposer]
    block = sim.apps[0].propose(proposer, sim.genesis_ms + 10, others[:1])  # no one was ranked above it
    assert not engine._valid(block)
    honest = sim.apps[0].propose(proposer, sim.genesis_ms + 10, [])
    assert engine._valid(honest)


@pytest.mark.parametrize("consensus", ["pbft", "poe"])
@pytest.mark.parametrize("behaviour", [CLOCK_AHEAD, CLOCK_FROZEN])
def test_a_proposer_cannot_move_the_chains_clock(consensus: str, behaviour: str) -> None:
    """The elected proposer dates its blocks ten minutes ahead (which would open later intervals
    and market windows early) or a millisecond after their parents (which would keep every
    interval open, and every meter reading out): honest replicas do not vote for them, the next
    view's proposer goes on, and every committed block is dated within the allowed skew of the
    time it was committed at."""
    probe = Simulation(Scenario(consensus, 4, 0))
    liar = probe.engines[0].proposer(0)
    # Sixty heights: a frozen clock lags past the allowed skew only after some twenty of its
    # blocks (under poe, from about height 40), and only then is there a view change to see.
    sim = Simulation(Scenario(consensus, 4, 0, byzantine=((probe.index[liar], behaviour),), target_height=60,
                              max_time_ms=120_000))
    result = sim.run()
    assert result.ok, result.report()
    headers = [sim.checker.store.block(h).header for h in range(1, sim.checker.height + 1)]
    assert result.view_changes > 0
    if behaviour == CLOCK_AHEAD:  # every one of its blocks is refused (a frozen clock passes until it lags)
        assert liar not in {h.proposer for h in headers}
    skew = EngineConfig().max_clock_skew_ms
    for h in headers:  # a block is voted for within a few message delays of its commit
        committed_at = min(result.commit_times[h.height]) + sim.genesis_ms
        assert committed_at - skew - 2_000 <= h.time_ms <= committed_at + skew, (h.height, h.time_ms, committed_at)
