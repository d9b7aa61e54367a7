"""Transactions in and out of a node: admission, gossip batching and re-gossip.

Admission (signature checks dominate) runs in one task, a slice at a time and each source in
turn (`FairIngress`), so that a flood of transactions never holds up consensus messages for more
than a slice, nor another source's batch for more than a slice per source; with spare cores the
signatures of a slice are verified in worker processes first. Transactions from clients are
gathered for GOSSIP_FLUSH_S into one frame per peer; the validators form a full mesh, so what
came from a peer is not relayed again. A transaction still ready for a block after REGOSSIP_S
is sent to every peer again, and a peer that connects gets everything pending. A peer that
relays what no honest peer could (a forged signature, a malformed encoding) is charged for it
with the peer set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Callable

from ledger.chain import Chain
from ledger.encoding import Bin, ListOf, pack, unpack_bin_list
from ledger.errors import DecodeError, LedgerError
from ledger.executor import prove_signatures
from ledger.mempool import Mempool
from ledger.transactions import Transaction
from pownode.config import NodeConfig
from pownode.ingress import FairIngress, Overloaded
from pownode.parallel_verify import ParallelVerifier
from pownode.peer_set import TXS, PeerSet
from pownode.ratelimit import ThrottledLog

log = logging.getLogger("pownode.txs")

MAX_TX_BYTES = 80 * 1024  # an encoded transaction in a gossip batch
GOSSIP_BATCH_ITEMS = 10_000  # transactions in one gossip frame
TX_BATCH = ListOf(Bin(max_len=MAX_TX_BYTES), GOSSIP_BATCH_ITEMS)
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


def decode_batch(payload: bytes, max_size: int) -> list[bytes]:
    """A peer's gossip frame: the encoded transactions of `TX_BATCH`, each decoded later on its
    own. Read element by element (`unpack_bin_list`), so a frame of nested arrays costs no more
    memory than its bytes."""
    return unpack_bin_list(payload, max_items=GOSSIP_BATCH_ITEMS, max_len=MAX_TX_BYTES, max_size=max_size)


class TxReactor:
    def __init__(self, chain: Chain, mempool: Mempool, peers: PeerSet, config: NodeConfig,
                 on_many: Callable[[], None], on_admitted: Callable[[list[Transaction]], None] = lambda txs: None) -> None:
        """`on_many`: called when the mempool holds a block's worth (the engine may propose);
        `on_admitted`: with what a slice admitted, if anything (a compact proposal may be whole now)."""
        self.chain = chain
        self.mempool = mempool
        self.peers = peers
        self.config = config
        self.on_many = on_many
        self.on_admitted = on_admitted
        self.dropped_batches = 0  # peers' batches over the admission queues' bounds
        self.ingress = FairIngress(INGRESS_SOURCE_BYTES, INGRESS_TOTAL_BYTES)
        self._ingress_ready = asyncio.Event()
        self._verifier: ParallelVerifier | None = None  # config.verify_workers processes
        self._relay_log = ThrottledLog(log)
        self._refusals_seen: dict[tuple[str, str], dict] = {}  # (reason, detail) -> shared result
        self._outbox: list[bytes] = []  # client transactions not yet sent to peers
        self._caught_up: dict[bytes, float] = {}  # member -> when it was last sent the whole mempool
        self._flush_handle: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task] = []
        self._short_at: tuple[int, int] | None = None  # (height, pool size) of a `block_ready` that said no

    async def start(self) -> None:
        if self.config.verify_workers > 0:
            self._verifier = ParallelVerifier(self.config.verify_workers)
            await self._verifier.start()
        self._tasks = [asyncio.create_task(self._admit_loop()), asyncio.create_task(self._regossip_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        if self._verifier is not None:
            self._verifier.close()

    def on_batch(self, peer: bytes, payload: bytes) -> None:
        """A peer's gossip frame: queued for admission with everyone else's."""
        try:
            batch = decode_batch(payload, self.config.max_block_txs * MAX_TX_BYTES)
        except DecodeError as exc:
            log.warning("malformed transaction batch from %s: %s", peer.hex()[:12], exc)
            return
        try:
            self.ingress.put(peer, batch, peer, None)
        except Overloaded:
            self.dropped_batches += 1  # the proposal will carry them if they commit
            return
        self._ingress_ready.set()

    def on_connect(self, peer: bytes) -> None:
        """Gossip reaches only the peers connected at the time: a peer that was down (and may be
        the next proposer) gets everything still pending, or it would propose empty blocks. At
        most once per REGOSSIP_S per peer: a member that connects again and again would
        otherwise have this node pack and send its whole mempool (tens of megabytes) for each
        handshake; one that reconnects sooner gets what stays pending from re-gossip."""
        now = time.monotonic()
        last = self._caught_up.get(peer)
        if last is not None and now - last < REGOSSIP_S:
            return
        self._caught_up[peer] = now
        self._send_txs([tx.encoded for tx in self.mempool.pending()], [peer])

    async def admit(self, raws: list[bytes], client: str = "") -> list[dict]:
        """Admit a client's batch in turn with every other source's; per transaction, accepted
        or why not. Raises `Overloaded` when the client's or the node's queue is full."""
        future = asyncio.get_running_loop().create_future()
        self.ingress.put(("client", client), raws, None, future)
        self._ingress_ready.set()
        return await future

    async def _admit_loop(self) -> None:
        while True:
            await self._ingress_ready.wait()
            self._ingress_ready.clear()
            while (item := self.ingress.take(ADMIT_SLICE)) is not None:
                job, piece = item
                try:
                    job.results += self.submit(await self._preverify(piece), job.origin)
                except Exception:  # a bug: never let it stop admission for everyone
                    log.exception("error admitting transactions")
                    job.results += [{"accepted": False, "reason": "internal", "detail": "see the node log"}] * len(piece)
                if job.start >= len(job.raws) and job.future is not None and not job.future.done():
                    job.future.set_result(job.results)
                await asyncio.sleep(0)

    async def _preverify(self, raws: Sequence[bytes | Transaction]) -> list[bytes | Transaction | LedgerError]:
        """Decode a slice and check its new signatures together: in batches (`ledger.keys`), in
        the worker processes if the node has them. What is pending, known bad or does not
        decode is refused here, once (`submit` reports the reason); a signature no batch
        proved is checked alone on admission."""
        out: list[bytes | Transaction | LedgerError] = []
        fresh: list[Transaction] = []
        for raw in raws:
            try:
                tx = raw if isinstance(raw, Transaction) else self.mempool.decode(raw)
            except LedgerError as exc:
                out.append(exc)
                continue
            out.append(tx)
            if tx.hash not in self.chain.cache and tx.hash not in self.mempool:
                fresh.append(tx)
        if fresh and self._verifier is not None:
            await self._verifier.verify_into(fresh, self.chain.cache)
        elif fresh:
            prove_signatures(fresh, self.chain.cache)
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

    def submit(self, raws: list[bytes | Transaction | LedgerError], origin: bytes | None = None) -> list[dict]:
        """Admit encoded transactions now (or refuse those `_preverify` already refused); send
        those new from clients to every peer."""
        results = []
        admitted: list[Transaction] = []
        fresh = []
        unexpected: dict[str, int] = {}
        for raw in raws:
            try:
                if isinstance(raw, LedgerError):
                    raise raw
                tx = self.mempool.add(raw, self.chain.state)
            except LedgerError as exc:
                results.append(self._refusal(exc.reason, str(exc)[:200]))
                if origin is not None and exc.reason not in EXPECTED_GOSSIP_REFUSALS:
                    unexpected[exc.reason] = unexpected.get(exc.reason, 0) + 1
                continue
            results.append({"accepted": True, "hash": tx.hash.hex()})
            admitted.append(tx)
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
        if admitted:
            self.on_admitted(admitted)
            if len(self.mempool) >= self.config.max_block_txs:
                self.on_many()
        return results

    def block_ready(self) -> bool:
        """Whether a full block of the pending transactions is ready for the next block, not
        merely pending: transactions behind a nonce gap cost their senders nothing and never
        become ready, so counting them would let anyone make the proposer skip its batching
        window at every admission. After an answer of no, the pass over the pool is made again
        at the same height only once the pool has grown by an eighth (of a block, or of the pool
        if larger): a pool full of such transactions costs a few passes per height, not one per
        admission."""
        size, height, max_txs = len(self.mempool), self.chain.height, self.config.max_block_txs
        short = self._short_at
        if short is not None and short[0] == height and size < short[1] + max(max_txs, short[1]) // 8:
            return False
        ready = len(self.mempool.select(self.chain.state, max_txs)) >= max_txs
        self._short_at = None if ready else (height, size)
        return ready

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
                self._send_txs(stale, self.peers.members())

    def flush_gossip(self) -> None:
        """Send the gathered client transactions now: before a proposal that may name them, so
        each peer's link carries them first."""
        if self._outbox:
            self._flush_gossip()

    def _flush_gossip(self) -> None:
        """Send the gathered client transactions to every peer: one frame per peer per flush,
        however many small requests they came in (per-frame costs dominate small batches)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            self._send_txs(outbox, self.peers.members())

    def _send_txs(self, raws: list[bytes], peers: list[bytes]) -> None:
        for start in range(0, len(raws), GOSSIP_MAX_BATCH):
            payload = pack(raws[start : start + GOSSIP_MAX_BATCH])
            for peer in peers:
                self.peers.send(peer, TXS, payload)
