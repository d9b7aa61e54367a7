"""A member that connects again and again (a valid key, a real socket each time) costs the node
a handshake per connection, not a copy of its mempool per connection."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ledger.transactions import Transaction, Transfer
from pownode import transport
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from pownode.peer_set import TXS
from tests.cluster.two_validators import two_validators


async def test_a_reconnect_storm_gets_the_mempool_once(tmp_path: Path) -> None:
    net = two_validators(tmp_path / "net")
    homes, keys, me, other = net.homes, net.keys, net.me, net.other
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
            reader, writer = await asyncio.open_connection("127.0.0.1", net.port)
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
