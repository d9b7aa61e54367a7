"""`pownode e2e MANIFEST`: a real cluster under load and timed faults, then a checker.

In the spirit of CometBFT's e2e runner. The runner initialises a fresh network (`init_network`),
starts one process per node, and once they are in step runs the manifest's load: `senders`
clients, each sending signed transfers one at a time with `POST /txs?wait=commit` (the node
answers once the transfer is in a certified block), trying another node when one does not answer.
Meanwhile it applies the perturbations at their times (SIGKILL then restart, SIGSTOP then SIGCONT,
SIGTERM then restart) and samples every node's height.

The checker then proves, from every node's blocks over the HTTP API:
- no fork: at every height up to the common one, every node holds the same block hash (so the
  same state root);
- every transaction acknowledged as durable is committed exactly once, and no transaction twice;
- liveness: after the last perturbation ended, every node passed the height the cluster had then
  within `recovery_s`, and once the load stopped all reached the highest height any node
  reported or acknowledged a transaction at.
It reports the worst time without a new block on any node and the recovery time.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

from ledger.transactions import Transaction, Transfer
from pownode.cluster import spawn
from pownode.config import NodeConfig, init_network
from pownode.e2e_manifest import Manifest, Perturbation
from pownode.loadgen import sender_key

POLL_S = 0.25
WAIT_COMMIT_S = 10  # ?wait=commit timeout per submission
START_TIMEOUT_S = 120.0
RETRY_PAUSE_S = 0.2


@dataclass
class Outcome:
    """What a run found; `passed` only if every check held."""

    manifest: str
    consensus: str
    nodes: int
    durable: int = 0  # transfers acknowledged as committed
    committed_unacknowledged: int = 0  # committed although no node could confirm it in time
    lost: int = 0  # acknowledged as durable, not in the chain
    duplicated: int = 0  # transactions in the chain more than once
    fork_heights: list[int] = field(default_factory=list)
    common_height: int = 0
    worst_gap_s: float = 0.0
    recovery_s: float | None = None  # from the last perturbation's end to every node past the height then
    converged: bool = False  # every node reached `common_height` once the load stopped
    sender_errors: dict[str, int] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and not self.fork_heights and self.converged
                and self.recovery_s is not None and self.durable > 0)


class Cluster:
    """The node processes of one run, each restartable; stops only what it started."""

    def __init__(self, homes: list[Path]) -> None:
        self.homes = homes
        self.procs: list[subprocess.Popen] = [spawn(h) for h in homes]
        self.apis = []
        for home in homes:
            config = NodeConfig.load(home)
            self.apis.append(f"http://{config.api_host}:{config.api_port}")

    def signal(self, node: int, sig: signal.Signals) -> None:
        if self.procs[node].poll() is None:
            self.procs[node].send_signal(sig)

    def restart(self, node: int) -> None:
        self.procs[node].wait()
        self.procs[node] = spawn(self.homes[node])

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Monitor:
    """Every node's height, sampled every POLL_S: the cluster's highest height over time."""

    def __init__(self, session: aiohttp.ClientSession, apis: list[str]) -> None:
        self.session = session
        self.apis = apis
        self.heights: list[int | None] = [None] * len(apis)
        self.top = 0
        self.last_rise = time.monotonic()
        self.worst_gap_s = 0.0

    async def _height(self, api: str) -> int | None:
        try:
            async with self.session.get(f"{api}/status", timeout=aiohttp.ClientTimeout(total=1)) as r:
                return (await r.json())["height"] if r.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError):
            return None

    async def run(self) -> None:
        while True:
            self.heights = list(await asyncio.gather(*(self._height(a) for a in self.apis)))
            now = time.monotonic()
            top = max((h for h in self.heights if h is not None), default=0)
            if top > self.top:
                self.top, self.last_rise = top, now
            self.worst_gap_s = max(self.worst_gap_s, now - self.last_rise)
            await asyncio.sleep(POLL_S)

    def all_past(self, height: int) -> bool:
        return all(h is not None and h > height for h in self.heights)

    def in_step(self) -> bool:
        return None not in self.heights and len(set(self.heights)) == 1


class Sender:
    """One client: transfers with nonces 0, 1, 2, ..., each until some node confirms it committed."""

    def __init__(self, index: int, count: int, chain_id: str, apis: list[str]) -> None:
        self.index = index
        self.key = sender_key(index)
        self.to = sender_key((index + 1) % count).address
        self.chain_id = chain_id
        self.apis = apis
        self.turn = index
        self.durable: list[tuple[bytes, int]] = []  # (hash, height) the node said it committed at
        self.unconfirmed: list[bytes] = []  # given up on at the end: checked against the chain
        self.errors: Counter[str] = Counter()

    async def _post(self, session: aiohttp.ClientSession, raw: bytes) -> dict | None:
        api = self.apis[self.turn % len(self.apis)]
        try:
            async with session.post(f"{api}/txs?wait=commit&timeout_s={WAIT_COMMIT_S}", json={"txs": [raw.hex()]},
                                    timeout=aiohttp.ClientTimeout(total=WAIT_COMMIT_S + 5)) as r:
                if r.status != 200:
                    self.errors[f"http-{r.status}"] += 1
                    return None
                return (await r.json())["results"][0]
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
            self.errors[type(exc).__name__] += 1
            return None

    async def run(self, until: float) -> None:
        """Send from a loopback address of this sender's own, as a household's gateway would."""
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.1.{1 + self.index % 250}", 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            await self._send(session, until)

    async def _send(self, session: aiohttp.ClientSession, until: float) -> None:
        nonce = 0
        while time.monotonic() < until:
            tx = Transaction.create(self.key, self.chain_id, nonce, Transfer(self.to, 1), fee=1)
            while True:
                result = await self._post(session, tx.encoded)
                if result is not None and result.get("durable"):
                    self.durable.append((tx.hash, result["height"]))

                    break
                if result is not None and result.get("reason") == "stale-nonce":
                    self.unconfirmed.append(tx.hash)  # committed while no node could say so
                    break
                if result is not None and not result.get("accepted") and result.get("reason") not in (
                        "duplicate", "nonce-taken", "nonce-gap"):
                    self.errors[f"refused-{result.get('reason')}"] += 1
                self.turn += 1  # that node is down, slow or behind: ask the next
                if time.monotonic() >= until:
                    self.unconfirmed.append(tx.hash)
                    return
                await asyncio.sleep(RETRY_PAUSE_S)
            nonce += 1


async def _perturb(cluster: Cluster, p: Perturbation, start: float, out: Outcome) -> None:
    await asyncio.sleep(max(0.0, start + p.at_s - time.monotonic()))
    out.events.append(f"{time.monotonic() - start:6.1f} s  node{p.node} {p.action} for {p.for_s:g} s")
    first = {"kill": signal.SIGKILL, "pause": signal.SIGSTOP, "restart": signal.SIGTERM}[p.action]
    cluster.signal(p.node, first)
    await asyncio.sleep(p.for_s)
    if p.action == "pause":
        cluster.signal(p.node, signal.SIGCONT)
    else:
        await asyncio.to_thread(cluster.restart, p.node)
    out.events.append(f"{time.monotonic() - start:6.1f} s  node{p.node} back")


async def _blocks(session: aiohttp.ClientSession, api: str, upto: int) -> list[dict]:
    """Blocks 1..upto as the node serves them, at the pace it allows (a 429 says when to ask again)."""
    out = []
    for height in range(1, upto + 1):
        while True:
            async with session.get(f"{api}/blocks/{height}", timeout=aiohttp.ClientTimeout(total=30)) as r:
                if r.status != 429:
                    r.raise_for_status()
                    out.append(await r.json())
                    break
                await asyncio.sleep(float((await r.json()).get("retry_after_s", 1.0)))
    return out


async def _check(session: aiohttp.ClientSession, apis: list[str], senders: list[Sender], out: Outcome) -> None:
    chains = await asyncio.gather(*(_blocks(session, api, out.common_height) for api in apis))
    judge(chains, [h for s in senders for h, _ in s.durable], [h for s in senders for h in s.unconfirmed], out)
    out.sender_errors = dict(sum((s.errors for s in senders), Counter()))


def judge(chains: list[list[dict]], durable: list[bytes], unconfirmed: list[bytes], out: Outcome) -> None:
    """Safety and durability from every node's blocks 1..common height (as the API serves them):
    heights where the nodes' block hashes differ, transactions in the chain more than once,
    and acknowledged-durable transactions missing from it."""
    out.fork_heights = [b["height"] for i, b in enumerate(chains[0])
                        if any(len(chain) <= i or chain[i]["hash"] != b["hash"] for chain in chains[1:])]
    counts = Counter(h for block in chains[0] for h in block["txs"])
    out.duplicated = sum(1 for c in counts.values() if c > 1)
    out.durable = len(durable)
    out.lost = sum(1 for h in durable if h.hex() not in counts)
    out.committed_unacknowledged = sum(1 for h in unconfirmed if h.hex() in counts)


async def _run(manifest: Manifest, homes: list[Path], chain_id: str) -> Outcome:
    out = Outcome(manifest.name, manifest.consensus, manifest.nodes)
    cluster = Cluster(homes)
    try:
        async with aiohttp.ClientSession() as session:
            monitor = Monitor(session, cluster.apis)
            watching = asyncio.create_task(monitor.run())
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (monitor.in_step() and monitor.all_past(0)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the nodes were not in step within {START_TIMEOUT_S:.0f} s: {monitor.heights}")
                await asyncio.sleep(POLL_S)
            start = time.monotonic()
            monitor.worst_gap_s, monitor.last_rise = 0.0, start
            senders = [Sender(i, manifest.senders, chain_id, cluster.apis) for i in range(manifest.senders)]
            load = [asyncio.create_task(s.run(start + manifest.duration_s)) for s in senders]
            faults = [asyncio.create_task(_perturb(cluster, p, start, out)) for p in manifest.perturbations]
            await asyncio.gather(*faults)
            ended = time.monotonic()
            height_then = monitor.top
            while time.monotonic() - ended < manifest.recovery_s:
                if monitor.all_past(height_then):
                    out.recovery_s = round(time.monotonic() - ended, 2)
                    break
                await asyncio.sleep(POLL_S)
            await asyncio.gather(*load)
            out.worst_gap_s = round(monitor.worst_gap_s, 2)
            # Every node must reach the highest height seen or acknowledged once the load stopped.
            out.common_height = max([monitor.top] + [height for s in senders for _, height in s.durable])
            settle = time.monotonic() + manifest.recovery_s
            while not monitor.all_past(out.common_height - 1) and time.monotonic() < settle:
                await asyncio.sleep(POLL_S)
            out.converged = monitor.all_past(out.common_height - 1)
            watching.cancel()
            await _check(session, cluster.apis, senders, out)
    finally:
        cluster.stop()
    return out


def run(manifest: Manifest, home: Path | None = None, base_port: int = 26700) -> Outcome:
    """Run `manifest` on a fresh network under `home` (a new temporary folder, removed after,
    if None; an existing `home` must be empty)."""
    work = home or Path(tempfile.mkdtemp(prefix=f"pownode-e2e-{manifest.name}-"))
    try:
        funded = [sender_key(i).address for i in range(manifest.senders)]
        homes = init_network(work, manifest.nodes, manifest.consensus, base_port=base_port, funded=funded)
        chain_id = json.loads((work / "genesis.json").read_text())["chain_id"]
        return asyncio.run(_run(manifest, homes, chain_id))
    finally:
        if home is None:
            shutil.rmtree(work, ignore_errors=True)


def report(out: Outcome) -> str:
    lines = [f"{out.manifest}: {out.consensus}, {out.nodes} nodes: {'PASSED' if out.passed else 'FAILED'}"]
    lines += [f"  {e}" for e in out.events]
    lines.append(f"  durable {out.durable}, lost {out.lost}, duplicated {out.duplicated}, "
                 f"committed without confirmation {out.committed_unacknowledged}")
    lines.append(f"  forks: {out.fork_heights or 'none'} up to the common height {out.common_height}; "
                 f"converged: {out.converged}")
    lines.append(f"  worst gap without a block {out.worst_gap_s} s; recovery after the last perturbation "
                 f"{out.recovery_s if out.recovery_s is not None else 'NOT within the bound'} s")
    if out.sender_errors:
        lines.append(f"  client retries: {out.sender_errors}")
    return "\n".join(lines)


def to_json(out: Outcome) -> str:
    return json.dumps({**asdict(out), "passed": out.passed}, indent=2)

