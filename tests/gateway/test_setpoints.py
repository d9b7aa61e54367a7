"""A household's gateway publishes its battery's set-point for a delivery interval on MQTT once
an aggregator's round accepts its offer, and again when a second round accepts its bid for the
same interval: what the contract accepted, as energy and as mean power. A node with 2-second
intervals, an aggregator contract, and a real broker."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from tests.gateway import contracts
from tests.gateway.listener import collect
from vm.machine import read_storage

TOPIC = "test/household0"
AHEAD = 15  # intervals between opening the rounds and their delivery: time to answer and close


async def _published(found: list[dict]) -> None:
    while not found:
        await asyncio.sleep(0.2)


async def test_the_batterys_set_point_is_what_the_aggregator_accepted(tmp_path: Path) -> None:
    async with contracts.community(tmp_path) as town:
        node, genesis = town.node, town.node.node.genesis
        aggregator, household, neighbour = (town.key(k) for k in ("operator", "client0", "client1"))
        agg = await contracts.deploy(node, aggregator, "aggregator")
        call = functools.partial(contracts.call, node, agg)
        delivery = genesis.interval_of(node.node.chain.head.time_ms) + AHEAD
        # Round 1: the aggregator buys 3,000 Wh at 15,000; the household's 2,000 @ 10,000 is
        # taken whole, the neighbour's 2,000 @ 12,000 in part.
        await call(aggregator, "open_round", 1, 1, 3_000, 15_000, delivery, 1, value=3_000 * 15_000 // 1000)
        await call(household, "answer", 1, 2_000, 10_000, value=2_000 * 10_000 // 1000)
        await call(neighbour, "answer", 1, 2_000, 12_000, value=2_000 * 12_000 // 1000)
        # Round 2: the aggregator sells 1,000 Wh at 11,000 in the same interval; the household bids.
        await call(aggregator, "open_round", 2, 0, 1_000, 11_000, delivery, 1)
        await call(household, "answer", 2, 500, 16_000, value=500 * 16_000 // 1000)
        first = await call(aggregator, "close", 1)

        gateway = town.gateway(tmp_path / "gw", TOPIC, owner=household.address, aggregator=agg)
        found: list[dict] = []
        ready = asyncio.Event()
        listener = asyncio.create_task(collect(town.broker_port, f"{TOPIC}/setpoint", found, ready,
                                                       lambda doc: doc["import_wh"] > 0))
        await asyncio.wait_for(ready.wait(), 30)
        running = asyncio.create_task(gateway.run())
        try:
            await asyncio.wait_for(_published(found), 60)  # the first round's, before the second round closes
            second = await call(aggregator, "close", 2)
            await asyncio.wait_for(listener, 60)
        finally:
            await contracts.stop(running, listener)
        accepted = [read_storage(node.node.chain.state, agg, f"acc:{r}:0000") for r in (1, 2)]
    # close returns [volume, total, [(order index, accepted Wh, payment)]]: the household's order is index 0.
    assert [t[:2] for t in first[2] if t[0] == 0] == [(0, 2_000)] and [t[:2] for t in second[2]] == [(0, 500)]
    assert [a[:3] for a in accepted] == [(household.address, 2_000, 10_000), (household.address, 500, 16_000)]
    start = genesis.interval_start_ms(delivery)
    rounds = [{"round": 1, "order": 0, "side": "export", "accepted_wh": 2_000, "price": 10_000, "status": "closed"}]
    assert found[0] == {"interval": delivery, "start_ms": start, "end_ms": start + 2000, "export_wh": 2_000,
                        "import_wh": 0, "net_export_wh": 2_000, "power_w": 2_000 * 3600 // 2, "rounds": rounds,
                        "verified": False}
    rounds.append({"round": 2, "order": 0, "side": "import", "accepted_wh": 500, "price": 16_000, "status": "closed"})
    assert found[-1] == {**found[0], "import_wh": 500, "net_export_wh": 1_500, "power_w": 1_500 * 3600 // 2,
                         "rounds": rounds}
    assert len(found) == 2  # published once when known, once when it changed
