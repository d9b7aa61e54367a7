"""Attacks replayed against a live 4-node PBFT cluster on loopback, and what they cost the honest.

    python benchmarks/attack.py [--attacks NAME ...] [--duration 15] [--json FILE]

Per attack (benchmarks/attack_vectors.py), on a fresh `pownode init` network whose node0 is
attacked: an honest background load (BACKGROUND_TX_PER_S transfers to the other nodes) keeps
blocks coming, and an honest client submits one transfer to node0 every PROBE_EVERY_S with
`?wait=commit`. After SETTLE_S, a BASELINE_S baseline, then the attack for `--duration` seconds.
`forged-gossip` and `view-change-storm` act as validator node3, whose process is stopped before
the baseline (three honest nodes are still a quorum of four). Reported per attack, with its goal:

- throughput: the honest nodes' committed blocks per second during the attack over the
  baseline's (>= 0.5);
- RSS growth of node0: its peak resident set during the attack (VmRSS sampled every POLL_S, and
  VmHWM when that rose) less its resident set when the attack began (<= 100 MB);
- worst gap: the longest time in the attack without a new block on any honest node (<= 5 s);
- honest latency: submit to committed of the probe transfers sent during the attack, median
  and max (every one committed, the max <= 2 s).

Blocks are proposed every block_interval_ms with or without transactions; transactions from a
fresh funded sender each, so a refused one never leaves a nonce gap. The attacker shares the
machine's cores with the nodes, which is part of what every attack costs them here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterator

import aiohttp

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import attack_vectors as vectors  # noqa: E402
from benchmarks.report import emit  # noqa: E402
from ledger.genesis import Genesis  # noqa: E402
from ledger.transactions import Transaction, Transfer  # noqa: E402
from pownode import cluster  # noqa: E402
from pownode.config import NodeConfig, init_network  # noqa: E402
from pownode.keyfile import read_key  # noqa: E402
from pownode.loadgen import sender_key  # noqa: E402

NODES = 4
TARGET, IMPOSTOR = 0, 3
FORGER = 0  # sender_key(0): the funded sender whose signatures the attacks forge
FUNDED = 1_000  # sender_key(1..): one fresh sender per honest transaction
SETTLE_S = 2.0
BASELINE_S = 5.0
POLL_S = 0.2
BACKGROUND_TX_PER_S = 6
PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 10
ATTACK_GRACE_S = 30.0  # after its window, an attack has this long to clean up and answer
GOAL_THROUGHPUT = 0.5
GOAL_RSS_MB = 100.0
GOAL_GAP_S = 5.0
GOAL_LATENCY_S = 2.0


@dataclass
class LiveCluster:
    """A running network: node processes and configs by index, and which nodes are honest."""

    procs: list[subprocess.Popen]
    configs: list[NodeConfig]
    apis: list[str]
    chain_id: str
    honest: list[int]


@dataclass
class Observations:
    """What the honest side saw, each with the monotonic time it was seen."""

    heights: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # node -> samples
    view_changes: dict[int, list[tuple[float, int]]] = field(default_factory=dict)
    rss_kb: list[tuple[float, int]] = field(default_factory=list)  # node0's VmRSS
    probes: list[tuple[float, float | None, str]] = field(default_factory=list)  # (sent, latency, outcome)


class Senders:
    """Fresh funded senders, one per transaction: nonce 0 always, so a refused transaction
    leaves no gap for the next."""

    def __init__(self) -> None:
        self._next = FORGER + 1

    def transfer(self, chain_id: str) -> Transaction | None:
        if self._next >= FUNDED:
            return None
        key = sender_key(self._next)
        self._next += 1
        return Transaction.create(key, chain_id, 0, Transfer(sender_key(FORGER).address, 1), fee=1)


def _proc_kb(pid: int, name: str) -> int:
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _proc_cpu_s(pid: int) -> float:
    """The CPU seconds (user and system) a process has used, from /proc/PID/stat; 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@contextlib.contextmanager
