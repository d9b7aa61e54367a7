"""`pownode cluster up|status|down`: a local N-node cluster of real processes on loopback.

`up` records its node processes in `HOME/cluster.json` and refuses a home whose nodes are
already running (recorded processes still alive, or any node's API answering), since a second
set of processes would only die on the first set's database locks. `down` stops only processes
that are still this home's nodes (their command line is `pownode.cli run --home HOME/nodeN`), says
what it stopped, and clears the record, so a PID reused by an unrelated process is never hit.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from ledger.transactions import AdmitNode
from ledger.genesis import Genesis
from pownode import cluster_gateways
from pownode.client import send_as_operator
from pownode.cluster_gateways import gateway_homes
from pownode.config import NodeConfig, add_full_homes, init_network
from pownode.keyfile import read_key


def api_get(address: str, path: str, timeout: float = 2.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
        # HTTPException: e.g. a socket that connected to itself while nothing listened yet
        # (TCP simultaneous open on a port in the ephemeral range) echoes our request back.
        return None


def node_homes(home: Path) -> list[Path]:
    """The validators' homes (`node<i>`), then the full nodes' (`full<i>`)."""
    return sorted(home.glob("node*")) + sorted(home.glob("full*"))


def addresses(home: Path) -> list[tuple[str, str]]:
    """(node name, API address) of every node home under `home`."""
    out = []
    for node_home in node_homes(home):
        config = NodeConfig.load(node_home)
        out.append((config.name, f"{config.api_host}:{config.api_port}"))
    return out


def statuses(home: Path) -> list[dict]:
    return [{"name": name, "api": addr, **(api_get(addr, "/status") or {"error": "unreachable"})}
            for name, addr in addresses(home)]


def spawn(node_home: Path, resync: bool = False) -> subprocess.Popen:
    """One node process for `node_home`, in a session of its own, logging to its node.log (rotated
    by size: `run --log-file`; what it prints before its logging starts is appended there too)."""
    log_path = node_home.resolve() / "node.log"
    with open(log_path, "ab") as log:  # an absolute home: `down` finds it from anywhere
        return subprocess.Popen([sys.executable, "-m", "pownode.cli", "run", "--home", str(node_home.resolve()),
                                 "--log-file", str(log_path)] + (["--resync"] if resync else []),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


class ClusterRunning(OSError):
    """The home's nodes are already running."""


class NodeExited(OSError):
    """A node process exited while the cluster was starting."""


def _record(home: Path) -> Path:
    return home / "cluster.json"


def _home_of(pid: int) -> Path | None:
    """The home a live `pownode.cli run` (a node) or `pownode.cli gateway` process serves, or the
    folder a cluster's MQTT broker was started for (`mqtt_broker.start(home=...)`), or None when
    the PID is none of them."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [a.decode(errors="replace") for a in argv if a]
    if words and Path(words[0]).name == "mosquitto" and "-c" in words[:-1]:
        return Path(words[words.index("-c") + 1]).resolve().parent
    pownode = "pownode.cli" in words and {"run", "gateway"} & set(words)
    amqtt = "-c" in words and any("from amqtt.broker import Broker" in w for w in words)
    if not (pownode or amqtt) or "--home" not in words[:-1]:
        return None
    home = Path(words[words.index("--home") + 1])
    if not home.is_absolute():  # relative to the process's own working directory, not ours
        try:
            home = Path(os.readlink(f"/proc/{pid}/cwd")) / home
        except OSError:
            return None
    return home.resolve()


def running(home: Path) -> list[tuple[int, Path]]:
    """(PID, home) of the recorded processes that are still this home's nodes and gateways."""
    try:
        pids = json.loads(_record(home).read_text()).get("pids", [])
    except (OSError, ValueError, AttributeError):
        return []  # no record, or not one `cluster up` wrote
    homes = {h.resolve() for h in node_homes(home) + gateway_homes(home) + [cluster_gateways.broker_home(home)]}
    out = []
    for pid in pids:
        found = _home_of(pid)
        if found is not None and found in homes:
            out.append((pid, found))
    return out


def refuse_if_running(home: Path) -> None:
    alive = running(home)
    if alive:
        raise ClusterRunning(f"the cluster in {home} is running (PIDs {', '.join(str(p) for p, _ in alive)}): "
                             f"stop it first with `pownode cluster down --home {home}`")
    if (home / "genesis.json").exists():
        answering = [f"{name} at http://{addr}" for name, addr in addresses(home) if api_get(addr, "/status", 0.5)]
        if answering:
            raise ClusterRunning(f"nodes of {home} are running outside `cluster up` ({', '.join(answering)}): "
                                 "stop them first")


