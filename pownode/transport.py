"""Authenticated, encrypted connections between validators (asyncio TCP).

Handshake, initiator I and responder R, each with a long-term Ed25519 node key:

    I -> R  hello:  magic, chain id, I's node key, I's ephemeral X25519 key
    R       refuses at once unless I's node key is a member: nothing else of I is read
    R -> I  hello:  magic, chain id, R's node key, R's ephemeral key, R's signature over the transcript
    I       refuses unless R is a member (and the peer it dialled) and the signature verifies
    I -> R  I's signature over the transcript
    R       verifies it

The transcript is both hellos; each side signs it with its node key under a domain tag and the
chain id, so the ephemeral keys are bound to the identities (no key-compromise impersonation of
an unsigned Diffie-Hellman). Session keys come from HKDF-SHA256 over the X25519 shared secret,
salted with the transcript hash, one key per direction. Every frame after that is a 4-byte
length and a ChaCha20-Poly1305 ciphertext whose nonce is a per-direction counter and whose
associated data is the length: a replayed, reordered, truncated or altered frame fails
authentication and closes the connection. The length is checked against the maximum before any
buffer is allocated.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import struct
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.keys import PrivateKey, signing_message, verify

log = logging.getLogger(__name__)

MAGIC = b"pownode/p2p/1"
HANDSHAKE_DOMAIN = "pownode/handshake/v1"
MAX_FRAME = 64 * 1024 * 1024
HANDSHAKE_TIMEOUT_S = 5.0
_LEN = struct.Struct(">I")
FRAME_OVERHEAD = _LEN.size + 16  # length prefix and Poly1305 tag around each message
_HELLO = len(MAGIC) + 32 + 32 + 32  # magic, chain-id hash, node key, ephemeral key


class HandshakeError(Exception):
    """The peer is not a member, or did not prove it holds its key: the connection is refused."""


class FrameError(Exception):
    """A frame that is too large, altered, replayed or out of order: the connection is closed."""


def _chain_tag(chain_id: str) -> bytes:
    return hashlib.sha256(chain_id.encode()).digest()


def _x25519_public(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class SecureChannel:
    """One authenticated connection: `send` and `recv` whole messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: bytes,
                 send_key: bytes, recv_key: bytes, max_frame: int = MAX_FRAME) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = peer
        self._send = ChaCha20Poly1305(send_key)
        self._recv = ChaCha20Poly1305(recv_key)
        self._send_counter = 0
        self._recv_counter = 0
        self.max_frame = max_frame

    @staticmethod
    def _nonce(counter: int) -> bytes:
        return b"\0\0\0\0" + counter.to_bytes(8, "big")

    async def send(self, data: bytes) -> None:
        sealed_len = len(data) + 16
        if sealed_len > self.max_frame:
            raise FrameError(f"message of {len(data)} bytes exceeds the frame limit")
        header = _LEN.pack(sealed_len)
        sealed = self._send.encrypt(self._nonce(self._send_counter), data, header)
        self._send_counter += 1
        self.writer.write(header + sealed)
        await self.writer.drain()

    async def recv(self) -> bytes:
        header = await self.reader.readexactly(_LEN.size)
        (size,) = _LEN.unpack(header)
        if not 16 <= size <= self.max_frame:
            raise FrameError(f"frame of {size} bytes is outside 16..{self.max_frame}")
        sealed = await self.reader.readexactly(size)
        try:
            data = self._recv.decrypt(self._nonce(self._recv_counter), sealed, header)
        except InvalidTag:
            raise FrameError("frame failed authentication (altered, replayed or reordered)") from None
        self._recv_counter += 1
        return data

    def close(self) -> None:
        self.writer.close()


def _shared_secret(ephemeral: X25519PrivateKey, peer_ephemeral: bytes) -> bytes:
    try:
        return ephemeral.exchange(X25519PublicKey.from_public_bytes(peer_ephemeral))
    except ValueError:  # a low-order point gives an all-zero secret: refuse it
        raise HandshakeError("peer sent an invalid ephemeral key") from None


def _session_keys(shared: bytes, transcript: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(hashes.SHA256(), 64, salt=hashlib.sha256(transcript).digest(),
               info=b"pownode/session/v1").derive(shared)
    return okm[:32], okm[32:]  # initiator->responder, responder->initiator


def _hello(chain_id: str, node_key: PrivateKey, ephemeral: X25519PrivateKey) -> bytes:
    return MAGIC + _chain_tag(chain_id) + node_key.public_key + _x25519_public(ephemeral)


def _parse_hello(raw: bytes, chain_id: str) -> tuple[bytes, bytes]:
    if raw[: len(MAGIC)] != MAGIC:
        raise HandshakeError("not a pownode peer (bad magic)")
    if raw[len(MAGIC) : len(MAGIC) + 32] != _chain_tag(chain_id):
        raise HandshakeError("peer is on another chain")
    node = raw[len(MAGIC) + 32 : len(MAGIC) + 64]
    return node, raw[len(MAGIC) + 64 :]


def _transcript_signature_ok(node: bytes, chain_id: str, role: str, transcript: bytes, signature: bytes) -> bool:
    return verify(node, signing_message(HANDSHAKE_DOMAIN, chain_id, [role, transcript]), signature)


async def initiate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chain_id: str, key: PrivateKey,
                   is_member: Callable[[bytes], bool], expect: bytes | None = None) -> SecureChannel:
    """Run the initiator's side on an open connection; raise HandshakeError to refuse."""
    ephemeral = X25519PrivateKey.generate()
    mine = _hello(chain_id, key, ephemeral)
    writer.write(mine)
    await writer.drain()
    theirs = await asyncio.wait_for(reader.readexactly(_HELLO + 64), HANDSHAKE_TIMEOUT_S)
    node, eph = _parse_hello(theirs[:_HELLO], chain_id)
    if not is_member(node) or (expect is not None and node != expect):
        raise HandshakeError("responder is not the expected member")
    transcript = mine + theirs[:_HELLO]
    if not _transcript_signature_ok(node, chain_id, "responder", transcript, theirs[_HELLO:]):
        raise HandshakeError("responder's transcript signature does not verify")
    writer.write(key.sign(signing_message(HANDSHAKE_DOMAIN, chain_id, ["initiator", transcript])))
    await writer.drain()
    send, recv = _session_keys(_shared_secret(ephemeral, eph), transcript)
    return SecureChannel(reader, writer, node, send, recv)


async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chain_id: str, key: PrivateKey,
                  is_member: Callable[[bytes], bool]) -> SecureChannel:
    """Run the responder's side; the initiator's membership is checked before anything else."""
    theirs = await asyncio.wait_for(reader.readexactly(_HELLO), HANDSHAKE_TIMEOUT_S)
    node, eph = _parse_hello(theirs, chain_id)
    if not is_member(node):
        raise HandshakeError(f"node key {node.hex()[:16]}.. is not a member")
    ephemeral = X25519PrivateKey.generate()
    mine = _hello(chain_id, key, ephemeral)
    transcript = theirs + mine
    writer.write(mine + key.sign(signing_message(HANDSHAKE_DOMAIN, chain_id, ["responder", transcript])))
    await writer.drain()
    signature = await asyncio.wait_for(reader.readexactly(64), HANDSHAKE_TIMEOUT_S)
    if not _transcript_signature_ok(node, chain_id, "initiator", transcript, signature):
        raise HandshakeError("initiator's transcript signature does not verify")
    recv, send = _session_keys(_shared_secret(ephemeral, eph), transcript)
    return SecureChannel(reader, writer, node, send, recv)
