"""`pownode gateway` against a real broker and a real 4-node cluster: a meter's readings
published on MQTT (pownode's form and 003's) are committed and their receipts published; a bad
message is answered on the error topic; and across a gateway restart (SIGKILL, readings
published while it is down) and a broker restart, no reading is lost and none is committed
twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.genesis import Genesis
from pownode import cluster
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base
from pownode import mqtt_broker as brokers

ROOT = Path(__file__).resolve().parents[2]
aiomqtt = pytest.importorskip("aiomqtt")


class Meter:
    """The test's smart meter: publishes readings with QoS 1 and collects what the gateway says."""

    def __init__(self, port: int, topic: str) -> None:
        self.port, self.topic = port, topic
        self.receipts: dict[int, dict] = {}  # by the test's own numbering: chain interval - offset
        self.offset = 0
        self.errors: list[str] = []
        self.alarms: list[dict] = []

    async def publish(self, doc: dict) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="test-meter", clean_session=True,
                                  username=brokers.USER, password=brokers.PASSWORD) as client:
            await client.publish(f"{self.topic}/reading", json.dumps(doc), qos=1)

    async def listen(self, until, timeout_s: float = 90) -> None:
        """Collect receipts and errors (a persistent session: none missed between calls)."""
        deadline = time.monotonic() + timeout_s
        first = True
        while first or not until():
            first = False
            if time.monotonic() > deadline:
                raise TimeoutError(f"receipts {sorted(self.receipts)}, errors {self.errors}")
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, identifier="test-listener",
                                          clean_session=False, username=brokers.USER,
                                          password=brokers.PASSWORD) as client:
                    await client.subscribe(f"{self.topic}/receipt", qos=1)
                    await client.subscribe(f"{self.topic}/error", qos=1)
                    await client.subscribe(f"{self.topic}/alarm", qos=1)
                    if until():
                        return
                    async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                        async for message in client.messages:
                            doc = json.loads(message.payload)
                            if str(message.topic).endswith("/error"):
                                self.errors.append(doc["error"])
                            elif str(message.topic).endswith("/alarm"):
                                self.alarms.append(doc)
                            else:
                                self.receipts[doc["interval"] - self.offset] = doc
                            if until():
                                return
            except (aiomqtt.MqttError, TimeoutError):
                await asyncio.sleep(0.5)


def _subscribed(tmp_path: Path, times: int, timeout_s: float = 120) -> None:
    """Wait until the gateway's log says it subscribed `times` times (each start, each reconnect)."""
    log = tmp_path / "gw.log"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and log.read_text(errors="replace").count("subscribed to") >= times:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the gateway did not subscribe {times} times: {log.read_text(errors='replace')[-2000:]}")


def _gateway(broker_port: int, api: str, home: Path, net: Path, light: bool) -> subprocess.Popen:
    env = {**os.environ, "POWNODE_MQTT_PASSWORD": brokers.PASSWORD}
    return subprocess.Popen([sys.executable, "-m", "pownode.cli", "gateway", "--mqtt",
                             f"mqtt://{brokers.USER}@127.0.0.1:{broker_port}",
                             "--meter-key", str(net / "meters" / "client0.key"), "--api", api, "--home", str(home),
                             "--topic", "test/meter0"] + (["--light", "--genesis", str(net / "genesis.json")] if light else []),
                            stdout=subprocess.DEVNULL, stderr=open(home.parent / "gw.log", "ab"), cwd=ROOT, env=env)