def refuse_other_shape(home: Path, nodes: int | None = None, consensus: str | None = None,
                       base_port: int | None = None) -> None:
    """`up --nodes/--consensus/--base-port` shape a new home only: on an existing one, a value
    other than the home's is refused (a ValueError saying what the home is), so an operator
    asking for a PoE cluster never silently gets the home's PBFT one."""
    if not (home / "genesis.json").exists():
        return
    validators = sorted(home.glob("node*"))
    actual = {"--nodes": len(validators), "--consensus": Genesis.load(home / "genesis.json").consensus,
              "--base-port": NodeConfig.load(validators[0]).listen_port if validators else None}
    asked = {"--nodes": nodes, "--consensus": consensus, "--base-port": base_port}
    differ = [f"{flag} {asked[flag]}" for flag in asked if asked[flag] is not None and asked[flag] != actual[flag]]
    if differ:
        raise ValueError(f"{home} already holds a network of {actual['--nodes']} {actual['--consensus']} validators "
                         f"from port {actual['--base-port']}: {', '.join(differ)} would shape a new home only "
                         f"(leave {'them' if len(differ) > 1 else 'it'} out, or give another --home)")


def start(home: Path, nodes: int, consensus: str, base_port: int,
          procs: list[subprocess.Popen] | None = None, client_meters: bool = False,
          resync: bool = False, gateways: int = 0) -> list[subprocess.Popen]:
    """Start the home's nodes (making the network first if the home is new, its households
    with meters if `client_meters`, and `gateways` gateway homes whose meters the genesis
    certifies), appending each process to `procs` as it starts, so a caller interrupted midway
    still holds every one."""
    procs = [] if procs is None else procs
    refuse_if_running(home)
    if not (home / "genesis.json").exists():
        households = cluster_gateways.new_households(gateways)
        init_network(home, nodes, consensus, base_port=base_port, client_meters=client_meters,
                     gateway_meters=[(meter.public_key, owner.address) for meter, owner in households])
        cluster_gateways.write_homes(home, households)
    for node_home in node_homes(home):
        _spawn_recorded(home, node_home, procs, resync=resync and not (node_home / "chain").exists())
    return procs


def _spawn_recorded(home: Path, node_home: Path, procs: list[subprocess.Popen], resync: bool = False) -> None:
    _record_spawned(home, procs, lambda: spawn(node_home, resync=resync))


class _Interrupts:
    """`up`'s Ctrl-C and SIGTERM: the first one stops what `up` started (a KeyboardInterrupt), and
    none lands between a process's spawn and its record, which would orphan the process: one
    arriving then is held until the record is written."""

    spawning = False
    held = False

    @classmethod
    def handle(cls, signum: int, frame: object) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # a second one must not cut the clean-up short
        if cls.spawning:
            cls.held = True
            return
        raise KeyboardInterrupt


def _record_spawned(home: Path, procs: list[subprocess.Popen], start: Callable[[], subprocess.Popen]) -> None:
    """Start a process with `start` and record it in `procs` and HOME/cluster.json."""
    _Interrupts.spawning = True
    try:
        procs.append(start())
        tmp = _record(home).with_suffix(".tmp")
        tmp.write_text(json.dumps({"pids": [p.pid for p in procs]}) + "\n")
        tmp.replace(_record(home))
    finally:
        _Interrupts.spawning = False
    if _Interrupts.held:
        _Interrupts.held = False
        raise KeyboardInterrupt


def add_full_nodes(home: Path, count: int, procs: list[subprocess.Popen]) -> None:
    """Make `count` more full-node homes, have the operator admit their keys on chain (through
    node0's API, waiting for the commit), and start them."""
    new = add_full_homes(home, count)
    send_as_operator(addresses(home)[0][1], str(home / "operator.key"),
                     [AdmitNode(read_key(Path(NodeConfig.load(h).key)).public_key, 1) for h in new], "admitting the full nodes")
    for node_home in new:
        _spawn_recorded(home, node_home, procs)


# How long `up` waits for its nodes to answer at one height: a node loads its numba kernels and
# checks them against the reference before it listens, which takes a minute on a loaded 2-core
# machine.
STARTUP_S = 180.0


