"""Idle links carry keepalives, and a link that goes silent (a peer frozen, or a partition that
swallows packets without a reset) is dropped and redialled within a few keepalive intervals,
instead of waiting on TCP's retransmission backoff."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from pownode.config import NodeConfig, init_network
from pownode.node import Node
from tests.cluster.test_censorship import _wait
from tests.cluster.test_local_cluster import _free_base


async def test_a_silent_link_is_dropped_and_redialled(tmp_path: Path) -> None:
    homes = init_network(tmp_path / "net", 4, "pbft", base_port=_free_base(8))[:2]
    for home in homes:
        config = dataclasses.replace(NodeConfig.load(home), keepalive_ms=250, genesis="../genesis.json", key="node.key")
        config.save(home)
    nodes = [Node(NodeConfig.load(h), h) for h in homes]
    dialer, other = sorted(nodes, key=lambda n: n.key.public_key, reverse=True)  # the larger key dials
    for n in nodes:
        await n.start()
    try:
        assert await _wait(lambda: other.key.public_key in dialer.peers and dialer.key.public_key in other.peers, 20)
        await asyncio.sleep(2)  # idle for 8 keepalive intervals: the link must stay up
        first = dialer.peers.get(other.key.public_key)
        assert first is not None and not first.closed.is_set()
        # Freeze the other end: its socket stays open but it reads and writes nothing.
        frozen = other.peers[dialer.key.public_key]
        for task in frozen.tasks:
            task.cancel()
        assert await _wait(lambda: first.closed.is_set(), 10), "the silent link was never dropped"
        assert await _wait(lambda: dialer.peers.get(other.key.public_key) not in (None, first), 10), \
            "the dialer did not connect again"
    finally:
        for n in nodes:
            await n.stop()
