"""The embedding API (a gateway's own asyncio loop runs the node and feeds its meter), the
per-client submission limit, and the WebSocket stream of contract events."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger import accounts
from ledger.errors import LedgerError
from ledger.executor import contract_fee
from ledger.transactions import ContractCall, ContractDeploy, Transaction, Transfer
from pownode.api import make_app
from pownode.config import NodeConfig, init_network
from pownode.embed import EmbeddedNode, MeterFeed
from pownode.keyfile import read_key
from vm.machine import contract_address

PING = '''
def ping(x):
    emit("pong", x, sender())
    return x
'''


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return init_network(tmp_path / "net", 1, "poe", base_port=0)[0]


async def test_a_gateway_feeds_its_meter_readings_through_an_embedded_node(home: Path) -> None:
    meter_key = read_key(home.parent / "meters" / "meter0.key")
    async with EmbeddedNode(home, api=False) as node:
        meter = MeterFeed(node, meter_key)
        receipts = [await meter.reading(interval, produced_wh=1_000 + interval, consumed_wh=400) for interval in range(3)]
        assert all(r.status == 0 for r in receipts)
        for interval in range(3):
            stored = accounts.get_reading(node.node.chain.state, interval, meter_key.public_key)
            assert (stored.produced_wh, stored.consumed_wh) == (1_000 + interval, 400)
        with pytest.raises(LedgerError) as refused:
            await meter.reading(1, produced_wh=5, consumed_wh=5)
        assert refused.value.reason == "duplicate-reading"
        assert node.next_nonce(meter_key.public_key) == 3
        # Not waiting: the hash comes back at once and the reading commits later.
        tx_hash = await meter.reading(3, produced_wh=1, consumed_wh=2, wait=False)
        assert (await node.wait_committed(tx_hash, timeout_s=30)).status == 0
        assert node.height >= 4


async def test_a_client_over_its_rate_gets_429_and_others_are_served(home: Path) -> None:
    config = dataclasses.replace(NodeConfig.load(home), client_tx_per_s=1, genesis="../genesis.json", key="node.key")
    config.save(home)
    async with EmbeddedNode(home, api=False) as node:
        async with TestClient(TestServer(make_app(node.node))) as client:
            batch = {"txs": ["00"] * 10_000}  # the burst is at least one full batch
            first = await client.post("/txs", json=batch)
            assert first.status == 200 and (await first.json())["accepted"] == 0  # malformed, but counted
            second = await client.post("/txs", json=batch)
            assert second.status == 429 and int(second.headers["Retry-After"]) >= 1
            body = await second.json()
            assert "rate limit" in body["error"] and body["retry_after_s"] > 0
            assert (await client.get("/status")).status == 200  # reads are not limited


async def test_the_websocket_streams_blocks_and_contract_events(home: Path) -> None:
    client_key = read_key(home.parent / "clients" / "client0.key")
    async with EmbeddedNode(home, api=False) as node:
        genesis = node.node.genesis
        gas = 200_000
        fee = contract_fee(genesis, gas)
        contract = contract_address(client_key.address, hashlib.sha256(PING.encode()).digest())
        deploy = Transaction.create(client_key, genesis.chain_id, 0, ContractDeploy(PING, gas), fee=fee)
        call = Transaction.create(client_key, genesis.chain_id, 1, ContractCall(contract, "ping", (7,), gas, 0), fee=fee)
        async with TestClient(TestServer(make_app(node.node))) as client:
            ws = await client.ws_connect("/ws")
            node.submit(deploy)
            node.submit(call)
            await node.wait_committed(call.hash)
            seen_block = event = None
            while event is None:
                message = await ws.receive_json(timeout=10)
                if message["type"] == "block" and call.hash.hex() in message["txs"]:
                    seen_block = message
                elif message["type"] == "event":
                    event = message
            await ws.close()
        assert seen_block is not None and event["height"] == seen_block["height"]
        assert event == {"type": "event", "height": seen_block["height"], "tx": call.hash.hex(),
                         "contract": contract.hex(), "topic": "pong", "fields": [7, client_key.address.hex()]}


async def test_signatures_verified_in_worker_processes_admit_the_same(home: Path) -> None:
    config = dataclasses.replace(NodeConfig.load(home), verify_workers=2, genesis="../genesis.json", key="node.key")
    config.save(home)
    client_key = read_key(home.parent / "clients" / "client0.key")
    async with EmbeddedNode(home, api=False) as node:
        chain_id = node.node.genesis.chain_id
        good = [Transaction.create(client_key, chain_id, n, Transfer(client_key.address, 1 + n), fee=1) for n in range(40)]
        forged = Transaction.create(client_key, chain_id, 40, Transfer(client_key.address, 1), fee=1)
        forged = forged.replace(signature=bytes(64 - 1) + b"\1")
        raws = [t.encoded for t in good] + [forged.encoded, b"\x93junk", good[0].encoded]
        results = await node.node.txs.admit(raws)
        assert [r["accepted"] for r in results[:40]] == [True] * 40
        assert [r.get("reason") for r in results[40:]] == ["bad-signature", "trailing-bytes", "duplicate"]
        assert all(t.hash in node.node.chain.cache for t in good) and forged.hash not in node.node.chain.cache
        assert (await node.wait_committed(good[-1].hash)).status == 0
