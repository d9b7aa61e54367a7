"""The node: the consensus engine, the ledger, the VM and the market, wired to peers and an API.

Everything runs on one asyncio loop, so the engine and the ledger are only ever touched from one
thread. The links to the other validators are the peer set's (`pownode.peer_set`): a slow peer
loses messages (consensus retransmits what matters and a lagging node syncs blocks) instead of
growing this node's memory. Transactions are gossiped in batches, once, by the node a client gave
them to (the validators form a full mesh): nothing is relayed again, so there are no storms.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from consensus.election import election_for
from consensus.engine import Broadcast, Committed, Engine, EngineConfig, Persist, Send, SetTimer, Timer, ViewChanged
from ledger.application import LedgerApp
from ledger.blocks import Block
from ledger.chain import Chain
from ledger.encoding import Bin, ListOf, pack, unpack
from ledger.errors import DecodeError, LedgerError
from ledger.genesis import Genesis
from ledger.mempool import Mempool
from ledger.transactions import ContractCall, Transaction
from market import clearing
from market.precompiles import MARKET_PRECOMPILES
from pownode.config import NodeConfig
from pownode.history import open_chain_db
from pownode.ingress import FairIngress, Overloaded
from pownode.keyfile import read_key
from pownode.parallel_verify import ParallelVerifier
from pownode.peer_set import CONSENSUS, TXS, PeerSet
from pownode.ratelimit import ThrottledLog
from pownode.wal import WriteAheadLog
from vm import values
from vm.compiler import LANGUAGE_VERSION
from vm.machine import VM

log = logging.getLogger("pownode.node")

TX_BATCH = ListOf(Bin(max_len=80 * 1024), 10_000)
# Gossip that lost a race is normal: already pending, committed meanwhile, or outbid.
EXPECTED_GOSSIP_REFUSALS = frozenset({"duplicate", "stale-nonce", "nonce-taken", "mempool-full"})
# Refusals no honest peer causes: it relays only what it admitted, so it checked the encoding and
# the signature. A peer is charged for each (`PeerSet.charge`).
FORGED_REASONS = frozenset({"malformed", "oversize", "trailing-bytes", "float", "map", "arity", "field-type",
                            "out-of-range", "non-canonical", "bad-signature", "wrong-chain"})
REGOSSIP_S = 3.0  # a transaction still pending after this long is sent to every peer again
GOSSIP_FLUSH_S = 0.01  # client transactions are gathered this long into one frame per peer
GOSSIP_MAX_BATCH = 2000
ADMIT_SLICE = 200  # transactions admitted between two looks at the other work on the loop
# Waiting for admission, per client address or peer and in all: admission verifies about 10,000
# transactions a second, so 48 MiB (some 200,000 transactions) is many seconds of work.
INGRESS_SOURCE_BYTES = 8 * 1024 * 1024
INGRESS_TOTAL_BYTES = 48 * 1024 * 1024


@dataclass
class Stats:
    started_s: float = field(default_factory=time.monotonic)
    committed_txs: int = 0
    view_changes: int = 0
    dropped_batches: int = 0  # peers' transaction batches over the admission queues' bounds
    recent: list[tuple[float, int]] = field(default_factory=list)  # (time, txs) of recent blocks


class Node:
    def __init__(self, config: NodeConfig, home: Path, *, resync: bool = False) -> None:
        self.config = config
        self.home = home
        self.genesis = Genesis.load(config.genesis)
        self.key = read_key(config.key)
        # The genesis pins the contract language; VM() refuses another, or an unverified CPython.
        self.vm = VM(MARKET_PRECOMPILES, language=self.genesis.int_param("vm_language", LANGUAGE_VERSION))
        self.chain = Chain(open_chain_db(home, self.genesis, resync=resync), self.genesis, runtime=self.vm)
        self.wal = WriteAheadLog(home / "consensus.wal")  # own votes, synced before they are sent
        self.mempool = Mempool(self.genesis, self.chain.cache, runtime=self.vm)
        self.app = LedgerApp(self.chain, self.mempool, max_block_txs=config.max_block_txs)
        engine_config = EngineConfig(view_timeout_ms=config.view_timeout_ms, max_timeout_ms=16 * config.view_timeout_ms,
                                     propose_delay_ms=config.block_interval_ms,
                                     request_timeout_ms=config.request_timeout_ms,
                                     # look three times per timeout, at most every 3 s
                                     request_check_ms=max(100, min(3_000, config.request_timeout_ms // 3)),
                                     max_block_bytes=self.genesis.max_block_bytes)
        self.engine = Engine(self.app, self.key, election_for(self.genesis.consensus), engine_config, self.chain.cache)
        self.peers = PeerSet(self.key, self.genesis.chain_id, config, self.is_member, self._on_frame, self._on_connect)
        self.stats = Stats()
        self.listeners: list = []  # callables(event dict) for the WebSocket stream
        # Admission (signature checks dominate) runs in one task, a slice at a time and each
        # source in turn, so that a flood of transactions never holds up consensus messages
        # for more than a slice, nor another source's batch for more than a slice per source.
        self._ingress = FairIngress(INGRESS_SOURCE_BYTES, INGRESS_TOTAL_BYTES)
        self._ingress_ready = asyncio.Event()
        self._verifier: ParallelVerifier | None = None  # config.verify_workers processes
        self._relay_log = ThrottledLog(log)
        self._refusals_seen: dict[tuple[str, str], dict] = {}  # (reason, detail) -> shared result
        self._outbox: list[bytes] = []  # client transactions not yet sent to peers
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task] = []
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        clearing.self_check()  # kernel == reference before this node may clear a market
        self._running = True
        if self.config.verify_workers > 0:
            self._verifier = ParallelVerifier(self.config.verify_workers)
            await self._verifier.start()
        self._tasks.append(asyncio.create_task(self._admit_loop()))
        self._tasks.append(asyncio.create_task(self._regossip_loop()))
        await self.peers.start()
        self._perform(self.engine.start(self.now_ms(), restored=self.wal.records))
        log.info("%s listening on %s:%d, height %d", self.config.name, self.config.listen_host,
                 self.config.listen_port, self.chain.height)

    async def stop(self) -> None:
        """Stop cleanly: no task or connection is left for interpreter shutdown to trip over."""
        self._running = False
        await self.peers.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._verifier is not None:
            self._verifier.close()
        self.wal.close()
        self.chain.store.db.close()

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def is_member(self, key: bytes) -> bool:
        return key in dict(self.chain.validators) and key != self.key.public_key

    # --- peers -----------------------------------------------------------------------------

    def _on_connect(self, peer: bytes) -> None:
        """Gossip reaches only the peers connected at the time: a peer that was down (and may be
        the next proposer) gets everything still pending, or it would propose empty blocks."""
        self._send_txs([tx.encoded for tx in self.mempool.pending()], [peer])

    def _on_frame(self, peer: bytes, channel: int, payload: bytes) -> None:
        if channel == CONSENSUS:
            self._perform(self.engine.on_message(payload, self.now_ms()))
        elif channel == TXS:
            try:
                batch = TX_BATCH.check(unpack(payload, max_size=self.config.max_block_txs * 80 * 1024), "txs")
            except DecodeError as exc:
                log.warning("malformed transaction batch from %s: %s", peer.hex()[:12], exc)
                return
            try:
                self._ingress.put(peer, list(batch), peer, None)
            except Overloaded:
                self.stats.dropped_batches += 1  # the proposal will carry them if they commit
                return
            self._ingress_ready.set()
        else:
            log.warning("unknown channel %d from %s", channel, peer.hex()[:12])

    # --- engine actions --------------------------------------------------------------------

    def _perform(self, actions: list) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, Persist):
                self.wal.append(action.record)
                continue
            if self.wal.dirty and isinstance(action, (Broadcast, Send)):
                self.wal.sync()  # nothing signed leaves before the log holds it
            if isinstance(action, Broadcast):
                for peer in self.peers:
                    self.peers.send(peer, CONSENSUS, action.data)
            elif isinstance(action, Send):
                self.peers.send(action.to, CONSENSUS, action.data)
            elif isinstance(action, SetTimer):
                loop.call_later(action.delay_ms / 1000, self._fire, action.timer)
            elif isinstance(action, Committed):
                self.wal.reset()  # the height its records were for is decided
                self._on_commit(action)
            elif isinstance(action, ViewChanged):
                self.stats.view_changes += 1
                log.info("view change to %d at height %d", action.view, action.height)
        if self.wal.dirty:
            self.wal.sync()

    def _fire(self, timer: Timer) -> None:
        if self._running:
            try:
                self._perform(self.engine.on_timer(timer, self.now_ms()))
            except Exception:
                log.exception("error handling timer %s", timer)

    def _on_commit(self, action: Committed) -> None:
        block = action.block
        self.stats.committed_txs += len(block.txs)
        if block.height % 50 == 0 or block.txs:
            log.info("committed height %d (%d txs)", block.height, len(block.txs))
        now = time.monotonic()
        self.stats.recent = [(t, n) for t, n in self.stats.recent if now - t < 10] + [(now, len(block.txs))]
        if not self.listeners:
            return
        events = [{"type": "block", "height": block.height, "hash": block.hash.hex(),
                   "txs": [t.hash.hex() for t in block.txs]}]
        events += self._contract_events(block)
        for listener in list(self.listeners):
            for event in events:
                listener(event)

    def _contract_events(self, block: Block) -> list[dict]:
        """The events of the block's contract calls (a market's `cleared` is its result)."""
        out = []
        for tx in block.txs:
            if not isinstance(tx.body, ContractCall):
                continue
            where = self.chain.store.tx_location(tx.hash)
            for ev in where.receipt.events if where is not None else ():
                out.append({"type": "event", "height": block.height, "tx": tx.hash.hex(),
                            "contract": ev.contract.hex(), "topic": ev.topic, "fields": values.to_json(values.decode(ev.data))})
        return out

    # --- transactions ----------------------------------------------------------------------

    async def admit(self, raws: list[bytes], client: str = "") -> list[dict]:
        """Admit a client's batch in turn with every other source's; per transaction, accepted
        or why not. Raises `Overloaded` when the client's or the node's queue is full."""
        future = asyncio.get_running_loop().create_future()
        self._ingress.put(("client", client), raws, None, future)
        self._ingress_ready.set()
        return await future

    async def _admit_loop(self) -> None:
        while True:
            await self._ingress_ready.wait()
            self._ingress_ready.clear()
            while (item := self._ingress.take(ADMIT_SLICE)) is not None:
                job, piece = item
                try:
                    batch: list[bytes | Transaction] = list(piece)
                    if self._verifier is not None:
                        batch = await self._preverify(batch, self._verifier)
                    job.results += self.submit(batch, job.origin)
                except Exception:  # a bug: never let it stop admission for everyone
                    log.exception("error admitting transactions")
                    job.results += [{"accepted": False, "reason": "internal", "detail": "see the node log"}] * len(piece)
                if job.start >= len(job.raws) and job.future is not None and not job.future.done():
                    job.future.set_result(job.results)
                await asyncio.sleep(0)

    async def _preverify(self, raws: list[bytes | Transaction], verifier: ParallelVerifier) -> list[bytes | Transaction]:
        """Decode a slice and verify its new signatures in the worker processes. What does not
        decode stays raw, for `submit` to refuse with its reason."""
        out: list[bytes | Transaction] = []
        fresh: list[Transaction] = []
        for raw in raws:
            try:
                tx = raw if isinstance(raw, Transaction) else Transaction.decode(raw)
            except LedgerError:
                out.append(raw)
                continue
            out.append(tx)
            if tx.hash not in self.chain.cache and tx.hash not in self.mempool:
                fresh.append(tx)
        if fresh:
            await verifier.verify_into(fresh, self.chain.cache)
        return out

    def _refusal(self, reason: str, detail: str) -> dict:
        """One shared result per distinct refusal: a flood of 10,000 identical rejections holds
        one small dict, not 10,000 (they wait in memory until the whole batch is admitted)."""
        key = (reason, detail)
        found = self._refusals_seen.get(key)
        if found is None:
            if len(self._refusals_seen) >= 4096:
                self._refusals_seen.clear()
            found = self._refusals_seen[key] = {"accepted": False, "reason": reason, "detail": detail}
        return found

    def submit(self, raws: list[bytes | Transaction], origin: bytes | None = None) -> list[dict]:
        """Admit encoded transactions now; send those new from clients to every peer."""
        results = []
        fresh = []
        unexpected: dict[str, int] = {}
        for raw in raws:
            try:
                tx = self.mempool.add(raw, self.chain.state)
            except LedgerError as exc:
                results.append(self._refusal(exc.reason, str(exc)[:200]))
                if origin is not None and exc.reason not in EXPECTED_GOSSIP_REFUSALS:
                    unexpected[exc.reason] = unexpected.get(exc.reason, 0) + 1
                continue
            results.append({"accepted": True, "hash": tx.hash.hex()})
            # Validators form a full mesh and the receiving node sends to all of them, so a
            # transaction that came from a peer is not relayed again (it would reach every node
            # N-1 times). A peer that was down gets the whole mempool when it reconnects.
            if origin is None:
                fresh.append(tx.encoded)
        if unexpected and origin is not None:
            self.peers.charge(origin, sum(n for reason, n in unexpected.items() if reason in FORGED_REASONS))
            self._relay_log.warning("peer %s relayed refused transactions: %s", origin.hex()[:12], unexpected)
        if fresh:
            self._outbox += fresh
            if len(self._outbox) >= GOSSIP_MAX_BATCH:
                self._flush_gossip()
            elif self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_later(GOSSIP_FLUSH_S, self._flush_gossip)
        if len(self.mempool) >= self.config.max_block_txs and any(r["accepted"] for r in results):
            self._perform(self.engine.on_txs_available(self.now_ms()))
        return results

    async def _regossip_loop(self) -> None:
        """Send again what has waited a whole period: a gossip frame dropped on a full queue, or
        by a peer too busy to take it, would otherwise strand a transaction on a node that never
        proposes (PBFT's stable primary). Peers refuse copies they hold before decoding them."""
        previous: set[bytes] = set()
        while True:
            await asyncio.sleep(REGOSSIP_S)
            # Only what could go into the next block: a transaction behind a nonce gap waits
            # for its predecessor, and sending it around again would not help.
            ready = self.mempool.select(self.chain.state, self.mempool.capacity)
            stale = [tx.encoded for tx in ready if tx.hash in previous]
            previous = {tx.hash for tx in ready}
            if stale and self.peers:
                log.info("sending %d transactions pending for over %.0f s to peers again", len(stale), REGOSSIP_S)
                self._send_txs(stale, list(self.peers))

    def _flush_gossip(self) -> None:
        """Send the gathered client transactions to every peer: one frame per peer per flush,
        however many small requests they came in (per-frame costs dominate small batches)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            self._send_txs(outbox, list(self.peers))

    def _send_txs(self, raws: list[bytes], peers: list[bytes]) -> None:
        for start in range(0, len(raws), GOSSIP_MAX_BATCH):
            payload = pack(raws[start : start + GOSSIP_MAX_BATCH])
            for peer in peers:
                self.peers.send(peer, TXS, payload)

    def tx_rate(self) -> float:
        recent = self.stats.recent
        if len(recent) < 2:
            return 0.0
        span = recent[-1][0] - recent[0][0]
        return sum(n for _, n in recent[1:]) / span if span > 0 else 0.0
