"""The world state as a flat map of canonical key bytes to value bytes, with a content-only root.

Typed views (accounts, validators, meters, readings, orders) live in `ledger.accounts`; this
module only knows bytes. Three jobs:

* A block is opened, then committed or aborted whole (`begin_block`); inside it, transaction
  snapshots nest (`snapshot` / `rollback` / `release`). One undo journal serves both, so
  applying a block or a transaction is all-or-nothing.
* Changes since the last `take_changes` are collected for one atomic database batch.
* The root depends on content alone, never on insertion order: keys fall into a fixed number of
  buckets (CRC-32 of the key, which is deterministic everywhere), and within a bucket into 256
  sub-buckets (the first byte of the key's SHA-256). Each entry's digest (SHA-256 of its key and
  value) is kept; a sub-bucket hashes its entries' digests in key order, a bucket its non-empty
  sub-buckets' hashes, and the root is a merkle tree over the bucket hashes. A block recomputes
  only what it touched: the digests of the keys it wrote, their sub-buckets, their buckets and
  the paths above them. So a write never costs the size of its bucket's values, and filling one
  bucket (CRC-32 is easy to aim) spreads over 256 sub-buckets that SHA-256 makes hard to aim.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import zlib
from typing import Iterable, Iterator

from sortedcontainers import SortedList

from ledger.encoding import pack
from ledger.errors import ProofTooLarge

GROUP_BYTES = 9  # a type byte and a big-endian u64 (interval, window) or the start of a key
BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
_EMPTY_BUCKET = hashlib.sha256(b"pownode/state/empty-bucket").digest()
_MISSING = object()
_SUB_TAGS = tuple(bytes((s,)) for s in range(256))  # a sub-bucket's byte before its hash in `bucket_hash`


def bucket_of(key: bytes) -> int:
    return zlib.crc32(key) & (BUCKETS - 1)


def sub_of(key: bytes) -> int:
    return hashlib.sha256(key).digest()[0]


def entry_digest(key: bytes, value: bytes) -> bytes:
    return hashlib.sha256(pack([key, value])).digest()


def bucket_hash(sub_hashes: dict[int, bytes]) -> bytes:
    if not sub_hashes:
        return _EMPTY_BUCKET
    if len(sub_hashes) == 1:  # the usual bucket (a few thousand keys over 4,096 buckets): no sort
        ((sub, only),) = sub_hashes.items()
        return hashlib.sha256(_SUB_TAGS[sub] + only).digest()
    return hashlib.sha256(b"".join([_SUB_TAGS[s] + sub_hashes[s] for s in sorted(sub_hashes)])).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@functools.cache
def _empty_tree() -> tuple[tuple[bytes, ...], ...]:
    """The tree of an empty state, computed once: a new state copies it and rehashes only the
    buckets its entries fall into."""
    level = [_EMPTY_BUCKET] * BUCKETS
    tree = [tuple(level)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        tree.append(tuple(level))
    return tuple(tree)


class State:
    """Mutable key-value state with nested snapshots and an incrementally maintained root."""

    def __init__(self, items: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self._buckets: list[dict[bytes, bytes]] = [{} for _ in range(BUCKETS)]
        # Prefix index: keys grouped by their first GROUP_BYTES bytes, each group kept sorted
        # (a scan costs log n plus what it returns), and per leading byte a sorted list of group
        # ids (rebuilt lazily when a group appears or disappears).
        self._groups: dict[bytes, SortedList] = {}
        self._group_order: dict[int, list[bytes] | None] = {}
        self._journal: list[tuple[bytes, object]] = []
        self._open_snapshots = 0
        self._block_open = False
        self._changes: dict[bytes, bytes | None] = {}
        self._dirty: dict[int, set[bytes]] = {}  # bucket -> keys written since the root was computed
        # Per bucket: sub-bucket -> its keys in order, and sub-bucket -> its hash; entry digests.
        self._subs: list[dict[int, SortedList]] = [{} for _ in range(BUCKETS)]
        self._sub_hashes: list[dict[int, bytes]] = [{} for _ in range(BUCKETS)]
        self._digests: dict[bytes, bytes] = {}
        # _tree[0] holds the bucket hashes, _tree[-1] the root: a full binary tree.
        self._tree: list[list[bytes]] = []
        self._tree = [list(level) for level in _empty_tree()]
        grouped: dict[bytes, list[bytes]] = {}
        subs: dict[tuple[int, int], list[bytes]] = {}
        for key, value in items:
            index = bucket_of(key)
            if key not in self._buckets[index]:
                grouped.setdefault(key[:GROUP_BYTES], []).append(key)
                subs.setdefault((index, sub_of(key)), []).append(key)
            self._buckets[index][key] = value
            self._dirty.setdefault(index, set()).add(key)
        self._groups = {gid: SortedList(keys) for gid, keys in grouped.items()}  # one sort per group
        self._group_order = {gid[0]: None for gid in self._groups}
        for (index, sub), keys in subs.items():
            self._subs[index][sub] = SortedList(keys)
        self._update_tree()

    # --- reading ------------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        return self._buckets[bucket_of(key)].get(key)

    def __contains__(self, key: bytes) -> bool:
        return key in self._buckets[bucket_of(key)]

    def scan(self, prefix: bytes, limit: int | None = None, start: bytes = b"") -> list[tuple[bytes, bytes]]:
        """Entries whose key starts with `prefix` and is at least `start`, in key-byte order
        (deterministic): `start` lets a caller page through a prefix.

        Cost: the groups under the prefix from `start`'s group on (found by bisection) and the
        keys in them from `start` on, not the whole state.
        """
        low = max(prefix, start)
        if len(prefix) >= GROUP_BYTES:
            group_ids = [prefix[:GROUP_BYTES]] if prefix[:GROUP_BYTES] in self._groups else []
        else:
            group_ids = []
            for lead in sorted(self._group_order) if not prefix else [prefix[0]]:
                order = self._ordered_groups(lead)
                # Groups below `low`'s group hold only keys below `low`: start there.
                first = bisect.bisect_left(order, low[:GROUP_BYTES])
                group_ids.extend(itertools.takewhile(lambda g: g.startswith(prefix), order[first:]))
        found: list[tuple[bytes, bytes]] = []
        for gid in group_ids:  # group ids are key prefixes of one length: their order is key order
            for key in self._groups[gid].irange(minimum=low):
                if not key.startswith(prefix):
                    break
                found.append((key, self._buckets[bucket_of(key)][key]))
                if limit is not None and len(found) >= limit:
                    return found
        return found

    def _ordered_groups(self, lead: int) -> list[bytes]:
        order = self._group_order.get(lead)
        if order is None:
            order = sorted(g for g in self._groups if g[0] == lead)
            self._group_order[lead] = order
        return order

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for bucket in self._buckets:
            yield from bucket.items()

    def __len__(self) -> int:
        return sum(len(b) for b in self._buckets)

    # --- writing ------------------------------------------------------------------------

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        if key in self:
            self._write(key, None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        index = bucket_of(key)
        if self._open_snapshots or self._block_open:
            self._journal.append((key, self._buckets[index].get(key, _MISSING)))
        self._set(key, value, index)
        self._changes[key] = value

    def _set(self, key: bytes, value: bytes | None, index: int) -> None:
        """Write or delete one key (in bucket `index`, its `bucket_of`), keeping buckets, prefix
        index and dirty set in step."""
        bucket = self._buckets[index]
        gid = key[:GROUP_BYTES]
        if value is None:
            if bucket.pop(key, _MISSING) is not _MISSING:
                members = self._groups[gid]
                members.remove(key)
                if not members:
                    del self._groups[gid]
                    self._group_order[gid[0]] = None
                sub = sub_of(key)
                keys = self._subs[index][sub]
                keys.remove(key)
                if not keys:
                    del self._subs[index][sub]
        else:
            if key not in bucket:
                members = self._groups.get(gid)
                if members is None:
                    members = self._groups[gid] = SortedList()
                    self._group_order[gid[0]] = None
                members.add(key)
                sub = sub_of(key)
                keys = self._subs[index].get(sub)
                if keys is None:
                    keys = self._subs[index][sub] = SortedList()
                keys.add(key)
            bucket[key] = value
        dirty = self._dirty.get(index)
        if dirty is None:
            dirty = self._dirty[index] = set()
        dirty.add(key)

    # --- snapshots ----------------------------------------------------------------------

    def begin_block(self) -> None:
        """Open the block-level journal: every write until `commit_block` can be undone whole.

        The root may be computed while a block is open (a validator compares it with the
        proposed header before deciding to keep the block), but not while a transaction-level
        snapshot is open.
        """
        if self._block_open or self._open_snapshots:
            raise RuntimeError("a block or snapshot is already open")
        self._block_open = True

    def commit_block(self) -> None:
        self._require_block()
        self._block_open = False
        self._journal.clear()

    def abort_block(self) -> None:
        """Undo every write since `begin_block`."""
        self._require_block()
        self._undo_to(0)
        self._block_open = False

    def _require_block(self) -> None:
        if not self._block_open or self._open_snapshots:
            raise RuntimeError("no block is open, or a snapshot inside it is still open")

    def snapshot(self) -> int:
        """Open a snapshot; returns a token for `rollback` or `release`. Snapshots nest."""
        self._open_snapshots += 1
        return len(self._journal)

    def rollback(self, token: int) -> None:
        """Undo every write since `snapshot()` returned `token`, and close that snapshot."""
        self._undo_to(token)
        self._close()

    def release(self, token: int) -> None:
        """Keep the writes since `token` and close that snapshot."""
        self._close()

    def _close(self) -> None:
        if self._open_snapshots == 0:
            raise RuntimeError("no snapshot is open")
        self._open_snapshots -= 1
        if self._open_snapshots == 0 and not self._block_open:
            self._journal.clear()

    def _undo_to(self, token: int) -> None:
        while len(self._journal) > token:
            key, old = self._journal.pop()
            value = None if old is _MISSING else old
            self._set(key, value, bucket_of(key))  # type: ignore[arg-type]
            self._changes[key] = value  # type: ignore[assignment]

    # --- persistence and root -----------------------------------------------------------

    def take_changes(self) -> dict[bytes, bytes | None]:
        """Keys written since the last call (None = deleted), for one database batch.

        Allowed while a block is open (the block's batch is written before `commit_block`, so a
        failed write can still `abort_block`), not while a transaction snapshot is.
        """
        if self._open_snapshots:
            raise RuntimeError("cannot take changes while a snapshot is open")
        changes, self._changes = self._changes, {}
        return changes

    def root(self) -> bytes:
        """The state root. Computing it with a snapshot open is a bug (half-applied content)."""
        if self._open_snapshots:
            raise RuntimeError("state root requested while a snapshot is open")
        if self._dirty:
            self._update_tree()
        return self._tree[-1][0]

    def _update_tree(self) -> None:
        """Rehash what the writes since the last root touched: each written key's entry digest,
        its sub-bucket, its bucket, and the tree nodes above those buckets.

        Once per block over every key the block wrote (two accounts per transfer), so this loop
        is per transaction: `sub_of` and `node_hash` are written out inline (the same bytes
        hashed; `ledger.proofs` verifies against the functions), a sub-bucket of one key (the
        usual one) skips iterating its SortedList, and each tree level is one pass over the
        parents of the level below, in no particular order (each is computed from a level
        already complete)."""
        sha256 = hashlib.sha256
        digests, leaves = self._digests, self._tree[0]
        for i, written in self._dirty.items():
            bucket, subs, sub_hashes = self._buckets[i], self._subs[i], self._sub_hashes[i]
            touched = set()
            for key in written:
                value = bucket.get(key)
                if value is None:
                    digests.pop(key, None)
                else:
                    digests[key] = entry_digest(key, value)
                touched.add(sha256(key).digest()[0])  # sub_of(key)
            for sub in touched:
                keys = subs.get(sub)
                if not keys:
                    sub_hashes.pop(sub, None)
                elif len(keys) == 1:  # the usual sub-bucket: iterating a SortedList costs more
                    sub_hashes[sub] = sha256(digests[keys[0]]).digest()
                else:
                    sub_hashes[sub] = sha256(b"".join(map(digests.__getitem__, keys))).digest()
            leaves[i] = bucket_hash(sub_hashes)
        dirty = set(self._dirty)
        for depth in range(1, len(self._tree)):
            below, here = self._tree[depth - 1], self._tree[depth]
            dirty = {i >> 1 for i in dirty}
            for i in dirty:
                here[i] = sha256(b"\x01" + below[2 * i] + below[2 * i + 1]).digest()  # node_hash
        self._dirty.clear()

    def proof_parts(self, key: bytes, max_bytes: int | None = None) -> tuple[
            bytes | None, tuple[tuple[bytes, bytes], ...], tuple[tuple[int, bytes], ...], tuple[bytes, ...]]:
        """What shows `key`'s value, or its absence, against `root()` (`ledger.proofs.prove_state`
        wraps it): the key's value, the other entries of its sub-bucket as (key, entry digest) in
        key order, its bucket's other sub-bucket hashes, and the bucket's merkle path. Other
        entries' values are never included, so keys aimed at a victim's sub-bucket with large
        values add only their keys and 32 bytes each. With `max_bytes`, ProofTooLarge as soon as
        the key's value and the other entries' keys and digests pass it, before anything is
        copied or hashed."""
        index, sub = bucket_of(key), sub_of(key)
        bucket = self._buckets[index]
        keys = self._subs[index].get(sub, ())
        value = bucket.get(key)
        if max_bytes is not None:
            size = len(value or b"")
            for k in keys:
                size += len(k) + 32
                if size > max_bytes:
                    raise ProofTooLarge(f"the key's sub-bucket holds more than {max_bytes} bytes of keys and digests")
        root = self.root()  # brings the tree and the digests up to date (and refuses an open snapshot)
        others = tuple((k, self._digests[k]) for k in keys if k != key)
        subs = tuple(sorted((s, h) for s, h in self._sub_hashes[index].items() if s != sub))
        path = []
        for depth in range(len(self._tree) - 1):
            path.append(self._tree[depth][index ^ 1])
            index //= 2
        assert len(path) == BUCKET_BITS and root == self._tree[-1][0]
        return value, others, subs, tuple(path)

    def copy(self) -> "State":
        """An independent state with the same content (for scratch execution and replay)."""
        if self._open_snapshots or self._block_open:
            raise RuntimeError("cannot copy with a block or snapshot open")
        clone = State.__new__(State)
        clone._buckets = [dict(b) for b in self._buckets]
        clone._groups = {g: keys.copy() for g, keys in self._groups.items()}
        clone._group_order = dict(self._group_order)
        clone._journal = []
        clone._open_snapshots = 0
        clone._block_open = False
        clone._changes = {}
        clone._dirty = {i: set(keys) for i, keys in self._dirty.items()}
        clone._subs = [{s: keys.copy() for s, keys in subs.items()} for subs in self._subs]
        clone._sub_hashes = [dict(h) for h in self._sub_hashes]
        clone._digests = dict(self._digests)
        clone._tree = [list(level) for level in self._tree]
        return clone
