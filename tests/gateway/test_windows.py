"""A household's gateway publishes its view of a market window on MQTT once the window clears:
the clearing price and volume, its own orders and trades, as the node's market API shows them.
A node with 2-second intervals, a P2P market where the household sells to a neighbour, and a
real broker."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from ledger.executor import contract_fee
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from market.contracts import source
from pownode.client import request
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.gateway import Gateway, GatewayConfig
from pownode.keyfile import read_key
from pownode.tx_outcome import TxStatus
from tests.cluster.test_local_cluster import _free_base
from pownode import mqtt_broker as brokers
from vm.machine import contract_address

GAS = 1_500_000
CREDIT = 100_000_000
TOPIC = "test/household0"


async def _windows(port: int, window: int, found: list[dict], ready: asyncio.Event) -> None:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier="test-household", username=brokers.USER,
                              password=brokers.PASSWORD) as client:
        await client.subscribe(f"{TOPIC}/window", qos=1)
        ready.set()
        async for message in client.messages:
            doc = json.loads(bytes(message.payload))
            found.append(doc)
            if doc["window"] == window:
                return


async def test_a_cleared_window_is_published_with_the_households_trades(tmp_path: Path) -> None:
    base = _free_base(3)
    kind = brokers.best_available()
    broker = brokers.start(kind, base + 2)
    home = init_network(tmp_path / "net", 1, "pbft", base_port=base, params={"interval_ms": 2000},
                        client_meters=True)[0]
    net = home.parent
    operator, seller, buyer = (read_key(net / p) for p in ("operator.key", "clients/client0.key", "clients/client1.key"))
    try:
        async with EmbeddedNode(home) as node:
            genesis = node.node.genesis
            fee = contract_fee(genesis, GAS)
            market = contract_address(operator.address, hashlib.sha256(source("p2p_market").encode()).digest())

            async def call(key, function: str, *args, value: int = 0, body=None) -> None:
                body = body or ContractCall(market, function, args, GAS, value)
                tx = Transaction.create(key, genesis.chain_id, node.next_nonce(key.public_key), body, fee=fee)
                outcome = await node.send(tx)
                assert outcome.status is TxStatus.COMMITTED, (function, outcome)

            await call(operator, "deploy", body=ContractDeploy(source("p2p_market"), GAS))
            await call(operator, "setup", 0, 5_000, 30_000, 800_000, 500, 1, 3, operator.address, 1, b"", 0,
                       operator.address)
            await call(operator, "register", seller.address, 0, 1)
            await call(operator, "register", buyer.address, 0, 0)
            await call(seller, "deposit", value=CREDIT)
            await call(buyer, "deposit", value=CREDIT)
            window = genesis.interval_of(node.node.chain.head.time_ms) + 2
            await call(seller, "post", window, 1, 1_500, 8_000, 1)
            await call(buyer, "post", window, 0, 1_000, 0, 1)

            api = f"127.0.0.1:{base + 1}"
            gateway = Gateway(GatewayConfig("127.0.0.1", base + 2, api, read_key(net / "meters" / "client0.key"),
                                            tmp_path / "gw", TOPIC, brokers.USER, brokers.PASSWORD,
                                            market=market, owner=seller.address))
            found: list[dict] = []
            ready = asyncio.Event()
            listener = asyncio.create_task(_windows(base + 2, window, found, ready))
            await asyncio.wait_for(ready.wait(), 30)
            running = asyncio.create_task(gateway.run())
            while genesis.interval_of(node.node.chain.head.time_ms) < window:  # closed once its interval comes
                await asyncio.sleep(0.2)
            await call(operator, "clear", window, 4096)
            await asyncio.wait_for(listener, 60)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            shown = await asyncio.to_thread(request, api, f"/market/{market.hex()}/windows/{window}")
    finally:
        brokers.stop(broker)
    report = found[-1]
    assert report["window"] == window and report["status"] == "cleared" and report["verified"] is False
    assert report["price"] == shown["result"]["price"] and report["volume_wh"] == shown["result"]["volume_wh"]
    mine = [t for t in shown["trades"] if t["seller"] == seller.address.hex()]
    assert mine and report["sold_wh"] == sum(t["energy_wh"] for t in mine) == 1_000 and report["bought_wh"] == 0
    assert report["received"] == sum(t["payment"] for t in mine) > 0
    assert [o["order_id"] for o in report["orders"]] == [1]  # its own offer, not the neighbour's demand