def wait_in_step(home: Path, min_height: int = 1, timeout_s: float = 60.0,
                 procs: list[subprocess.Popen] | None = None) -> list[dict]:
    """Wait until every node answers and all report the same height >= min_height; with
    `procs`, a node process that exits meanwhile ends the wait with the end of its log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p, node_home in zip(procs or [], node_homes(home)):
            if p.poll() is not None:
                tail = (node_home / "node.log").read_text(errors="replace").strip().splitlines()[-3:]
                raise NodeExited(f"{node_home.name} exited ({_exit_text(p.returncode)}) while starting; its log ends:\n  "
                                   + "\n  ".join(tail))
        found = statuses(home)
        heights = {s.get("height") for s in found}
        if None not in heights and len(heights) == 1 and min(heights) >= min_height:
            return found
        time.sleep(0.2)
    found = ", ".join(f"{s['name']} not answering at http://{s['api']}" if "error" in s else
                      f"{s['name']} at height {s.get('height')}" for s in statuses(home))
    raise TimeoutError(f"the nodes did not reach a common height >= {min_height} in {timeout_s:.0f} s ({found}); "
                       f"see each node's log, {home}/<node>/node.log. A node on a busy machine can take a minute "
                       "or more to start: try again once it is quieter")


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


def start_gateways(home: Path, count: int, procs: list[subprocess.Popen],
                   timeout_s: float = 120.0) -> cluster_gateways.MeterFeed:
    """Start an MQTT broker and `count` light gateways (making and certifying the ones the home
    does not have yet), each talking to a full node's API (round robin; the validators' when
    there is none), and wait until each has subscribed to its meter. The caller starts the
    simulated meters (`MeterFeed.start_meters`), and closes the feed after stopping `procs`."""
    apis = [addr for name, addr in addresses(home) if name.startswith("full")] or [a for _, a in addresses(home)]
    missing = count - len(gateway_homes(home))
    if missing > 0:
        cluster_gateways.add_gateways(home, missing, apis[0])
    feed = cluster_gateways.MeterFeed(home, cluster_gateways.free_port())
    _record_spawned(home, procs, lambda: feed.broker)  # so `cluster down` stops it too, whatever becomes of `up`
    try:
        homes = gateway_homes(home)[:count]
        started = []
        for i, gw in enumerate(homes):
            since = cluster_gateways.log_size(gw)
            _record_spawned(home, procs, lambda: cluster_gateways.spawn(gw, home / "genesis.json", apis[i % len(apis)],
                                                                        feed.port))
            started.append((gw, procs[-1], since))
        deadline = time.monotonic() + timeout_s
        for gw, proc, since in started:
            while not cluster_gateways.subscribed(gw, since):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = (gw / "gateway.log").read_text(errors="replace").strip().splitlines()[-3:]
                    raise NodeExited(f"gateway {gw.name} did not subscribe to its meter; its log ends:\n  "
                                     + "\n  ".join(tail))
                time.sleep(0.2)
    except BaseException:
        stop(procs)
        feed.close()
        raise
    return feed


def up(home: Path, nodes: int, consensus: str, duration: float | None, base_port: int, resync: bool = False,
       full: int = 0, gateways: int = 0) -> int:
    """Start the cluster and watch it until `duration`, Ctrl-C, or its nodes stop (say, by
    `cluster down` from another shell); 1 when a node exited with an error. `resync`: a node
    whose chain was reset rebuilds it from the others. `full`: run this many full nodes,
    adding (and admitting) the ones the home does not have yet. `gateways`: this many light
    gateways with simulated meters behind an MQTT broker (`start_gateways`)."""
    procs: list[subprocess.Popen] = []
    feed: cluster_gateways.MeterFeed | None = None
    # `kill` stops what `up` started, as Ctrl-C does; and the first of them only: a second one
    # must not cut the clean-up short.
    previous = {sig: signal.signal(sig, _Interrupts.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        start(home, nodes, consensus, base_port, procs, client_meters=True, resync=resync, gateways=gateways)
        missing = full - len(list(home.glob("full*")))
        if missing > 0:
            wait_in_step(home, timeout_s=STARTUP_S, procs=procs)
            add_full_nodes(home, missing, procs)
        found = wait_in_step(home, timeout_s=STARTUP_S, procs=procs)
        if gateways > 0:
            feed = start_gateways(home, gateways, procs)
            feed.start_meters(gateway_homes(home)[:gateways], Genesis.load(home / "genesis.json"))
        print(f"{len(found)} nodes in step at height {found[0]['height']} ({found[0].get('consensus', consensus)}); "
              f"logs in each node's home, node.log")
        for s in found:
            print(f"  {s['name']}  http://{s['api']}  {s.get('role', 'validator')}  peers {len(s['peers'])}")
        if feed is not None:
            print(f"  {gateways} light gateways (HOME/gateways/gw<i>, gateway.log), their simulated meters "
                  f"publishing each ended interval to {cluster_gateways.TOPICS.format(name='gw<i>')}/reading on "
                  f"{feed.kind} at 127.0.0.1:{feed.port}")
        print(f"stop with Ctrl-C, or `pownode cluster down --home {home}` from another shell", flush=True)
        started = time.monotonic()
        told: set[str] = set()
        while duration is None or time.monotonic() - started < duration:
            if all(p.poll() is not None for p in procs):
                print(f"\nthe nodes stopped: {_exits(home, procs)}")
                return 0 if all(p.returncode in (0, -signal.SIGTERM) for p in procs) else 1
            down = _node_exits(home, procs)
            for name in sorted(set(down) - told):
                if down[name] != "stopped":  # a crash or a kill, not `cluster down` stopping them
                    print(f"\n{name} exited ({down[name]}); its log: {home / name / 'node.log'}. The others go on. "
                          f"To restart it, stop the cluster (Ctrl-C or `pownode cluster down --home {home}`) and "
                          f"run `pownode cluster up --home {home}` again: every node resumes from its own chain",
                          flush=True)
            told |= set(down)
            line = "  ".join(f"{s['name']} EXITED" if s["name"] in down else f"{s['name']} h{s.get('height', '?')} "
                             f"{s.get('tx_per_s', 0)}tx/s p{len(s.get('peers', []))}" for s in statuses(home))
            if feed is not None:
                line += f"  gateways {sum(p.poll() is None for p in procs[-gateways:])}/{gateways}"
            if sys.stdout.isatty():
                print(f"\r{line}", end="", flush=True)
            else:
                print(line, flush=True)
            time.sleep(1)
        print()
    except KeyboardInterrupt:
        print(f"\nstopping the {len(procs)} processes")
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        if procs:  # ours: a refused start leaves the running cluster's record alone
            stop(procs)
            _record(home).unlink(missing_ok=True)
        if feed is not None:
            feed.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0



def _exit_text(code: int) -> str:
    """A process's end as an operator reads it: stopped, killed by a signal, or an exit code."""
    if code in (0, -signal.SIGTERM):
        return "stopped"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:  # a real-time signal has no name of its own
            return f"killed by signal {-code}"
    return f"exit {code}"


