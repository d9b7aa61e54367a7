"""The P2P transport over real loopback sockets: membership, authentication, frame integrity."""

from __future__ import annotations

import asyncio
import struct

import pytest

from ledger.keys import PrivateKey
from pownode.transport import FrameError, HandshakeError, SecureChannel, initiate, respond

CHAIN = "transport-test"
ALICE, BOB, MALLORY = (PrivateKey.from_label(f"transport/{n}") for n in ("alice", "bob", "mallory"))
MEMBERS = {ALICE.public_key, BOB.public_key}


class Responder:
    """A listening member recording each accepted channel or refusal."""

    def __init__(self, key: PrivateKey = BOB, chain: str = CHAIN) -> None:
        self.key = key
        self.chain = chain
        self.channels: asyncio.Queue = asyncio.Queue()
        self.refusals: list[Exception] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            channel = await respond(reader, writer, self.chain, self.key, MEMBERS.__contains__)
        except (HandshakeError, asyncio.IncompleteReadError) as exc:
            self.refusals.append(exc)
            writer.close()
            return
        await self.channels.put(channel)

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


async def _connect(port: int, key: PrivateKey = ALICE, chain: str = CHAIN, expect: bytes | None = BOB.public_key):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return await initiate(reader, writer, chain, key, MEMBERS.__contains__, expect)


async def test_members_talk_both_ways() -> None:
    bob = Responder()
    port = await bob.start()
    alice_side = await _connect(port)
    bob_side = await asyncio.wait_for(bob.channels.get(), 5)
    assert alice_side.peer == BOB.public_key and bob_side.peer == ALICE.public_key
    for i in range(3):
        await alice_side.send(b"ping %d" % i)
        assert await bob_side.recv() == b"ping %d" % i
        await bob_side.send(b"pong %d" % i)
        assert await alice_side.recv() == b"pong %d" % i
    alice_side.close()
    await bob.stop()


async def test_unknown_key_is_refused_before_anything_else() -> None:
    bob = Responder()
    port = await bob.start()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await _connect(port, key=MALLORY)
    await asyncio.sleep(0.05)
    assert any("not a member" in str(e) for e in bob.refusals)
    assert bob.channels.empty()
    await bob.stop()


async def test_initiator_refuses_an_unexpected_or_foreign_responder() -> None:
    bob = Responder()
    port = await bob.start()
    with pytest.raises(HandshakeError, match="expected member"):
        await _connect(port, expect=ALICE.public_key)
    await bob.stop()
    other_chain = Responder(chain="another-chain")
    port = await other_chain.start()
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
        await _connect(port)
    await asyncio.sleep(0.05)
    assert any("another chain" in str(e) for e in other_chain.refusals)
    await other_chain.stop()


async def _pair() -> tuple[SecureChannel, SecureChannel, Responder]:
    bob = Responder()
    port = await bob.start()
    alice_side = await _connect(port)
    return alice_side, await asyncio.wait_for(bob.channels.get(), 5), bob


async def test_tampered_frame_is_rejected() -> None:
    alice, bob_side, bob = await _pair()
    captured: list[bytes] = []
    original = alice.writer.write
    alice.writer.write = lambda data: captured.append(data) or original(bytes([data[0]]) + data[1:-1] + bytes([data[-1] ^ 1]))
    await alice.send(b"pay 100")
    with pytest.raises(FrameError, match="authentication"):
        await bob_side.recv()
    await bob.stop()


async def test_replayed_frame_is_rejected() -> None:
    alice, bob_side, bob = await _pair()
    frames: list[bytes] = []
    original = alice.writer.write
    alice.writer.write = lambda data: frames.append(data) or original(data)
    await alice.send(b"transfer once")
    assert await bob_side.recv() == b"transfer once"
    original(frames[0])  # the same bytes again
    await alice.writer.drain()
    with pytest.raises(FrameError):
        await bob_side.recv()
    await bob.stop()


async def test_oversize_frame_is_refused_before_reading_it() -> None:
    alice, bob_side, bob = await _pair()
    alice.writer.write(struct.pack(">I", 2**31))
    await alice.writer.drain()
    with pytest.raises(FrameError, match="outside"):
        await asyncio.wait_for(bob_side.recv(), 5)
    await bob.stop()


async def test_garbage_hello_is_refused_and_the_listener_keeps_serving() -> None:
    bob = Responder()
    port = await bob.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\n" + b"x" * 200)
    await writer.drain()
    await asyncio.sleep(0.05)
    assert any("bad magic" in str(e) for e in bob.refusals)
    writer.close()
    alice_side = await _connect(port)  # a member still gets in
    assert alice_side.peer == BOB.public_key
    await bob.stop()
