"""Proofs a node that holds only headers can check: a state entry (or its absence) against a
header's state root, and a transaction with its receipt against the header's transaction and
receipt roots.

A state proof carries the key's value (or none), the other entries of the sub-bucket the key
falls in as their keys and entry digests (a few at most by chance, since 4096 buckets of 256
sub-buckets share the state; a member can aim keys at one, but adds only a key and 32 bytes per
entry, never its value, and a server still bounds the proofs it builds), the hashes of the
bucket's other sub-buckets, and the bucket's merkle path to the root (`ledger.state` describes
the layout). The verifier computes the key's own entry digest from its value, so the same proof
shows a key's value or, when it has none and the key is not among the other entries, that the
state has no such key: all the sub-bucket's keys are checked to be in key order and to belong to
the key's bucket and sub-bucket, so no entry can be left out or invented.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ledger import merkle
from ledger.errors import LedgerError
from ledger.state import BUCKET_BITS, State, bucket_hash, bucket_of, entry_digest, node_hash, sub_of


HASH_BYTES = 32
# Bytes of a state proof a node serves: the key's value and its sub-bucket's other keys with their
# 32-byte digests (its JSON is about twice that). By chance a sub-bucket holds a few entries
# (2**20 sub-buckets share the state); a member aiming keys at one (about 2**20 tries a key) adds
# a key and a digest per entry whatever its values, so reaching this takes tens of thousands of
# aimed keys, and it keeps a proof from costing the node more hashing and hex than that. A light
# client reads no larger answer (`pownode.answer_bounds`).
MAX_STATE_PROOF_BYTES = 1024 * 1024


class InvalidProof(LedgerError):
    """A proof that does not show what it claims against the root it was checked with."""

    reason = "invalid-proof"


@dataclass(frozen=True)
class StateProof:
    key: bytes
    value: bytes | None  # the key's value; None: the proof shows the state has no such key
    others: tuple[tuple[bytes, bytes], ...]  # the sub-bucket's other entries: (key, entry digest) in key order
    subs: tuple[tuple[int, bytes], ...]  # the bucket's other non-empty sub-buckets: (index, hash)
    path: tuple[bytes, ...]  # sibling hashes from the bucket up to the root

    def to_json(self) -> dict:
        return {"key": self.key.hex(), "value": None if self.value is None else self.value.hex(),
                "others": [[k.hex(), d.hex()] for k, d in self.others],
                "subs": [[s, h.hex()] for s, h in self.subs], "path": [h.hex() for h in self.path]}

    @classmethod
    def from_json(cls, doc: dict) -> "StateProof":
        try:
            value = doc["value"]
            return cls(bytes.fromhex(doc["key"]), None if value is None else bytes.fromhex(value),
                       tuple((bytes.fromhex(k), bytes.fromhex(d)) for k, d in doc["others"]),
                       tuple((int(s), bytes.fromhex(h)) for s, h in doc["subs"]),
                       tuple(bytes.fromhex(h) for h in doc["path"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidProof(f"a state proof is not well formed ({exc})") from None


def prove_state(state: State, key: bytes, max_bytes: int | None = None) -> StateProof:
    """A proof of `key`'s entry (or its absence) against `state.root()`; with `max_bytes`,
    ProofTooLarge, before any work, if the sub-bucket's keys and values are larger."""
    return StateProof(key, *state.proof_parts(key, max_bytes))


def verify_state(root: bytes, proof: StateProof) -> bytes | None:
    """The value `proof` shows for its key under `root` (None: the state has no such key), or
    InvalidProof. Every hash and digest in the proof must be exactly 32 bytes: a longer "hash" of
    the sub-bucket before the key's could carry the key's own sub-bucket inside it, since a bucket
    hashes its sub-buckets' indices and hashes concatenated."""
    if any(len(h) != HASH_BYTES for _, h in proof.subs + proof.others) or any(len(h) != HASH_BYTES for h in proof.path):
        raise InvalidProof(f"a hash in the proof is not {HASH_BYTES} bytes")
    bucket, sub = bucket_of(proof.key), sub_of(proof.key)
    entries = list(proof.others)
    if any(k == proof.key for k, _ in entries):
        raise InvalidProof("the key is among the other entries")
    if proof.value is not None:
        entries = sorted(entries + [(proof.key, entry_digest(proof.key, proof.value))])
    keys = [k for k, _ in entries]
    if [k for k, _ in proof.others] != sorted(set(k for k, _ in proof.others)):
        raise InvalidProof("the sub-bucket's entries are not in strict key order")
    if any(bucket_of(k) != bucket or sub_of(k) != sub for k in keys):
        raise InvalidProof("an entry does not belong to the key's sub-bucket")
    subs = dict(proof.subs)
    if len(subs) != len(proof.subs) or sub in subs or any(not 0 <= s < 256 for s in subs):
        raise InvalidProof("the other sub-buckets are repeated, out of range or include the key's own")
    if entries:
        subs[sub] = hashlib.sha256(b"".join(d for _, d in entries)).digest()
    if len(proof.path) != BUCKET_BITS:
        raise InvalidProof(f"the path has {len(proof.path)} hashes, not {BUCKET_BITS}")
    node, index = bucket_hash(subs), bucket
    for sibling in proof.path:
        node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
        index //= 2
    if node != root:
        raise InvalidProof("the proof does not lead to the state root")
    return proof.value


