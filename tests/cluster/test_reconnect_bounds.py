"""A member that connects again and again (a valid key, a real socket each time) costs the node
a handshake per connection, not a copy of its mempool per connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ledger.transactions import Transaction, Transfer
from pownode import transport
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from pownode.peer_set import TXS
from tests.cluster.test_local_cluster import _free_base


async def test_a_reconnect_storm_gets_the_mempool_once(tmp_path: Path) -> None:
    base = _free_base(4)
    homes = init_network(tmp_path / "net", 2, "pbft", base_port=base)
    keys = [read_key(h / "node.key") for h in homes]
    me, other = (0, 1) if keys[0].public_key < keys[1].public_key else (1, 0)  # the smaller key dials
    async with EmbeddedNode(homes[other], api=False) as embedded:
        node = embedded.node
        chain_id = node.genesis.chain_id
        client = read_key(homes[0].parent / "clients" / "client0.key")
        txs = [Transaction.create(client, chain_id, n, Transfer(keys[me].address, 1), fee=1).encoded for n in range(60)]
        assert all(r["accepted"] for r in node.txs.submit(txs))  # pending: one of two validators cannot commit
        gossip: list[bytes] = []
        send = node.peers.send

        def counting(peer: bytes, channel: int, payload: bytes) -> None:
            if channel == TXS and peer == keys[me].public_key:
                gossip.append(payload)
            send(peer, channel, payload)

        node.peers.send = counting  # type: ignore[method-assign]
        for _ in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", base + 2 * other)
            channel = await transport.initiate(reader, writer, chain_id, keys[me], lambda k: True,
                                               keys[other].public_key)
            for _ in range(600):  # the node attached this link (and ran its on_connect)
                link = node.peers.get(keys[me].public_key)
                if link is not None and link.channel.writer.get_extra_info("peername") == writer.get_extra_info(
                        "sockname"):
                    break
                await asyncio.sleep(0.05)
            channel.close()
            await writer.wait_closed()
        assert 1 <= len(gossip) <= 2  # the whole mempool once (twice if re-gossip ran meanwhile)