# Each broker once; the gateway with a light client of its own (proving every receipt) on one.
@pytest.mark.parametrize("kind, light", [(kind, kind == "mosquitto") for kind in brokers.KINDS])
def test_readings_reach_the_chain_once_across_restarts(kind: str, light: bool, tmp_path: Path) -> None:
    if not brokers.available(kind):
        pytest.skip(f"{kind} is not installed")
    base = _free_base(10)
    port = base + 9
    broker = brokers.start(kind, port)
    net = tmp_path / "net"
    procs = cluster.start(net, 4, "pbft", base, client_meters=True)
    gateway = None
    try:
        cluster.wait_in_step(net, min_height=1, timeout_s=120)
        api = f"127.0.0.1:{base + 1}"
        genesis = Genesis.load(net / "genesis.json")
        meter = Meter(port, "test/meter0")
        asyncio.run(meter.listen(lambda: True))  # the listener's session exists before anything is sent
        gateway = _gateway(port, api, tmp_path / "gw", net, light)
        _subscribed(tmp_path, 1)  # its session exists before the meter publishes

        first_interval = genesis.interval_of(int(time.time() * 1000)) - 20  # recent: a meter could have measured it

        meter.offset = first_interval - 100

        def reading(i: int) -> dict:
            return {"interval": first_interval + i - 100, "produced_wh": 100 + i, "consumed_wh": 50}

        start_ms = genesis.genesis_time_ms + (first_interval + 3) * genesis.interval_ms + 1_000
        siano = {"clientId": "01394u09", "reqId": "r1", "operation": "reading",
                 "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start_ms / 1000)),
                 "parameters": {"produced": {"unit": "kWh", "value": "1.25"}, "consumed": {"unit": "Wh", "value": "300"},
                                "cpf": 0.72}}

        async def first() -> None:
            for i in (100, 101, 102):
                await meter.publish(reading(i))
            await meter.publish(siano)
            await meter.publish({"interval": "soon"})
            now = genesis.interval_of(int(time.time() * 1000))  # not ended: claimed mid-interval, refused
            await meter.publish({"interval": now, "produced_wh": 1, "consumed_wh": 1})
            await meter.listen(lambda: {100, 101, 102, 103} <= set(meter.receipts) and len(meter.errors) >= 2)

        asyncio.run(first())
        assert all(meter.receipts[i]["status"] == "committed" for i in (100, 101, 102, 103))
        assert all(meter.receipts[i]["verified"] is light for i in (100, 101, 102, 103))
        # Each refused on the error topic (in whichever order, and as often, as the broker delivers
        # them: amqtt may deliver a QoS 1 message again), neither an alarm.
        assert {"has not ended" in e for e in meter.errors} == {False, True}, meter.errors
        assert any("interval must be a non-negative integer" in e for e in meter.errors) and not meter.alarms

        gateway.send_signal(signal.SIGKILL)  # the gateway dies; the meter keeps publishing
        gateway.wait()
        asyncio.run(meter.publish(reading(104)))
        asyncio.run(meter.publish(reading(105)))
        gateway = _gateway(port, api, tmp_path / "gw", net, light)
        asyncio.run(meter.listen(lambda: {104, 105} <= set(meter.receipts)))

        brokers.stop(broker)  # the broker restarts; the gateway reconnects by itself
        broker = brokers.start(kind, port)
        if kind == "mosquitto":  # no persistence: subscriptions are made anew on reconnect
            time.sleep(3)
        asyncio.run(meter.listen(lambda: True))

        async def after_restart() -> None:
            deadline = time.monotonic() + 60
            while 106 not in meter.receipts and time.monotonic() < deadline:
                await meter.publish(reading(106))  # again until the reconnected gateway hears it
                try:
                    await meter.listen(lambda: 106 in meter.receipts, timeout_s=5)
                except TimeoutError:
                    pass
            await meter.publish({**reading(100), "produced_wh": 999})  # a second, different reading of 100

        asyncio.run(after_restart())
        assert meter.receipts[106]["status"] == "committed"
        asyncio.run(meter.listen(lambda: any("already read" in e for e in meter.errors) and meter.alarms))
        # The one conflict's alarm (again for each time the broker delivers the reading again).
        assert meter.alarms and all(alarm == {"alarm": "conflicting-reading", "interval": first_interval,
                                              "kept": {"produced_wh": 200, "consumed_wh": 50},
                                              "refused": {"produced_wh": 999, "consumed_wh": 50}}
                                    for alarm in meter.alarms), meter.alarms
        # Seven intervals, each committed exactly once: the meter's nonce counts its readings.
        account = cluster.api_get(api, f"/accounts/{read_key(net / 'meters' / 'client0.key').address.hex()}")
        assert account["nonce"] == 7
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.terminate()
            gateway.wait(30)
        cluster.stop(procs)
        brokers.stop(broker)
