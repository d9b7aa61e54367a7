"""A community at scale on one machine: a handful of validators, full nodes that serve the
households, and one light gateway per household bridging its smart meter's MQTT readings.

    python benchmarks/community.py [--households 20] [--full 2] [--readings 4] [--json FILE]

A 4-validator pbft network on loopback certifies one meter per household; the operator admits
`--full` full nodes; one MQTT broker (mosquitto if installed, else amqtt) carries every meter's
topic; each household's `pownode gateway --light` talks to a full node's API (round robin) and
proves every receipt from the genesis. A simulated meter per household then publishes
`--readings` readings of recent intervals at once. Measured: seconds until every reading is
committed (each meter's nonce counts them, so none is lost or doubled), every reading's receipt
published as verified, and the memory and CPU of each role over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.footprint import _cpu_s, _status_field  # noqa: E402
from benchmarks.report import emit  # noqa: E402
from ledger.genesis import Genesis  # noqa: E402
from ledger.keys import PrivateKey  # noqa: E402
from pownode import cluster  # noqa: E402
from pownode.config import init_network  # noqa: E402
from pownode.keyfile import write_key  # noqa: E402
from tests.cluster.test_local_cluster import _free_base  # noqa: E402
from tests.gateway import brokers  # noqa: E402

DEADLINE_S = 600


def meter_key(i: int) -> PrivateKey:
    return PrivateKey.from_label(f"pownode-community-meter-{i}")


async def _publish(port: int, households: int, readings: int, genesis: Genesis) -> None:
    import aiomqtt

    now = genesis.interval_of(int(time.time() * 1000))
    async with aiomqtt.Client("127.0.0.1", port, identifier="community-meters", username=brokers.USER,
                              password=brokers.PASSWORD) as client:
        for i in range(households):
            for k in range(readings):
                doc = {"interval": now - readings + k, "produced_wh": 100 + i, "consumed_wh": 50 + k}
                await client.publish(f"community/meter{i}/reading", json.dumps(doc), qos=1)


def _verified(home: Path) -> int:
    outbox = home / "outbox.sqlite"
    if not outbox.exists():
        return 0
    with sqlite3.connect(outbox) as db:
        rows = db.execute("SELECT outcome FROM readings WHERE status = 'done'").fetchall()
    return sum(1 for (outcome,) in rows if outcome and json.loads(outcome).get("verified"))


def run(households: int, full: int, readings: int, json_path: str | None) -> dict:
    if households < 1 or full < 1 or readings < 1:
        raise ValueError("a community needs at least one household, one full node and one reading each")
    work = Path(tempfile.mkdtemp(prefix="pownode-community-"))
    procs: list[subprocess.Popen] = []
    gateways: list[subprocess.Popen] = []
    broker = None
    try:
        base = _free_base(8 + 2 * full)
        net = work / "net"
        keys = [meter_key(i) for i in range(households)]
        init_network(net, 4, "pbft", base_port=base, meter_keys=[k.public_key for k in keys])
        for i, key in enumerate(keys):
            write_key(work / "meters" / f"meter{i}.key", key)
        genesis = Genesis.load(net / "genesis.json")
        cluster.start(net, 4, "pbft", base, procs)
        cluster.wait_in_step(net, timeout_s=120)
        cluster.add_full_nodes(net, full, procs)
        cluster.wait_in_step(net, timeout_s=120)
        apis = [addr for name, addr in cluster.addresses(net) if name.startswith("full")]
        kind = "mosquitto" if brokers.available("mosquitto") else "amqtt"
        port = _free_base(1)
        broker = brokers.start(kind, port)
        env = {**os.environ, "POWNODE_MQTT_PASSWORD": brokers.PASSWORD}
        log = open(work / "gateways.log", "ab")
        for i in range(households):
            gateways.append(subprocess.Popen(
                [sys.executable, "-m", "pownode.cli", "gateway", "--mqtt", f"mqtt://{brokers.USER}@127.0.0.1:{port}",
                 "--meter-key", str(work / "meters" / f"meter{i}.key"), "--api", apis[i % len(apis)],
                 "--home", str(work / "gw" / str(i)), "--topic", f"community/meter{i}", "--light",
                 "--genesis", str(net / "genesis.json")], stdout=log, stderr=log, env=env))
        deadline = time.monotonic() + 120
        while (work / "gateways.log").read_bytes().count(b"subscribed to") < households:
            if time.monotonic() > deadline or any(g.poll() is not None for g in gateways):
                raise RuntimeError(f"the gateways did not all start: see {work / 'gateways.log'}")
            time.sleep(0.2)
        cpu = {p.pid: _cpu_s(p.pid) for p in procs + gateways}
        started = time.monotonic()
        asyncio.run(_publish(port, households, readings, genesis))
        total = households * readings
        deadline = time.monotonic() + DEADLINE_S
        committed = verified = 0
        while time.monotonic() < deadline:
            nonces = [(cluster.api_get(apis[0], f"/accounts/{k.address.hex()}") or {}).get("nonce", 0) for k in keys]
            committed = sum(nonces)
            verified = sum(_verified(work / "gw" / str(i)) for i in range(households))
            if committed >= total and verified >= total:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        validators, fulls = procs[:4], procs[4:]

        def role(ps: list[subprocess.Popen]) -> dict:
            return {"count": len(ps), "rss_mb_each": round(sum(_status_field(p.pid, "VmHWM") for p in ps) / len(ps), 1),
                    "cpu_s_each": round(sum(_cpu_s(p.pid) - cpu[p.pid] for p in ps) / len(ps), 2)}

        results = {"households": households, "full_nodes": full, "readings_each": readings, "broker": kind,
                   "readings": total, "committed": committed, "verified_receipts": verified,
                   "seconds": round(elapsed, 1), "validators": role(validators), "full": role(fulls),
                   "light_gateways": role(gateways)}
    finally:
        for g in gateways:
            g.terminate()
        for g in gateways:
            try:
                g.wait(30)
            except subprocess.TimeoutExpired:
                g.kill()
        cluster.stop(procs)
        if broker is not None:
            brokers.stop(broker)
        shutil.rmtree(work, ignore_errors=True)
    r = results
    rows = [
        ("community", f"4 validators, {full} full nodes, {households} light gateways ({kind})"),
        ("readings committed / verified", f"{r['committed']} / {r['verified_receipts']} of {r['readings']}, "
                                          f"in {r['seconds']} s"),
        ("validator (each)", f"peak {r['validators']['rss_mb_each']} MB, {r['validators']['cpu_s_each']} s CPU"),
        ("full node (each)", f"peak {r['full']['rss_mb_each']} MB, {r['full']['cpu_s_each']} s CPU"),
        ("light gateway (each)", f"peak {r['light_gateways']['rss_mb_each']} MB, "
                                 f"{r['light_gateways']['cpu_s_each']} s CPU"),
    ]
    emit("community", results, rows, json_path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=20)
    parser.add_argument("--full", type=int, default=2, help="full nodes, serving the gateways")
    parser.add_argument("--readings", type=int, default=4, help="readings each meter publishes")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    run(args.households, args.full, args.readings, args.json)


if __name__ == "__main__":
    main()
