"""A household's gateway publishes its view of a market window on MQTT once the window clears:
the clearing price and volume, its own orders and trades, as the node's market API shows them.
A node with 2-second intervals, a P2P market where the household sells to a neighbour, and a
real broker."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from pownode.client import request
from tests.gateway import contracts
from tests.gateway.listener import collect

TOPIC = "test/household0"


async def test_a_cleared_window_is_published_with_the_households_trades(tmp_path: Path) -> None:
    async with contracts.community(tmp_path) as town:
        node = town.node
        operator, seller, buyer = (town.key(k) for k in ("operator", "client0", "client1"))
        genesis = node.node.genesis
        market = await contracts.p2p_market(node, operator, {seller: 1, buyer: 0})
        call = functools.partial(contracts.call, node, market)
        window = genesis.interval_of(node.node.chain.head.time_ms) + 2
        await call(seller, "post", window, 1, 1_500, 8_000, 1)
        await call(buyer, "post", window, 0, 1_000, 0, 1)

        gateway = town.gateway(tmp_path / "gw", TOPIC, market=market, owner=seller.address)
        found: list[dict] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(collect(town.broker_port, f"{TOPIC}/window", found, ready,
                                                       lambda doc: doc["window"] == window))
        await asyncio.wait_for(ready.wait(), 30)
        running = asyncio.create_task(gateway.run())
        try:
            await contracts.until_interval(node, window)  # closed once its interval comes
            await call(operator, "clear", window, 4096)
            await asyncio.wait_for(listener, 60)
        finally:
            await contracts.stop(running, listener)
        shown = await asyncio.to_thread(request, town.api, f"/market/{market.hex()}/windows/{window}")
    report = found[-1]
    assert report["window"] == window and report["status"] == "cleared" and report["verified"] is False
    assert report["price"] == shown["result"]["price"] and report["volume_wh"] == shown["result"]["volume_wh"]
    mine = [t for t in shown["trades"] if t["seller"] == seller.address.hex()]
    assert mine and report["sold_wh"] == sum(t["energy_wh"] for t in mine) == 1_000 and report["bought_wh"] == 0
    assert report["received"] == sum(t["payment"] for t in mine) > 0
    assert [o["order_id"] for o in report["orders"]] == [1]  # its own offer, not the neighbour's demand
