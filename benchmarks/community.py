"""A community at scale on one machine: a handful of validators, full nodes that serve the
households, and one light gateway per household bridging its smart meter's MQTT readings.

    python benchmarks/community.py [--households 20] [--full 2] [--readings 4] [--json FILE]

The community `pownode cluster up --full F --gateways N` starts (`cluster.start_gateways`): a
4-validator pbft network on loopback whose genesis certifies one meter per household; `--full`
full nodes the operator admits; one MQTT broker (mosquitto if installed, else amqtt) carrying
every meter's topic; each household's `pownode gateway --light` talking to a full node's API
(round robin) and proving every receipt from the genesis. Each simulated meter
(`pownode.meter_sim`) then publishes its readings of the `--readings` intervals that ended last,
at once. Measured: seconds until every reading is
committed (each meter's nonce counts them, so none is lost or doubled), every reading's receipt
published as verified, and the memory and CPU of each role over the run.
"""

from __future__ import annotations

import argparse
import json
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
from pownode import cluster  # noqa: E402
from pownode.cluster_gateways import gateway_homes  # noqa: E402
from pownode.keyfile import read_key  # noqa: E402
from tests.cluster.test_local_cluster import _free_base  # noqa: E402

DEADLINE_S = 600


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
    feed = None
    try:
        net = work / "net"
        cluster.start(net, 4, "pbft", _free_base(8 + 2 * full), procs, gateways=households)
        cluster.wait_in_step(net, timeout_s=120)
        cluster.add_full_nodes(net, full, procs)
        cluster.wait_in_step(net, timeout_s=120)
        apis = [addr for name, addr in cluster.addresses(net) if name.startswith("full")]
        gateway_count = len(procs)
        feed = cluster.start_gateways(net, households, procs)
        gateways = [p for p in procs[gateway_count:] if p is not feed.broker]
        homes = gateway_homes(net)
        keys = [read_key(gw / "meter.key") for gw in homes]
        cpu = {p.pid: _cpu_s(p.pid) for p in procs}
        started = time.monotonic()
        feed.start_meters(homes, Genesis.load(net / "genesis.json"), backfill=readings)  # all published at once
        total = households * readings
        deadline = time.monotonic() + DEADLINE_S
        committed = verified = 0
        while time.monotonic() < deadline:
            nonces = [(cluster.api_get(apis[0], f"/accounts/{k.address.hex()}") or {}).get("nonce", 0) for k in keys]
            committed = sum(nonces)
            verified = sum(_verified(gw) for gw in homes)
            if committed >= total and verified >= total:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        validators, fulls = procs[:4], procs[4:gateway_count]

        def role(ps: list[subprocess.Popen]) -> dict:
            return {"count": len(ps), "rss_mb_each": round(sum(_status_field(p.pid, "VmHWM") for p in ps) / len(ps), 1),
                    "cpu_s_each": round(sum(_cpu_s(p.pid) - cpu[p.pid] for p in ps) / len(ps), 2)}

        results = {"households": households, "full_nodes": full, "readings_each": readings, "broker": feed.kind,
                   "readings": total, "committed": committed, "verified_receipts": verified,
                   "seconds": round(elapsed, 1), "validators": role(validators), "full": role(fulls),
                   "light_gateways": role(gateways)}
    finally:
        cluster.stop(procs)
        if feed is not None:
            feed.close()
        shutil.rmtree(work, ignore_errors=True)
    r = results
    rows = [
        ("community", f"4 validators, {full} full nodes, {households} light gateways ({r['broker']})"),
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
