"""Light gateways for a local cluster (`cluster up --gateways N`): one per household, each with a
certified meter of its own, bridging its simulated meter's MQTT readings (`pownode.meter_sim`)
to the chain through a full node's API (round robin; the validators' when the cluster has no
full node) and proving every receipt from the genesis.

A gateway's home is `HOME/gateways/gw<i>`: its meter's and its household's keys, its outbox,
its light client's state and `gateway.log`. Its meter reads `households/gw<i>/reading`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import RegisterMeter
from pownode import meter_sim, mqtt_broker
from pownode.client import send_as_operator
from pownode.keyfile import read_key, write_key

TOPICS = "households/{name}"


def gateway_homes(home: Path) -> list[Path]:
    return sorted((home / "gateways").glob("gw*"), key=lambda p: int(p.name[2:]) if p.name[2:].isdigit() else -1)


def broker_home(home: Path) -> Path:
    """The folder a cluster's broker is started for (its command line names it)."""
    return home / "mqtt"


def topic(gateway_home: Path) -> str:
    return TOPICS.format(name=gateway_home.name)


def new_households(count: int) -> list[tuple[PrivateKey, PrivateKey]]:
    """(meter key, owner key) of `count` new households."""
    return [(PrivateKey.generate(), PrivateKey.generate()) for _ in range(count)]


def serial(gateway_home: Path) -> str:
    return f"GW-{int(gateway_home.name[2:]):05d}"


def write_homes(home: Path, households: list[tuple[PrivateKey, PrivateKey]]) -> list[Path]:
    """A gateway home for each household, numbered after the existing ones."""
    existing = len(gateway_homes(home))
    homes = []
    for i, (meter, owner) in enumerate(households, start=existing):
        gw = home / "gateways" / f"gw{i}"
        write_key(gw / "meter.key", meter)
        write_key(gw / "owner.key", owner)
        homes.append(gw)
    return homes


def add_gateways(home: Path, count: int, api: str) -> list[Path]:
    """`count` more gateway homes; the operator certifies their meters on chain (through `api`,
    waiting for the commit), so their readings count from the next interval on. A new cluster's
    gateways are certified in its genesis instead (`init_network(gateway_meters=...)`)."""
    homes = write_homes(home, new_households(count))
    send_as_operator(api, str(home / "operator.key"),
                     [RegisterMeter(read_key(gw / "meter.key").public_key, "smart-meter", serial(gw),
                                    read_key(gw / "owner.key").address) for gw in homes],
                     "certifying the gateways' meters")
    return homes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(gateway_home: Path, genesis: Path, api: str, broker_port: int) -> subprocess.Popen:
    """The light gateway of `gateway_home`, in a session of its own, logging to its gateway.log
    (rotated by size; what it prints before its logging starts is appended there too)."""
    log_path = gateway_home.resolve() / "gateway.log"
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pownode.cli", "gateway", "--log-file", str(log_path), "--mqtt",
             f"mqtt://{mqtt_broker.USER}@127.0.0.1:{broker_port}", "--meter-key", str(gateway_home / "meter.key"),
             "--api", api, "--home", str(gateway_home.resolve()), "--topic", topic(gateway_home), "--light",
             "--genesis", str(genesis.resolve())],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "POWNODE_MQTT_PASSWORD": mqtt_broker.PASSWORD})


def log_size(gateway_home: Path) -> int:
    log = gateway_home / "gateway.log"
    return log.stat().st_size if log.exists() else 0


def subscribed(gateway_home: Path, since: int) -> bool:
    """The gateway logged its subscription to its meter's topic after byte `since` of its log."""
    log = gateway_home / "gateway.log"
    if not log.exists():
        return False
    with open(log, "rb") as f:
        f.seek(since)
        return b"subscribed to" in f.read()


class MeterFeed:
    """The MQTT broker of a cluster's gateways and, once `start_meters` is called, their simulated
    meters publishing into it from a thread, for as long as `cluster up` runs."""

    def __init__(self, home: Path, port: int) -> None:
        self.kind = mqtt_broker.best_available()
        self.port = port
        self.broker = mqtt_broker.start(self.kind, port, broker_home(home), start_new_session=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start_meters(self, gateway_homes: list[Path], genesis: Genesis, backfill: int = 1) -> None:
        meters = [meter_sim.SimulatedMeter.household(topic(gw), seed=int(gw.name[2:])) for gw in gateway_homes]
        self._thread = threading.Thread(
            target=lambda: asyncio.run(meter_sim.run(self.port, meters, genesis, self._stop, backfill)),
            name="meters", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        mqtt_broker.stop(self.broker)
