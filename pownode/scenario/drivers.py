"""Where a scenario's transactions go: a chain in this process, or a cluster of node processes.

Both take the runner's transactions one *phase* at a time: a list whose order matters (a market
clears by posting order) and in which every sender has at most one transaction, or all of a
sender's are adjacent, so a node's mempool (senders in arrival order, each sender's nonces
together) keeps the list's order whichever blocks it falls into. A phase commits in full, in
order, inside the chain interval the runner is in, or the run stops with the reason.

- `LocalDriver`: one `Chain` in memory; each phase is one block at a chain time the runner sets,
  proposed by the validator the consensus module's election ranks first (as a fault-free
  cluster's would be) and sealed by every validator's key.
- `ClusterDriver`: the validators as `pownode run` processes on loopback; each phase is one
  `POST /txs?wait=commit` batch, and the chain's clock is the wall clock, so chain interval k is
  wall-clock seconds [k * interval, (k + 1) * interval) after genesis. The driver checks that the
  phase committed in order and in the interval the runner is in. With a `Crash`, one validator
  is killed (SIGKILL, mid-interval work lost) on entering one chain interval and, optionally,
  restarted on entering a later one; the phases go to the nodes still running, and the run must
  end as the fault-free one does (001 Table 2's "impact of power failure", measured).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from consensus.election import election_for
from ledger.application import LedgerApp
from ledger.blocks import make_quorum, sign_commit
from ledger.chain import Chain
from ledger.database import LevelDB, MemoryDB
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.mempool import Mempool
from ledger.state import State
from ledger.transactions import Transaction
from market.precompiles import MARKET_PRECOMPILES
from pownode.cluster import spawn, stop
from pownode.config import write_homes
from pownode.scenario.spec import ScenarioError
from vm.machine import VM

COMMIT_TIMEOUT_S = 60
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class Committed:
    """A phase transaction's outcome: its receipt's status (0 = ok), output and reason."""

    tx_hash: bytes
    ok: bool
    output: bytes
    reason: str


@dataclass(frozen=True)
class Proposal:
    """Who proposed a block, and the time of its parent (what its election ranked by)."""

    proposer: bytes
    parent_time_ms: int


@dataclass(frozen=True)
class Crash:
    """Kill validator `node` on entering chain interval `interval`; restart it on entering
    `back` (None: it stays down)."""

    node: int
    interval: int
    back: int | None = None

    @staticmethod
    def parse(text: str, validators: int) -> "Crash":
        """`NODE@INTERVAL` or `NODE@INTERVAL-BACK`, e.g. `3@5-9`."""
        node, _, when = text.partition("@")
        start, _, back = when.partition("-")
        try:
            crash = Crash(int(node), int(start), int(back) if back else None)
        except ValueError:
            raise ScenarioError(f"--crash takes NODE@INTERVAL or NODE@INTERVAL-BACK, not {text!r}") from None
        if not 0 <= crash.node < validators or crash.interval < 1 or (crash.back is not None
                                                                       and crash.back <= crash.interval):
            raise ScenarioError(f"--crash {text}: a node 0..{validators - 1}, a chain interval >= 1, and a later "
                                f"interval to restart it")
        if validators < 4:
            raise ScenarioError("--crash needs at least 4 validators (a BFT chain of 3f + 1 tolerates f down)")
        return crash


@dataclass
class ChainStats:
    blocks: int = 0
    transactions: int = 0
    cpu_s: float = 0.0  # of the node processes (cluster) or this process's chain work (local)
    proposals: tuple[Proposal, ...] = ()


def _proposals(chain: Chain) -> tuple[Proposal, ...]:
    headers = [chain.store.block(h).header for h in range(chain.height + 1)]
    return tuple(Proposal(h.proposer, parent.time_ms) for parent, h in zip(headers, headers[1:]))


class LocalDriver:
    def __init__(self, genesis: Genesis, validators: tuple[PrivateKey, ...]) -> None:
        self.genesis = genesis
        self.validators = validators
        self.chain = Chain(MemoryDB(), genesis, runtime=VM(MARKET_PRECOMPILES))
        self.app = LedgerApp(self.chain, Mempool(genesis, self.chain.cache))
        self.election = election_for(genesis.consensus)
        self.by_key = {k.public_key: k for k in validators}
        self.interval = 0
        self.phase = 0
        self.cpu_s = 0.0

    def enter(self, interval: int) -> None:
        self.interval, self.phase = interval, 0

    def submit(self, txs: list[Transaction]) -> list[Committed]:
        """Commit `txs` in as few blocks as hold them (a block is bounded in bytes and gas; what
        one leaves out, and a sender's later nonces, go in the next)."""
        started = time.process_time()
        pending = txs
        while pending:
            included = self._commit_block(pending)
            pending = [tx for tx in pending if tx.hash not in included]
        out = []
        for tx in txs:
            receipt = self.chain.store.tx_location(tx.hash).receipt
            out.append(Committed(tx.hash, receipt.status == 0, receipt.output, receipt.reason))
        self.cpu_s += time.process_time() - started
        return out

    def _commit_block(self, txs: list[Transaction]) -> set[bytes]:
        self.phase += 1
        time_ms = self.genesis.genesis_time_ms + self.interval * self.genesis.interval_ms + self.phase
        if self.phase >= self.genesis.interval_ms:
            raise ScenarioError(f"interval {self.interval}: more phases than milliseconds in a chain interval")
        proposer = self.by_key[self.election.ranking(self.app)[0]]
        block, dropped = self.chain.build_block(txs, proposer.public_key, time_ms, max_txs=len(txs))
        for tx, exc in dropped:
            if not (exc.reason == "nonce-gap" and len(block.txs) + len(dropped) < len(txs)):
                raise ScenarioError(f"interval {self.interval}: a {tx.kind} was refused: {exc}")
        if not block.txs:
            raise ScenarioError(f"interval {self.interval}: a transaction fits no block (its gas limit is above "
                                f"the genesis max_block_gas {self.genesis.max_block_gas})")
        sigs = [sign_commit(k, block.header) for k in self.validators]
        self.chain.commit_block(block.replace(header=block.header.replace(proof=make_quorum(block.header, sigs))))
        return {tx.hash for tx in block.txs}

    def state(self) -> State:
        return self.chain.state

    def stats(self) -> ChainStats:
        return ChainStats(self.chain.height, sum(self.chain.store.block(h).header.tx_count
                                                for h in range(1, self.chain.height + 1)), self.cpu_s,
                          _proposals(self.chain))

    def stop(self) -> None:
        pass


def _http(method: str, url: str, body: dict | None = None, timeout: float = 10.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return {"http_error": exc.code, **json.loads(exc.read() or b"{}")}


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds of a live process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ClusterDriver:
    def __init__(self, genesis: Genesis, validators: tuple[PrivateKey, ...], home: Path, base_port: int,
                 crash: Crash | None = None) -> None:
        self.genesis = genesis
        self.crash = crash
        self.crashed_cpu_s = 0.0  # CPU of the processes a crash killed
        self.restarting = False  # the crashed node was restarted and its API has not answered yet
        home.mkdir(parents=True)
        self.homes = write_homes(home, genesis, validators, base_port=base_port)
        self.apis = [f"http://127.0.0.1:{base_port + 2 * i + 1}" for i in range(len(validators))]
        self.procs = [spawn(h) for h in self.homes]
        self.interval = 0
        self.final: ChainStats | None = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            heights = [self._status(api).get("height") for api in self.apis]
            if all(h is not None for h in heights):
                break
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise ScenarioError(f"the cluster did not start (logs: {home}/node*/node.log)")
            time.sleep(0.2)

    def _status(self, api: str) -> dict:
        try:
            return _http("GET", f"{api}/status", timeout=2)
        except (urllib.error.URLError, OSError, ValueError):
            return {}

    def enter(self, interval: int) -> None:
        """Wait for the wall clock (the chain's) to be 100 ms into chain interval `interval`."""
        self.interval = interval
        start_s = (self.genesis.genesis_time_ms + interval * self.genesis.interval_ms + 100) / 1000
        if time.time() > start_s + self.genesis.interval_ms / 2000:
            raise ScenarioError(f"the runner reached chain interval {interval} late: make the chain interval longer")
        time.sleep(max(0.0, start_s - time.time()))
        if self.crash is not None and interval == self.crash.interval:
            victim = self.procs[self.crash.node]
            self.crashed_cpu_s += _cpu_s(victim.pid)
            victim.kill()
            victim.wait()
        if self.crash is not None and interval == self.crash.back:
            self.procs[self.crash.node] = spawn(self.homes[self.crash.node])
            self.restarting = True

    def _down(self) -> int | None:
        """The crashed validator while it is down (it was never restarted, or not yet)."""
        if self.crash is None or self.procs[self.crash.node].poll() is None:
            return None
        return self.crash.node

    def _live_apis(self) -> list[str]:
        """The APIs to send phases to: running nodes, a restarted one once it answers again."""
        if self.restarting and self._status(self.apis[self.crash.node]).get("height") is not None:
            self.restarting = False
        return [api for i, (api, p) in enumerate(zip(self.apis, self.procs))
                if p.poll() is None and not (self.restarting and i == self.crash.node)]

    def submit(self, txs: list[Transaction]) -> list[Committed]:
        live = self._live_apis()
        api = live[self.interval % len(live)]
        answer = _http("POST", f"{api}/txs?wait=commit&timeout_s={COMMIT_TIMEOUT_S}",
                       {"txs": [tx.encoded.hex() for tx in txs]}, timeout=COMMIT_TIMEOUT_S + 10)
        results = answer.get("results")
        if not results:
            raise ScenarioError(f"interval {self.interval}: the node refused the batch: {answer}")
        for tx, r in zip(txs, results):
            if not r.get("accepted") or not r.get("durable"):
                raise ScenarioError(f"interval {self.interval}: a {tx.kind} was not committed: {r}")
        out, last = [], (-1, -1)
        for tx in txs:
            found = _http("GET", f"{api}/txs/{tx.hash.hex()}")
            where = (found["height"], found["index"])
            if where <= last:
                raise ScenarioError(f"interval {self.interval}: the cluster committed a phase out of order")
            last = where
            block = _http("GET", f"{api}/blocks/{where[0]}")
            if self.genesis.interval_of(block["time_ms"]) != self.interval:
                raise ScenarioError(f"interval {self.interval}: a {tx.kind} committed in chain interval "
                                    f"{self.genesis.interval_of(block['time_ms'])}: make the chain interval longer")
            receipt = found["receipt"]
            out.append(Committed(tx.hash, receipt["ok"], bytes.fromhex(receipt["output"]), receipt["reason"]))
        return out

    def stats(self) -> ChainStats:
        assert self.final is not None, "stats are read once the cluster stopped"
        return self.final

    def state(self) -> State:
        """A running node's state (node0's, or node1's when node0 stayed down), read from its
        database once the cluster stopped; every running node's state root was checked equal first."""
        assert self.final is not None, "the state is read once the cluster stopped"
        reader = 1 if self._down() == 0 else 0
        chain = Chain(LevelDB(self.homes[reader] / "chain"), self.genesis, runtime=VM(MARKET_PRECOMPILES))
        try:
            self.final.proposals = _proposals(chain)
            return State(chain.store.state_items())
        finally:
            chain.store.db.close()

    def stop(self) -> None:
        """Wait for every node to reach one height, record the chain's statistics and the nodes'
        CPU, then stop the processes this driver started."""
        down = self._down()
        if self.final is None and all(p.poll() is None for i, p in enumerate(self.procs) if i != down):
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                found = [self._status(api) for i, api in enumerate(self.apis) if i != down]
                if len({(s.get("height"), s.get("state_root")) for s in found}) == 1:
                    break
                time.sleep(0.2)
            else:
                raise ScenarioError(f"the nodes did not agree on one head: {[s.get('height') for s in found]}")
            # A node that never crashed counts the committed transactions (a restarted one
            # counts only those since its restart).
            witness = self._status(self.apis[1 if self.crash is not None and self.crash.node == 0 else 0])
            self.final = ChainStats(found[0]["height"], witness["committed_txs"],
                                    self.crashed_cpu_s + sum(_cpu_s(p.pid) for p in self.procs if p.poll() is None))
        stop(self.procs)
