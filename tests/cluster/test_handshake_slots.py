"""Handshake slots cannot be held by someone without a key: a few dozen idle connections from
many addresses (each within its per-address bound) fill every slot, and a member must still be
able to link."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pownode import transport
from pownode.embed import EmbeddedNode
from pownode.peer_set import HANDSHAKES, HANDSHAKES_PER_SOURCE
from tests.cluster.two_validators import two_validators


async def _until(condition, what: str) -> None:  # noqa: ANN001 - a no-argument predicate
    for _ in range(600):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_idle_connections_filling_every_slot_do_not_lock_a_member_out(tmp_path: Path) -> None:
    net = two_validators(tmp_path / "net")
    keys, me, other, port = net.keys, net.me, net.other, net.port
    async with EmbeddedNode(net.homes[other], api=False) as embedded:
        peers = embedded.node.peers
        idle = []
        for n in range(HANDSHAKES):  # every slot, HANDSHAKES_PER_SOURCE per address, nothing sent
            address = f"127.0.0.{10 + n // HANDSHAKES_PER_SOURCE}"
            idle.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0)))
        await _until(lambda: peers.handshakes.count == HANDSHAKES, "every handshake slot to be held")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            channel = await transport.initiate(reader, writer, embedded.node.genesis.chain_id, keys[me],
                                               lambda k: True, keys[other].public_key)
            await _until(lambda: keys[me].public_key in peers, "the member's link")
            channel.close()
        finally:
            for _, w in idle:
                w.close()
        assert peers.handshakes.count <= HANDSHAKES
