"""What each role costs a machine: memory, CPU, start-up time and disk (issue 16's figures).

    python benchmarks/footprint.py [--load-s 20] [--rate 100] [--idle-s 10] [--json FILE]

On a fresh 4-validator pbft network on loopback, with METERS certified meters:

- **validator** (node0, a `pownode run` process): seconds from spawn until its API answers; its
  resident set (VmRSS) and CPU per second while idle for `--idle-s` seconds (blocks every
  block_interval_ms, no transactions) and while meters send `--rate` readings a second to it
  (signed, fee-free, one meter key per reading stream, `?wait` not used); its peak resident set
  (VmHWM); and the disk its chain database grows per committed reading, so per day for a
  community of HOUSEHOLDS households reporting every 15 minutes.
- **full node** (`full0`, admitted by the operator, following the validators): seconds from
  spawn until it has caught up with node0; resident set and CPU per second idle and while the
  readings above commit; its peak resident set.
- **light gateway** (`pownode gateway --light`, talking to node0's API and proving every receipt
  from the genesis): start-up until it subscribed, resident set and CPU per second idle
  (`--idle-s` seconds), and while its meter publishes a burst of readings. Needs a broker:
  Debian's mosquitto if installed, else amqtt (the test extra).

The issue's goals are reported beside the figures: a light gateway <= 40 MB and <= 1 % of a core
idle, a full node <= 120 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from ledger.genesis import Genesis  # noqa: E402
from ledger.keys import PrivateKey  # noqa: E402
from ledger.transactions import MeterReading, Transaction  # noqa: E402
from pownode import cluster  # noqa: E402
from pownode.config import init_network  # noqa: E402
from pownode import mqtt_broker as brokers  # noqa: E402
from tests.cluster.test_local_cluster import _free_base  # noqa: E402

METERS = 200
HOUSEHOLDS = 200
READINGS_PER_DAY = 96
IDLE_S = 10.0
GATEWAY_BURST = 100


def meter_key(i: int) -> PrivateKey:
    return PrivateKey.from_label(f"pownode-footprint-meter-{i}")


def _status_field(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _sample(pid: int, seconds: float) -> dict:
    """RSS (median of samples) and CPU seconds per second over `seconds`."""
    start_cpu, start = _cpu_s(pid), time.monotonic()
    rss = []
    while time.monotonic() - start < seconds:
        rss.append(_status_field(pid, "VmRSS"))
        time.sleep(0.5)
    elapsed = time.monotonic() - start
    rss.sort()
    return {"rss_mb": round(rss[len(rss) // 2], 1), "cpu_per_s": round((_cpu_s(pid) - start_cpu) / elapsed, 4)}


async def _readings(api: str, genesis: Genesis, rate: int, seconds: float) -> int:
    """`rate` readings a second for `seconds`, each meter reporting its next interval."""
    sent = 0
    next_interval = [0] * METERS
    async with aiohttp.ClientSession() as session:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            batch = []
            for _ in range(max(1, rate // 10)):
                m = sent % METERS
                tx = Transaction.create(meter_key(m), genesis.chain_id, next_interval[m],
                                        MeterReading(next_interval[m], 1_000 + m, 800))
                next_interval[m] += 1
                sent += 1
                batch.append(tx.encoded.hex())
            async with session.post(f"http://{api}/txs", json={"txs": batch}) as response:
                await response.read()
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
    return sent


def validator(load_s: float, rate: int, idle_s: float, work: Path,
              procs: list[subprocess.Popen]) -> tuple[dict, Path, Genesis]:
    """node0's figures; the cluster's processes are left in `procs` for the caller to stop."""
    base = _free_base(8)
    net = work / "net"
    init_network(net, 4, "pbft", base_port=base, client_meters=True,
                 meter_keys=[meter_key(i).public_key for i in range(METERS)])
    genesis = Genesis.load(net / "genesis.json")
    started = time.monotonic()
    procs.append(cluster.spawn(net / "node0"))
    api = f"127.0.0.1:{base + 1}"
    while cluster.api_get(api, "/status") is None:
        time.sleep(0.05)
    out: dict = {"startup_s": round(time.monotonic() - started, 2)}
    procs += [cluster.spawn(net / f"node{i}") for i in range(1, 4)]
    cluster.wait_in_step(net, min_height=2, timeout_s=120)
    time.sleep(2)
    node0 = procs[0].pid
    started = time.monotonic()
    cluster.add_full_nodes(net, 1, procs)
    full, full_api = procs[-1].pid, cluster.addresses(net)[-1][1]
    deadline = time.monotonic() + 120
    while (cluster.api_get(full_api, "/status") or {}).get("height", -1) < (cluster.api_get(api, "/status") or {}).get(
            "height", 0):
        if time.monotonic() > deadline or procs[-1].poll() is not None:
            raise RuntimeError("the full node did not catch up: see its node.log")
        time.sleep(0.05)
    full_out: dict = {"catch_up_s": round(time.monotonic() - started, 2)}
    out["idle"] = _sample(node0, idle_s)
    full_out["idle"] = _sample(full, 2.0)
    disk_before, committed_before = _du(net / "node0" / "chain"), cluster.api_get(api, "/status")["committed_txs"]
    cpu_before, full_cpu_before, t0 = _cpu_s(node0), _cpu_s(full), time.monotonic()
    sent = asyncio.run(_readings(api, genesis, rate, load_s))
    loaded_s = time.monotonic() - t0
    out["loaded"] = {"rss_mb": round(_status_field(node0, "VmRSS"), 1),
                     "cpu_per_s": round((_cpu_s(node0) - cpu_before) / loaded_s, 4), "readings_sent": sent, "rate": rate}
    full_out["loaded"] = {"rss_mb": round(_status_field(full, "VmRSS"), 1),
                          "cpu_per_s": round((_cpu_s(full) - full_cpu_before) / loaded_s, 4)}
    out["full_node"] = full_out
    deadline = time.monotonic() + 60
    while cluster.api_get(api, "/status")["committed_txs"] - committed_before < sent and time.monotonic() < deadline:
        time.sleep(0.5)
    committed = cluster.api_get(api, "/status")["committed_txs"] - committed_before
    time.sleep(2)  # let LevelDB write its log
    grown = _du(net / "node0" / "chain") - disk_before
    out["loaded"]["readings_committed"] = committed
    out["peak_rss_mb"] = round(_status_field(node0, "VmHWM"), 1)
    full_out["peak_rss_mb"] = round(_status_field(full, "VmHWM"), 1)
    full_out["height"] = cluster.api_get(full_api, "/status")["height"]
    out["disk_bytes_per_reading"] = round(grown / committed) if committed else None
    out["disk_mb_per_day"] = round(grown / committed * HOUSEHOLDS * READINGS_PER_DAY / 1e6, 2) if committed else None
    return out, net, genesis


async def _burst(port: int, topic: str, genesis: Genesis) -> None:
    import aiomqtt

    now = genesis.interval_of(int(time.time() * 1000))
    async with aiomqtt.Client("127.0.0.1", port, identifier="footprint-meter", username=brokers.USER,
                              password=brokers.PASSWORD) as client:
        for k in range(GATEWAY_BURST):
            doc = {"interval": now - GATEWAY_BURST + k, "produced_wh": 100, "consumed_wh": 50}
            await client.publish(f"{topic}/reading", json.dumps(doc), qos=1)


def gateway(net: Path, genesis: Genesis, api: str, work: Path, idle_s: float) -> dict:
    kind = brokers.best_available()
    port = _free_base(1)
    broker = brokers.start(kind, port)
    env = {**os.environ, "POWNODE_MQTT_PASSWORD": brokers.PASSWORD}
    topic = "footprint/meter"
    log = open(work / "gateway.log", "ab")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pownode.cli", "gateway", "--mqtt",
                             f"mqtt://{brokers.USER}@127.0.0.1:{port}", "--meter-key",
                             str(net / "meters" / "client0.key"), "--api", api, "--home", str(work / "gw"),
                             "--topic", topic, "--light", "--genesis", str(net / "genesis.json")],
                            stdout=log, stderr=log, env=env)
    try:
        while b"subscribed" not in (work / "gateway.log").read_bytes():
            if proc.poll() is not None or time.monotonic() - started > 60:
                raise RuntimeError("the gateway did not start: see gateway.log")
            time.sleep(0.05)
        out: dict = {"broker": kind, "startup_s": round(time.monotonic() - started, 2)}
        out["idle"] = _sample(proc.pid, idle_s)
        cpu_before, t0 = _cpu_s(proc.pid), time.monotonic()
        asyncio.run(_burst(port, topic, genesis))
        outbox = work / "gw" / "outbox.sqlite"
        deadline = time.monotonic() + 120
        import sqlite3

        proven = 0
        while time.monotonic() < deadline:
            with sqlite3.connect(outbox) as db:
                rows = db.execute("SELECT outcome FROM readings WHERE status = 'done'").fetchall()
            proven = sum(1 for (outcome,) in rows if outcome and json.loads(outcome).get("verified"))
            if proven >= GATEWAY_BURST:
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        if proven < GATEWAY_BURST:
            raise RuntimeError(f"only {proven} of {GATEWAY_BURST} readings were committed and proven in time")
        out["burst"] = {"readings": GATEWAY_BURST, "proven": proven, "seconds": round(elapsed, 1),
                        "cpu_s_per_reading": round((_cpu_s(proc.pid) - cpu_before) / GATEWAY_BURST, 5)}
        out["peak_rss_mb"] = round(_status_field(proc.pid, "VmHWM"), 1)
        out["disk_bytes"] = _du(work / "gw")
        return out
    finally:
        proc.terminate()
        proc.wait(30)
        brokers.stop(broker)


def run(load_s: float, rate: int, json_path: str | None, idle_s: float = IDLE_S) -> dict:
    """Every role's figures; `idle_s` is how long the validator and the light gateway are sampled
    idle (the test samples a second: it checks that each figure is recorded, not its size)."""
    work = Path(tempfile.mkdtemp(prefix="pownode-footprint-"))
    procs: list[subprocess.Popen] = []
    try:
        found, net, genesis = validator(load_s, rate, idle_s, work, procs)
        gw = gateway(net, genesis, cluster.addresses(net)[0][1], work, idle_s)
    finally:
        cluster.stop(procs)
        shutil.rmtree(work, ignore_errors=True)
    results = {"validator": found, "full_node": found.pop("full_node"), "light_gateway": gw,
               "goals": {"light_gateway_rss_mb": 40, "light_gateway_idle_cpu_per_s": 0.01, "full_node_rss_mb": 120}}
    v, f, g = found, results["full_node"], gw
    rows = [
        ("validator start-up", f"{v['startup_s']} s"),
        ("validator idle", f"{v['idle']['rss_mb']} MB RSS, {v['idle']['cpu_per_s'] * 100:.1f} % of a core"),
        (f"validator at {rate} readings/s", f"{v['loaded']['rss_mb']} MB RSS, {v['loaded']['cpu_per_s'] * 100:.1f} % "
                                            f"of a core ({v['loaded']['readings_committed']} committed)"),
        ("validator peak RSS", f"{v['peak_rss_mb']} MB"),
        ("chain disk per reading", f"{v['disk_bytes_per_reading']} B; {v.get('disk_mb_per_day')} MB a day for "
                                   f"{HOUSEHOLDS} households"),
        ("full node catch-up", f"{f['catch_up_s']} s from spawn (with its admission)"),
        ("full node idle", f"{f['idle']['rss_mb']} MB RSS, {f['idle']['cpu_per_s'] * 100:.1f} % of a core"),
        (f"full node at {rate} readings/s", f"{f['loaded']['rss_mb']} MB RSS, {f['loaded']['cpu_per_s'] * 100:.1f} % "
                                            f"of a core; peak {f['peak_rss_mb']} MB (goal: <= 120 MB)"),
        ("light gateway start-up", f"{g['startup_s']} s ({g['broker']})"),
        ("light gateway idle", f"{g['idle']['rss_mb']} MB RSS, {g['idle']['cpu_per_s'] * 100:.2f} % of a core "
                               f"(goal: <= 40 MB, <= 1 %)"),
        (f"light gateway, {GATEWAY_BURST} readings", f"{g['burst']['seconds']} s, "
                                                   f"{g['burst']['cpu_s_per_reading'] * 1000:.2f} ms CPU each, "
                                                   f"peak {g['peak_rss_mb']} MB"),
    ]
    emit("footprint", results, rows, json_path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load-s", type=float, default=20.0, help="seconds of readings at --rate")
    parser.add_argument("--rate", type=int, default=100, help="readings a second to node0")
    parser.add_argument("--idle-s", type=float, default=IDLE_S, help="seconds the validator and the gateway are "
                        "sampled idle")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    run(args.load_s, args.rate, args.json, args.idle_s)


if __name__ == "__main__":
    main()
