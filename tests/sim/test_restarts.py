"""Replicas that crash and restart keep what they signed in a write-ahead log (`Persist`
actions): with it no honest replica ever signs two different messages for one (height, view);
without it the simulator finds such a double signature."""

from __future__ import annotations

import pytest

from consensus.simulator import Scenario, Simulation, restart_scenario

SEEDS = range(80)


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_restarted_replicas_never_double_sign_and_the_chain_stays_safe_and_live(consensus: str) -> None:
    for seed in SEEDS:
        result = Simulation(restart_scenario(consensus, 4, seed)).run()
        assert result.ok, result.report()


def test_restarts_with_seven_replicas() -> None:
    for seed in range(30):
        result = Simulation(restart_scenario("pbft", 7, seed)).run()
        assert result.ok, result.report()


def test_without_the_log_the_sweep_finds_a_double_signature() -> None:
    found = [seed for seed in SEEDS
             if any(v.kind == "double-sign" for v in Simulation(restart_scenario("pos", 4, seed), wal=False).run().violations)]
    assert found, "a restart without the write-ahead log should re-sign differently somewhere in the sweep"


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_a_proposer_restarted_right_after_proposing_does_not_propose_again(consensus: str) -> None:
    proposer = Simulation(Scenario(consensus, 4, 0)).engines[0].proposer(0)
    p = Simulation(Scenario(consensus, 4, 0)).index[proposer]
    # Another replica is down, so the first proposal cannot commit without the proposer's votes;
    # the proposer comes back before its view times out and its proposal timer fires again.
    scenario = Scenario(consensus, 4, 0, min_delay_ms=5, max_delay_ms=10, crashed=(((p + 1) % 4, 0),),
                        restarts=((p, 201, 203),), heal_ms=203, view_timeout_ms=1000)
    assert Simulation(scenario).run().ok
    without = Simulation(scenario, wal=False).run()
    assert {v.kind for v in without.violations} == {"double-sign"}, without.report()