def _cluster(base_port: int, keep: bool) -> Iterator[LiveCluster]:
    """A fresh 4-node PBFT network in step at height >= 1; stopped (and removed) afterwards."""
    work = Path(tempfile.mkdtemp(prefix="pownode-attack-"))
    procs: list[subprocess.Popen] = []
    try:
        homes = init_network(work / "net", NODES, "pbft", base_port=base_port,
                             funded=[sender_key(i).address for i in range(FUNDED)])
        procs = cluster.start(work / "net", NODES, "pbft", base_port)
        cluster.wait_in_step(work / "net", min_height=1, timeout_s=120)
        yield LiveCluster(procs, [NodeConfig.load(h) for h in homes],
                          [api for _, api in cluster.addresses(work / "net")],
                          Genesis.load(work / "net" / "genesis.json").chain_id, list(range(NODES)))
    finally:
        cluster.stop(procs)
        if keep:
            print(f"  node homes and logs kept in {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _target(live: LiveCluster) -> vectors.Target:
    target, impostor = live.configs[TARGET], live.configs[IMPOSTOR]
    return vectors.Target(
        chain_id=live.chain_id, api=(target.api_host, target.api_port), p2p=(target.listen_host, target.listen_port),
        node_key=read_key(target.key).public_key, member_keys=tuple(read_key(c.key).public_key for c in live.configs),
        impostor_seed=read_key(impostor.key).seed, impostor_p2p=(impostor.listen_host, impostor.listen_port),
        forger_seed=sender_key(FORGER).seed)


async def _attack_result(name: str, live: LiveCluster, start: float, end: float) -> dict[str, object]:
    """Run the attack in its own process from `start` to `end`; its result, or why there is none.
    The process is ours: killed (by its handle) if it has not answered ATTACK_GRACE_S after `end`."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=vectors.run_attack, args=(name, _target(live), start, end, send), daemon=True)
    process.start()
    try:
        for _ in range(int((end + ATTACK_GRACE_S - time.monotonic()) / POLL_S) + 1):
            if receive.poll():
                return receive.recv()
            if not process.is_alive():
                return {"error": f"the attack process exited with code {process.exitcode}"}
            await asyncio.sleep(POLL_S)
        return {"error": f"no answer {ATTACK_GRACE_S:g} s after the attack's end"}
    finally:
        if process.is_alive():
            process.kill()
        process.join()


async def _poll(session: aiohttp.ClientSession, live: LiveCluster, node: int, seen: Observations, until: float) -> None:
    """Sample a node's height and view changes every POLL_S."""
    heights, views = seen.heights.setdefault(node, []), seen.view_changes.setdefault(node, [])
    for _ in range(int((until - time.monotonic()) / POLL_S) + 1):
        if time.monotonic() >= until:
            return
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            async with session.get(f"http://{live.apis[node]}/status", timeout=aiohttp.ClientTimeout(total=1)) as r:
                status = await r.json()
            heights.append((time.monotonic(), status["height"]))
            views.append((time.monotonic(), status["view_changes"]))
        await asyncio.sleep(POLL_S)


async def _sample_rss(pid: int, seen: Observations, until: float) -> None:
    for _ in range(int((until - time.monotonic()) / POLL_S) + 1):
        if time.monotonic() >= until:
            return
        seen.rss_kb.append((time.monotonic(), _proc_kb(pid, "VmRSS")))
        await asyncio.sleep(POLL_S)


async def _post_quietly(session: aiohttp.ClientSession, api: str, tx: Transaction) -> None:
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
        async with session.post(f"http://{api}/txs", json={"txs": [tx.encoded.hex()]},
                                timeout=aiohttp.ClientTimeout(total=5)) as response:
            await response.read()


async def _probe(session: aiohttp.ClientSession, api: str, tx: Transaction, seen: Observations) -> None:
    """Submit one transfer with ?wait=commit; record the latency if it committed."""
    sent = time.monotonic()
    latency, outcome = None, "committed"
    try:
        async with session.post(f"http://{api}/txs", params={"wait": "commit", "timeout_s": str(PROBE_TIMEOUT_S)},
                                json={"txs": [tx.encoded.hex()]},
                                timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S + 5)) as response:
            answer = await response.json() if response.status == 200 else None
            if answer is None:
                outcome = f"http {response.status}"
            elif answer["committed"] != 1:
                outcome = "not committed" if answer["accepted"] else answer["results"][0].get("reason", "refused")
            else:
                latency = time.monotonic() - sent
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        outcome = type(exc).__name__
    seen.probes.append((sent, latency, outcome))


async def _every(period_s: float, until: float, make: Callable[[], Awaitable[None] | None],
                 tasks: list[asyncio.Task]) -> None:
    """Start `make()` every period until `until` or until it has nothing more to start."""
    for _ in range(int((until - time.monotonic()) / period_s) + 1):
        if time.monotonic() >= until:
            return
        job = make()
        if job is None:
            return
        tasks.append(asyncio.ensure_future(job))
        await asyncio.sleep(period_s)


