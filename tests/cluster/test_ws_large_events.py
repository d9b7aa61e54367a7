"""A member's contract can emit a block's worth of large events; a WebSocket subscriber that
keeps up stays connected: a large event streams as a stub naming it (fetched with
`GET /txs/{hash}`), and a block whose events are over the per-block budget streams one
`events-elided` message instead. A real node runs in this loop with its real HTTP API on
loopback; the queue and budget are shrunk so that one transaction's 64 events (some 140 KB of
JSON) are over the queue, as a 100 M-gas block's 25 MB are over the real 8 MiB."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.executor import contract_fee
from ledger.transactions import ContractCall, ContractDeploy, Transaction, Transfer
from pownode import api
from pownode.api import make_app
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.events import EVENT_STREAM_BYTES
from pownode.keyfile import read_key
from vm.machine import contract_address

LOUD = '''
def shout(n):
    for i in range(n):
        emit("loud", i, b"x" * 1000)
    return n
'''
EVENTS = 64  # a transaction's most
GAS = 2_000_000
RECEIVE_S = 60  # generous: a loaded machine


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_network(tmp_path / "net", 1, "poe", base_port=0)[0]


async def _messages_until(ws, done) -> list[dict]:  # noqa: ANN001 - an aiohttp WebSocket
    """Messages received until `done(message)`; a close first fails the test."""
    seen: list[dict] = []
    while not seen or not done(seen[-1]):
        seen.append(await ws.receive_json(timeout=RECEIVE_S))  # a close raises: the test fails
    return seen


async def _shout_then_transfer(home: Path, check) -> None:  # noqa: ANN001
    key = read_key(home.parent / "clients" / "client0.key")
    async with EmbeddedNode(home, api=False) as node:
        genesis = node.node.genesis
        fee = contract_fee(genesis, GAS)
        contract = contract_address(key.address, hashlib.sha256(LOUD.encode()).digest())
        txs = [Transaction.create(key, genesis.chain_id, 0, ContractDeploy(LOUD, GAS), fee=fee),
               Transaction.create(key, genesis.chain_id, 1, ContractCall(contract, "shout", (EVENTS,), GAS, 0), fee=fee)]
        after = Transaction.create(key, genesis.chain_id, 2, Transfer(key.address, 1), fee=fee)
        async with TestClient(TestServer(make_app(node.node))) as client:
            ws = await client.ws_connect("/ws")
            for tx in txs:
                node.submit(tx)
            await node.wait_committed(txs[1].hash)
            node.submit(after)  # the stream goes on after the loud block
            seen = await _messages_until(ws, lambda m: m["type"] == "block" and after.hash.hex() in m["txs"])
            await check(client, txs[1], seen)
            await ws.close()


async def test_large_events_stream_as_stubs_and_the_subscriber_stays(home: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "WS_QUEUE_BYTES", 64 * 1024)

    async def check(client, call: Transaction, seen: list[dict]) -> None:  # noqa: ANN001
        stubs = [m for m in seen if m["type"] == "event-stub" and m["tx"] == call.hash.hex()]
        assert [s["index"] for s in stubs] == list(range(EVENTS))
        assert not any(m["type"] == "event" and m["tx"] == call.hash.hex() for m in seen)
        found = await (await client.get(f"/txs/{call.hash.hex()}")).json()
        assert stubs[0]["height"] == found["height"]
        for stub in (stubs[0], stubs[-1]):
            event = found["receipt"]["events"][stub["index"]]
            assert event["fields"] == [stub["index"], "78" * 1000]
            whole = {"type": "event", "height": stub["height"], "tx": stub["tx"], **event}
            assert stub["bytes"] == len(json.dumps(whole)) > EVENT_STREAM_BYTES

    await _shout_then_transfer(home, check)


async def test_a_block_with_events_over_the_budget_streams_one_summary(home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "WS_QUEUE_BYTES", 64 * 1024)
    monkeypatch.setattr(api, "WS_BLOCK_EVENT_BYTES", 4 * 1024)

    async def check(client, call: Transaction, seen: list[dict]) -> None:  # noqa: ANN001
        height = next(m["height"] for m in seen if m["type"] == "block" and call.hash.hex() in m["txs"])
        [elided] = [m for m in seen if m["type"] == "events-elided"]
        assert elided == {"type": "events-elided", "height": height, "events": EVENTS}
        assert not any(m["type"] in ("event", "event-stub") and m["height"] == height for m in seen)

    await _shout_then_transfer(home, check)
