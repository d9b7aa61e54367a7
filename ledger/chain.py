"""One node's chain: the committed blocks in the store and the state at their head.

This is the application side of the consensus boundary: build a block from candidate
transactions, validate a proposed block (header rules, merkle root, signatures, execution, state
root), and commit a block whose proof checks out. Validating a block executes it and leaves the
result pending, so committing the same block afterwards costs only the database write.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from ledger import accounts
from ledger.blocks import (Block, Header, genesis_header, skipped_bitmap, skipped_keys, validators_hash,
                           verify_quorum)
from ledger.database import Database, MemoryDB
from ledger.errors import InvalidBlock, InvalidTransaction, StorageError
from ledger.executor import (BlockFees, apply_block_effects, apply_transaction, gas_limit_of, prove_signatures,
                             verify_signature)
from ledger.genesis import Genesis
from ledger.hashing import BACKENDS
from ledger.keys import VerifiedCache
from ledger.merkle import hash_and_root, merkle_root
from ledger.proofs import receipt_leaf
from ledger.receipts import BlockContext, ContractRuntime, Receipt
from ledger.state import State
from ledger.store import BlockStore
from ledger.transactions import Transaction

# Transactions whose signatures block validation checks in one go when it meets one not yet
# verified (a block synced, or one whose transactions never reached this node's mempool): four
# of `ledger.keys`' batches of 64.
PROVE_AHEAD = 256
RECENT_RECEIPTS = 8  # committed blocks whose receipts stay in memory for their listeners (older: the store)


def genesis_block(genesis: Genesis, state_root: bytes) -> Block:
    """Block 0: no transactions, the genesis hash as parent, the initial state's root."""
    validators = [(v.public_key, v.power) for v in genesis.validators]
    return Block(genesis_header(genesis.chain_id, genesis.hash, genesis.genesis_time_ms, state_root, validators), ())


def receipts_root(receipts: list[Receipt]) -> bytes:
    """Merkle root over the receipts' hashes; equal receipts (most are the one SUCCESS) are
    hashed once and share one leaf object, which `merkle_root` hashes once per level."""
    leaf_of: dict[bytes, bytes] = {}
    leaves = []
    for receipt in receipts:
        encoded = receipt.encoded
        leaf = leaf_of.get(encoded)
        if leaf is None:
            leaf = leaf_of[encoded] = receipt_leaf(encoded)
        leaves.append(leaf)
    return merkle_root(leaves)


