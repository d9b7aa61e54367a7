"""Simulated smart meters for a local cluster's light gateways (`cluster up --gateways N`) and
the community benchmark: each household's meter publishes on `TOPIC/reading` (QoS 1) its reading
of each settlement interval once the interval has ended, in the gateway's JSON form
(`pownode.gateway_readings`).

The energies follow a household's day without any data files: rooftop PV on a clear-sky bell
from 06:00 to 18:00 UTC, and a load with a base, a morning and an evening peak, each household
scaled by its own seeded draw, so a run repeats. Floats are fine here: they become whole Wh
before anything is signed.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass

from ledger.genesis import Genesis
from pownode import mqtt_broker

DAY_MS = 86_400_000
log = logging.getLogger("pownode.meters")


@dataclass(frozen=True)
class SimulatedMeter:
    topic: str  # the gateway's --topic: readings go to TOPIC/reading
    pv_kw: float  # peak PV output, kW (0: a consumer)
    base_kw: float  # load between the peaks, kW

    @classmethod
    def household(cls, topic: str, seed: int) -> SimulatedMeter:
        rng = random.Random(seed)
        return cls(topic, rng.choice((0.0, 0.0, 3.0, 4.5, 6.0)) * rng.uniform(0.8, 1.0), rng.uniform(0.2, 0.5))

    def reading(self, interval: int, genesis: Genesis) -> dict:
        """The reading of `interval`: mean power at its midpoint times its length, in whole Wh."""
        hours = genesis.interval_ms / 3_600_000
        day_h = (genesis.interval_start_ms(interval) + genesis.interval_ms // 2) % DAY_MS / 3_600_000
        sun = max(0.0, math.sin(math.pi * (day_h - 6) / 12)) if 6 <= day_h <= 18 else 0.0
        peaks = math.exp(-((day_h - 7.5) ** 2) / 2) + 1.5 * math.exp(-((day_h - 19) ** 2) / 3)
        return {"interval": interval, "produced_wh": round(self.pv_kw * sun * hours * 1000),
                "consumed_wh": round(self.base_kw * (1 + peaks) * hours * 1000)}


async def publish(port: int, meters: list[SimulatedMeter], genesis: Genesis, intervals: range) -> None:
    """Publish every meter's reading of each of `intervals` to the broker on 127.0.0.1:port."""
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier=f"pownode-meters-{port}", username=mqtt_broker.USER,
                              password=mqtt_broker.PASSWORD) as client:
        for interval in intervals:
            for meter in meters:
                await client.publish(f"{meter.topic}/reading", json.dumps(meter.reading(interval, genesis)), qos=1)


async def run(port: int, meters: list[SimulatedMeter], genesis: Genesis, stop: threading.Event,
              backfill: int = 1) -> None:
    """Publish the `backfill` intervals that ended last, then each one as it ends, until `stop`. A
    broker that is away only delays them: a failed round is tried again a few seconds later."""
    import asyncio

    done = genesis.interval_of(int(time.time() * 1000)) - 1
    published = done - backfill
    while not stop.is_set():
        if published < done:
            try:
                await publish(port, meters, genesis, range(published + 1, done + 1))
                published = done
            except Exception as exc:  # noqa: BLE001 - aiomqtt.MqttError and OSError alike: try again
                log.warning("the meters could not publish (%s); trying again", exc)
        now_ms = int(time.time() * 1000)
        done = genesis.interval_of(now_ms) - 1
        wait_s = 5.0 if published < done else (genesis.interval_start_ms(done + 2) - now_ms) / 1000
        await asyncio.sleep(min(1.0, max(0.1, wait_s)))  # short steps, so `stop` is seen within a second
