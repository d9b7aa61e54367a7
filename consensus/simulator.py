"""A deterministic network simulator for consensus engines.

n replicas, each a real `Engine` over a real ledger (`LedgerApp` on an in-memory database, real
Ed25519 signatures), exchange messages through a seeded scheduler: random delays (so messages
reorder), drops, duplicates, partitions that heal, crashed replicas, replicas that crash and
restart from their committed chain and consensus write-ahead log (`Persist` records), and
Byzantine replicas (silent, silent leader, equivocating proposer, conflicting votes, invalid
blocks, replayed old messages). Virtual time only: a run is a pure function of its scenario and
seed.

Invariants are checked after every event: safety (no two honest replicas commit different
blocks at one height), proof (every committed block carries a quorum certificate valid under the
validator set), validity (every committed block re-executes on an independent checker chain),
checkpoint agreement, no double signing (an honest replica, restarted or not, never signs two
different messages of one kind for one height and view); and, once the network has healed, liveness (every live honest replica
commits `target_height` more blocks within the time bound). A failing run carries a trace and
the command that replays it:

    python -m consensus.simulator --consensus pbft --nodes 4 --seed 17 --trace
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from dataclasses import dataclass, field
from functools import cache

from consensus.election import election_for
from consensus.engine import Broadcast, Committed, Engine, EngineConfig, Persist, Send, SetTimer, ViewChanged
from consensus.messages import Commit, CompactProposal, Envelope, NewView, Prepare, Proposal, ViewChange
from ledger.application import LedgerApp
from ledger.blocks import Block, Header, verify_quorum
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet, make_devnet
from ledger.encoding import sha256
from ledger.errors import LedgerError
from ledger.accounts import get_meter
from ledger.keys import VerifiedCache, address_of
from ledger.mempool import Mempool
from ledger.transactions import MeterReading, Transaction, Transfer

BEHAVIOURS = ("silent", "silent_leader", "equivocate", "conflicting_votes", "invalid_blocks", "replay")
CENSOR = "censor"  # proposes valid blocks without the pending transactions (targeted tests)
READING_CENSOR = "reading_censor"  # proposes blocks full of the backlog but no other owner's meter readings
CLOCK_AHEAD = "clock_ahead"  # stamps its blocks CLOCK_AHEAD_MS ahead of its clock (targeted tests)
CLOCK_AHEAD_MS = 600_000
CLOCK_FROZEN = "clock_frozen"  # stamps each block a millisecond after its parent (targeted tests)
UNKNOWN_TXS = "unknown_txs"  # its compact proposals name a transaction nobody has (targeted tests)
REPEATED_TXS = "repeated_txs"  # its compact proposals name one transaction twice (targeted tests)
POE_INTERVAL_MS = 1000


@dataclass(frozen=True)
class Partition:
    start_ms: int
    end_ms: int
    groups: tuple[tuple[int, ...], ...]

    def separates(self, a: int, b: int, t: int) -> bool:
        if not self.start_ms <= t < self.end_ms:
            return False
        return not any(a in g and b in g for g in self.groups)


@dataclass(frozen=True)
class Scenario:
    consensus: str
    nodes: int
    seed: int
    min_delay_ms: int = 5
    max_delay_ms: int = 50
    drop: float = 0.0
    duplicate: float = 0.0
    partitions: tuple[Partition, ...] = ()
    crashed: tuple[tuple[int, int], ...] = ()  # (replica, crash time)
    byzantine: tuple[tuple[int, str], ...] = ()  # (replica, behaviour)
    restarts: tuple[tuple[int, int, int], ...] = ()  # (replica, down at, back at): honest, keeps its disk
    heal_ms: int = 0  # from here on: no drops, no partitions
    target_height: int = 3  # blocks every live honest replica must commit after the heal
    max_time_ms: int = 180_000
    txs_per_sender: int = 3  # each user's pre-signed transfers
    max_block_txs: int = 10_000  # the applications' (a block of 90 % of it is full)
    view_timeout_ms: int = 300
    propose_delay_ms: int = 200  # batching window: a block at most every ~200 ms plus three delays
    request_timeout_ms: int = 0  # PBFT's request timer (EngineConfig); 0 = off
    unfed: tuple[int, ...] = ()  # replicas gossip never reaches: they fetch every proposal's transactions
    fill_wait_ms: int = 0  # EngineConfig's: mempools here are filled before the run, nothing is in flight
    paced: bool = True  # the pacemaker's base follows measured view durations, up to 4 view timeouts

    @property
    def faulty(self) -> set[int]:
        return {i for i, _ in self.crashed} | {i for i, _ in self.byzantine}


def random_scenario(consensus: str, nodes: int, seed: int) -> Scenario:
    """A seeded mix of faults: up to f crashed or Byzantine replicas, lossy periods, partitions."""
    rng = random.Random(f"{consensus}/{nodes}/{seed}")
    f = (nodes - 1) // 3
    faulty = rng.sample(range(nodes), rng.randint(0, f))
    crashed, byzantine = [], []
    for i in faulty:
        if rng.random() < 0.3:
            crashed.append((i, rng.randint(0, 3000)))
        else:
            byzantine.append((i, rng.choice(BEHAVIOURS)))
    partitions = []
    heal = rng.randint(0, 2500)
    if rng.random() < 0.5:
        members = list(range(nodes))
        rng.shuffle(members)
        cut = rng.randint(1, nodes - 1)
        start = rng.randint(0, 1500)
        end = start + rng.randint(200, 2500)
        partitions.append(Partition(start, end, (tuple(sorted(members[:cut])), tuple(sorted(members[cut:])))))
        heal = max(heal, end)
    lo = rng.randint(1, 20)
    return Scenario(
        consensus, nodes, seed,
        min_delay_ms=lo, max_delay_ms=lo + rng.randint(0, 80),
        drop=rng.choice((0.0, 0.0, 0.05, 0.15)), duplicate=rng.choice((0.0, 0.05)),
        partitions=tuple(partitions), crashed=tuple(crashed), byzantine=tuple(byzantine), heal_ms=heal,
    )


def restart_scenario(consensus: str, nodes: int, seed: int) -> Scenario:
    """Honest replicas crash and restart (keeping their chain and write-ahead log), often a few
    milliseconds after they signed (proposals go out every ~200 ms), sometimes while another
    replica is down for good, over a lossy network."""
    rng = random.Random(f"restart/{consensus}/{nodes}/{seed}")
    f = max(1, (nodes - 1) // 3)
    members = list(range(nodes))
    rng.shuffle(members)
    crashed = ((members.pop(), 0),) if rng.random() < 0.5 else ()
    restarts = []
    for i in members[:rng.randint(1, f)]:
        down = rng.choice((rng.randint(150, 2500), 200 * rng.randint(1, 8) + rng.randint(0, 15)))
        restarts.append((i, down, down + rng.choice((1, 5, 30, 300, 1500))))
    lo = rng.randint(1, 20)
    return Scenario(consensus, nodes, seed, min_delay_ms=lo, max_delay_ms=lo + rng.randint(0, 40),
                    drop=rng.choice((0.0, 0.05)), crashed=crashed, restarts=tuple(restarts),
                    heal_ms=max(up for _, _, up in restarts), view_timeout_ms=rng.choice((300, 1000)))


@cache
def network(consensus: str, nodes: int, txs_per_sender: int = 3) -> tuple[Devnet, tuple[Transaction, ...]]:
    """The devnet and pre-signed transactions for a (consensus, n) pair (and each user's count
    of transfers), built once per process."""
    params: dict = {"block_incentive": 10} if consensus == "poe" else {}
    if consensus == "poe":
        params.update(interval_ms=POE_INTERVAL_MS, poe_wh_per_unit=1000, poe_mode="argmax")
    net = make_devnet(validators=nodes, users=4, meters=nodes if consensus == "poe" else 0,
                      meter_owners="validators", consensus=consensus, label=f"sim-{consensus}-{nodes}",
                      params=params)
    cid = net.genesis.chain_id
    txs = [Transaction.create(u, cid, k, Transfer(net.users[(i + 1) % 4].address, 100 + k), fee=1)
           for k in range(txs_per_sender) for i, u in enumerate(net.users)]
    rng = random.Random(nodes)
    for i, meter in enumerate(net.meters):
        for interval in range(12):
            produced = rng.randint(0, 3000)
            txs.append(Transaction.create(meter, cid, interval, MeterReading(interval, produced, rng.randint(0, 3000))))
    return net, tuple(txs)


@dataclass
class Violation:
    kind: str  # safety, proof, validity, checkpoint, liveness
    detail: str


@dataclass
class SimResult:
    scenario: Scenario
    heights: dict[int, int]
    violations: list[Violation]
    messages: int
    bytes: int
    view_changes: int
    time_ms: int
    commit_times: dict[int, list[int]] = field(default_factory=dict)  # height -> honest commit times
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self) -> str:
        s = self.scenario
        head = (f"{'OK' if self.ok else 'FAILED'}: {s.consensus} n={s.nodes} seed={s.seed} "
                f"heights={self.heights} messages={self.messages} view_changes={self.view_changes}")
        lines = [head] + [f"  {v.kind}: {v.detail}" for v in self.violations]
        if not self.ok:
            lines.append(f"  replay: python -m consensus.simulator --consensus {s.consensus} --nodes {s.nodes} "
                         f"--seed {s.seed} --trace")
        return "\n".join(lines)


class Simulation:
    def __init__(self, scenario: Scenario, *, engine_cls: type[Engine] = Engine, keep_trace: bool = False,
                 check_proofs: bool = True, measure: bool = False, wal: bool = True) -> None:
        """`check_proofs=False` disables the proof and validity invariants (not safety): tests use
        it to show the safety check alone catches a broken engine. `wal=False` restarts replicas
        without their write-ahead log, to show the double-signing check finds what it prevents."""
        self.wal = wal
        self.check_proofs = check_proofs
        self.measure = measure  # record proposal times (for latency; costs a decode per broadcast)
        self.s = scenario
        self.rng = random.Random(f"net/{scenario.seed}")
        self.net, txs = network(scenario.consensus, scenario.nodes, scenario.txs_per_sender)
        self.genesis_ms = self.net.genesis.genesis_time_ms
        self.cache = VerifiedCache()
        self.keys = list(self.net.validators)
        order = sorted(range(len(self.keys)), key=lambda i: self.keys[i].public_key)
        self.keys = [self.keys[i] for i in order]  # replica i = i-th validator in key order
        self.index = {k.public_key: i for i, k in enumerate(self.keys)}
        self.byzantine = dict(scenario.byzantine)
        self.crash_at = dict(scenario.crashed)
        self.config = EngineConfig(view_timeout_ms=scenario.view_timeout_ms,
                                   max_timeout_ms=8 * scenario.view_timeout_ms,
                                   max_paced_timeout_ms=4 * scenario.view_timeout_ms if scenario.paced else 0,
                                   propose_delay_ms=scenario.propose_delay_ms,
                                   request_timeout_ms=scenario.request_timeout_ms,
                                   request_check_ms=max(1, scenario.request_timeout_ms // 3),
                                   fill_wait_ms=scenario.fill_wait_ms)
        self.engine_cls = engine_cls
        self.txs = txs
        self.restarts = {i: (down, up) for i, down, up in scenario.restarts}
        self.dbs = [MemoryDB() for _ in self.keys]  # each replica's disk: survives its restart
        self.wals: list[list[bytes]] = [[] for _ in self.keys]
        self.incarnation = [0] * len(self.keys)
        self.signed: dict[tuple, bytes] = {}  # (replica, kind, height, view) -> payload hash
        self.apps: list[LedgerApp] = []
        self.engines: list[Engine] = []
        for i in range(len(self.keys)):
            app, engine = self._boot(i)
            self.apps.append(app)
            self.engines.append(engine)
        self.checker = Chain(MemoryDB(), self.net.genesis)
        self.canonical: dict[int, bytes] = {}
        self.heights = {i: 0 for i in range(scenario.nodes)}
        self.violations: list[Violation] = []
        self.heap: list[tuple[int, int, str, int, object]] = []
        self.seq = 0
        self.messages = 0
        self.bytes = 0
        self.view_changes = 0
        self.goal: int | None = None
        self.keep_trace = keep_trace
        self.trace: list[str] = []
        self.seen: list[bytes] = []  # for the replaying Byzantine replica
        self.twins: dict[bytes, tuple[bytes, set[int]]] = {}  # equivocator: block -> (twin, its group)
        self.commit_times: dict[int, list[int]] = {}
        self.proposal_times: dict[int, int] = {}  # height -> first Proposal broadcast (virtual ms)

    def _boot(self, i: int) -> tuple[LedgerApp, Engine]:
        """Replica i's process: its chain reopened from its disk, a mempool refilled by gossip."""
        chain = Chain(self.dbs[i], self.net.genesis, cache=self.cache)
        pool = Mempool(self.net.genesis, self.cache)
        for tx in () if i in self.s.unfed else self.txs:
            try:
                pool.add(tx, chain.state)
            except LedgerError:
                pass  # committed before the restart
        apps = {CENSOR: _CensoringApp, READING_CENSOR: _ReadingCensorApp, CLOCK_AHEAD: _ClockAheadApp,
                CLOCK_FROZEN: _ClockFrozenApp}
        app = apps.get(self.byzantine.get(i, ""), LedgerApp)(chain, pool, max_block_txs=self.s.max_block_txs)
        return app, self.engine_cls(app, self.keys[i], election_for(self.s.consensus), self.config, self.cache)

    # --- scheduling -------------------------------------------------------------------

    def _push(self, t: int, kind: str, target: int, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, target, payload))

    def _alive(self, i: int, t: int) -> bool:
        down, up = self.restarts.get(i, (0, 0))
        return t < self.crash_at.get(i, 1 << 62) and not down <= t < up

    def honest(self, i: int) -> bool:
        return i not in self.byzantine and i not in self.crash_at

    def _deliver(self, src: int, dst: int, data: bytes, t: int) -> None:
        self.messages += 1
        self.bytes += len(data)
        healed = t >= self.s.heal_ms
        if not healed:
            if any(p.separates(src, dst, t) for p in self.s.partitions) or self.rng.random() < self.s.drop:
                return
        copies = 2 if (not healed and self.rng.random() < self.s.duplicate) else 1
        for _ in range(copies):
            self._push(t + self.rng.randint(self.s.min_delay_ms, self.s.max_delay_ms), "msg", dst, data)

    def _send_all(self, src: int, data: bytes, t: int, targets: list[int] | None = None) -> None:
        for dst in targets if targets is not None else range(self.s.nodes):
            if dst != src:
                self._deliver(src, dst, data, t)

    # --- running ----------------------------------------------------------------------

    def run(self) -> SimResult:
        for i, engine in enumerate(self.engines):
            if self._alive(i, 0):
                self._perform(i, engine.start(self.genesis_ms), 0)
        for i, (_, up) in self.restarts.items():
            self._push(up, "restart", i, None)
        t = 0
        while self.heap and not self.violations:
            t, _, kind, i, payload = heapq.heappop(self.heap)
            if t > self.s.max_time_ms:
                break
            if kind == "restart":
                self._restart(i, t)
                continue
            if kind == "timer":
                incarnation, payload = payload  # type: ignore[misc]
                if incarnation != self.incarnation[i]:
                    continue  # set by the process that crashed
            if self.goal is None and t >= self.s.heal_ms:
                live = [self.heights[j] for j in range(self.s.nodes) if self.honest(j)]
                self.goal = max(live) + self.s.target_height
            if not self._alive(i, t):
                continue
            engine = self.engines[i]
            now = self.genesis_ms + t
            if kind == "msg":
                if self.byzantine.get(i) == "replay":
                    self.seen.append(payload)  # type: ignore[arg-type]
                actions = engine.on_message(payload, now)  # type: ignore[arg-type]
            else:
                actions = engine.on_timer(payload, now)  # type: ignore[arg-type]
            self._perform(i, actions, t)
            if self.goal is not None and self._live_done():
                break
        if not self.violations and (self.goal is None or not self._live_done()):
            self.violations.append(Violation("liveness", f"honest heights {self._honest_heights()} did not reach "
                                                         f"{self.goal} by {t} ms (healed at {self.s.heal_ms} ms)"))
        return SimResult(self.s, dict(self.heights), self.violations, self.messages, self.bytes,
                         self.view_changes, t, self.commit_times, self.trace)

    def _restart(self, i: int, t: int) -> None:
        self.incarnation[i] += 1
        self.apps[i], self.engines[i] = self._boot(i)
        self._note(t, f"r{i} RESTART at h{self.engines[i].height} with {len(self.wals[i])} log records")
        restored = list(self.wals[i]) if self.wal else []
        self._perform(i, self.engines[i].start(self.genesis_ms + t, restored=restored), t)

    def _honest_heights(self) -> dict[int, int]:
        return {i: h for i, h in self.heights.items() if self.honest(i)}

    def _live_done(self) -> bool:
        return all(h >= self.goal for h in self._honest_heights().values())

    def _note(self, t: int, text: str) -> None:
        if self.keep_trace:
            self.trace.append(f"{t:>7} ms  {text}")

    # --- actions ----------------------------------------------------------------------

    def _perform(self, i: int, actions: list, t: int) -> None:
        behaviour = self.byzantine.get(i)
        for action in actions:
            if isinstance(action, Persist):
                self.wals[i].append(action.record)
            elif isinstance(action, SetTimer):
                self._push(t + action.delay_ms, "timer", i, (self.incarnation[i], action.timer))
            elif isinstance(action, Committed):
                self.wals[i].clear()
                self._on_commit(i, action.block, t)
            elif isinstance(action, ViewChanged):
                self.view_changes += 1
                self._note(t, f"r{i} view change -> h{action.height} v{action.view}")
            elif isinstance(action, Broadcast):
                self._note(t, f"r{i} broadcast {_describe(action.data)}")
                if self.restarts and self.honest(i):
                    self._check_signed_once(i, action.data)
                if self.measure:
                    payload = Envelope.decode(action.data).payload
                    if isinstance(payload, (Proposal, CompactProposal)):
                        self.proposal_times.setdefault(payload.height, t)
                if behaviour is None:
                    self._send_all(i, action.data, t)
                else:
                    self._misbehave(i, behaviour, action.data, None, t)
            elif isinstance(action, Send):
                dst = self.index[action.to]
                self._note(t, f"r{i} -> r{dst} {_describe(action.data)}")
                if behaviour is None:
                    self._deliver(i, dst, action.data, t)
                else:
                    self._misbehave(i, behaviour, action.data, [dst], t)

    def _check_signed_once(self, i: int, data: bytes) -> None:
        env = Envelope.decode(data)
        p = env.payload
        if env.sender != self.keys[i].public_key or not hasattr(p, "height"):
            return
        view = p.new_view if isinstance(p, ViewChange) else getattr(p, "view", None)
        if view is None:
            return
        key = (i, type(p).__name__, p.height, view)
        first = self.signed.setdefault(key, sha256(p.encoded))
        if first != sha256(p.encoded):
            self.violations.append(Violation("double-sign", f"replica {i} signed two different {key[1]} "
                                                            f"messages for height {p.height}, view {view}"))

    def _on_commit(self, i: int, block: Block, t: int) -> None:
        h = block.height
        self.heights[i] = h
        self._note(t, f"r{i} COMMIT h{h} {block.hash.hex()[:10]} txs={len(block.txs)}")
        if not self.honest(i):
            return
        self.commit_times.setdefault(h, []).append(t)
        first = self.canonical.setdefault(h, block.hash)
        if first != block.hash:
            self.violations.append(Violation("safety", f"height {h}: replica {i} committed {block.hash.hex()[:12]}, "
                                                       f"another honest replica {first.hex()[:12]}"))
            return
        if not self.check_proofs:
            return
        try:
            verify_quorum(block.header, self.checker.validators)
        except LedgerError as exc:
            self.violations.append(Violation("proof", f"height {h}: {exc}"))
            return
        if h == self.checker.height + 1:
            try:
                self.checker.commit_block(block)
            except LedgerError as exc:
                self.violations.append(Violation("validity", f"height {h}: {exc}"))
                return
        stable_h, stable_root = self.engines[i].stable_checkpoint
        if 0 < stable_h <= self.checker.height and self.checker.store.header(stable_h).state_root != stable_root:
            self.violations.append(Violation("checkpoint", f"replica {i} stable checkpoint {stable_h} disagrees"))

    # --- Byzantine behaviours -----------------------------------------------------------

    def _misbehave(self, i: int, behaviour: str, data: bytes, targets: list[int] | None, t: int) -> None:
        env = Envelope.decode(data)
        payload = env.payload
        key = self.keys[i]
        cid = self.net.genesis.chain_id
        others = [j for j in (targets if targets is not None else range(self.s.nodes)) if j != i]
        half = set(self.rng.sample(others, len(others) // 2)) if others else set()
        compact = isinstance(payload, CompactProposal)
        is_proposal = compact or isinstance(payload, (Proposal, NewView))
        if behaviour == "silent" or (behaviour == "silent_leader" and is_proposal):
            return
        if behaviour in (UNKNOWN_TXS, REPEATED_TXS) and compact:
            header = payload.header
            hashes = payload.tx_hashes or (header.tx_root,)
            if behaviour == UNKNOWN_TXS:  # the first replaced by a hash no transaction has
                hashes = (bytes(self.rng.getrandbits(8) for _ in range(32)),) + hashes[1:]
            else:
                hashes = (hashes[0],) + hashes
            header = header.replace(tx_count=len(hashes))
            data = Envelope.seal(key, cid, payload.replace(header=header, tx_hashes=hashes)).encoded
        if behaviour == "equivocate" and is_proposal:
            # Two valid blocks for one view, each shown to part of the replicas; the votes below
            # then back each twin toward the replicas that saw it.
            block = payload.header if compact else payload.block
            twin = _later(block)
            self.twins[block.hash] = (twin.hash, half)
            forged = Envelope.seal(key, cid, payload.replace(header=twin) if compact else payload.replace(block=twin)).encoded
            for j in others:
                self._deliver(i, j, forged if j in half else data, t)
            return
        if behaviour in ("equivocate", "conflicting_votes") and isinstance(payload, (Prepare, Commit)):
            twin_hash, group = self.twins.get(payload.block_hash, (None, half))
            if behaviour == "conflicting_votes" or twin_hash is None:
                twin_hash = bytes(self.rng.getrandbits(8) for _ in range(32))
            forged = Envelope.seal(key, cid, payload.replace(block_hash=twin_hash)).encoded
            for j in others:
                self._deliver(i, j, forged if j in group else data, t)
            return
        if behaviour == "invalid_blocks" and is_proposal:
            if compact:
                bad_header = payload.header.replace(state_root=bytes(32))
                data = Envelope.seal(key, cid, payload.replace(header=bad_header)).encoded
            else:
                block = payload.block
                bad = block.replace(header=block.header.replace(state_root=bytes(32)))
                data = Envelope.seal(key, cid, payload.replace(block=bad)).encoded
        if behaviour == "replay" and self.seen:
            for _ in range(2):
                old = self.seen[self.rng.randrange(len(self.seen))]
                self._deliver(i, self.rng.choice(others) if others else i, old, t)
        self._send_all(i, data, t, others)


class _CensoringApp(LedgerApp):
    """A proposer's application that leaves every pending transaction out: valid, empty blocks."""

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        self.chain.discard_pending()
        return self.chain.build_block([], proposer, time_ms, skipped=skipped)[0]


class _ReadingCensorApp(LedgerApp):
    """A proposer's application that keeps out every meter reading but its own meters' and
    fills its blocks with the rest of the backlog: under Proof of Energy its CPF is then the only
    one the chain holds, and it stays elected (003 V.F ranks by the readings on chain)."""

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        self.chain.discard_pending()
        state, mine = self.chain.state, address_of(proposer)

        def kept(tx: Transaction) -> bool:
            if not isinstance(tx.body, MeterReading):
                return True
            meter = get_meter(state, tx.sender)
            return meter is not None and meter.owner == mine

        interval = self.chain.genesis.interval_of(max(time_ms, self.chain.head.time_ms + 1))
        candidates = [tx for tx in self.mempool.select(state, self.mempool.capacity, interval) if kept(tx)]
        return self.chain.build_block(candidates, proposer, time_ms, self.max_block_txs, skipped)[0]


class _ClockAheadApp(LedgerApp):
    """A proposer's application that dates its blocks ten minutes ahead, to move the chain's
    clock (its intervals and windows) forward."""

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        return super().propose(proposer, time_ms + CLOCK_AHEAD_MS, skipped)


class _ClockFrozenApp(LedgerApp):
    """A proposer's application that dates each block a millisecond after its parent, to hold
    the chain's clock (and every interval) still."""

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        return super().propose(proposer, self.chain.head.time_ms + 1, skipped)


def _later(item: Block | Header) -> Block | Header:
    """The same block (or header) dated a millisecond later: an equivocator's twin."""
    if isinstance(item, Block):
        return item.replace(header=item.header.replace(time_ms=item.header.time_ms + 1))
    return item.replace(time_ms=item.time_ms + 1)


def _describe(data: bytes) -> str:
    p = Envelope.decode(data).payload
    name = type(p).__name__
    if hasattr(p, "view"):
        return f"{name} h{p.height} v{p.view}"
    return f"{name} h{getattr(p, 'height', getattr(getattr(p, 'block', None), 'height', '?'))}"


def run_seed(consensus: str, nodes: int, seed: int, *, engine_cls: type[Engine] = Engine,
             keep_trace: bool = False) -> SimResult:
    return Simulation(random_scenario(consensus, nodes, seed), engine_cls=engine_cls, keep_trace=keep_trace).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay or sweep simulator seeds.")
    parser.add_argument("--consensus", choices=["pbft", "pos", "poe"], default="pbft")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=1, help="run this many seeds starting at --seed")
    parser.add_argument("--trace", action="store_true", help="print the event trace of each run")
    args = parser.parse_args(argv)
    failed = 0
    for seed in range(args.seed, args.seed + args.seeds):
        result = run_seed(args.consensus, args.nodes, seed, keep_trace=args.trace)
        print(result.scenario if args.trace else "", end="\n" if args.trace else "")
        if args.trace:
            print("\n".join(result.trace))
        print(result.report())
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
