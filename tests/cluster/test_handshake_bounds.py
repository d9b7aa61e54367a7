"""Peer handshakes are bounded: a stranger presenting the key of a member this node dials gets
no signature, and one address cannot hold more than a few handshakes open."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pownode import transport
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from pownode.peer_set import HANDSHAKES_PER_SOURCE
from tests.cluster.test_local_cluster import _free_base


@pytest.fixture
async def node(tmp_path: Path):
    base = _free_base(4)
    homes = init_network(tmp_path / "net", 2, "pbft", base_port=base)
    keys = [read_key(h / "node.key").public_key for h in homes]
    async with EmbeddedNode(homes[0], api=False) as embedded:  # node1 never starts
        yield embedded, base, keys


def _hello(embedded: EmbeddedNode, presented: bytes) -> bytes:
    fake = SimpleNamespace(public_key=presented)  # a public key is all a stranger has
    return transport._hello(embedded.node.genesis.chain_id, fake, X25519PrivateKey.generate())


async def _answer(port: int, hello: bytes, local: str = "127.0.0.1") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    writer.write(hello)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(4096), 30)
    finally:
        writer.close()


async def test_a_stranger_with_a_member_key_we_dial_gets_no_signature(node) -> None:
    embedded, base, (own, other) = node
    answer = await _answer(base, _hello(embedded, other))
    if other < own:  # node1 dials node0: node0 answers and signs (the initiator must then prove it)
        assert len(answer) >= transport._HELLO + 64
    else:  # node0 dials node1: a connection claiming node1 is refused before any signing
        assert answer == b""
    assert embedded.node.peers.stats.refused_peers >= (0 if other < own else 1)


async def test_one_address_holds_a_bounded_number_of_handshakes(node) -> None:
    embedded, base, _ = node
    held = [await asyncio.open_connection("127.0.0.1", base) for _ in range(HANDSHAKES_PER_SOURCE)]
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", base)
    assert await asyncio.wait_for(reader.read(), 30) == b""  # closed at once, nothing read
    writer.close()
    # Another address still gets a handshake going.
    other = await asyncio.open_connection("127.0.0.1", base, local_addr=("127.0.0.2", 0))
    for _ in range(100):
        if embedded.node.peers.handshakes.held.get("127.0.0.2") == 1:
            break
        await asyncio.sleep(0.05)
    assert embedded.node.peers.handshakes.held.get("127.0.0.2") == 1
    assert embedded.node.peers.handshakes.held.get("127.0.0.1") == HANDSHAKES_PER_SOURCE
    other[1].close()
    for _, w in held:
        w.close()


async def test_a_member_that_never_reads_is_dropped(tmp_path: Path, monkeypatch) -> None:
    """The send queue toward a peer is bounded in bytes; a peer whose queue stays full is not
    reading, and the link is dropped instead of holding the bytes forever."""
    from ledger.transactions import Transaction, Transfer
    from pownode import peer_set as peer_set_module

    monkeypatch.setattr(peer_set_module, "SLOW_PEER_S", 1.0)
    base = _free_base(4)
    homes = init_network(tmp_path / "net", 2, "pbft", base_port=base, node_options={"send_queue_bytes": 20_000})
    keys = [read_key(h / "node.key") for h in homes]
    me, other = (0, 1) if keys[0].public_key < keys[1].public_key else (1, 0)  # the smaller key dials
    async with EmbeddedNode(homes[other], api=False) as embedded:
        reader, writer = await asyncio.open_connection("127.0.0.1", base + 2 * other)
        await transport.initiate(reader, writer, embedded.node.genesis.chain_id, keys[me],
                                 lambda k: True, keys[other].public_key)
        for _ in range(100):
            if keys[me].public_key in embedded.node.peers:
                break
            await asyncio.sleep(0.05)
        assert keys[me].public_key in embedded.node.peers
        client = read_key(homes[0].parent / "clients" / "client0.key")
        txs = [Transaction.create(client, embedded.node.genesis.chain_id, n, Transfer(keys[me].address, 1), fee=1)
               for n in range(60)]
        for _ in range(200):  # gossip piles up toward a peer that never reads
            embedded.node.txs.submit([tx.encoded for tx in txs])
            embedded.node.txs._send_txs([tx.encoded for tx in txs], [keys[me].public_key])
            await asyncio.sleep(0.05)
            if keys[me].public_key not in embedded.node.peers:
                break
        assert keys[me].public_key not in embedded.node.peers
        writer.close()


async def test_a_peer_relaying_forged_transactions_is_dropped_and_banned(tmp_path: Path) -> None:
    """No honest peer relays a transaction whose signature fails (it admitted it first): a peer
    that relays more than the bound is dropped and refused for a while."""
    from ledger.keys import PrivateKey
    from ledger.transactions import Transaction, Transfer
    from pownode.tx_reactor import TX_BATCH
    from pownode.peer_set import PEER_FORGED_MAX, TXS

    base = _free_base(4)
    homes = init_network(tmp_path / "net", 2, "pbft", base_port=base)
    keys = [read_key(h / "node.key") for h in homes]
    me, other = (0, 1) if keys[0].public_key < keys[1].public_key else (1, 0)
    async with EmbeddedNode(homes[other], api=False) as embedded:
        chain_id = embedded.node.genesis.chain_id
        reader, writer = await asyncio.open_connection("127.0.0.1", base + 2 * other)
        channel = await transport.initiate(reader, writer, chain_id, keys[me], lambda k: True, keys[other].public_key)
        sender = PrivateKey.from_label("forger")
        forged = [Transaction.create(sender, chain_id, n, Transfer(keys[me].address, 1), fee=1).replace(
            signature=bytes(64)).encoded for n in range(PEER_FORGED_MAX + 200)]
        from ledger.encoding import pack

        await channel.send(bytes([TXS]) + pack(TX_BATCH.wire(forged)))
        for _ in range(600):
            if keys[me].public_key not in embedded.node.peers and embedded.node.peers.banned(keys[me].public_key):
                break
            await asyncio.sleep(0.05)
        assert embedded.node.peers.banned(keys[me].public_key)
        assert keys[me].public_key not in embedded.node.peers
        # While banned, its handshake is refused before the node signs anything.
        r2, w2 = await asyncio.open_connection("127.0.0.1", base + 2 * other)
        with pytest.raises((transport.HandshakeError, asyncio.IncompleteReadError, ConnectionError)):
            await transport.initiate(r2, w2, chain_id, keys[me], lambda k: True, keys[other].public_key)
        channel.close()
