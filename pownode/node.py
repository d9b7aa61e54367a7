"""The node: the consensus engine, the ledger, the VM and the market, wired to peers and an API.

Everything runs on one asyncio loop, so the engine and the ledger are only ever touched from one
thread. The links to the other validators are the peer set's (`pownode.peer_set`): a slow peer
loses messages (consensus retransmits what matters and a lagging node syncs blocks) instead of
growing this node's memory. Transactions come in and go out through the transaction reactor
(`pownode.tx_reactor`: fair admission, gossip batches, re-gossip). What is left here is the
consensus host: the engine's actions (messages, timers, the write-ahead log, commits) and the
events the API streams.
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
from ledger.chain import Chain
from ledger.genesis import Genesis
from ledger.mempool import Mempool
from market import clearing
from market.precompiles import MARKET_PRECOMPILES
from pownode.config import NodeConfig
from pownode.history import open_chain_db
from pownode.keyfile import read_key
from pownode.events import EventBus, events_of
from pownode.peer_set import CONSENSUS, TXS, PeerSet
from pownode.tx_reactor import TxReactor
from pownode.wal import WriteAheadLog
from vm.compiler import LANGUAGE_VERSION
from vm.machine import VM

log = logging.getLogger("pownode.node")



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
        self.txs = TxReactor(self.chain, self.mempool, self.peers, config,
                             lambda: self._perform(self.engine.on_txs_available(self.now_ms())))
        self.stats = Stats()
        self.events = EventBus()  # committed blocks and contract events, typed (pownode.events)
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        clearing.self_check()  # kernel == reference before this node may clear a market
        self._running = True
        await self.txs.start()
        await self.peers.start()
        self._perform(self.engine.start(self.now_ms(), restored=self.wal.records))
        log.info("%s listening on %s:%d, height %d", self.config.name, self.config.listen_host,
                 self.config.listen_port, self.chain.height)

    async def stop(self) -> None:
        """Stop cleanly: no task or connection is left for interpreter shutdown to trip over."""
        self._running = False
        try:
            await self.peers.stop()
        finally:
            await self.txs.stop()  # its verifier processes are stopped whatever happened above
            self.wal.close()
            self.chain.store.db.close()

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)

    def is_member(self, key: bytes) -> bool:
        return key in dict(self.chain.validators) and key != self.key.public_key

    # --- peers -----------------------------------------------------------------------------

    def _on_connect(self, peer: bytes) -> None:
        self.txs.on_connect(peer)

    def _on_frame(self, peer: bytes, channel: int, payload: bytes) -> None:
        if channel == CONSENSUS:
            self._perform(self.engine.on_message(payload, self.now_ms()))
        elif channel == TXS:
            self.txs.on_batch(peer, payload)
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
        if self.events:
            self.events.publish(events_of(block, self.chain.receipts_of(block)))

    # --- figures ---------------------------------------------------------------------------

    def tx_rate(self) -> float:
        recent = self.stats.recent
        if len(recent) < 2:
            return 0.0
        span = recent[-1][0] - recent[0][0]
        return sum(n for _, n in recent[1:]) / span if span > 0 else 0.0
