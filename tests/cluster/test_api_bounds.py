"""The API's resource bounds on a running node: idle and dripping connections are closed,
connections per client are capped, bodies are bounded in time and size, and one client's flood
neither grows the node without bound nor holds up another client's batch."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import tracemalloc
from pathlib import Path

import pytest

from ledger.keys import PrivateKey
from ledger.transactions import Transaction, Transfer
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base

OPTIONS = {"api_header_timeout_ms": 1_000, "api_body_timeout_ms": 1_000, "api_connections_per_client": 8,
           "api_connections": 64}


@contextlib.asynccontextmanager
async def _running(tmp_path: Path, options: dict):
    base = _free_base(2)
    home = init_network(tmp_path / "net", 1, "pbft", base_port=base, node_options=options)[0]
    async with EmbeddedNode(home) as embedded:
        yield embedded, ("127.0.0.1", base + 1), read_key(home.parent / "clients" / "client0.key")


@pytest.fixture
async def node(tmp_path: Path):
    async with _running(tmp_path, OPTIONS) as running:
        yield running


@pytest.fixture
async def roomy_node(tmp_path: Path):
    """A node whose connection bound per client is its default, above its subscriptions'."""
    async with _running(tmp_path, {**OPTIONS, "api_connections_per_client": 64}) as running:
        yield running


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        await asyncio.wait_for(reader.read(), seconds)  # b"" or a response, then EOF
        return True
    except asyncio.TimeoutError:
        return False


async def _status(host: str, port: int) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 30)
    writer.close()
    return int(line.split()[1])


