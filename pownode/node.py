"""The node: the consensus engine, the ledger, the VM and the market, wired to peers and an API.

Everything runs on one asyncio loop, so the engine and the ledger are only ever touched from one
thread. Peers: one authenticated connection per validator pair, dialled by the node with the
larger key and redialled with exponential backoff and jitter; every frame is a channel byte
(consensus or transactions) and a payload. Each peer has a bounded send queue: a slow peer loses
messages (consensus retransmits what matters and a lagging node syncs blocks) instead of
growing this node's memory. Transactions are gossiped in batches, once, by the node a client gave
them to (the validators form a full mesh): nothing is relayed again, so there are no storms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
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
from pownode.ratelimit import SourceCounter, ThrottledLog
from pownode.transport import FRAME_OVERHEAD, FrameError, HandshakeError, SecureChannel, initiate, respond
from pownode.wal import WriteAheadLog
from vm import values
from vm.compiler import LANGUAGE_VERSION
from vm.machine import VM

log = logging.getLogger("pownode.node")

CONSENSUS, TXS, KEEPALIVE = 1, 2, 3
# A link that completed no frame for this many keepalive intervals is dead (generous: a large
# frame on a slow link completes nothing while it arrives).
SILENT_KEEPALIVES = 8
TX_BATCH = ListOf(Bin(max_len=80 * 1024), 10_000)
# Gossip that lost a race is normal: already pending, committed meanwhile, or outbid.
EXPECTED_GOSSIP_REFUSALS = frozenset({"duplicate", "stale-nonce", "nonce-taken", "mempool-full"})
# Refusals no honest peer causes: it relays only what it admitted, so it checked the encoding and
# the signature. A peer is charged for each; past PEER_FORGED_MAX in PEER_CHARGE_S it is dropped
# and not taken back for PEER_BAN_S.
FORGED_REASONS = frozenset({"malformed", "oversize", "trailing-bytes", "float", "map", "arity", "field-type",
                            "out-of-range", "non-canonical", "bad-signature", "wrong-chain"})
PEER_FORGED_MAX = 1000
PEER_CHARGE_S = 60.0
PEER_BAN_S = 60.0
REGOSSIP_S = 3.0  # a transaction still pending after this long is sent to every peer again
GOSSIP_FLUSH_S = 0.01  # client transactions are gathered this long into one frame per peer
GOSSIP_MAX_BATCH = 2000
ADMIT_SLICE = 200  # transactions admitted between two looks at the other work on the loop
SLOW_PEER_S = 10.0  # a peer whose send queue stays full this long is dropped
HANDSHAKES_PER_SOURCE = 4  # peer handshakes in progress from one address
HANDSHAKES = 64  # peer handshakes in progress in all
# Waiting for admission, per client address or peer and in all: admission verifies about 10,000
# transactions a second, so 48 MiB (some 200,000 transactions) is many seconds of work.
INGRESS_SOURCE_BYTES = 8 * 1024 * 1024
INGRESS_TOTAL_BYTES = 48 * 1024 * 1024


@dataclass
class PeerLink:
    channel: SecureChannel
    queue: asyncio.Queue
    tasks: list[asyncio.Task] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    last_heard: float = field(default_factory=time.monotonic)  # a frame last arrived
    last_sent: float = field(default_factory=time.monotonic)  # a frame last left
    queued_bytes: int = 0  # frames waiting to be sent
    full_since: float | None = None  # when the queue last hit its byte bound, until it drains


@dataclass
class Stats:
    started_s: float = field(default_factory=time.monotonic)
    committed_txs: int = 0
    view_changes: int = 0
    dropped_messages: int = 0
    refused_peers: int = 0
    bytes_sent: int = 0  # on the wire to peers: frames with their length prefix and tag
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
        self.peers: dict[bytes, PeerLink] = {}
        self.stats = Stats()
        self.listeners: list = []  # callables(event dict) for the WebSocket stream
        # Admission (signature checks dominate) runs in one task, a slice at a time and each
        # source in turn, so that a flood of transactions never holds up consensus messages
        # for more than a slice, nor another source's batch for more than a slice per source.
        self._ingress = FairIngress(INGRESS_SOURCE_BYTES, INGRESS_TOTAL_BYTES)
        self._ingress_ready = asyncio.Event()
        self._verifier: ParallelVerifier | None = None  # config.verify_workers processes
        # Unauthenticated handshakes a source, and all sources together, may hold open.
        self._handshakes = SourceCounter(HANDSHAKES_PER_SOURCE, HANDSHAKES)
        self._refusals = ThrottledLog(log)
        self._relay_log = ThrottledLog(log)
        self._charges: dict[bytes, tuple[int, float]] = {}  # peer -> (forged relayed, since)
        self._bans: dict[bytes, float] = {}  # peer -> monotonic time it may connect again
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
        self._tasks.append(asyncio.create_task(self._keepalive_loop()))
        self.server = await asyncio.start_server(self._accept, self.config.listen_host, self.config.listen_port)
        for peer in self.config.peers:
            key = bytes.fromhex(peer.public_key)
            if key > self.key.public_key:  # one connection per pair: the larger key dials
                self._tasks.append(asyncio.create_task(self._dial_loop(key, peer.host, peer.port)))
        self._perform(self.engine.start(self.now_ms(), restored=self.wal.records))
        log.info("%s listening on %s:%d, height %d", self.config.name, self.config.listen_host,
                 self.config.listen_port, self.chain.height)

    async def stop(self) -> None:
        """Stop cleanly: no task or connection is left for interpreter shutdown to trip over."""
        self._running = False
        self.server.close()
        links = list(self.peers.values())
        for link in links:
            self._drop(link)
        tasks = self._tasks + [t for link in links for t in link.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            with contextlib.suppress(ConnectionError, OSError):
                await link.channel.writer.wait_closed()
        await self.server.wait_closed()
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

    def _dials_us(self, key: bytes) -> bool:
        """A member with a smaller key dials us; we dial the others. Checked before we sign
        anything, so a stranger presenting the key of a member we dial gets no signature; a
        banned member is refused too."""
        return self.is_member(key) and key < self.key.public_key and not self._banned(key)

    def _banned(self, key: bytes) -> bool:
        until = self._bans.get(key)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._bans[key]
            return False
        return True

    def _charge_peer(self, peer: bytes, forged: int) -> None:
        """Count what a peer relayed that no honest peer could have; past the bound in the
        window it is dropped and banned for a while."""
        if forged <= 0:
            return
        now = time.monotonic()
        count, since = self._charges.get(peer, (0, now))
        if now - since > PEER_CHARGE_S:
            count, since = 0, now
        count += forged
        self._charges[peer] = (count, since)
        if count > PEER_FORGED_MAX:
            log.warning("peer %s relayed %d forged or malformed transactions in %.0f s: dropping it for %.0f s",
                        peer.hex()[:12], count, now - since, PEER_BAN_S)
            self._charges.pop(peer, None)
            self._bans[peer] = now + PEER_BAN_S
            link = self.peers.get(peer)
            if link is not None:
                self._drop(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        if not self._handshakes.admit(source):
            self.stats.refused_peers += 1
            self._refusals.warning("refused a connection from %s: too many handshakes in progress", source)
            writer.transport.abort()
            return
        try:
            channel = await respond(reader, writer, self.genesis.chain_id, self.key, self._dials_us)
        except (HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError) as exc:
            self.stats.refused_peers += 1
            self._refusals.warning("refused a connection from %s: %s", source, exc)
            writer.close()
            return
        finally:
            self._handshakes.release(source)
        self._attach(channel)

    async def _dial_loop(self, key: bytes, host: str, port: int) -> None:
        backoff = 0.1
        while self._running:
            if self._banned(key):
                await asyncio.sleep(self._bans[key] - time.monotonic())
                continue
            try:
                reader, writer = await asyncio.open_connection(host, port)
                channel = await initiate(reader, writer, self.genesis.chain_id, self.key, self.is_member, key)
            except (OSError, HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                log.debug("dial %s:%d failed: %s", host, port, exc)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            link = self._attach(channel)
            await link.closed.wait()

    def _attach(self, channel: SecureChannel) -> PeerLink:
        old = self.peers.get(channel.peer)
        if old is not None:
            self._drop(old)
        link = PeerLink(channel, asyncio.Queue(self.config.send_queue))
        link.tasks = [asyncio.create_task(self._read(link)), asyncio.create_task(self._write(link))]
        self.peers[channel.peer] = link
        log.info("connected to %s", channel.peer.hex()[:12])
        # Gossip reaches only the peers connected at the time: a peer that was down (and may be
        # the next proposer) gets everything still pending, or it would propose empty blocks.
        self._send_txs([tx.encoded for tx in self.mempool.pending()], [channel.peer])
        return link

    def _drop(self, link: PeerLink) -> None:
        if self.peers.get(link.channel.peer) is link:
            del self.peers[link.channel.peer]
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        link.channel.close()
        link.closed.set()

    async def _keepalive_loop(self) -> None:
        """Every keepalive interval: a link with nothing sent for that long gets a keepalive
        frame, and one that completed no frame for SILENT_KEEPALIVES intervals is dropped (its
        dialler connects again at once). One timer for all links, not one per frame."""
        interval = self.config.keepalive_ms / 1000
        silence = SILENT_KEEPALIVES * interval
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for link in list(self.peers.values()):
                if now - link.last_heard > silence:
                    log.warning("no frame from %s for %.1f s: dropping the link to redial it",
                                link.channel.peer.hex()[:12], now - link.last_heard)
                    self._drop(link)
                elif now - link.last_sent >= interval and link.queue.empty():
                    link.queued_bytes += 1
                    link.queue.put_nowait(bytes([KEEPALIVE]))

    async def _read(self, link: PeerLink) -> None:
        try:
            while True:
                frame = await link.channel.recv()
                link.last_heard = time.monotonic()
                if frame:
                    self._on_frame(link.channel.peer, frame[0], frame[1:])
        except (FrameError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.warning("closing connection to %s: %s", link.channel.peer.hex()[:12], exc or type(exc).__name__)
        except Exception:  # a bug, not the peer's fault: say so loudly, then drop the link
            log.exception("error handling a frame from %s", link.channel.peer.hex()[:12])
        finally:
            self._drop(link)

    async def _write(self, link: PeerLink) -> None:
        try:
            while True:
                frame = await link.queue.get()
                link.queued_bytes -= len(frame)
                await link.channel.send(frame)
                link.last_sent = time.monotonic()
                self.stats.bytes_sent += len(frame) + FRAME_OVERHEAD
        except (FrameError, ConnectionError) as exc:
            log.warning("send to %s failed: %s", link.channel.peer.hex()[:12], exc)
            self._drop(link)

    def _send(self, peer: bytes, channel: int, payload: bytes) -> None:
        """Queue a frame for a peer, within the link's bounds in frames and bytes. A frame over
        them is dropped (consensus retransmits, gossip is resent); a peer whose queue stays full
        for SLOW_PEER_S is not reading, and the link is dropped so its memory is freed."""
        link = self.peers.get(peer)
        if link is None:
            return
        frame = bytes([channel]) + payload
        if link.queued_bytes + len(frame) > self.config.send_queue_bytes or link.queue.full():
            link.dropped += 1
            self.stats.dropped_messages += 1
            now = time.monotonic()
            if link.full_since is None:
                link.full_since = now
            elif now - link.full_since > SLOW_PEER_S:
                log.warning("%s has not read for %.0f s with %d bytes queued: dropping the link",
                            peer.hex()[:12], now - link.full_since, link.queued_bytes)
                self._drop(link)
            return
        link.full_since = None
        link.queued_bytes += len(frame)
        link.queue.put_nowait(frame)

    def _on_frame(self, peer: bytes, channel: int, payload: bytes) -> None:
        if channel == CONSENSUS:
            self._perform(self.engine.on_message(payload, self.now_ms()))
        elif channel == KEEPALIVE:
            return
        elif channel == TXS:
            try:
                batch = TX_BATCH.check(unpack(payload, max_size=self.config.max_block_txs * 80 * 1024), "txs")
            except DecodeError as exc:
                log.warning("malformed transaction batch from %s: %s", peer.hex()[:12], exc)
                return
            try:
                self._ingress.put(peer, list(batch), peer, None)
            except Overloaded:
                self.stats.dropped_messages += 1  # the proposal will carry them if they commit
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
                for peer in list(self.peers):
                    self._send(peer, CONSENSUS, action.data)
            elif isinstance(action, Send):
                self._send(action.to, CONSENSUS, action.data)
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
            self._charge_peer(origin, sum(n for reason, n in unexpected.items() if reason in FORGED_REASONS))
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
                self._send(peer, TXS, payload)

    def tx_rate(self) -> float:
        recent = self.stats.recent
        if len(recent) < 2:
            return 0.0
        span = recent[-1][0] - recent[0][0]
        return sum(n for _, n in recent[1:]) / span if span > 0 else 0.0
