"""A flood on the meter's reading topic, against a real mosquitto: anyone who can publish there
(a compromised device on the home's network) can send QoS 0 messages faster than the gateway
reads them, and neither the broker nor MQTT bounds those (only QoS 1 and 2 wait in the broker's
in-flight window). The gateway's client keeps a bounded number of messages waiting: the QoS 0
ones beyond it are dropped (which QoS 0 allows), a QoS 1 reading never is."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from ledger.keys import PrivateKey
from pownode import mqtt_broker as brokers
from pownode.gateway import MAX_WAITING_MESSAGES, Gateway, GatewayConfig
from tests.cluster.test_local_cluster import _free_base

aiomqtt = pytest.importorskip("aiomqtt")
FLOOD = 5_000


@contextmanager
def _gateway_on_mosquitto(tmp_path: Path, label: str, broker_home: Path | None = None) -> Iterator[tuple[int, Gateway]]:
    """A real mosquitto on a free port and a gateway (of no node) for the topic home/meter."""
    if not brokers.available("mosquitto"):
        pytest.skip("mosquitto is not installed")
    port = _free_base(1)
    broker = brokers.start("mosquitto", port, **({"home": broker_home} if broker_home else {}))
    try:
        gateway = Gateway(GatewayConfig("127.0.0.1", port, "127.0.0.1:1", PrivateKey.from_label(label), tmp_path,
                                        "home/meter"))
        try:
            yield port, gateway
        finally:
            gateway.outbox.close()
    finally:
        brokers.stop(broker)


async def test_a_qos0_flood_waits_in_bounded_memory_and_a_reading_still_gets_in(tmp_path: Path) -> None:
    with _gateway_on_mosquitto(tmp_path, "flood") as (port, gateway):
        async with gateway.broker_session() as client:  # subscribed, but reading nothing: the flood piles up
            await client.subscribe("home/meter/reading", qos=1)
            async with aiomqtt.Client("127.0.0.1", port, identifier="smart-plug") as plug:
                for i in range(FLOOD):
                    await plug.publish("home/meter/reading", json.dumps({"junk": i}), qos=0)
                await plug.publish("home/meter/reading", json.dumps({"interval": 7}), qos=1)
            async with asyncio.timeout(120):  # until the broker has delivered every message
                while len(client.messages) + gateway.dropped_messages < FLOOD + 1:
                    await asyncio.sleep(0.05)
            waiting = len(client.messages)
            assert waiting <= MAX_WAITING_MESSAGES + 1, f"{waiting} messages wait in the gateway's memory"
            received = []
            async for message in client.messages:
                received.append(message)
                if len(received) == waiting:
                    break
            assert received[-1].qos == 1 and json.loads(received[-1].payload) == {"interval": 7}


async def test_the_gateway_sends_its_small_packets_at_once(tmp_path: Path) -> None:
    """The gateway answers each message with two small packets (the refusal on the error topic,
    then the acknowledgement) and nothing comes back in between: with Nagle's algorithm on, the
    second waited for the broker's delayed TCP acknowledgement (40 ms on Linux), so the gateway
    read about 23 refused QoS 1 messages a second, and a smart plug publishing faster filled the
    broker's queue for the gateway (mosquitto's 1,000) until the broker dropped the meter's
    genuine readings. The gateway's socket sends at once (TCP_NODELAY)."""
    import socket

    with _gateway_on_mosquitto(tmp_path, "nagle") as (_, gateway):
        async with gateway.broker_session() as client:
            assert client._client.socket().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_the_communitys_broker_refuses_a_message_larger_than_any_the_gateways_use(tmp_path: Path) -> None:
    """A 100 MB message on the reading topic took the gateway from 33 MB to 341 MB (peak RSS), and
    mosquitto's default bound is 256 MB: the broker `cluster up` starts refuses packets over
    MAX_PACKET_BYTES, so the gateway never receives one (the next message still arrives)."""
    with _gateway_on_mosquitto(tmp_path, "huge", broker_home=tmp_path / "broker") as (port, gateway):
        async with gateway.broker_session() as client:
            await client.subscribe("home/meter/reading", qos=1)
            for payload, qos in ((b"x" * (brokers.MAX_PACKET_BYTES + 1), 0), (b"after", 1)):
                try:
                    async with aiomqtt.Client("127.0.0.1", port, identifier="smart-plug") as plug:
                        await plug.publish("home/meter/reading", payload, qos=qos)
                except aiomqtt.MqttError:
                    pass  # the broker disconnects a client that sends a packet over its bound
            async with asyncio.timeout(60):
                message = await anext(aiter(client.messages))
            assert message.payload == b"after"
