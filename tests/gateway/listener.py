"""A test's MQTT subscriber: what the gateway publishes on a topic, as JSON documents."""

from __future__ import annotations

import asyncio
import json
from typing import Callable

from pownode.mqtt_broker import PASSWORD, USER


async def collect(port: int, topic: str, found: list[dict], ready: asyncio.Event, until: Callable[[dict], bool]) -> None:
    """Append each JSON message on `topic` to `found` until one satisfies `until`; `ready` is set
    once subscribed (the gateway's messages before that would be missed)."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier=f"test-listener-{topic}", username=USER,
                              password=PASSWORD) as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for message in client.messages:
            found.append(json.loads(bytes(message.payload)))
            if until(found[-1]):
                return
