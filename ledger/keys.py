"""Ed25519 keys, addresses, domain-separated signing, and the one verification interface.

Key handling (generation, seeds, signing) uses `cryptography`. Verification is the hottest path
of the node (every node checks every transaction), and libsodium through PyNaCl verifies in about
half the time of the `cryptography` backend on our hardware (see `benchmarks/ledger.py`), so
`verify` uses libsodium. Both backends are kept behind `VERIFIERS` so the benchmark can compare
them; every node of a network must use the same one, since acceptance rules are consensus.

Every signature covers a domain tag and the chain id (`signing_message`), so a transaction,
vote or meter reading of one network never verifies on another, nor as another kind of message.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from typing import Callable

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.encoding import pack

ADDRESS_SIZE = 20
_ADDRESS_TAG = b"pownode/address/v1"


def address_of(public_key: bytes) -> bytes:
    """The 20-byte account address of an Ed25519 public key."""
    return hashlib.sha256(_ADDRESS_TAG + public_key).digest()[:ADDRESS_SIZE]


def signing_message(domain: str, chain_id: str, payload: list) -> bytes:
    """Canonical sign-bytes: `[domain, chain_id, payload]`, so signatures never cross domains."""
    return pack([domain, chain_id, payload])


class PrivateKey:
    """An Ed25519 signing key. The 32-byte seed is the only secret; keep it in a key file."""

    __slots__ = ("_key", "public_key", "address")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key: bytes = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
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
        return self._key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"PrivateKey(address={self.address.hex()})"


def _verify_libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
        return True
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False


def _verify_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (_CryptoInvalidSignature, ValueError):
        return False


VERIFIERS: dict[str, Callable[[bytes, bytes, bytes], bool]] = {
    "libsodium": _verify_libsodium,
    "cryptography": _verify_cryptography,
}

verify: Callable[[bytes, bytes, bytes], bool] = _verify_libsodium
"""verify(public_key, message, signature) -> bool. Never raises on bad input."""


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
