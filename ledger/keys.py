"""Ed25519 keys, addresses, domain-separated signing, and the one verification interface.

Key handling (generation, seeds, signing) uses libsodium (PyNaCl). Verification is the hottest path
of the node (every node checks every transaction): `verify` uses ed25519-zebra (Rust), 1.3x
faster than libsodium and 2.7x faster than `cryptography` here (`benchmarks/ledger.py`).

Acceptance rules are consensus, so they are pinned: ZIP-215 (the rules ed25519-zebra implements,
written for consensus: S must be canonical, R and A may be any encoding of a curve point, and the
cofactored equation is checked), plus one rule of our own: a public key of small order (any of
the eight torsion points, in any encoding) is refused, since under ZIP-215 anyone could sign for
it. libsodium refuses those keys too; the two differ only on signatures a key's owner crafts on
purpose (small-order or non-canonical R), never on what a third party can forge. All backends
stay behind `VERIFIERS` for the benchmark; a network's nodes all use `verify`.

Many signatures at once (a gossip batch, a block) go through `verify_batch`, which first asks
ed25519-donna's batch check (`ledger._ed25519_batch`, compiled at install; about half the CPU per
signature) whether groups of them all hold, and checks alone only what no group proved. Its
answers are `verify`'s: a group proven holds the cofactored equation for each member (but for a
chance of 2**-128), and the rules the equation does not carry are checked before asking.

Every signature covers a domain tag and the chain id (`signing_message`), so a transaction,
vote or meter reading of one network never verifies on another, nor as another kind of message.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from typing import Callable

import ed25519_zebra
import nacl.bindings
import nacl.exceptions

from ledger.encoding import pack

try:
    from ledger import _ed25519_batch
except ImportError:  # built without a C compiler: every signature is checked alone
    _ed25519_batch = None  # type: ignore[assignment]

ADDRESS_SIZE = 20
_ADDRESS_TAG = b"pownode/address/v1"


# Bounded memo of `address_of`: a block's execution asks for its proposer's address once per
# transaction (the fee's payee), and the same few thousand senders recur; a hit costs 0.07 us
# against 0.45 for the hash. A flood of new keys only evicts entries.
@functools.lru_cache(maxsize=4096)
def address_of(public_key: bytes) -> bytes:
    """The 20-byte account address of an Ed25519 public key."""
    return hashlib.sha256(_ADDRESS_TAG + public_key).digest()[:ADDRESS_SIZE]


def signing_message(domain: str, chain_id: str, payload: list) -> bytes:
    """Canonical sign-bytes: `[domain, chain_id, payload]`, so signatures never cross domains."""
    return pack([domain, chain_id, payload])


class PrivateKey:
    """An Ed25519 signing key. The 32-byte seed is the only secret; keep it in a key file."""

    __slots__ = ("_seed", "_secret", "public_key", "address")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._seed = bytes(seed)
        self.public_key, self._secret = nacl.bindings.crypto_sign_seed_keypair(self._seed)
        self.address: bytes = address_of(self.public_key)

    @classmethod
    def generate(cls) -> "PrivateKey":
        return cls(os.urandom(32))

    @classmethod
    def from_label(cls, label: str) -> "PrivateKey":
        """A deterministic key for tests, demos and benchmarks. Never for a real network."""
        return cls(hashlib.sha256(b"pownode/test-key/" + label.encode()).digest())

    @property
    def seed(self) -> bytes:
        return self._seed

    def sign(self, message: bytes) -> bytes:
        """RFC 8032 Ed25519: deterministic, so any conforming library signs the same bytes."""
        return nacl.bindings.crypto_sign(message, self._secret)[:64]

    def __repr__(self) -> str:
        return f"PrivateKey(address={self.address.hex()})"

    def __reduce__(self) -> tuple:
        raise TypeError("a private key is not pickled: its seed would travel with it (pass a label or a key file)")


def _verify_libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False


def _verify_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    # Imported here: only the benchmarks compare it, and it is the largest of the three to load.
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


# The small-order points' encodings with the sign bit cleared (libsodium's list): 0, 1, the two
# points of order 8, p-1 (order 2), and p and p+1 (0 and 1 again, non-canonical).
SMALL_ORDER_KEYS = frozenset(bytes.fromhex(h) for h in (
    "00" * 32,
    "01" + "00" * 31,
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
))


# Each of them with the sign bit clear and set: a key is of small order if it is one of these.
_SMALL_ORDER_ENCODINGS = SMALL_ORDER_KEYS | frozenset(k[:31] + bytes([k[31] | 0x80]) for k in SMALL_ORDER_KEYS)


def is_small_order(public_key: bytes) -> bool:
    return public_key in _SMALL_ORDER_ENCODINGS


def _verify_zebra(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if type(public_key) is not bytes or is_small_order(public_key):
        return False
    try:
        return ed25519_zebra.ed_verify(signature, message, public_key)
    except (TypeError, ValueError):
        return False


VERIFIERS: dict[str, Callable[[bytes, bytes, bytes], bool]] = {
    "zebra": _verify_zebra,
    "libsodium": _verify_libsodium,
    "cryptography": _verify_cryptography,
}

verify: Callable[[bytes, bytes, bytes], bool] = _verify_zebra
"""verify(public_key, message, signature) -> bool. Never raises on bad input."""


# The order of the group the scalars live in: a signature's S must be below it (ZIP-215).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
BATCH_VERIFIER = "ed25519-donna" if _ed25519_batch is not None else None


def _batchable(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether the batch equation alone would decide this signature as `verify` does: the
    rules it does not carry hold (a key not of small order, S canonical), and R is not of small
    order (no honest signer's is; such a signature is left to `verify`)."""
    return (type(public_key) is bytes and type(message) is bytes and type(signature) is bytes
            and len(public_key) == 32 and len(signature) == 64
            and public_key not in _SMALL_ORDER_ENCODINGS and signature[:32] not in _SMALL_ORDER_ENCODINGS
            and int.from_bytes(signature[32:], "little") < GROUP_ORDER)


