"""A Byzantine validator (a valid member key) against one engine: what it may make the engine
keep or decode per message is bounded by the engine's state, not by how much it sends."""

from __future__ import annotations

import pytest

from consensus.engine import Engine
from consensus.messages import Commit, Envelope, Prepare
from consensus.simulator import Scenario, Simulation

NOW = 2 * 10**12  # after the simulated run's clock


@pytest.fixture(scope="module")
def sim() -> Simulation:
    """Four replicas that committed a few blocks; replica 0 is attacked with replica 3's key."""
    s = Simulation(Scenario("pbft", 4, 0, target_height=4))
    assert s.run().ok
    return s


def _from(sim: Simulation, payload) -> bytes:  # noqa: ANN001 - any consensus payload
    return Envelope.seal(sim.keys[3], sim.net.genesis.chain_id, payload).encoded


def test_votes_for_views_far_ahead_are_not_kept(sim: Simulation) -> None:
    engine: Engine = sim.engines[0]
    view = engine.view
    for v in range(1, 2001):
        engine.on_message(_from(sim, Prepare(engine.height, view + v, b"\4" * 32)), NOW)
        engine.on_message(_from(sim, Commit(engine.height, view + v, b"\4" * 32)), NOW)
    kept = engine.config.max_future_views
    assert len(engine.round.prepare_of) <= kept + 1 and len(engine.round.commit_of) <= kept + 1
    assert len(engine.round.prepares) <= kept + 1 and len(engine.round.commits) <= kept + 1
