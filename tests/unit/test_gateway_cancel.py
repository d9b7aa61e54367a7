"""A gateway stops when cancelled, whatever it was waiting for at that instant. On Python 3.11,
asyncio.wait_for (which aiomqtt's publish waits with) returns normally when its task is cancelled
just as the awaited result arrives, so a cancellation can be lost: a gateway stopped the moment
the broker acknowledged its publish went on running, and `Gateway.run`'s task never ended (a test
hung for good on a loaded machine). No broker, no node: clients shaped like aiomqtt's."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiomqtt
import pytest

from ledger.keys import PrivateKey
from pownode import gateway as gw
from pownode.gateway import Gateway, GatewayConfig


def _gateway(tmp_path: Path) -> Gateway:
    return Gateway(GatewayConfig("127.0.0.1", 1, "127.0.0.1:1", PrivateKey.generate(), tmp_path, "test/household0"))


class AckingClient:
    """aiomqtt.Client.publish: waits with asyncio.wait_for (10 s) for the broker's PUBACK, which the
    test delivers."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Event] = []

    async def publish(self, topic: str, payload: str, qos: int = 0) -> None:
        ack = asyncio.Event()
        self.acks.append(ack)
        await asyncio.wait_for(ack.wait(), 10)


async def _ended(task: asyncio.Task) -> bool:
    """Whether `task` ends within 5 s (it has nothing left to wait for, so it ends at once or never)."""
    done, _ = await asyncio.wait([task], timeout=5)
    if not done:
        task.cancel()  # leave nothing behind (this one may ignore it too)
    return bool(done)


# The cancellation comes in the same loop iteration as the acknowledgement, or a few after it.
@pytest.mark.parametrize("steps", range(4))
async def test_the_publisher_stops_when_cancelled_as_its_publish_is_acknowledged(tmp_path: Path, steps: int) -> None:
    gateway = _gateway(tmp_path)
    gateway.outbox.setpoints.keep(7, {"interval": 7})
    client = AckingClient()
    publisher = asyncio.create_task(gateway._publish_loop(client))
    while not client.acks:
        await asyncio.sleep(0)
    client.acks[0].set()
    for _ in range(steps):
        await asyncio.sleep(0)
    publisher.cancel()
    assert await _ended(publisher), "the publish loop went on after its cancellation"
    assert publisher.cancelled()
    assert gateway.outbox.setpoints.unpublished() == []  # acknowledged, so published
    gateway.outbox.close()


class DisconnectTimesOut:
    """aiomqtt.Client whose disconnect is not acknowledged in time: its __aexit__ raises MqttError
    ("Operation timed out") in place of the CancelledError that ended the session."""

    sessions = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        tcp = socket.socket()  # unconnected: the gateway only sets its options
        self._client = type("Paho", (), {"manual_ack_set": lambda self, on: None, "socket": lambda self: tcp})()
        self.messages = self._never()

    async def _never(self):  # noqa: ANN202 - no message ever comes
        await asyncio.Event().wait()
        yield

    async def __aenter__(self) -> "DisconnectTimesOut":
        DisconnectTimesOut.sessions += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._client.socket().close()
        raise aiomqtt.MqttError("Operation timed out")

    async def subscribe(self, topic: str, qos: int = 0) -> None:
        pass


async def test_the_broker_loop_stops_when_a_cancelled_sessions_disconnect_fails(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiomqtt, "Client", DisconnectTimesOut)
    monkeypatch.setattr(gw, "BACKOFF_S", (0.0, 0.0))
    gateway = _gateway(tmp_path)
    loop = asyncio.create_task(gateway._mqtt_loop())
    await asyncio.wait_for(gateway.connected.wait(), 5)
    loop.cancel()
    assert await _ended(loop), "the broker loop reconnected instead of stopping"
    assert loop.cancelled() and DisconnectTimesOut.sessions == 1
    gateway.outbox.close()
