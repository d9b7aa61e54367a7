"""Pending transactions: admission with a reason for every rejection, nonce-ordered selection.

Admission decodes (size-bounded), verifies the signature once (the result is cached by
transaction hash, so block validation does not verify again), then checks the transaction
against the committed state allowing nonces a little ahead of the account's next nonce. The pool
is bounded in transactions and in the memory they hold (a contract call's arguments can hold 70
times their encoding): when full, a transaction paying a higher fee evicts the lowest-fee ones
it needs room from (each with its sender's later nonces, which could no longer apply),
otherwise it is refused and evicts nothing.

A sender's balance must cover all its other pending transactions too, whatever their nonces (an
overdraft is refused at admission, not left pending). After each commit (`recheck`) the pool looks at a
bounded slice of what it holds, in rotation: a transaction that can no longer apply (a meter
revoked, a reading superseded) is dropped with its reason, and one still waiting after
`expire_blocks` blocks (behind a nonce gap, say) expires. `dropped` remembers the most recent
drops and their reasons, so a client asking after a transaction learns what became of it.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import time
from collections import OrderedDict, deque
from typing import Callable

from ledger import accounts
from ledger.accounts import Account
from ledger.errors import LedgerError, MempoolRejection
from ledger.executor import check_transaction, spend_of, verify_signature
from ledger.genesis import Genesis
from ledger.keys import VerifiedCache
from ledger.receipts import ContractRuntime
from ledger.state import State
from ledger.transactions import MeterReading, Transaction


# Rejections that may pass later (a predecessor still to commit, funds still to arrive, a
# reading's interval still to end): a pending transaction that meets them waits, until it expires.
WAITING = frozenset({"nonce-gap", "insufficient-balance", "reading-too-early"})

# How many intervals past the one this node's clock is in a reading may be and still be admitted
# to wait: a meter's clock may run a little ahead, but a reading further ahead is of energy not
# yet measured, and would only hold a place in the pool (and its meter's later nonces).
READING_LEAD_INTERVALS = 1

# The fee heap and the recheck rotation keep the hashes of transactions that have left the pool
# until they are next looked at, which for a pool that never fills (the fee heap) or that takes
# more transactions per block than `recheck_per_block` (the rotation) is never: past twice the
# pool's size plus this slack, they are rebuilt from what is still pending (an amortised O(1)
# per admission, where leaving them grew memory and each heap push with every transaction).
COMPACT_SLACK = 1024


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def _refuse(message: str, reason: str) -> MempoolRejection:
    return MempoolRejection(message, reason=reason)


class SenderQueue(dict[int, Transaction]):
    """One sender's pending transactions by nonce, with what they spend in total (`spend`) kept
    as the queue changes: admission checks a sender's balance against the total without a pass
    over the queue.

    Change it only through `put` and `take`, which keep it exact.
    """

    __slots__ = ("spend", "readings")

    def __init__(self) -> None:
        super().__init__()
        self.spend = 0
        self.readings = 0  # how many are meter readings

    def put(self, tx: Transaction) -> None:
        self.take(tx.nonce)
        self[tx.nonce] = tx
        self.spend += spend_of(tx)
        self.readings += isinstance(tx.body, MeterReading)

    def take(self, nonce: int) -> Transaction | None:
        tx = self.pop(nonce, None)
        if tx is not None:
            self.spend -= spend_of(tx)
            self.readings -= isinstance(tx.body, MeterReading)
        return tx

    def spend_besides(self, nonce: int) -> int:
        """What the pending transactions spend, less the one at `nonce` (which a transaction of
        that nonce replaces, or is)."""
        tx = self.get(nonce)
        return self.spend - (0 if tx is None else spend_of(tx))


_EMPTY_QUEUE = SenderQueue()  # read-only stand-in for a sender with nothing pending


class Mempool:
    def __init__(self, genesis: Genesis, cache: VerifiedCache, *, capacity: int = 50_000,
                 max_bytes: int = 256 * 1024 * 1024, max_nonce_ahead: int = 64, runtime: ContractRuntime | None = None, expire_blocks: int = 600,
                 recheck_per_block: int = 200, remember_dropped: int = 10_000,
                 clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        """`capacity` and `max_bytes` bound what the pool holds, in transactions and in what they
        hold in memory (`Transaction.retained_bytes`: 50,000 transfers take some 110 MiB).
        `clock_ms`: this node's clock, for admission policy only (which readings are too far
        ahead to hold); nothing consensus decides depends on it."""
        self.genesis = genesis
        self.clock_ms = clock_ms
        self.runtime = runtime
        self.cache = cache
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._bytes = 0  # retained_bytes of what is pending
        self.max_nonce_ahead = max_nonce_ahead
        self.expire_blocks = expire_blocks
        self.recheck_per_block = recheck_per_block
        self.remember_dropped = remember_dropped
        self.dropped: OrderedDict[bytes, str] = OrderedDict()  # hash -> why, the most recent
        self._bad_signatures: OrderedDict[bytes, None] = OrderedDict()  # the most recent
        self._admitted_at: dict[bytes, int] = {}  # hash -> the height the pool had seen then
        self._height = 0
        self._rotation: deque[bytes] = deque()  # what `recheck` looks at next
        self._by_hash: dict[bytes, Transaction] = {}
        self._by_sender: dict[bytes, SenderQueue] = {}
        self._fee_heap: list[tuple[int, int, bytes]] = []  # (fee, -arrival, hash), lazily pruned
        self._arrival = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> Transaction | None:
        return self._by_hash.get(tx_hash)

    def next_nonce(self, state: State, sender: bytes) -> int:
        """The nonce `sender`'s next transaction should carry: past the account's and every
        contiguous pending one."""
        nonce = accounts.get_account(state, sender).nonce
        queue = self._by_sender.get(sender, _EMPTY_QUEUE)
        while nonce in queue:
            nonce += 1
        return nonce

    def pending(self) -> list[Transaction]:
        """Every pending transaction, in arrival order (to hand to a peer that just connected)."""
        return list(self._by_hash.values())

    def decode(self, raw: bytes) -> Transaction:
        """Decode a transaction unless its bytes are pending or known not to verify (refused
        before decoding: a resend costs a hash)."""
        digest = hashlib.sha256(raw).digest()
        if digest in self._by_hash:
            raise _refuse("transaction already pending", "duplicate")
        if digest in self._bad_signatures:
            raise _refuse("signature does not verify (seen before)", "bad-signature")
        tx = Transaction.decode(raw)
        tx.__dict__["hash"] = digest  # decode checked the bytes canonical: this is its hash
        return tx

    def add(self, tx: bytes | Transaction, state: State) -> Transaction:
        """Admit a transaction (encoded bytes or decoded); raise a LedgerError with a reason."""
        if not isinstance(tx, Transaction):
            tx = self.decode(tx)
        if tx.hash in self._bad_signatures:
            raise _refuse("signature does not verify (seen before)", "bad-signature")
        try:
            verify_signature(tx, self.cache)
        except LedgerError:
            # The hash covers the signature, so these exact bytes never verify: a replay of them
            # costs a hash, not a verification.
            self._bad_signatures[tx.hash] = None
            if len(self._bad_signatures) > self.remember_dropped:
                self._bad_signatures.popitem(last=False)
            raise
        if tx.hash in self._by_hash:
            raise _refuse("transaction already pending", "duplicate")
        queue = self._by_sender.get(tx.sender_address, _EMPTY_QUEUE)
        next_nonce = self._check(state, tx).nonce
        self._check_reading(tx, queue)
        if tx.nonce > next_nonce + self.max_nonce_ahead:
            raise _refuse(f"nonce {tx.nonce} is more than {self.max_nonce_ahead} ahead of {next_nonce}",
                          "nonce-too-far")
        existing = queue.get(tx.nonce)
        if existing is not None and tx.fee <= existing.fee:
            raise _refuse(f"nonce {tx.nonce} already pending with fee {existing.fee}", "nonce-taken")
        if existing is not None or len(self._by_hash) >= self.capacity or self._bytes + tx.retained_bytes > self.max_bytes:
            self._make_room(tx, existing)
        if existing is not None:
            self._remove(existing)  # only once `tx` is sure to take its place
        self._insert(tx)
        return tx

    def _check(self, state: State, tx: Transaction) -> Account:
        """`check_transaction` against the committed state, the balance also covering what all
        the sender's other pending transactions spend. Every one of them, not only those of lower
        nonces: a higher nonce may arrive first, and a replacement may spend more than what it
        replaces, and either would otherwise leave pending transactions spending one balance
        twice (gossiped, holding room and outbidding others, all but one unable to pay)."""
        pending_spend = self._by_sender.get(tx.sender_address, _EMPTY_QUEUE).spend_besides(tx.nonce)
        return check_transaction(state, self.genesis, tx, exact_nonce=False, runtime=self.runtime,
                                 pending_spend=pending_spend)

    def _check_reading(self, tx: Transaction, queue: SenderQueue) -> None:
        """A reading must be of an interval that has begun by this node's clock (give or take
        READING_LEAD_INTERVALS), and not one the meter already has pending under another nonce:
        readings pay no fee, so a second reading of an interval, sure to be dropped by the
        builder, would cost its meter nothing to have admitted and gossiped 64 times over."""
        body = tx.body
        if not isinstance(body, MeterReading):
            return
        now = self.genesis.interval_of(self.clock_ms())
        if body.interval > now + READING_LEAD_INTERVALS:
            raise _refuse(f"interval {body.interval} has not begun (this node's clock is in interval {now}): "
                          "send a reading once its interval has ended", "reading-too-early")
        for nonce, pending in queue.items():
            if nonce != tx.nonce and isinstance(pending.body, MeterReading) and pending.body.interval == body.interval:
                raise _refuse(f"interval {body.interval} already has a pending reading (nonce {nonce})",
                              "reading-pending")

    def _make_room(self, tx: Transaction, replacing: Transaction | None) -> None:
        """Make `tx` fit both bounds, counting the room of the sender's own pending transaction
        it is `replacing` (if any): evict the lowest-fee transactions (each with its sender's
        later nonces) that `tx` outbids, or refuse it and evict nothing. A transaction that
        cannot get in never costs others their place, nor its sender the one it would replace."""
        need_count = len(self._by_hash) + 1 - self.capacity
        need_bytes = self._bytes + tx.retained_bytes - self.max_bytes
        if replacing is not None:
            need_count -= 1
            need_bytes -= replacing.retained_bytes
        taken: list[tuple[int, int, bytes]] = []
        victims: dict[bytes, Transaction] = {}
        while (need_count > 0 or need_bytes > 0) and self._fee_heap:
            entry = self._fee_heap[0]
            victim = self._by_hash.get(entry[2])
            if victim is None:
                heapq.heappop(self._fee_heap)
                continue
            if entry[0] >= tx.fee:
                break
            taken.append(heapq.heappop(self._fee_heap))
            if victim is replacing:
                continue  # already counted as room
            if entry[2] not in victims:
                victims[entry[2]] = victim
                need_count -= 1
                need_bytes -= victim.retained_bytes
        if need_count > 0 or need_bytes > 0:
            for entry in taken:
                heapq.heappush(self._fee_heap, entry)
            raise _refuse(f"mempool full ({len(self._by_hash)} transactions of {self.capacity}, "
                          f"{self._bytes} bytes of {self.max_bytes}) and fee {tx.fee} does not outbid enough",
                          "mempool-full")
        for victim in victims.values():
            self._drop_from(victim)

    def _insert(self, tx: Transaction) -> None:
        self._by_hash[tx.hash] = tx
        self._bytes += tx.retained_bytes
        queue = self._by_sender.get(tx.sender_address)
        if queue is None:
            queue = self._by_sender[tx.sender_address] = SenderQueue()
        queue.put(tx)
        heapq.heappush(self._fee_heap, (tx.fee, -next(self._arrival), tx.hash))
        self._admitted_at[tx.hash] = self._height
        self._rotation.append(tx.hash)
        self.dropped.pop(tx.hash, None)
        if len(self._fee_heap) > 2 * len(self._by_hash) + COMPACT_SLACK:
            newest: dict[bytes, tuple[int, int, bytes]] = {}
            for entry in self._fee_heap:  # one entry per pending hash: the latest admission's
                if entry[2] in self._by_hash and (entry[2] not in newest or entry[1] < newest[entry[2]][1]):
                    newest[entry[2]] = entry
            self._fee_heap = list(newest.values())
            heapq.heapify(self._fee_heap)
        if len(self._rotation) > 2 * len(self._by_hash) + COMPACT_SLACK:
            self._rotation = deque(h for h in dict.fromkeys(self._rotation) if h in self._by_hash)

    def _remove(self, tx: Transaction) -> None:
        if self._by_hash.pop(tx.hash, None) is None:
            return
        self._bytes -= tx.retained_bytes
        del self._admitted_at[tx.hash]
        queue = self._by_sender.get(tx.sender_address)
        if queue is not None:
            queue.take(tx.nonce)
            if not queue:
                del self._by_sender[tx.sender_address]

    def _drop_from(self, tx: Transaction) -> None:
        """Remove `tx` and the same sender's higher nonces, which can no longer apply."""
        queue = self._by_sender.get(tx.sender_address, _EMPTY_QUEUE)
        for nonce in [n for n in queue if n >= tx.nonce]:
            self._remove(queue[nonce])

    def select(self, state: State, max_txs: int, interval: int | None = None) -> list[Transaction]:
        """Ready transactions for a block: meter readings first (each meter's ready readings,
        contiguous from its next nonce), then each sender's nonces contiguous from its account's
        next nonce, senders in the order their transactions arrived. Readings go first because
        they are what markets settle on and Proof of Energy elects by, pay no fee, and are few
        (one per certified meter and interval): a backlog of paying transactions must not hold
        them out, and the request timer does not excuse a proposer whose blocks leave them out
        (`ready_requests`). Given the block's `interval`, a sender stops at a reading of an
        interval that has not ended by then: it and what follows it wait, and take no place in
        the block's quota."""
        chosen: list[Transaction] = []
        next_nonce: dict[bytes, int] = {}
        for sender, queue in self._by_sender.items():
            if queue.readings and len(chosen) < max_txs:
                next_nonce[sender] = self._take_ready(state, sender, queue, chosen, max_txs, interval, readings_only=True)
        done: set[bytes] = set()
        for tx in self._by_hash.values():
            if len(chosen) >= max_txs:
                break
            sender = tx.sender_address
            if sender not in done:  # its first pending transaction: it takes all it can at once
                done.add(sender)
                self._take_ready(state, sender, self._by_sender[sender], chosen, max_txs, interval,
                                 next_nonce.get(sender))
        return chosen

    @staticmethod
    def _take_ready(state: State, sender: bytes, queue: SenderQueue, chosen: list[Transaction], max_txs: int,
                    interval: int | None, nonce: int | None = None, readings_only: bool = False) -> int:
        """Append `sender`'s ready transactions from `nonce` (its account's next if None) to
        `chosen`, up to `max_txs` in all; return the nonce it stopped at."""
        if nonce is None:
            nonce = accounts.get_account(state, sender).nonce
        while nonce in queue and len(chosen) < max_txs:
            tx = queue[nonce]
            reading = isinstance(tx.body, MeterReading)
            if (readings_only and not reading) or (reading and interval is not None and tx.body.interval >= interval):
                break
            chosen.append(tx)
            nonce += 1
        return nonce

    def remove_committed(self, txs: list[Transaction], state: State) -> None:
        """After a commit: drop the included transactions and any now-stale nonces."""
        senders = {tx.sender_address for tx in txs}
        for tx in txs:
            self._remove(tx)
        for sender in senders:
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            floor = accounts.get_account(state, sender).nonce
            for nonce in [n for n in queue if n < floor]:
                self._note_dropped(queue[nonce].hash, "stale-nonce: another transaction took its nonce")
                self._remove(queue[nonce])

    def drop(self, tx: Transaction, reason: str = "invalid") -> None:
        """Remove a transaction a block builder found invalid, with its sender's later nonces."""
        queue = self._by_sender.get(tx.sender_address, _EMPTY_QUEUE)
        for nonce in [n for n in queue if n >= tx.nonce]:
            self._note_dropped(queue[nonce].hash, reason if nonce == tx.nonce else "an earlier nonce was dropped")
        self._drop_from(tx)

    def _note_dropped(self, tx_hash: bytes, reason: str) -> None:
        self.dropped[tx_hash] = reason
        self.dropped.move_to_end(tx_hash)
        while len(self.dropped) > self.remember_dropped:
            self.dropped.popitem(last=False)

    def recheck(self, state: State, height: int) -> None:
        """After a commit at `height`: look at the next `recheck_per_block` transactions in
        rotation; drop those that can never apply (with the reason) and those pending longer
        than `expire_blocks` (a reading's wait begins once its interval has ended by this node's
        clock). Waiting for a predecessor or for funds is not a reason to drop before expiry:
        that may still resolve."""
        self._height = height
        for _ in range(min(self.recheck_per_block, len(self._rotation))):
            tx_hash = self._rotation.popleft()
            tx = self._by_hash.get(tx_hash)
            if tx is None:
                continue  # committed or dropped since it was queued
            if isinstance(tx.body, MeterReading) and tx.body.interval >= self.genesis.interval_of(self.clock_ms()):
                self._admitted_at[tx_hash] = height  # still being metered: its wait has not begun
            elif height - self._admitted_at[tx_hash] >= self.expire_blocks:
                self.drop(tx, f"expired: pending for {self.expire_blocks} blocks")
                continue
            try:
                self._check(state, tx)
            except LedgerError as exc:
                if exc.reason not in WAITING:
                    self.drop(tx, exc.reason)
                    continue
            self._rotation.append(tx_hash)

