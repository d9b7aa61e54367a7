"""`pownode cluster up|status|down`: a local N-node cluster of real processes on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pownode.config import NodeConfig, init_network


def api_get(address: str, path: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        # HTTPException: e.g. a socket that connected to itself while nothing listened yet
        # (TCP simultaneous open on a port in the ephemeral range) echoes our request back.
        return None


def addresses(home: Path) -> list[tuple[str, str]]:
    """(node name, API address) of every node home under `home`."""
    out = []
    for node_home in sorted(home.glob("node*")):
        config = NodeConfig.load(node_home)
        out.append((config.name, f"{config.api_host}:{config.api_port}"))
    return out


def statuses(home: Path) -> list[dict]:
    return [{"name": name, "api": addr, **(api_get(addr, "/status") or {"error": "unreachable"})}
            for name, addr in addresses(home)]


def spawn(node_home: Path) -> subprocess.Popen:
    """One node process for `node_home`, in a session of its own, appending to its node.log."""
    with open(node_home / "node.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "pownode.cli", "run", "--home", str(node_home)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start(home: Path, nodes: int, consensus: str, base_port: int) -> list[subprocess.Popen]:
    if not (home / "genesis.json").exists():
        init_network(home, nodes, consensus, base_port=base_port)
    procs = [spawn(node_home) for node_home in sorted(home.glob("node*"))]
    (home / "cluster.json").write_text(json.dumps({"pids": [p.pid for p in procs]}) + "\n")
    return procs


def wait_in_step(home: Path, min_height: int = 1, timeout_s: float = 60.0) -> list[dict]:
    """Wait until every node answers and all report the same height >= min_height."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = statuses(home)
        heights = {s.get("height") for s in found}
        if None not in heights and len(heights) == 1 and min(heights) >= min_height:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"nodes did not reach a common height >= {min_height} in {timeout_s:.0f} s: "
                       f"{[(s['name'], s.get('height')) for s in statuses(home)]}")


def stop(procs: list[subprocess.Popen], timeout_s: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def up(home: Path, nodes: int, consensus: str, duration: float | None, base_port: int) -> int:
    procs = start(home, nodes, consensus, base_port)
    try:
        found = wait_in_step(home)
        print(f"{len(found)} nodes in step at height {found[0]['height']} ({consensus}); logs in {home}/node*/node.log")
        for s in found:
            print(f"  {s['name']}  http://{s['api']}  peers {len(s['peers'])}")
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            line = "  ".join(f"{s['name']} h{s.get('height', '?')} {s.get('tx_per_s', 0)}tx/s p{len(s.get('peers', []))}"
                             for s in statuses(home))
            if sys.stdout.isatty():
                print(f"\r{line}", end="", flush=True)
            else:
                print(line, flush=True)
            time.sleep(1)
        print()
    except KeyboardInterrupt:
        print()
    finally:
        stop(procs)
    return 0


def down(home: Path) -> int:
    """Stop the processes `cluster up` recorded (and only those)."""
    record = home / "cluster.json"
    if not record.exists():
        print(f"no cluster recorded in {home}")
        return 1
    for pid in json.loads(record.read_text())["pids"]:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    return 0