async def test_slow_headers_and_bodies_are_cut_off(node) -> None:
    _, (host, port), _ = node
    idle = await asyncio.open_connection(host, port)
    drip = await asyncio.open_connection(host, port)
    drip[1].write(b"GET /status HTTP/1.1\r\nHost: x\r\n")  # the headers never end
    body = await asyncio.open_connection(host, port)
    body[1].write(b"POST /txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
    for reader, _ in (idle, drip, body):
        assert await _closed_within(reader, 30)
    assert await _status(host, port) == 200


async def test_connections_per_client_are_capped_and_others_still_served(node) -> None:
    _, (host, port), _ = node
    held = [await asyncio.open_connection(host, port) for _ in range(8)]
    extra_reader, _ = await asyncio.open_connection(host, port)
    assert await _closed_within(extra_reader, 30)  # the ninth from this address is closed at once
    # Another client address (loopback has the whole 127/8) is still served.
    reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
    writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    assert b" 200 " in await asyncio.wait_for(reader.readline(), 30)
    for _, w in held:
        w.close()


async def test_a_missing_or_oversized_length_is_refused_before_reading(node) -> None:
    _, (host, port), _ = node
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /txs HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
    await writer.drain()
    assert b" 413 " in await asyncio.wait_for(reader.readline(), 30)
    writer.close()


async def test_a_flooding_client_gets_503_and_does_not_delay_another(node) -> None:
    embedded, (host, port), honest_key = node
    import aiohttp

    flood_key = PrivateKey.from_label("api-bounds/flooder")
    chain_id = embedded.node.genesis.chain_id
    # Transactions with bad signatures: each costs a verification, none is ever admitted.
    bad = Transaction.create(flood_key, chain_id, 0, Transfer(honest_key.address, 1), fee=1)
    batch = [bad.replace(nonce=n, signature=bytes(64)).encoded.hex() for n in range(10_000)]
    payload = json.dumps({"txs": batch})
    statuses: list[int] = []
    other_address = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(f"http://{host}:{port}") as flooder, \
            aiohttp.ClientSession(f"http://{host}:{port}", connector=other_address) as honest:
        async def flood() -> None:
            for _ in range(40):
                async with flooder.post("/txs", data=payload, headers={"Content-Type": "application/json"}) as r:
                    statuses.append(r.status)

        floods = [asyncio.create_task(flood()) for _ in range(6)]
        await asyncio.sleep(0.5)
        tx = Transaction.create(honest_key, chain_id, 0, Transfer(flood_key.address, 5), fee=1)
        started = time.monotonic()
        async with honest.post("/txs", json={"txs": [tx.encoded.hex()]}) as r:
            assert r.status == 200 and (await r.json())["accepted"] == 1
        waited = time.monotonic() - started
        for task in floods:
            task.cancel()
        await asyncio.gather(*floods, return_exceptions=True)
    assert set(statuses) <= {200, 429, 503} and 503 in statuses or 429 in statuses
    assert embedded.node.txs.ingress.queued_bytes <= 48 * 1024 * 1024
    # Served in turn with the flood, not behind it: generous for a loaded machine, far below
    # the minutes a queue of 2.4 M unverified transactions would take.
    assert waited < 60


async def test_a_refused_request_leaves_nothing_for_the_cyclic_collector(node) -> None:
    """A request refused after its body was read frees that body at once: answered without a
    traceback cycle holding the handler's frames, which only a full collection (rare under a
    flood) would free, so refused batches cannot pile up in memory."""
    _, (host, port), _ = node
    body = json.dumps({"txs": "0" * (8 * 1024 * 1024)}).encode()  # read, parsed, then refused
    head = b"POST /txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        reader, writer = await asyncio.open_connection(host, port)
        before = tracemalloc.get_traced_memory()[0]
        writer.write(head % len(body) + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 60)
        writer.close()
        await asyncio.sleep(0.1)  # the server's side of the request ends
        left = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        gc.enable()
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert left < 2 * 1024 * 1024, f"{left} bytes left after a refused {len(body)}-byte request"


async def test_wait_commit_answers_once_the_transaction_is_durable(node) -> None:
    """A plain acceptance says it is not durable; ?wait=commit answers with the height."""
    embedded, (host, port), key = node
    import aiohttp

    chain_id = embedded.node.genesis.chain_id
    first = Transaction.create(key, chain_id, 0, Transfer(PrivateKey.from_label("x").address, 5), fee=1)
    second = Transaction.create(key, chain_id, 1, Transfer(PrivateKey.from_label("x").address, 5), fee=1)
    async with aiohttp.ClientSession(f"http://{host}:{port}") as client:
        async with client.post("/txs", json={"txs": [first.encoded.hex()]}) as r:
            plain = await r.json()
        assert plain["results"][0]["accepted"] and plain["results"][0]["durable"] is False
        async with client.post("/txs", params={"wait": "commit", "timeout_s": "60"},
                               json={"txs": [second.encoded.hex()]}) as r:
            waited = await r.json()
        result = waited["results"][0]
        assert result["durable"] is True and waited["committed"] == 1
        assert embedded.node.chain.store.tx_location(second.hash).height == result["height"]
        async with client.post("/txs", params={"wait": "forever"}, json={"txs": [second.encoded.hex()]}) as r:
            assert r.status == 400


async def test_a_websocket_subscriber_that_does_not_keep_up_is_disconnected(node) -> None:
    """Unsent events are bounded in bytes per subscriber: past the bound the subscriber is
    dropped (not skipped silently, not held in memory)."""
    embedded, (host, port), _ = node
    import aiohttp

    async with aiohttp.ClientSession(f"http://{host}:{port}") as client:
        ws = await client.ws_connect("/ws")
        for _ in range(100):
            if len(embedded.node.events.listeners) >= 2:  # the embedding's own and this subscriber's
                break
            await asyncio.sleep(0.05)
        subscribers = embedded.node.events.listeners
        # A block of 20,000 transactions: some 1.3 MB of JSON per event.
        from types import SimpleNamespace

        from pownode.events import BlockCommitted

        block = SimpleNamespace(height=1, hash=bytes(32), header=SimpleNamespace(proof=b""),
                                txs=[SimpleNamespace(hash=bytes(32))] * 20_000)
        big = BlockCommitted(block, ())  # type: ignore[arg-type]
        for _ in range(20):  # no await in between: nothing is sent meanwhile
            for listener in embedded.node.events.listeners:
                listener(big)
        assert len(embedded.node.events.listeners) == len(subscribers) - 1
        closed = False
        for _ in range(200):
            msg = await asyncio.wait_for(ws.receive(), 30)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                closed = True
                break
        assert closed


async def test_a_websocket_message_from_a_subscriber_is_bounded_before_it_is_buffered(node) -> None:
    """The stream reads nothing from its subscribers, so what one may send is small: a frame
    declaring 4 MB is refused at its header (close code 1009) rather than buffered while it
    arrives, which let 120 subscribers dripping such frames hold 460 MB of a node."""
    _, (host, port), _ = node
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert b" 101 " in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    # A masked text frame declaring 4,000,000 bytes, of which only the first few are sent.
    writer.write(bytes([0x81, 0xFF]) + (4_000_000).to_bytes(8, "big") + bytes(4) + b"{}")
    await writer.drain()
    assert await asyncio.wait_for(_close_code(reader), 30) == 1009
    writer.close()


async def _close_code(reader: asyncio.StreamReader) -> int | None:
    """The code of the server's close frame, skipping the events streamed before it (None: the
    connection ended without one)."""
    while True:
        try:
            opcode, length = await reader.readexactly(2)
            if length & 0x7F >= 126:
                length = int.from_bytes(await reader.readexactly(2 if length & 0x7F == 126 else 8), "big")
            payload = await reader.readexactly(length & 0x7F if length < 126 else length)
        except asyncio.IncompleteReadError:
            return None
        if opcode & 0x0F == 0x8:
            return int.from_bytes(payload[:2], "big")


async def test_websocket_subscribers_are_bounded_per_client(roomy_node) -> None:
    """Each subscriber costs the node a copy of every event (960 of them streamed 1.3 GB for
    20,000 transactions), and a page needs one: a client address holds at most
    WS_PER_CLIENT, and the next is refused before the upgrade; another address is served."""
    import aiohttp

    from pownode.api import WS_PER_CLIENT

    _, (host, port), _ = roomy_node
    async with aiohttp.ClientSession(f"http://{host}:{port}", connector=aiohttp.TCPConnector(limit=0)) as client:
        held = [await client.ws_connect("/ws") for _ in range(WS_PER_CLIENT)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws")
        assert refused.value.status == 429
        other = aiohttp.ClientSession(f"http://{host}:{port}",
                                      connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
        async with other:
            ws = await other.ws_connect("/ws")
            await ws.close()
        await held[0].close()  # a closed subscription gives its place back
        for _ in range(100):
            try:
                held[0] = await client.ws_connect("/ws")
                break
            except aiohttp.WSServerHandshakeError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("a closed subscription's place was not given back")
        for ws in held:
            await ws.close()
