"""The pacemaker: honest heights slower than the view timeout cost no view change, while a
silent proposer is still replaced. The network's delays stand in for a loaded machine (16
replicas on two cores take seconds per block): what the view timer sees is the same, a proposal
and votes that arrive late."""

from __future__ import annotations

import pytest

from consensus.simulator import Scenario, Simulation
from ledger.blocks import QuorumCertificate

TIMEOUT_MS = 300


def _rounds(sim: Simulation) -> list[int]:
    """The view each committed block was certified in, by height."""
    return [QuorumCertificate.decode(sim.checker.store.block(h).header.proof).round
            for h in range(1, sim.checker.height + 1)]


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_a_height_longer_than_the_timeout_is_not_a_view_change_once_the_proposal_arrived(consensus: str) -> None:
    # The proposal arrives ~210 ms into the height, the commit quorum ~430 ms: past the 300 ms
    # timeout, so a timer covering the whole height fired at every height (four view changes per
    # height before the pacemaker re-armed on progress). With a fixed base, only progress counts.
    sim = Simulation(Scenario(consensus, 4, 1, view_timeout_ms=TIMEOUT_MS, propose_delay_ms=100,
                              min_delay_ms=100, max_delay_ms=120, target_height=6, paced=False))
    result = sim.run()
    assert result.ok, result.report()
    assert result.view_changes == 0
    assert _rounds(sim) == [0] * sim.checker.height


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_the_paced_base_learns_heights_whose_proposal_comes_after_the_timeout(consensus: str) -> None:
    # The proposal itself arrives 350-400 ms into the height. A fixed 300 ms base changes view
    # at every height; the paced one at the first heights only, until it has measured one.
    scenario = dict(view_timeout_ms=TIMEOUT_MS, propose_delay_ms=200, min_delay_ms=150, max_delay_ms=200,
                    target_height=8)
    fixed = Simulation(Scenario(consensus, 4, 1, paced=False, **scenario))
    assert fixed.run().ok
    assert all(r >= 1 for r in _rounds(fixed)), "the scenario must be too slow for the fixed timeout"
    paced = Simulation(Scenario(consensus, 4, 1, paced=True, **scenario))
    result = paced.run()
    assert result.ok, result.report()
    assert _rounds(paced)[3:] == [0] * (paced.checker.height - 3)
    assert all(TIMEOUT_MS < e.base_timeout_ms() <= 4 * TIMEOUT_MS for e in paced.engines)


def test_a_primary_that_stops_is_replaced_within_the_paced_base() -> None:
    # Same slow network; the stable primary (replica 1 after the first height, checked) crashes
    # at 4 s, after the base has adapted. The next primary takes over after one paced timeout
    # (at most its cap) and the view change's rounds, not after doubled timeouts.
    cap = 4 * TIMEOUT_MS
    sim = Simulation(Scenario("pbft", 4, 1, view_timeout_ms=TIMEOUT_MS, propose_delay_ms=200, min_delay_ms=150,
                              max_delay_ms=200, target_height=8, crashed=((1, 4000),)))
    result = sim.run()
    assert result.ok, result.report()
    first = {h: min(times) for h, times in result.commit_times.items()}
    crashed = sim.keys[1].public_key
    before = max(h for h, t in first.items() if t < 4000)
    assert sim.checker.store.block(before).header.proposer == crashed, "the crash must hit the primary"
    taken_over = min(h for h in first if h > before and sim.checker.store.block(h).header.proposer != crashed)
    assert first[taken_over] - 4000 <= 2 * cap