def _honest_side(live: LiveCluster, seen: Observations, until: float) -> asyncio.Task:
    """Start polling, RSS sampling, background load and probes; the task ends once they have
    (the last probes within their timeout)."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    senders = Senders()
    others = [n for n in live.honest if n != TARGET]
    target_api = live.apis[TARGET]
    sent = [0]

    def background() -> Awaitable[None] | None:
        tx = senders.transfer(live.chain_id)
        sent[0] += 1
        return None if tx is None else _post_quietly(session, live.apis[others[sent[0] % len(others)]], tx)

    def probe() -> Awaitable[None] | None:
        tx = senders.transfer(live.chain_id)
        return None if tx is None else _probe(session, target_api, tx, seen)

    spawned: list[asyncio.Task] = []
    loops = [_poll(session, live, n, seen, until) for n in live.honest]
    loops += [_sample_rss(live.procs[TARGET].pid, seen, until),
              _every(1 / BACKGROUND_TX_PER_S, until, background, spawned),
              _every(PROBE_EVERY_S, until, probe, spawned)]
    tasks = [asyncio.ensure_future(loop) for loop in loops]

    async def close_when_done() -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        if spawned:
            await asyncio.wait(spawned, timeout=PROBE_TIMEOUT_S + 5)
        for task in spawned:
            task.cancel()
        await session.close()

    return asyncio.ensure_future(close_when_done())


def _height_at(samples: list[tuple[float, int]], when: float) -> int:
    return max((h for t, h in samples if t <= when), default=0)


def _rises(samples: list[tuple[float, int]]) -> list[float]:
    """Times at which a new highest height was first seen."""
    out, best = [], -1
    for t, h in sorted(samples):
        if h > best:
            best = h
            out.append(t)
    return out


def _worst_gap(rises: list[float], start: float, end: float) -> float:
    points = [start] + [t for t in rises if start < t < end] + [end]
    return max(b - a for a, b in zip(points, points[1:]))


def _blocks_per_s(samples: list[tuple[float, int]], start: float, end: float) -> float:
    return (_height_at(samples, end) - _height_at(samples, start)) / (end - start)


def _probe_summary(seen: Observations, start: float, end: float) -> dict[str, object]:
    mine = [(lat, outcome) for sent, lat, outcome in seen.probes if start <= sent < end]
    latencies = [lat for lat, _ in mine if lat is not None]
    outcomes: dict[str, int] = {}
    for _, outcome in mine:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {"sent": len(mine), "committed": len(latencies),
            "median_s": round(statistics.median(latencies), 3) if latencies else None,
            "max_s": round(max(latencies), 3) if latencies else None, "outcomes": outcomes}


def _measure(live: LiveCluster, seen: Observations, base: float, start: float, end: float,
             rss_start_kb: int, hwm_rose_to_kb: int) -> dict[str, object]:
    """The four figures of one attack window against its baseline, and the goals they meet."""
    chain = [s for n in live.honest for s in seen.heights.get(n, [])]
    baseline, during = _blocks_per_s(chain, base, start), _blocks_per_s(chain, start, end)
    peak_kb = max([kb for t, kb in seen.rss_kb if start <= t <= end] + [hwm_rose_to_kb, rss_start_kb])
    probe, baseline_probe = _probe_summary(seen, start, end), _probe_summary(seen, base, start)
    views = [s for n in live.honest for s in seen.view_changes.get(n, [])]
    result: dict[str, object] = {
        "honest_nodes": [f"node{n}" for n in live.honest],
        "baseline_blocks_per_s": round(baseline, 2), "attack_blocks_per_s": round(during, 2),
        "throughput_fraction": round(during / baseline, 3) if baseline else None,
        "worst_gap_s": round(_worst_gap(_rises(chain), start, end), 2),
        "attacked_worst_gap_s": round(_worst_gap(_rises(seen.heights.get(TARGET, [])), start, end), 2),
        "rss_start_mb": round(rss_start_kb / 1024, 1), "rss_growth_mb": round((peak_kb - rss_start_kb) / 1024, 1),
        "probe": probe, "baseline_probe_median_s": baseline_probe["median_s"],
        "view_changes": _height_at(views, end) - _height_at(views, start),
        "honest_processes_alive": all(live.procs[n].poll() is None for n in live.honest),
    }
    goals = {
        "throughput": result["throughput_fraction"] is not None and result["throughput_fraction"] >= GOAL_THROUGHPUT,
        "rss": result["rss_growth_mb"] <= GOAL_RSS_MB,
        "gap": result["worst_gap_s"] <= GOAL_GAP_S,
        "latency": probe["sent"] > 0 and probe["committed"] == probe["sent"] and probe["max_s"] <= GOAL_LATENCY_S,
    }
    result["goals"] = goals
    result["failed_goals"] = [g for g, ok in goals.items() if not ok]
    return result


async def _attack_window(live: LiveCluster, name: str, duration: float) -> dict[str, object]:
    """Baseline, then the attack, with the honest side running throughout."""
    seen = Observations()
    base = time.monotonic() + SETTLE_S
    start, end = base + BASELINE_S, base + BASELINE_S + duration
    honest = _honest_side(live, seen, end)
    attack = asyncio.ensure_future(_attack_result(name, live, start, end))
    pid = live.procs[TARGET].pid
    await asyncio.sleep(base - time.monotonic())
    cpu_base = _proc_cpu_s(pid)
    await asyncio.sleep(start - time.monotonic())
    rss_start, hwm_start, cpu_start = _proc_kb(pid, "VmRSS"), _proc_kb(pid, "VmHWM"), _proc_cpu_s(pid)
    await asyncio.sleep(max(0.0, end - time.monotonic()))
    hwm_end, cpu_end = _proc_kb(pid, "VmHWM"), _proc_cpu_s(pid)
    details = await attack
    await honest
    measured = _measure(live, seen, base, start, end, rss_start, hwm_end if hwm_end > hwm_start else 0)
    cpu = {"baseline_cpu_s_per_s": round((cpu_start - cpu_base) / (start - base), 3),
           "attack_cpu_s_per_s": round((cpu_end - cpu_start) / (end - start), 3)}
    return {**measured, "attacked_cpu": cpu, "details": details}


def _run(name: str, duration: float, base_port: int, keep: bool) -> dict[str, object]:
    print(f"{name}: starting a {NODES}-node cluster on ports {base_port}+ ...", flush=True)
    try:
        with _cluster(base_port, keep) as live:
            if vectors.ATTACKS[name].impostor:
                cluster.stop([live.procs[IMPOSTOR]])
                live.honest.remove(IMPOSTOR)
            print(f"{name}: {BASELINE_S:g} s baseline, then {duration:g} s of attack", flush=True)
            return {"attack": name, "duration_s": duration, **asyncio.run(_attack_window(live, name, duration))}
    except Exception as exc:  # a setup failure: record it and go on with the next attack
        traceback.print_exc()
        return {"attack": name, "duration_s": duration, "error": f"{type(exc).__name__}: {exc}"}


def _row(r: dict) -> tuple[str, str]:
    if "error" in r:
        return r["attack"], f"ERROR {r['error']}"
    probe = r["probe"]
    verdict = "goals met" if not r["failed_goals"] else "FAILED: " + ", ".join(r["failed_goals"])
    error = f" | attack error: {r['details']['error']}" if "error" in r["details"] else ""
    return r["attack"], (
        f"blocks/s {r['baseline_blocks_per_s']} -> {r['attack_blocks_per_s']} ({r['throughput_fraction']}) | "
        f"gap {r['worst_gap_s']} s | RSS +{r['rss_growth_mb']} MB | node0 CPU "
        f"{r['attacked_cpu']['baseline_cpu_s_per_s']} -> {r['attacked_cpu']['attack_cpu_s_per_s']} s/s | "
        f"latency median {probe['median_s']} s "
        f"max {probe['max_s']} s ({probe['committed']}/{probe['sent']}) | {verdict}{error}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/attack.py")
    parser.add_argument("--attacks", nargs="+", choices=sorted(vectors.ATTACKS),
                        default=list(vectors.ATTACKS))
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of each attack")
    parser.add_argument("--base-port", type=int, default=27800)
    parser.add_argument("--keep", action="store_true", help="keep each cluster's homes and logs")
    parser.add_argument("--json")
    args = parser.parse_args()
    results = [_run(name, args.duration, args.base_port + 10 * i, args.keep) for i, name in enumerate(args.attacks)]
    rows = [_row(r) for r in results]
    rows.append(("goals", f"throughput >= {GOAL_THROUGHPUT}, RSS growth <= {GOAL_RSS_MB:g} MB, gap <= {GOAL_GAP_S:g} s, "
                          f"every probe committed within {GOAL_LATENCY_S:g} s"))
    emit("attack", {"attacks": results, "baseline_s": BASELINE_S, "background_tx_per_s": BACKGROUND_TX_PER_S,
                    "probe_every_s": PROBE_EVERY_S}, rows, args.json)
    return 0 if all("error" not in r and not r["failed_goals"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
