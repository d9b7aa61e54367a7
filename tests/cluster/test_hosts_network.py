"""A network across machines, as `pownode init --hosts` writes it: four network namespaces, one
address each, joined by a bridge like hosts on a LAN; every node runs in its own namespace from
its home, the nodes find each other by those addresses, and a transaction sent to one host's
node commits on another's. Needs root and iproute2 (`.ci/run` installs it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODES = 4
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="network namespaces need root and iproute2 (ip)")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def hosts():
    """NODES namespaces with addresses 10.77.x.1..NODES on one bridge in a hub namespace."""
    tag = f"pw{os.getpid() % 100000}"
    subnet = f"10.77.{os.getpid() % 250}"
    names = [f"{tag}h{i}" for i in range(NODES)]
    hub = f"{tag}hub"
    made = []
    try:
        for ns in [hub, *names]:
            _ip("netns", "add", ns)
            made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", hub, "link", "set", "br0", "up")
        addresses = []
        for i, ns in enumerate(names):
            _ip("link", "add", f"{tag}v{i}", "netns", ns, "type", "veth", "peer", "name", f"{tag}b{i}", "netns", hub)
            _ip("-n", ns, "link", "set", f"{tag}v{i}", "name", "eth0")
            _ip("-n", ns, "addr", "add", f"{subnet}.{i + 1}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", hub, "link", "set", f"{tag}b{i}", "master", "br0")
            _ip("-n", hub, "link", "set", f"{tag}b{i}", "up")
            addresses.append(f"{subnet}.{i + 1}")
        yield names, addresses
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def _in(ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "pownode.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_nodes_on_separate_hosts_find_each_other_and_commit(hosts, tmp_path: Path) -> None:
    names, addresses = hosts
    net = tmp_path / "net"
    made = subprocess.run([sys.executable, "-m", "pownode.cli", "init", "--out", str(net), "--hosts", ",".join(addresses)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert made.returncode == 0, made.stderr
    config = json.loads((net / "node1" / "config.json").read_text())
    assert {p["host"] for p in config["peers"]} == set(addresses) - {addresses[1]}
    procs = []
    try:
        for i, ns in enumerate(names):
            with open(net / f"node{i}" / "node.log", "ab") as log:
                procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "pownode.cli", "run",
                                               "--home", str(net / f"node{i}")], stdout=log, stderr=subprocess.STDOUT,
                                              cwd=ROOT))
        api = f"127.0.0.1:{config['api_port']}"  # each node's API on its own host's loopback

        def status(ns: str) -> dict:
            found = _in(ns, "query", "status", "--api", api)
            return json.loads(found.stdout) if found.returncode == 0 else {}

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = [status(ns) for ns in names]
            if all(len(s.get("peers", [])) == NODES - 1 and s.get("height", 0) >= 2 for s in found):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"the hosts did not connect: {[(s.get('height'), len(s.get('peers', []))) for s in found]}")
        sent = _in(names[1], "tx", "send", "--api", api, "--key", str(net / "clients" / "client0.key"), "--wait",
                   "transfer", "--to", "44" * 20, "--amount", "123")
        assert sent.returncode == 0 and json.loads(sent.stdout)["status"] == "committed", sent.stdout + sent.stderr
        height = json.loads(sent.stdout)["height"]
        deadline = time.monotonic() + 60
        while status(names[3]).get("height", 0) < height and time.monotonic() < deadline:
            time.sleep(0.5)
        seen = json.loads(_in(names[3], "query", "account", "44" * 20, "--api", api).stdout)
        assert seen["balance"] == 123
        health = json.loads(_in(names[2], "query", "health", "--api", api).stdout)
        assert health["status"] == "ok"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