def proven_by_batch(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """Per (public key, message, signature), whether a batch check proved it valid. The
    batchable ones go in groups of equal size (at most the module's 64, at least 4); a group
    whose equation does not hold proves nothing, so its members stay False for `verify` to
    decide alone (an invalid signature costs its group a batch check on top: some 1.5x the CPU
    of checking all alone in groups of 32-64, 1.75x in the smallest, of 4)."""
    proven = [False] * len(items)
    if _ed25519_batch is None:
        return proven
    chosen = [i for i, item in enumerate(items) if _batchable(*item)]
    if len(chosen) < _ed25519_batch.BATCH_MIN:
        return proven
    groups = -(-len(chosen) // _ed25519_batch.BATCH_MAX)
    for g in range(groups):
        group = chosen[g * len(chosen) // groups : (g + 1) * len(chosen) // groups]
        if _ed25519_batch.holds([items[i][0] for i in group], [items[i][1] for i in group],
                                [items[i][2] for i in group]):
            for i in group:
                proven[i] = True
    return proven


def verify_batch(items: list[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """`verify` over (public key, message, signature) triples, the valid ones proven in
    batches where they can be. A top-level function, so a process pool can run it."""
    proven = proven_by_batch(items)
    return [ok or verify(k, m, s) for ok, (k, m, s) in zip(proven, items, strict=True)]


class VerifiedCache:
    """A bounded LRU of digests whose signatures already verified.

    Keyed by a digest that commits to key, message and signature (a transaction hash does), so
    a hit proves the exact same bytes were checked before: the mempool verifies a transaction
    once at admission and block validation does not verify it again.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __contains__(self, digest: bytes) -> bool:
        return digest in self._seen

    def add(self, digest: bytes) -> None:
        self._seen[digest] = None
        self._seen.move_to_end(digest)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def discard(self, digest: bytes) -> None:
        self._seen.pop(digest, None)

    def __len__(self) -> int:
        return len(self._seen)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """`verify`, remembering successes by a digest of all three inputs."""
        digest = hashlib.sha256(public_key + signature + message).digest()
        if digest in self._seen:
            return True
        if not verify(public_key, message, signature):
            return False
        self.add(digest)
        return True
