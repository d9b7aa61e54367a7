"""A node the gateway talks to may be hostile: whatever it answers, the gateway keeps running and
its readings wait. Here a real HTTP server on loopback answers every request with JSON nested
deeper than Python's parser recurses (`json.loads` raises RecursionError, a RuntimeError, not a
ValueError), with a 200 or an error status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ledger.devnet import make_devnet
from ledger.keys import PrivateKey
from pownode import answer_bounds
from pownode.gateway import Gateway, GatewayConfig, NodeApi, NodeUnavailable
from pownode.gateway_readings import MeterMessage
from tests.hostile_node import HostileNode

GENESIS = make_devnet(label="hostile-node", params={"interval_ms": 900_000}).genesis
DEEP = b"[" * 200_000


@pytest.fixture(params=[200, 500])
def status(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def node(status: int):
    hostile = HostileNode(lambda path: (status, DEEP))
    yield hostile
    hostile.close()


async def _asked(node: HostileNode, prefix: str, times: int, task: asyncio.Task) -> None:
    """Wait (at most 60 s) until the node was asked `times` times for a path under `prefix`, or
    the task ended."""
    async with asyncio.timeout(60):
        while sum(p.startswith(prefix) for p in node.paths) < times and not task.done():
            await asyncio.sleep(0.05)


def test_a_deeply_nested_answer_is_the_node_being_unavailable_or_an_empty_error(node: HostileNode, status: int) -> None:
    api = NodeApi(node.address)
    if status == 200:
        with pytest.raises(NodeUnavailable):
            asyncio.run(api.call("GET", "/status", answer_bounds.TX_STATUS, timeout=10))
    else:
        assert asyncio.run(api.call("GET", "/status", answer_bounds.TX_STATUS, timeout=10)) == (500, {})


async def test_the_gateway_waits_for_a_node_that_answers_deeply_nested_json(node: HostileNode, tmp_path: Path) -> None:
    gateway = Gateway(GatewayConfig("127.0.0.1", 1, node.address, PrivateKey.from_label("m"), tmp_path, "t"))
    starting = asyncio.create_task(gateway.run())  # asks the node for the chain's genesis, and again
    await _asked(node, "/genesis", 2, starting)
    assert not starting.done(), starting.exception()
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)

    gateway = Gateway(GatewayConfig("127.0.0.1", 1, node.address, PrivateKey.from_label("m"), tmp_path, "t"))
    gateway.genesis = GENESIS
    gateway.outbox.add(MeterMessage(5, 100, 50))
    sending = asyncio.create_task(gateway._send_loop())  # asks for the meter's nonce, and again
    await _asked(node, "/accounts/", 2, sending)
    assert not sending.done(), sending.exception()
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)
    assert [e.interval for e in gateway.outbox.pending()] == [5]
    gateway.outbox.close()
