"""A transaction whose gossip frame was lost still commits: it is sent again while pending."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ledger.transactions import Transaction, Transfer
from pownode import tx_reactor as reactor_module
from pownode.config import NodeConfig, init_network
from pownode.keyfile import read_key
from pownode.node import Node
from pownode.peer_set import TXS
from tests.cluster.test_local_cluster import _free_base


async def test_a_lost_gossip_frame_does_not_strand_a_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reactor_module, "REGOSSIP_S", 0.5)
    homes = init_network(tmp_path / "net", 2, "pbft", base_port=_free_base(4))
    nodes = [Node(NodeConfig.load(h), h) for h in homes]
    for n in nodes:
        await n.start()
    try:
        for _ in range(100):
            if all(n.peers for n in nodes):
                break
            await asyncio.sleep(0.05)
        primary = next(n for n in nodes if n.engine.proposer(0) == n.key.public_key)
        other = next(n for n in nodes if n is not primary)
        dropped = []
        original = other.peers.send

        def lossy(peer: bytes, channel: int, payload: bytes) -> None:
            if channel == TXS and not dropped:
                dropped.append(payload)  # the first gossip frame never leaves
                return
            original(peer, channel, payload)

        other.peers.send = lossy  # type: ignore[method-assign]
        client = read_key(homes[0].parent / "clients" / "client0.key")
        tx = Transaction.create(client, other.genesis.chain_id, 0, Transfer(client.address, 5), fee=1)
        assert (await other.txs.admit([tx.encoded]))[0]["accepted"]
        for _ in range(200):
            if all(n.chain.store.tx_location(tx.hash) is not None for n in nodes):
                break
            await asyncio.sleep(0.05)
        assert dropped, "the first frame was meant to be lost"
        assert all(n.chain.store.tx_location(tx.hash) is not None for n in nodes)
    finally:
        for n in nodes:
            await n.stop()
