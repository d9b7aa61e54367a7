"""`pownode cluster up --gateways N`: light gateways with simulated meters behind a real broker,
recorded with the nodes so `cluster down` stops them too; and a reading a node refuses to a light
gateway (which cannot prove the refusal, so keeps it) does not hold back the meter's later ones.
(Every reading committing once and every receipt proven: tests/cluster/test_community_bench.py.)"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

from ledger.genesis import Genesis
from pownode import cluster
from pownode.cluster_gateways import gateway_homes
from pownode.config import init_network
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base, _wait
from tests.cluster.test_operator_cli import ROOT, pownode


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _up(home: Path, *options: str) -> tuple[subprocess.Popen, list[str]]:
    """`pownode cluster up` in a process of its own, and its output up to the gateways' line."""
    up = subprocess.Popen([sys.executable, "-m", "pownode.cli", "cluster", "up", "--home", str(home), *options],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    lines: list[str] = []
    while not any("light gateways" in line for line in lines):
        line = up.stdout.readline()
        if not line:
            up.wait(60)
            raise AssertionError("cluster up ended before starting its gateways:\n" + "".join(lines))
        lines.append(line)
    return up, lines


def test_up_starts_gateways_and_a_broker_and_down_stops_them(tmp_path: Path) -> None:
    home = tmp_path / "net"
    up, lines = _up(home, "--nodes", "4", "--full", "1", "--gateways", "2", "--base-port", str(_free_base(10)))
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", lines[-1]).group(1))
        assert _listening(port)
        names = sorted(h.name for _, h in cluster.running(home))
        assert names == sorted(["node0", "node1", "node2", "node3", "full0", "gw0", "gw1", "mqtt"]), names
        # The genesis certified each gateway's meter for its household.
        genesis = Genesis.load(home / "genesis.json")
        owners = {m.serial: m.owner for m in genesis.meters}
        for gw in gateway_homes(home):
            assert owners[f"GW-{int(gw.name[2:]):05d}"] == read_key(gw / "owner.key").address
        down = pownode("cluster", "down", "--home", str(home))
        assert down.returncode == 0 and all(f"stopped {name}" in down.stdout for name in ("gw0", "gw1", "mqtt")), down.stdout
        up.wait(60)
        assert not cluster.running(home)
        _wait(lambda: not _listening(port), 30, "the broker stops with cluster up")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(60)


def test_a_terminated_up_stops_its_nodes_gateways_and_broker(tmp_path: Path) -> None:
    """SIGTERM stops what `up` started, as Ctrl-C does; and `up` SIGKILLed leaves nothing
    `cluster down` cannot find: the broker is recorded with the nodes and gateways."""
    home = tmp_path / "net"
    up, lines = _up(home, "--nodes", "1", "--gateways", "1", "--base-port", str(_free_base(2)))
    try:
        port = int(re.search(r"127\.0\.0\.1:(\d+)", lines[-1]).group(1))
        pids = [pid for pid, _ in cluster.running(home)]
        assert len(pids) == 3  # the node, the gateway and the broker
        up.send_signal(signal.SIGTERM)  # as `kill` or a service manager stops it
        up.send_signal(signal.SIGTERM)  # twice: the second must not cut the clean-up short
        out = up.communicate(timeout=60)[0]
        assert up.returncode == 0 and "stopping the 3 processes" in out and "Traceback" not in out, out
        assert not cluster.running(home) and not (home / "cluster.json").exists()
        assert not _listening(port)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(60)
    up, lines = _up(home, "--gateways", "1")
    port = int(re.search(r"127\.0\.0\.1:(\d+)", lines[-1]).group(1))
    up.kill()  # no clean-up at all
    up.wait(60)
    down = pownode("cluster", "down", "--home", str(home))
    assert down.returncode == 0 and "stopped mqtt" in down.stdout, down.stdout
    assert not cluster.running(home) and not _listening(port)


def test_a_refused_reading_does_not_hold_back_the_meters_later_ones(tmp_path: Path) -> None:
    """A gateway added to a running cluster gets its meter certified from the next interval on:
    the readings its meter had already measured are refused (reading-before-certification), which
    the light gateway proves final from the meter's certification on chain, and its later readings
    commit."""
    home = tmp_path / "net"
    init_network(home, 4, "pbft", base_port=_free_base(8), params={"interval_ms": 3000})
    procs: list[subprocess.Popen] = []
    feed = None
    try:
        cluster.start(home, 4, "pbft", 0, procs)
        cluster.wait_in_step(home, procs=procs, timeout_s=120)
        feed = cluster.start_gateways(home, 1, procs)
        [gw] = gateway_homes(home)
        genesis = Genesis.load(home / "genesis.json")
        feed.start_meters([gw], genesis, backfill=3)  # intervals the meter measured before its certification

        def outbox() -> dict[int, str]:
            with sqlite3.connect(gw / "outbox.sqlite") as db:
                return dict(db.execute("SELECT interval, status FROM readings").fetchall())

        _wait(lambda: list(outbox().values()).count("done") >= 2, 120, "two of the meter's later readings commit")
        first_done = min(i for i, s in outbox().items() if s == "done")
        _wait(lambda: outbox()[first_done - 1] == "refused", 120, "the reading before certification is refused")
        assert "refused, proven final: reading-before-certification" in (gw / "gateway.log").read_text()
    finally:
        cluster.stop(procs)
        if feed is not None:
            feed.close()