def _node_exits(home: Path, procs: list[subprocess.Popen]) -> dict[str, str]:
    """The node processes (the first of `procs`, in `node_homes` order) that have exited, by
    node name, with how they ended."""
    return {node_home.name: _exit_text(p.returncode) for p, node_home in zip(procs, node_homes(home))
            if p.poll() is not None}


def _exits(home: Path, procs: list[subprocess.Popen]) -> str:
    names = [h.name for h in node_homes(home)]
    return ", ".join(f"{names[i] if i < len(names) else 'PID ' + str(p.pid)} {_exit_text(p.returncode)}"
                     for i, p in enumerate(procs))


def _unrecorded(home: Path) -> list[tuple[int, Path]]:
    """(PID, home) of live processes serving this cluster's node or gateway homes that
    `cluster up` did not start (a validator added and started by hand, say)."""
    homes = {h.resolve() for h in node_homes(home) + gateway_homes(home)}
    recorded = {pid for pid, _ in running(home)}
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) not in recorded:
            found = _home_of(int(entry.name))
            if found is not None and found in homes:
                out.append((int(entry.name), found))
    return sorted(out)


def _say_unrecorded(home: Path) -> None:
    for pid, node_home in _unrecorded(home):
        print(f"{node_home.name} still runs (PID {pid}): started outside `cluster up`, so not stopped; "
              f"stop it where it was started, or with `kill {pid}`")


def down(home: Path, timeout_s: float = 15.0) -> int:
    """Stop the recorded processes that are still this home's nodes (and only those), wait for
    them to exit, say which, and clear the record. Nodes of the home started by hand are named,
    with their PIDs, and left running: the operator who started them stops them."""
    record = _record(home)
    if not record.exists():
        print(f"no cluster recorded in {home} (nothing to stop)")
        _say_unrecorded(home)
        return 1
    alive = running(home)
    for pid, _ in alive:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_home_of(pid) == node_home for pid, node_home in alive):
        time.sleep(0.1)
    stuck = [pid for pid, node_home in alive if _home_of(pid) == node_home]
    for pid in stuck:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid, node_home in alive:
        print(f"stopped {node_home.name} (PID {pid}{', killed after ' + str(int(timeout_s)) + ' s' if pid in stuck else ''})")
    if not alive:
        print(f"no node of {home} was running; cleared the record")
    record.unlink(missing_ok=True)  # a foreground `up` that saw its nodes stop may have cleared it
    _say_unrecorded(home)
    return 0


def delete(home: Path) -> int:
    """Delete a cluster's home once nothing of it runs; only a folder that is a cluster's."""
    if not (home / "genesis.json").is_file() or not any(home.glob("node*/config.json")):
        raise ValueError(f"{home} is not a cluster's folder (no genesis.json and node homes): not deleting it")
    refuse_if_running(home)
    shutil.rmtree(home)
    print(f"deleted {home}")
    return 0
