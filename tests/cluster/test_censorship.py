"""A proposer that leaves valid transactions out of its blocks is replaced (PBFT's request timer)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from ledger.transactions import Transaction, Transfer
from pownode import tx_reactor as reactor_module
from pownode.config import NodeConfig, init_network
from pownode.keyfile import read_key
from pownode.node import Node
from tests.cluster.test_local_cluster import _free_base


async def _wait(predicate, timeout_s: float) -> bool:
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("timeout_ms", [1_500, 0])
async def test_a_censoring_primary_is_voted_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout_ms: int) -> None:
    monkeypatch.setattr(reactor_module, "REGOSSIP_S", 0.5)
    homes = init_network(tmp_path / "net", 4, "pbft", base_port=_free_base(8))
    for home in homes:  # a short request timer (0 = off, the control run)
        config = dataclasses.replace(NodeConfig.load(home), request_timeout_ms=timeout_ms, genesis="../genesis.json",
                                     key="node.key")
        config.save(home)
    nodes = [Node(NodeConfig.load(h), h) for h in homes]
    for n in nodes:
        await n.start()
    try:
        assert await _wait(lambda: all(len(n.peers) == 3 for n in nodes) and min(n.chain.height for n in nodes) >= 2, 20)
        heights = [n.chain.height for n in nodes]
        censor = next(n for n in nodes if n.engine.proposer(0) == n.key.public_key and n.chain.height == max(heights))
        monkeypatch.setattr(censor.mempool, "select", lambda state, max_txs, interval=None: [])  # valid, empty blocks
        client = read_key(homes[0].parent / "clients" / "client0.key")
        tx = Transaction.create(client, censor.genesis.chain_id, 0, Transfer(client.address, 5), fee=1)
        other = next(n for n in nodes if n is not censor)
        assert (await other.txs.admit([tx.encoded]))[0]["accepted"]
        committed = await _wait(lambda: all(n.chain.store.tx_location(tx.hash) for n in nodes), 12 if timeout_ms else 6)
        if not timeout_ms:  # without the request timer the censor keeps the chain, and the tx out
            assert not committed and other.chain.height > heights[0] + 3
            return
        assert committed, "the starved transaction never committed"
        where = other.chain.store.tx_location(tx.hash)
        assert other.chain.store.block(where.height).header.proposer != censor.key.public_key
        assert sum(n.stats.view_changes for n in nodes) >= 3
    finally:
        for n in nodes:
            await n.stop()