class Chain:
    def __init__(self, db: Database, genesis: Genesis, *, cache: VerifiedCache | None = None,
                 hasher: str = "hashlib", runtime: ContractRuntime | None = None) -> None:
        self.store = BlockStore(db)
        self.genesis = genesis
        self.runtime = runtime
        self.cache = cache if cache is not None else VerifiedCache()
        self._hash_and_root = BACKENDS[hasher]
        self._pending: tuple[bytes, list[bytes], list[Receipt]] | None = None
        self._recent_receipts: OrderedDict[bytes, tuple[Receipt, ...]] = OrderedDict()  # block hash -> receipts
        stored = self.store.genesis_bytes()
        if stored is None:
            self.state = genesis.initial_state()
            block0 = genesis_block(genesis, self.state.root())
            self.store.write_block(block0, [], dict(self.state.items()), genesis_bytes=genesis.encoded)
            self.head = block0.header
        elif stored != genesis.encoded:
            raise StorageError("this database belongs to a different genesis")
        else:
            self.head = self._load_head()
        self._validators = accounts.validators(self.state)
        self.validator_keys = frozenset(key for key, _ in self._validators)  # the set's keys, for lookups

    def _load_head(self) -> Header:
        pointer = self.store.head()
        if pointer is None:
            raise StorageError("genesis present but no head pointer")
        height, block_hash = pointer
        header = self.store.header_by_hash(block_hash)
        if header is None or header.height != height or self.store.block_hash(height) != block_hash:
            raise StorageError(f"head points at height {height} but its block is missing or mismatched")
        self.state = State(self.store.state_items())
        if self.state.root() != header.state_root:
            raise StorageError(f"stored state does not match the state root of height {height}")
        return header

    @property
    def height(self) -> int:
        return self.head.height

    @property
    def validators(self) -> list[tuple[bytes, int]]:
        """The validator set at the head, in key order (what the next block's proof must satisfy)."""
        return list(self._validators)

    # --- building and validating --------------------------------------------------------

    def _context(self, height: int, time_ms: int, proposer: bytes, skipped: tuple[bytes, ...]) -> BlockContext:
        g = self.genesis
        return BlockContext(height, time_ms, proposer, g.interval_of(time_ms), g.settled_cap_wh,
                            g.calendar_interval_ms, g.calendar_origin_ms, skipped)

    def build_block(
        self, candidates: Iterable[Transaction], proposer: bytes, time_ms: int, max_txs: int = 10_000,
        skipped: Iterable[bytes] = (),
    ) -> tuple[Block, list[tuple[Transaction, InvalidTransaction]]]:
        """Execute candidates in order, keeping those that apply; the block's proof is empty.
        `skipped`: the validators the election ranked above `proposer` for this height.

        Returns the block and the dropped transactions with their reasons. The executed state
        stays pending, so `commit_block` of this block does not execute it again.
        """
        self.discard_pending()
        time_ms = max(time_ms, self.head.time_ms + 1)
        state = self.state
        state.begin_block()
        kept: list[Transaction] = []
        receipts: list[Receipt] = []
        dropped: list[tuple[Transaction, InvalidTransaction]] = []
        keys = [key for key, _ in self._validators]
        bitmap = skipped_bitmap(keys, skipped)
        ctx = self._context(self.height + 1, time_ms, proposer, tuple(k for k in keys if k in set(skipped)))
        room = self.genesis.max_block_bytes
        gas_room = self.genesis.max_block_gas
        memory_room = self.genesis.max_block_memory
        fees = BlockFees(proposer)
        for tx in candidates:
            if len(kept) >= max_txs:
                break
            if len(tx.encoded) > room or gas_limit_of(tx) > gas_room or tx.retained_bytes > memory_room:
                continue  # stays in the mempool for a later block
            deferred = fees.defers(state, tx)
            token = state.snapshot()
            try:
                verify_signature(tx, self.cache)
                receipt = apply_transaction(state, self.genesis, tx, ctx, self.runtime, credit_fee=not deferred)
            except InvalidTransaction as exc:
                state.rollback(token)
                dropped.append((tx, exc))
                continue
            state.release(token)
            if deferred:
                fees.owed += tx.fee
            kept.append(tx)
            receipts.append(receipt)
            room -= len(tx.encoded)
            gas_room -= receipt.gas_used
            memory_room -= tx.retained_bytes
        fees.settle(state)
        apply_block_effects(state, self.genesis, ctx)
        hashes, tx_root = self._hashes_and_root(kept)
        header = Header(
            self.genesis.chain_id, self.height + 1, self.head.hash, time_ms, proposer,
            tx_root, len(kept), state.root(), receipts_root(receipts), validators_hash(accounts.validators(state)),
            bitmap, b"",
        )
        self._pending = (header.hash, hashes, receipts)
        return Block(header, tuple(kept)), dropped

    def _hashes_and_root(self, txs: Iterable[Transaction]) -> tuple[list[bytes], bytes]:
        """The transactions' hashes and their merkle root. With hashlib, each transaction's
        cached `hash` (the sha256 of its `encoded`, which admission took from the bytes it
        decoded) instead of hashing every encoding again: a block's transactions were all
        hashed on their way in. The numba backend hashes the encodings in one call."""
        if self._hash_and_root is hash_and_root:
            hashes = [tx.hash for tx in txs]
            return hashes, merkle_root(hashes)
        return self._hash_and_root([tx.encoded for tx in txs])

    def validate_block(self, block: Block) -> None:
        """Check `block` extends the head and executes to its state root; raise InvalidBlock.

        On success the executed state is left pending for `commit_block`; on failure the state
        is exactly as before.
        """
        if self._pending is not None and self._pending[0] == block.hash:
            return
        self.discard_pending()
        header = block.header
        skipped = self._check_header(header, len(block.txs))
        hashes, tx_root = self._hashes_and_root(block.txs)
        if tx_root != header.tx_root:  # first: what fails from here on is the header's (`BODY_MISMATCH`)
            raise InvalidBlock(f"height {header.height}: transactions do not match tx_root", reason="bad-tx-root")
        self._check_size(block)
        state = self.state
        state.begin_block()
        ctx = self._context(header.height, header.time_ms, header.proposer, skipped)
        receipts: list[Receipt] = []
        fees = BlockFees(header.proposer)
        gas_room = self.genesis.max_block_gas
        proven_to = 0  # signatures batch-checked ahead of execution, up to this index
        try:
            for index, tx in enumerate(block.txs):
                if gas_limit_of(tx) > gas_room:  # before running it: the block's bound holds
                    raise InvalidBlock(f"height {header.height}: transaction {index} does not fit the block's "
                                       f"{self.genesis.max_block_gas} gas", reason="block-gas", tx_index=index)
                deferred = fees.defers(state, tx)
                if index >= proven_to and tx.hash not in self.cache:
                    # A window at a time, as execution reaches it: a block invalid early costs
                    # little more than its first transactions, as when each is checked alone.
                    proven_to = index + PROVE_AHEAD
                    prove_signatures(list(block.txs[index:proven_to]), self.cache)
                try:
                    verify_signature(tx, self.cache)
                    receipt = apply_transaction(state, self.genesis, tx, ctx, self.runtime, credit_fee=not deferred)
                except InvalidTransaction as exc:
                    raise InvalidBlock(
                        f"height {header.height}: transaction {index} invalid: {exc}",
                        reason=exc.reason, tx_index=index,
                    ) from exc
                receipts.append(receipt)
                gas_room -= receipt.gas_used
                if deferred:
                    fees.owed += tx.fee
            fees.settle(state)
            apply_block_effects(state, self.genesis, ctx)
            if state.root() != header.state_root:
                raise InvalidBlock(f"height {header.height}: state root mismatch", reason="bad-state-root")
            if receipts_root(receipts) != header.receipts_root:
                raise InvalidBlock(f"height {header.height}: receipts do not match receipts_root",
                                   reason="bad-receipts-root")
            if validators_hash(accounts.validators(state)) != header.validators_hash:
                raise InvalidBlock(f"height {header.height}: the validator set after it does not match "
                                   "validators_hash", reason="bad-validators-hash")
        except InvalidBlock:
            state.abort_block()
            raise
        self._pending = (block.hash, hashes, receipts)

    def _check_header(self, header: Header, tx_count: int) -> tuple[bytes, ...]:
        """Check the header against its parent and the validator set; return whom it says the
        election passed over."""
        parent = self.head
        where = f"height {header.height}"
        if header.chain_id != self.genesis.chain_id:
            raise InvalidBlock(f"{where}: chain id {header.chain_id!r}", reason="wrong-chain")
        if header.height != parent.height + 1:
            raise InvalidBlock(f"{where}: does not follow height {parent.height}", reason="bad-height")
        if header.prev_hash != parent.hash:
            raise InvalidBlock(f"{where}: parent hash is not the head's", reason="bad-parent")
        if header.time_ms <= parent.time_ms:
            raise InvalidBlock(f"{where}: time {header.time_ms} not after parent {parent.time_ms}", reason="bad-time")
        if header.proposer not in dict(self._validators):
            raise InvalidBlock(f"{where}: proposer is not a validator", reason="bad-proposer")
        if header.tx_count != tx_count:
            raise InvalidBlock(f"{where}: tx_count {header.tx_count} but {tx_count} transactions", reason="bad-tx-count")
        return skipped_keys(header, [key for key, _ in self._validators])

    def _check_size(self, block: Block) -> None:
        """The block's transactions within the chain's bounds on their bytes and on what they
        hold decoded (genesis max_block_bytes, max_block_memory): both are consensus rules."""
        size = sum(len(tx.encoded) for tx in block.txs)
        if size > self.genesis.max_block_bytes:
            raise InvalidBlock(f"height {block.header.height}: {size} bytes of transactions, above the chain's "
                               f"{self.genesis.max_block_bytes}", reason="block-too-large")
        held = sum(tx.retained_bytes for tx in block.txs)
        if held > self.genesis.max_block_memory:
            raise InvalidBlock(f"height {block.header.height}: its transactions hold {held} bytes decoded, above "
                               f"the chain's {self.genesis.max_block_memory}", reason="block-memory")

    def discard_pending(self) -> None:
        """Forget an executed but uncommitted block (a proposal that did not commit), so the
        state is the committed head again."""
        if self._pending is not None:
            self.state.abort_block()
            self._pending = None

    # --- committing ---------------------------------------------------------------------

    def commit_block(self, block: Block, *, check_proof: bool = True) -> None:
        """Verify the proof against the current validators, validate, and persist atomically.
        Its receipts stay in memory for `receipts_of` (the last RECENT_RECEIPTS blocks).

        `check_proof=False` is for engines that verify their own kind of proof before calling.
        """
        if check_proof:
            verify_quorum(block.header, self._validators)
        self.validate_block(block)
        assert self._pending is not None
        _, hashes, receipts = self._pending
        changes = self.state.take_changes()
        try:
            self.store.write_block(block, hashes, changes, receipts)
        except Exception:
            self._pending = None
            self.state.abort_block()
            raise
        self.state.commit_block()
        self._pending = None
        self.head = block.header
        self._validators = accounts.validators(self.state)
        self.validator_keys = frozenset(key for key, _ in self._validators)  # the set's keys, for lookups
        self._recent_receipts[block.hash] = tuple(receipts)
        if len(self._recent_receipts) > RECENT_RECEIPTS:
            self._recent_receipts.popitem(last=False)

    def receipts_of(self, block: Block) -> tuple[Receipt, ...]:
        """A committed block's receipts in block order: from memory for a recent block (as its
        commit made them), else from the store."""
        return self.receipts_for(block.hash, [tx.hash for tx in block.txs])

    def receipts_for(self, block_hash: bytes, tx_hashes: list[bytes]) -> tuple[Receipt, ...]:
        """`receipts_of` the committed block `block_hash` with these transactions, for a reader
        that has their hashes but has not decoded the block."""
        found = self._recent_receipts.get(block_hash)
        if found is not None:
            return found
        out = []
        for tx_hash in tx_hashes:
            where = self.store.tx_location(tx_hash)
            assert where is not None, "a committed block's transactions are indexed"
            out.append(where.receipt)
        return tuple(out)

    # --- audit --------------------------------------------------------------------------

    def audit(self) -> int:
        """Replay every stored block from genesis in memory; return the height checked.

        Raises StorageError if any stored block fails validation or the replayed state differs
        from the stored state. Operators run it after a crash (`pownode check`); tests after
        every kill.
        """
        replay = Chain(MemoryDB(), self.genesis, hasher="hashlib", runtime=self.runtime)
        for height in range(1, self.height + 1):
            block = self.store.block(height)
            if block is None:
                raise StorageError(f"block {height} missing below the head {self.height}")
            try:
                replay.commit_block(block)
            except InvalidBlock as exc:
                raise StorageError(f"stored block {height} does not replay: {exc}") from exc
        if replay.state.root() != self.state.root() or replay.head.hash != self.head.hash:
            raise StorageError("replayed chain differs from the stored head or state")
        if dict(replay.state.items()) != dict(self.store.state_items()):
            raise StorageError("stored state entries differ from the replayed state")
        return self.height
