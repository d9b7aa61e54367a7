"""One engine of a simulated network attacked with another replica's valid member key."""

from __future__ import annotations

from consensus.messages import Envelope
from consensus.simulator import Scenario, Simulation

NOW = 2 * 10**12  # after the simulated run's clock


def attacked_network() -> Simulation:
    """Four replicas that committed a few blocks; replica 0 is attacked with replica 3's key."""
    s = Simulation(Scenario("pbft", 4, 0, target_height=4))
    assert s.run().ok
    return s


def from_member(sim: Simulation, payload) -> bytes:  # noqa: ANN001 - any consensus payload
    """`payload` sealed by replica 3, as its own message."""
    return Envelope.seal(sim.keys[3], sim.net.genesis.chain_id, payload).encoded
