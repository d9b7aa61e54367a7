"""The node: the ledger, the VM and the market, wired to peers and an API, in one of two roles.

A **validator** runs the consensus engine; a **full node** (config role "full", admitted by the
operator's `AdmitNode`) runs none: it follows the validators' committed blocks, verifying each
one's certificate and executing it (`pownode.block_feed`), serves the same API, and forwards its
clients' transactions to the validators. It never votes.

Everything runs on one asyncio loop, so the engine and the ledger are only ever touched from one
thread. The links are the peer set's (`pownode.peer_set`): a slow peer loses messages (consensus
retransmits what matters and a lagging node syncs blocks) instead of growing this node's memory.
Transactions come in and go out through the transaction reactor (`pownode.tx_reactor`: fair
admission, gossip batches, re-gossip). What is left here is the host: the engine's actions
(messages, timers, the write-ahead log, commits) and the events the API streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from consensus.election import election_for
from consensus.engine import Broadcast, Committed, Engine, EngineConfig, Persist, Send, SetTimer, Timer, ViewChanged
from ledger import accounts
from ledger.application import LedgerApp
from ledger.blocks import Block
from ledger.chain import Chain
from ledger.genesis import Genesis
from ledger.mempool import Mempool
from ledger.transactions import AdmitNode, SetValidator, Transaction
from market import clearing
from market.precompiles import market_precompiles
from pownode.block_feed import BlockFollower, BlockServer
from pownode.config import NodeConfig
from pownode.history import open_chain_db
from pownode.keyfile import read_key
from pownode.events import EventBus, events_of
from pownode.peer_set import BLOCKS, CONSENSUS, TXS, PeerSet
from pownode.ratelimit import ThrottledLog
from pownode.tx_reactor import TxReactor
from pownode.wal import WriteAheadLog
from vm.code_store import CodeStore
from vm.compiler import LANGUAGE_VERSION
from vm.machine import VM

log = logging.getLogger("pownode.node")

MEMBERSHIP_KINDS = (AdmitNode, SetValidator)  # transactions that change who may link with whom



@dataclass
class Stats:
    started_s: float = field(default_factory=time.monotonic)
    committed_txs: int = 0
    view_changes: int = 0
    recent: list[tuple[float, int]] = field(default_factory=list)  # (time, txs) of recent blocks


class Node:
    def __init__(self, config: NodeConfig, home: Path, *, resync: bool = False) -> None:
        self.config = config
        self.home = home
        self.genesis = Genesis.load(config.genesis)
        self.key = read_key(config.key)
        # The genesis pins the contract language; VM() refuses another, or an unverified CPython.
        self.validating = config.role == "validator"
        # A validator clears markets with the numba kernels; a full node re-executes certified
        # blocks with the plain-Python reference behind the same checks, and never loads numba.
        self.clearing = clearing.KERNEL if self.validating else clearing.PURE
        self.vm = VM(market_precompiles(self.clearing), language=self.genesis.int_param("vm_language", LANGUAGE_VERSION),
                     code_store=CodeStore(home / "vm-code"))  # compiled contracts kept across restarts
        self.chain = Chain(open_chain_db(home, self.genesis, resync=resync), self.genesis, runtime=self.vm)
        self.mempool = Mempool(self.genesis, self.chain.cache, runtime=self.vm)
        self.app = LedgerApp(self.chain, self.mempool, max_block_txs=config.max_block_txs)
        self._configured = frozenset(bytes.fromhex(p.public_key) for p in config.peers)
        self.peers = PeerSet(self.key, self.genesis.chain_id, config, self.is_member, self._on_frame, self._on_connect,
                             is_follower=self.is_follower)
        self.engine: Engine | None = None
        self.wal: WriteAheadLog | None = None
        self.follower: BlockFollower | None = None
        self.server: BlockServer | None = None
        if self.validating:
            self.wal = WriteAheadLog(home / "consensus.wal")  # own votes, synced before they are sent
            engine_config = EngineConfig(
                view_timeout_ms=config.view_timeout_ms, max_timeout_ms=16 * config.view_timeout_ms,
                max_paced_timeout_ms=config.max_paced_timeout_ms,
                propose_delay_ms=config.block_interval_ms, request_timeout_ms=config.request_timeout_ms,
                # look three times per timeout, at most every 3 s
                request_check_ms=max(100, min(3_000, config.request_timeout_ms // 3)),
                max_block_bytes=self.genesis.max_block_bytes, max_block_memory=self.genesis.max_block_memory)
            self.engine = Engine(self.app, self.key, election_for(self.genesis.consensus), engine_config,
                                 self.chain.cache)
            self.server = BlockServer(self.app, self.peers)
        else:
            self.follower = BlockFollower(self.app, self.peers, self._on_commit)
        self.txs = TxReactor(self.chain, self.mempool, self.peers, config, self._on_many_txs, self._on_admitted)
        self.stats = Stats()
        self.events = EventBus()  # committed blocks and contract events, typed (pownode.events)
        self._refused = ThrottledLog(log)
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self.clearing.compiled:
            clearing.self_check()  # kernel == reference before this node may clear a market
        self._running = True
        await self.txs.start()
        await self.peers.start()
        if self.engine is not None and self.wal is not None:
            self._perform(self.engine.start(self.now_ms(), restored=self.wal.records))
            log.info("%s (validator) listening on %s:%d, height %d", self.config.name, self.config.listen_host,
                     self.config.listen_port, self.chain.height)
        elif self.follower is not None:
            await self.follower.start()
            log.info("%s (full node) following %d validators from height %d", self.config.name,
                     len(self.config.peers), self.chain.height)

    async def stop(self) -> None:
        """Stop cleanly: no task or connection is left for interpreter shutdown to trip over."""
        self._running = False
        try:
            if self.follower is not None:
                await self.follower.stop()
            await self.peers.stop()
        finally:
            await self.txs.stop()  # its verifier processes are stopped whatever happened above
            if self.wal is not None:
                self.wal.close()
            self.chain.store.db.close()

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def is_member(self, key: bytes) -> bool:
        """A validator other than this node: the peers consensus and gossip go to. A full node
        also counts the validators it is configured with: one that lags behind a change of the
        set must still reach the new validators to catch up (their blocks' certificates, not the
        link, are what it trusts)."""
        if key == self.key.public_key:
            return False
        return key in self.chain.validator_keys or (not self.validating and key in self._configured)

    def is_follower(self, key: bytes) -> bool:
        """A full node a validator accepts links from: one the operator admitted on chain."""
        return self.validating and accounts.is_full_node(self.chain.state, key)

    # --- peers -----------------------------------------------------------------------------

    def _on_connect(self, peer: bytes) -> None:
        if self.follower is not None:
            self.follower.on_connect(peer)
        if self.is_member(peer):
            self.txs.on_connect(peer)

    def _on_frame(self, peer: bytes, channel: int, payload: bytes) -> None:
        if channel == TXS:
            self.txs.on_batch(peer, payload)
        elif channel == CONSENSUS and self.engine is not None and self.is_member(peer):
            self._perform(self.engine.on_message(payload, self.now_ms()))
        elif channel == BLOCKS and self.follower is not None and self.is_member(peer):
            self.follower.on_frame(peer, payload)
        elif channel == BLOCKS and self.server is not None and not self.is_member(peer):
            self.server.on_frame(peer, payload)
        else:
            self._refused.warning("ignored a frame on channel %d from %s, which this node's role does not take",
                                  channel, peer.hex()[:12])

    def _on_admitted(self, txs: list[Transaction]) -> None:
        if self.engine is not None and self.engine.filling:  # a compact proposal waits for some
            self._perform(self.engine.on_txs_admitted(txs, self.now_ms()))

    def _on_many_txs(self) -> None:
        # A full block's worth pending: the proposer proposes without waiting out the delay, once
        # a full block of it is ready (asked only of the node that would propose).
        if self.engine is not None and self.engine.awaits_own_proposal() and self.txs.block_ready():
            self._perform(self.engine.on_txs_available(self.now_ms()))

    # --- engine actions --------------------------------------------------------------------

    def _perform(self, actions: list) -> None:
        assert self.engine is not None and self.wal is not None  # a validator's only
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, Persist):
                self.wal.append(action.record)
                continue
            if self.wal.dirty and isinstance(action, (Broadcast, Send)):
                self.wal.sync()  # nothing signed leaves before the log holds it
            if isinstance(action, Broadcast):
                self.txs.flush_gossip()  # a proposal may name them: they go first on every link
                for peer in self.peers.members():
                    self.peers.send(peer, CONSENSUS, action.data)
            elif isinstance(action, Send):
                self.peers.send(action.to, CONSENSUS, action.data)
            elif isinstance(action, SetTimer):
                loop.call_later(action.delay_ms / 1000, self._fire, action.timer)
            elif isinstance(action, Committed):
                self.wal.reset()  # the height its records were for is decided
                self._on_commit(action.block)
                if self.server is not None:
                    self.server.on_commit(action.block)
            elif isinstance(action, ViewChanged):
                self.stats.view_changes += 1
                log.info("view change to %d at height %d", action.view, action.height)
        if self.wal.dirty:
            self.wal.sync()

    def _fire(self, timer: Timer) -> None:
        if self._running and self.engine is not None:
            try:
                self._perform(self.engine.on_timer(timer, self.now_ms()))
            except Exception:
                log.exception("error handling timer %s", timer)

    def _on_commit(self, block: Block) -> None:
        if any(isinstance(tx.body, MEMBERSHIP_KINDS) for tx in block.txs):
            self.peers.prune()  # a validator left, or a full node's admission was withdrawn
        self.stats.committed_txs += len(block.txs)
        if block.height % 50 == 0 or block.txs:
            log.info("committed height %d (%d txs)", block.height, len(block.txs))
        now = time.monotonic()
        self.stats.recent = [(t, n) for t, n in self.stats.recent if now - t < 10] + [(now, len(block.txs))]
        if self.events:
            self.events.publish(events_of(block, self.chain.receipts_of(block)))

    # --- figures ---------------------------------------------------------------------------

    def tx_rate(self) -> float:
        recent = self.stats.recent
        if len(recent) < 2:
            return 0.0
        span = recent[-1][0] - recent[0][0]
        return sum(n for _, n in recent[1:]) / span if span > 0 else 0.0