@dataclass(frozen=True)
class TxProof:
    """A transaction at `index` of a block of `count`, and its receipt, with both merkle paths."""

    height: int
    index: int
    count: int
    tx: bytes  # encoded
    tx_path: tuple[bytes, ...]
    receipt: bytes  # encoded
    receipt_path: tuple[bytes, ...]

    def to_json(self) -> dict:
        return {"height": self.height, "index": self.index, "count": self.count, "tx": self.tx.hex(),
                "tx_path": [h.hex() for h in self.tx_path], "receipt": self.receipt.hex(),
                "receipt_path": [h.hex() for h in self.receipt_path]}

    @classmethod
    def from_json(cls, doc: dict) -> "TxProof":
        try:
            return cls(int(doc["height"]), int(doc["index"]), int(doc["count"]), bytes.fromhex(doc["tx"]),
                       tuple(bytes.fromhex(h) for h in doc["tx_path"]), bytes.fromhex(doc["receipt"]),
                       tuple(bytes.fromhex(h) for h in doc["receipt_path"]))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise InvalidProof(f"a transaction proof is not well formed ({exc})") from None


def receipt_leaf(encoded_receipt: bytes) -> bytes:
    return hashlib.sha256(encoded_receipt).digest()


def verify_tx(tx_root: bytes, receipts_root: bytes, tx_count: int, proof: TxProof) -> None:
    """Raise InvalidProof unless the transaction and its receipt sit at `proof.index` of a block
    whose header holds these roots and this count."""
    if proof.count != tx_count:
        raise InvalidProof(f"the proof is for a block of {proof.count} transactions, the header says {tx_count}")
    if not merkle.verify_proof(tx_root, hashlib.sha256(proof.tx).digest(), proof.index, proof.count, proof.tx_path):
        raise InvalidProof("the transaction is not in the block's transaction root")
    if not merkle.verify_proof(receipts_root, receipt_leaf(proof.receipt), proof.index, proof.count,
                               proof.receipt_path):
        raise InvalidProof("the receipt is not in the block's receipt root")


class BlockTrees:
    """A committed block's transactions and receipts (encoded) with both merkle trees, every
    level kept: a proof of any of its transactions is then a path read off them, not the block's
    hashing again (some 4.5 us a transaction, 90 ms for a full block, per proof)."""

    def __init__(self, height: int, encoded_txs: list[bytes], encoded_receipts: list[bytes]) -> None:
        if len(encoded_txs) != len(encoded_receipts) or not encoded_txs:
            raise ValueError("a block's trees need one receipt per transaction, and a transaction")
        self.height = height
        self.txs = encoded_txs
        self.receipts = encoded_receipts
        self._tx_levels = merkle.merkle_levels([hashlib.sha256(tx).digest() for tx in encoded_txs])
        self._receipt_levels = merkle.merkle_levels([receipt_leaf(r) for r in encoded_receipts])

    @property
    def retained_bytes(self) -> int:
        """About what the trees hold: the encodings, and each digest and list slot (32 + 33 + 8
        bytes) of levels that together hold some two per leaf."""
        digests = sum(len(level) for level in self._tx_levels) + sum(len(level) for level in self._receipt_levels)
        return sum(map(len, self.txs)) + sum(map(len, self.receipts)) + 82 * len(self.txs) + 73 * digests

    def prove(self, index: int) -> TxProof:
        """The proof of transaction `index` and of its receipt."""
        return TxProof(self.height, index, len(self.txs), self.txs[index],
                       tuple(merkle.merkle_path(self._tx_levels, index)), self.receipts[index],
                       tuple(merkle.merkle_path(self._receipt_levels, index)))


def prove_tx(height: int, encoded_txs: list[bytes], encoded_receipts: list[bytes], index: int) -> TxProof:
    """The proof of transaction `index` of a committed block and of its receipt."""
    return BlockTrees(height, encoded_txs, encoded_receipts).prove(index)
