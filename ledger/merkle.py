"""Binary merkle trees over transaction hashes, with inclusion proofs.

Leaves and inner nodes are domain-separated (`0x00 || leaf`, `0x01 || left || right`) so a leaf
can never pose as an inner node. An odd node at the end of a level is promoted unchanged rather
than paired with a copy of itself: duplicating it would let two different transaction lists share
a root (the CVE-2012-2459 mutation). The empty tree has a fixed root.

This module is the pure-hashlib implementation and the specification; `ledger/sha256_kernel.py`
computes the same root with numba from one contiguous buffer.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"pownode/merkle/empty").digest()


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


# A leaf or pair that is the very object(s) just hashed is not hashed again (an identity test,
# free for distinct transaction hashes): a block's receipts are mostly the one shared SUCCESS,
# so its receipts tree is mostly identical subtrees, hashed once per level instead of per node.


def _leaves(items: Sequence[bytes]) -> list[bytes]:
    level = []
    last: bytes | None = None
    digest = b""
    for item in items:
        if item is not last:
            last, digest = item, _leaf(item)
        level.append(digest)
    return level


def _next_level(level: list[bytes]) -> list[bytes]:
    up = []
    left_was: bytes | None = None
    right_was: bytes | None = None
    digest = b""
    for left, right in zip(level[::2], level[1::2]):
        if left is not left_was or right is not right_was:
            left_was, right_was, digest = left, right, _node(left, right)
        up.append(digest)
    if len(level) % 2:
        up.append(level[-1])
    return up


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over `leaves` (each typically a 32-byte transaction hash)."""
    if not leaves:
        return EMPTY_ROOT
    level = _leaves(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over `leaves`, the hashed leaves first and the root's last: what
    proofs of any of its leaves are read from (`merkle_path`), built once."""
    if not leaves:
        raise IndexError("an empty tree has no leaves to prove")
    levels = [_leaves(leaves)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def merkle_path(levels: list[list[bytes]], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root (promoted levels contribute none)."""
    if not 0 <= index < len(levels[0]):
        raise IndexError(f"leaf {index} of {len(levels[0])}")
    proof: list[bytes] = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The sibling hashes from leaf `index` up to the root (promoted levels contribute none)."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} of {len(leaves)}")
    return merkle_path(merkle_levels(leaves), index)


def verify_proof(root: bytes, leaf: bytes, index: int, count: int, proof: Sequence[bytes]) -> bool:
    """True if `leaf` is at `index` in a tree of `count` leaves with this `root`.

    The path is derived from (index, count), not carried in the proof, so a proof cannot be
    replayed for another position, and every proof element must be consumed.
    """
    if not 0 <= index < count:
        return False
    node = _leaf(leaf)
    used = 0
    size = count
    while size > 1:
        sibling = index ^ 1
        if sibling < size:
            if used >= len(proof):
                return False
            other = proof[used]
            used += 1
            node = _node(other, node) if index & 1 else _node(node, other)
        index //= 2
        size = (size + 1) // 2
    return used == len(proof) and node == root


def hash_and_root(encoded_txs: Sequence[bytes]) -> tuple[list[bytes], bytes]:
    """Transaction hashes and the merkle root over them, with hashlib (the node's default path)."""
    hashes = [hashlib.sha256(tx).digest() for tx in encoded_txs]
    return hashes, merkle_root(hashes)
