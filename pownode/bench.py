"""`pownode bench`: consensus throughput of a fresh local cluster, measured from the clients' side.

One run: `init` an N-node network whose genesis funds the load's senders, start N node processes
on loopback, sign the whole load ahead of time in worker processes, then submit it over the HTTP
API (each sender's transactions to one node, spread over all nodes) either at a fixed rate or as
fast as the cluster takes it (`open-loop`: a bounded number outstanding per node). A WebSocket
on node 0 timestamps every committed transaction. After the submission window the bench waits
for the accepted transactions to commit, then reports:

- committed_tx_per_s: transactions committed per second after the warm-up, until submission ends
- latency_p50/p95/p99_s: submit (POST sent) to commit (seen on the stream), after the warm-up,
  over `latency_samples` transactions (None when there are none: on a loaded machine an open
  loop's first outstanding batches may not commit before submission ends)
- submitted / accepted / rejected / committed / lost (= accepted - committed) and duplicates
  (a transaction committed twice; must be 0)
- per node, from /proc and the node's /status: CPU seconds per committed transaction (all
  nodes' CPU over the run), peak RSS, bytes sent to peers per committed transaction; and the
  benchmark client's own CPU per transaction (it shares the machine with the nodes)
- ceiling_tx_per_s: C / (N * t_verify), the most N nodes sharing C cores can verify (t_verify: a
  signature checked as a node checks a gossip slice, in batches of 64)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import aiohttp
import uvloop

from ledger.genesis import DEFAULT_INTERVAL_MS
from ledger.keys import verify_batch
from ledger.transactions import Transaction, Transfer
from pownode import cluster
from pownode.api import POSTS_PER_CLIENT
from pownode.config import init_network
from pownode.loadgen import MAX_SENDERS, Load, presign, sender_key

CONSENSUS = ("pbft", "pos", "poe")
OPEN_LOOP_OUTSTANDING = 600  # per node: about a block interval of work, so latency stays low
OPEN_LOOP_BATCH = 300
TICK_S = 0.1  # submissions per node every 100 ms (at 3,000 tx/s: 75 transactions per request)
MAX_PRESIGNED = 400_000
BENCH_MARKER = ".pownode-bench"
MATRIX_SIZES = (4, 7, 16)  # 16: the size of 000's community
CLIENT_KEEPALIVE_S = 5.0  # below the nodes' API keep-alive timeout (api_header_timeout_ms)


@dataclass(frozen=True)
class BenchSpec:
    nodes: int = 4
    consensus: str = "pbft"
    duration_s: float = 20.0
    rate: int | None = None  # None: open loop
    kind: str = "transfer"
    warmup_s: float | None = None  # default: a fifth of the duration, at least 1 s
    drain_s: float = 30.0
    base_port: int = 27600
    home: Path | None = None  # default: a temporary folder, removed afterwards
    block_interval_ms: int = 100
    max_block_txs: int = 5000

    @property
    def warmup(self) -> float:
        return self.warmup_s if self.warmup_s is not None else max(1.0, self.duration_s / 5)


def verify_seconds(samples: int = 2048) -> float:
    """Median seconds per Ed25519 signature of a transfer on this machine, checked as a node
    checks a gossip slice's: `verify_batch` over 64 distinct signatures at a time (each alone
    where the batch verifier is not built)."""
    items = []
    for i in range(64):
        tx = Transaction.create(sender_key(i), "bench", 0, Transfer(sender_key(i).address, 1), fee=1)
        items.append((tx.sender, tx.signing_bytes, tx.signature))
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(samples // (5 * len(items))):
            assert all(verify_batch(items))
        runs.append((time.perf_counter() - started) / (samples // (5 * len(items)) * len(items)))
    return statistics.median(runs)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class _Run:
    """Client-side bookkeeping of one run (one asyncio loop, no locks)."""

    load: Load
    node_of: list[int]  # the node each transaction is submitted to
    index: dict[str, int]  # hash hex -> position in the load
    submit_t: list[float] = field(default_factory=list)
    commit_t: list[float] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)  # per node: accepted, not yet seen committed
    submitted: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    committed: int = 0
    duplicates: int = 0
    foreign: int = 0  # committed transactions this run did not submit
    view_changed_heights: int = 0  # blocks seen committed in a view above 0

    def on_block(self, tx_hashes: list[str], now: float) -> None:
        for h in tx_hashes:
            i = self.index.get(h)
            if i is None:
                self.foreign += 1
            elif self.commit_t[i]:
                self.duplicates += 1
            else:
                self.commit_t[i] = now
                self.committed += 1
                self.pending[self.node_of[i]] -= 1


async def _stream(session: aiohttp.ClientSession, api: str, run: _Run, ready: asyncio.Event) -> None:
    async with session.ws_connect(f"http://{api}/ws", max_msg_size=0, heartbeat=30) as ws:
        ready.set()
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            if event["type"] == "block":
                run.on_block(event["txs"], time.monotonic())
                run.view_changed_heights += 1 if event["view"] else 0


async def _post(session: aiohttp.ClientSession, api: str, run: _Run, node: int, batch: list[int]) -> None:
    body = ('{"txs":["' + '","'.join(run.load.txs[i][1].hex() for i in batch) + '"]}').encode()
    now = time.monotonic()
    run.pending[node] += len(batch)  # counted before the answer: a commit may be seen first
    for i in batch:
        run.submit_t[i] = now
    async with session.post(f"http://{api}/txs", data=body, headers={"Content-Type": "application/json"}) as response:
        answer = await response.json()
    if response.status != 200:
        raise RuntimeError(f"node {node} refused a batch: HTTP {response.status} {answer}")
    if len(answer["results"]) != len(batch):
        raise RuntimeError(f"node {node} answered {len(answer['results'])} results for {len(batch)} transactions")
    run.submitted += len(batch)
    for result in answer["results"]:
        if result["accepted"]:
            run.accepted += 1
        else:
            run.pending[node] -= 1
            run.rejected[result["reason"]] = run.rejected.get(result["reason"], 0) + 1


async def _submit_at_rate(session: aiohttp.ClientSession, apis: list[str], run: _Run, rate: int, until: float) -> None:
    """Every tick, submit what is due at `rate` since the start, each transaction to its node."""
    started = time.monotonic()
    sent = 0
    tasks = []
    total = len(run.load.txs)
    # A node answers HTTP 429 past POSTS_PER_CLIENT requests in progress from one client: on a
    # loaded machine a batch waits here for its turn instead (its latency counts from the send).
    slots = [asyncio.Semaphore(POSTS_PER_CLIENT) for _ in apis]

    async def post(node: int, batch: list[int]) -> None:
        async with slots[node]:
            await _post(session, apis[node], run, node, batch)

    while time.monotonic() < until and sent < total:
        due = min(total, int(rate * (time.monotonic() - started))) - sent
        if due > 0:
            per_node: list[list[int]] = [[] for _ in apis]
            for i in range(sent, sent + due):
                per_node[run.node_of[i]].append(i)
            sent += due
            tasks += [asyncio.create_task(post(n, b)) for n, b in enumerate(per_node) if b]
        await asyncio.sleep(TICK_S)
    await asyncio.gather(*tasks)


async def _submit_open_loop(session: aiohttp.ClientSession, apis: list[str], run: _Run, until: float) -> None:
    """Per node: batches back to back while fewer than OPEN_LOOP_OUTSTANDING are uncommitted."""
    queues: list[list[int]] = [[] for _ in apis]
    for i, node in enumerate(run.node_of):
        queues[node].append(i)

    async def feed(node: int) -> None:
        queue, pos = queues[node], 0
        while pos < len(queue) and time.monotonic() < until:
            if run.pending[node] + OPEN_LOOP_BATCH > OPEN_LOOP_OUTSTANDING:
                await asyncio.sleep(0.005)
                continue
            batch = queue[pos : pos + OPEN_LOOP_BATCH]
            pos += len(batch)
            await _post(session, apis[node], run, node, batch)

    await asyncio.gather(*(feed(n) for n in range(len(apis))))


async def _progress(run: _Run, label: str, started: float, offered: str, say: Callable[[str], None]) -> None:
    """Once a second: time, the offered rate, submitted of signed, committed, the commit rate over
    the last second, and how many submitted transactions are waiting for their commit."""
    last_t, last_c = started, 0
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        say(f"[{label}] {now - started:5.1f} s  offered {offered}  submitted {run.submitted:,} of "
            f"{len(run.load.txs):,} signed  committed {run.committed:,}  "
            f"now {(run.committed - last_c) / (now - last_t):,.0f} tx/s  waiting for commit {sum(run.pending):,}")
        last_t, last_c = now, run.committed


async def _drive(spec: BenchSpec, apis: list[str], run: _Run, pids: list[int], t_verify: float,
                 say: Callable[[str], None]) -> dict:
    # Idle pooled connections are dropped before a node's API closes them (its keep-alive timer,
    # api_header_timeout_ms, 10 s by default): an open-loop feed waiting that long for commits
    # (16 nodes on two cores) would otherwise post on a connection the node is closing, and the
    # run would die on "connection reset by peer".
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=CLIENT_KEEPALIVE_S)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        ready = asyncio.Event()
        stream = asyncio.create_task(_stream(session, apis[0], run, ready))
        await asyncio.wait_for(ready.wait(), 10)
        before = await _node_counters(session, apis, pids)
        client_cpu = time.process_time()
        started = time.monotonic()
        label = f"{spec.consensus} n={spec.nodes}"
        offered = "as fast as accepted" if spec.rate is None else f"{spec.rate:,} tx/s"
        progress = asyncio.create_task(_progress(run, label, started, offered, say))
        until = started + spec.duration_s
        if spec.rate is None:
            await _submit_open_loop(session, apis, run, until)
        else:
            await _submit_at_rate(session, apis, run, spec.rate, until)
        submit_end = time.monotonic()
        drain_deadline = submit_end + spec.drain_s
        while run.committed < run.accepted and time.monotonic() < drain_deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a duplicate commit, if any, would show up now
        ended = time.monotonic()
        after = await _node_counters(session, apis, pids)
        client_cpu = time.process_time() - client_cpu
        progress.cancel()
        stream.cancel()
        await asyncio.gather(progress, stream, return_exceptions=True)
        if run.submitted < len(run.load.txs):
            say(f"[{label}] submitted {run.submitted:,} of the {len(run.load.txs):,} signed: the run's "
                f"{spec.duration_s:g} s ended before the rest were due"
                + (" (open loop: at most {:,} per node waiting for commit at a time)".format(OPEN_LOOP_OUTSTANDING)
                   if spec.rate is None else ""))
    return _summarise(spec, run, started, submit_end, ended, before, after, t_verify) | {
        "client_cpu_s_per_tx": round(client_cpu / run.committed, 6) if run.committed else None}


async def _node_counters(session: aiohttp.ClientSession, apis: list[str], pids: list[int]) -> list[dict]:
    out = []
    for api, pid in zip(apis, pids):
        async with session.get(f"http://{api}/status") as response:
            status = await response.json()
        out.append({"cpu_s": _cpu_seconds(pid), "rss_mb": _peak_rss_mb(pid), "bytes_sent": status["bytes_sent"],
                    "height": status["height"], "view_changes": status["view_changes"]})
    return out


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def _summarise(spec: BenchSpec, run: _Run, started: float, submit_end: float, ended: float,
               before: list[dict], after: list[dict], t_verify: float) -> dict:
    steady_from = started + spec.warmup
    window = submit_end - steady_from
    steady = sum(1 for t in run.commit_t if t and steady_from <= t <= submit_end)
    latencies = sorted(c - s for s, c in zip(run.submit_t, run.commit_t) if c and s >= steady_from)
    committed = run.committed
    cpu = sum(a["cpu_s"] - b["cpu_s"] for a, b in zip(after, before))
    sent = sum(a["bytes_sent"] - b["bytes_sent"] for a, b in zip(after, before))
    result = {
        "consensus": spec.consensus, "nodes": spec.nodes, "kind": spec.kind,
        "mode": "open-loop" if spec.rate is None else "rate", "rate": spec.rate,
        "duration_s": spec.duration_s, "warmup_s": spec.warmup,
        "committed_tx_per_s": round(steady / window, 1) if window > 0 else None,
        "latency_p50_s": _round(_percentile(latencies, 0.50)), "latency_p95_s": _round(_percentile(latencies, 0.95)),
        "latency_p99_s": _round(_percentile(latencies, 0.99)), "latency_samples": len(latencies),
        "ceiling_tx_per_s": round(cores() / (spec.nodes * t_verify)), "cores": cores(),
        "verify_us": round(t_verify * 1e6, 1),
        "presigned": len(run.load.txs), "submitted": run.submitted, "accepted": run.accepted,
        "rejected": sum(run.rejected.values()), "rejected_reasons": run.rejected, "committed": committed,
        "lost": run.accepted - committed, "duplicates": run.duplicates, "foreign": run.foreign,
        "cpu_s_per_tx": round(cpu / committed, 6) if committed else None,
        "peak_rss_mb": round(max(a["rss_mb"] for a in after), 1),
        "bytes_sent_per_tx": round(sent / committed, 1) if committed else None,
        "blocks": after[0]["height"] - before[0]["height"], "elapsed_s": round(ended - started, 2),
        # View changes any node started during the run (one replica's request for a new view
        # counts, even when too few join it to change the view), and the heights that were in
        # fact decided in a view above 0: a fault-free run should have neither.
        "view_changes": sum(a["view_changes"] - b["view_changes"] for a, b in zip(after, before)),
        "view_changed_heights": run.view_changed_heights,
    }
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run_bench(spec: BenchSpec, say: Callable[[str], None] = print) -> dict:
    """One benchmark run on a fresh cluster; returns the result dict (see the module docstring)."""
    if spec.consensus not in CONSENSUS:
        raise ValueError(f"consensus must be one of {CONSENSUS}")
    t_verify = verify_seconds()  # before the cluster starts: on an otherwise idle machine
    if spec.rate is None:
        total = int(min(cores() / (spec.nodes * t_verify), 15_000) * spec.duration_s * 1.2)
    else:
        total = int(spec.rate * spec.duration_s)
    total = max(1, min(total, MAX_PRESIGNED))
    senders = min(MAX_SENDERS, total)
    home = spec.home or Path(tempfile.mkdtemp(prefix="pownode-bench-"))
    if home.exists() and any(home.iterdir()):
        if not (home / BENCH_MARKER).exists():
            raise FileExistsError(f"{home} is not empty and not a previous bench home: refusing to delete it")
        shutil.rmtree(home)
    keys = [sender_key(i) for i in range(senders)]
    # A meter's k-th reading is of interval k, and a chain takes a reading only once its interval
    # has ended: a meter load starts the chain that many intervals in the past.
    past_ms = 1000 + (-(-total // senders) + 1) * DEFAULT_INTERVAL_MS if spec.kind == "meter" else 1000
    init_network(home, spec.nodes, spec.consensus, base_port=spec.base_port,
                 chain_id=f"pownode-bench-{spec.consensus}", genesis_time_ms=int(time.time() * 1000) - past_ms,
                 block_interval_ms=spec.block_interval_ms, funded=[k.address for k in keys],
                 meter_keys=[k.public_key for k in keys] if spec.kind == "meter" else (),
                 node_options={"client_tx_per_s": 0, "max_block_txs": spec.max_block_txs})
    (home / BENCH_MARKER).write_text("a pownode bench cluster: the next run with this --home replaces it\n")
    say(f"[{spec.consensus} n={spec.nodes}] signing {total:,} {spec.kind} transactions from {senders} senders "
        f"in {max(1, cores())} processes")
    load = presign(f"pownode-bench-{spec.consensus}", spec.kind, total, senders, max(1, cores()))
    node_of = [s % spec.nodes for s in load.sender_of]
    run = _Run(load, node_of, {h.hex(): i for i, (h, _) in enumerate(load.txs)},
               submit_t=[0.0] * total, commit_t=[0.0] * total, pending=[0] * spec.nodes)
    procs = cluster.start(home, spec.nodes, spec.consensus, spec.base_port)
    try:
        cluster.wait_in_step(home, min_height=1, timeout_s=60)
        apis = [address for _, address in cluster.addresses(home)]
        say(f"[{spec.consensus} n={spec.nodes}] cluster up ({', '.join(apis)}); submitting "
            + ("as fast as it accepts" if spec.rate is None else f"{spec.rate:,} tx/s") + f" for {spec.duration_s:g} s")
        result = uvloop.run(_drive(spec, apis, run, [p.pid for p in procs], t_verify, say))
    finally:
        cluster.stop(procs)
        if spec.home is None:
            shutil.rmtree(home, ignore_errors=True)
    return result


COLUMNS = [("consensus", "consensus", "{}"), ("nodes", "N", "{}"), ("committed_tx_per_s", "tx/s", "{:,.0f}"),
           ("ceiling_tx_per_s", "ceiling", "{:,}"), ("latency_p50_s", "p50 s", "{:.3f}"),
           ("latency_p99_s", "p99 s", "{:.3f}"), ("submitted", "submitted", "{:,}"), ("committed", "committed", "{:,}"),
           ("lost", "lost", "{}"), ("cpu_s_per_tx", "CPU ms/tx", "{:.3f}"), ("peak_rss_mb", "RSS MB", "{:.0f}"),
           ("bytes_sent_per_tx", "B sent/tx", "{:,.0f}"), ("view_changes", "view chg", "{}"),
           ("view_changed_heights", "heights v>0", "{}")]


def table(results: list[dict]) -> str:
    def cell(r: dict, key: str, fmt: str) -> str:
        value = r.get(key)
        if value is None:
            return "-"
        return fmt.format(value * 1000 if key == "cpu_s_per_tx" else value)

    rows = [[title for _, title, _ in COLUMNS]] + [[cell(r, k, f) for k, _, f in COLUMNS] for r in results]
    widths = [max(len(row[c]) for row in rows) for c in range(len(COLUMNS))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths)] + lines[1:])


def chart(results: list[dict], path: Path) -> None:
    """Committed tx/s (with the verify ceiling), CPU per committed transaction and p99 latency
    against the cluster size, one line per consensus module, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (("committed_tx_per_s", "committed tx/s", 1), ("cpu_s_per_tx", "CPU per tx, all nodes (ms)", 1000),
              ("latency_p99_s", "p99 submit-to-commit (s)", 1))
    for consensus in CONSENSUS:
        runs = sorted((r for r in results if r["consensus"] == consensus), key=lambda r: r["nodes"])
        if not runs:
            continue
        for ax, (key, _, scale) in zip(axes, panels):
            points = [(r["nodes"], r[key] * scale) for r in runs if r.get(key) is not None]
            ax.plot([n for n, _ in points], [v for _, v in points], "o-", label=consensus)
    ceiling = sorted({(r["nodes"], r["ceiling_tx_per_s"]) for r in results})
    axes[0].plot([n for n, _ in ceiling], [c for _, c in ceiling], "k--", label="verify ceiling")
    for ax, (_, label, _) in zip(axes, panels):
        ax.set_xlabel("validators N")
        ax.set_ylabel(label)
        ax.set_xticks(sorted({r["nodes"] for r in results}))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"pownode local cluster, {results[0]['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: argparse.Namespace) -> int:
    say = _status_printer()
    sizes = args.nodes or (MATRIX_SIZES if args.matrix else (4,))
    specs = [(c, n) for n in sizes for c in (CONSENSUS if args.matrix else (args.consensus,))]
    results = []
    for consensus, nodes in specs:
        spec = BenchSpec(nodes=nodes, consensus=consensus, duration_s=args.duration,
                         rate=None if args.open_loop else args.rate, kind=args.tx_kind, base_port=args.base_port,
                         home=Path(args.home) if args.home else None, block_interval_ms=args.block_interval_ms)
        results.append(run_bench(spec, say))
        say("")
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results if len(results) > 1 else results[0], indent=2) + "\n")
    if args.png:
        chart(results, Path(args.png))
    return 0 if all(r["lost"] == 0 and r["duplicates"] == 0 for r in results) else 1


def _status_printer() -> Callable[[str], None]:
    """Progress lines: rewritten in place on a terminal, one per line otherwise."""
    tty = sys.stdout.isatty()

    def say(line: str) -> None:
        if tty and line.startswith("[") and "submitted" in line:
            print(f"\r{line}", end="", flush=True)
        else:
            print(("\n" if tty else "") + line if line else "", flush=True)

    return say
