"""The node's peer set: one authenticated link per validator pair, one from each admitted full
node to each validator, and nothing else on the wire.

Between validators (members) the node with the smaller key (compared as bytes) dials, with
exponential backoff and jitter; the other accepts, within bounds on handshakes in progress per
source address and in all (when all are taken, the oldest gives way to the newcomer). A validator added to a running network (`pownode add-validator`) is
in no other node's config, so nobody could dial it: it dials every configured validator
(`dial_all_peers`), and a validator accepts a member with a larger key whose address it does not
have. A pair that both have each other's address keeps the smaller-dials rule, and a dialler
waits while a link to its peer is up, so each pair holds one link. A full node dials every
validator it is configured with and accepts nobody; a validator accepts a full node only while
the operator's admission of its key (`AdmitNode`) stands on its chain. Every frame is a channel
byte and a payload (`CONSENSUS`, `TXS`, `BLOCKS` or `KEEPALIVE`); consensus and transaction
gossip go to members only (`members()`), blocks to full nodes (`followers()`). Each link has a
send queue bounded in frames and bytes: a frame over the bound is dropped (consensus
retransmits, gossip is resent), and a peer whose queue stays full for SLOW_PEER_S is not reading
and is dropped, so a slow peer costs no memory. An idle link sends a keepalive every interval; a
link that completes no frame for SILENT_KEEPALIVES intervals is dropped and redialled. A peer
charged with more than PEER_FORGED_MAX forged transactions in PEER_CHARGE_S (`charge`) is
dropped and refused for PEER_BAN_S.

What arrives goes to the owner's `on_frame(peer, channel, payload)`; a new link is announced
to `on_connect(peer)`. The set is read like a mapping of the keys it is connected to, to their
links: `key in peers`, `len(peers)`, `for key in peers`, `peers.get(key)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from ledger.keys import PrivateKey
from pownode.config import NodeConfig
from pownode.ratelimit import SourceCounter, ThrottledLog
from pownode.transport import FRAME_OVERHEAD, FrameError, HandshakeError, SecureChannel, initiate, respond

log = logging.getLogger("pownode.peers")

CONSENSUS, TXS, KEEPALIVE, BLOCKS = 1, 2, 3, 4
# A link that completed no frame for this many keepalive intervals is dead (generous: a large
# frame on a slow link completes nothing while it arrives).
SILENT_KEEPALIVES = 8
PEER_FORGED_MAX = 1000
PEER_CHARGE_S = 60.0
PEER_BAN_S = 60.0
SLOW_PEER_S = 10.0  # a peer whose send queue stays full this long is dropped
HANDSHAKES_PER_SOURCE = 4  # peer handshakes in progress from one address
HANDSHAKES = 64  # peer handshakes in progress in all


@dataclass
class PeerLink:
    channel: SecureChannel
    queue: asyncio.Queue
    tasks: list[asyncio.Task] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    last_heard: float = field(default_factory=time.monotonic)  # a frame last arrived
    last_sent: float = field(default_factory=time.monotonic)  # a frame last left
    queued_bytes: int = 0  # frames waiting to be sent
    full_since: float | None = None  # when the queue last hit its byte bound, until it drains


@dataclass
class LinkStats:
    dropped_messages: int = 0
    refused_peers: int = 0
    bytes_sent: int = 0  # on the wire to peers: frames with their length prefix and tag


class PeerSet:
    def __init__(self, key: PrivateKey, chain_id: str, config: NodeConfig, is_member: Callable[[bytes], bool],
                 on_frame: Callable[[bytes, int, bytes], None], on_connect: Callable[[bytes], None],
                 is_follower: Callable[[bytes], bool] = lambda key: False) -> None:
        """`is_member(key)`: a validator this node links with; `is_follower(key)`: a full node
        that may dial this one. A node whose config's role is "full" dials and accepts nobody else."""
        self.key = key
        self.chain_id = chain_id
        self.config = config
        self.is_member = is_member
        self.is_follower = is_follower
        self.following = config.role == "full"
        self.on_frame = on_frame
        self.on_connect = on_connect
        self.stats = LinkStats()
        self.links: dict[bytes, PeerLink] = {}
        # Unauthenticated handshakes a source, and all sources together, may hold open.
        self.handshakes = SourceCounter(HANDSHAKES_PER_SOURCE, HANDSHAKES)
        self._handshaking: dict[asyncio.StreamWriter, str] = {}  # in progress, oldest first -> source
        self._refusals = ThrottledLog(log)
        self._charges: dict[bytes, tuple[int, float]] = {}  # peer -> (forged relayed, since)
        self._bans: dict[bytes, float] = {}  # peer -> monotonic time it may connect again
        self._tasks: list[asyncio.Task] = []
        self._addressed = frozenset(bytes.fromhex(peer.public_key) for peer in config.peers)  # we can dial these
        self._running = False
        self.server: asyncio.Server | None = None

    # --- the set, read as the keys it is connected to --------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self.links

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self.links))

    def __len__(self) -> int:
        return len(self.links)

    def __getitem__(self, key: bytes) -> PeerLink:
        return self.links[key]

    def get(self, key: bytes) -> PeerLink | None:
        return self.links.get(key)

    def room(self, peer: bytes) -> int:
        """The bytes a frame to `peer` may have and still be queued (0: not connected, or full)."""
        link = self.links.get(peer)
        if link is None or link.queue.full():
            return 0
        return max(0, self.config.send_queue_bytes - link.queued_bytes)

    def members(self) -> list[bytes]:
        """The connected validators: where consensus messages and transaction gossip go."""
        return [key for key in self.links if self.is_member(key)]

    def followers(self) -> list[bytes]:
        """The connected full nodes: where committed blocks go."""
        return [key for key in self.links if not self.is_member(key)]

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        self._tasks.append(asyncio.create_task(self._keepalive_loop()))
        if not self.following:  # a full node is dialled by nobody
            self.server = await asyncio.start_server(self._accept, self.config.listen_host, self.config.listen_port)
        for peer in self.config.peers:
            key = bytes.fromhex(peer.public_key)
            # One connection per pair: the smaller key dials, or a newcomer the other cannot dial.
            if self.following or key > self.key.public_key or self.config.dial_all_peers:
                self._tasks.append(asyncio.create_task(self._dial_loop(key, peer.host, peer.port)))

    async def stop(self) -> None:
        self._running = False
        if self.server is not None:
            self.server.close()
        links = list(self.links.values())
        for link in links:
            self.drop(link)
        tasks = self._tasks + [t for link in links for t in link.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in links:
            with contextlib.suppress(ConnectionError, OSError):
                await link.channel.writer.wait_closed()
        if self.server is not None:
            await self.server.wait_closed()

    # --- admission of peers -----------------------------------------------------------------

    def _dials_us(self, key: bytes) -> bool:
        """A member with a smaller key dials us, and so does an admitted full node; we dial the
        other members, except those whose address we lack (a validator added since our config
        was written), which dial us. Checked before we sign anything, so a stranger presenting
        the key of a member we dial gets no signature, and one presenting a member's key that
        may dial us still has to sign the transcript with it; a banned peer is refused too."""
        if self.banned(key):
            return False
        if self.is_member(key):
            return key < self.key.public_key or key not in self._addressed
        return self.is_follower(key)

    def banned(self, key: bytes) -> bool:
        until = self._bans.get(key)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._bans[key]
            return False
        return True

    def prune(self) -> None:
        """Drop the links of keys that are no longer a validator or an admitted full node (the
        chain just changed the set or withdrew an admission)."""
        for key, link in list(self.links.items()):
            if not (self.is_member(key) or self.is_follower(key)):
                log.info("dropping the link to %s: no longer a validator or an admitted full node", key.hex()[:12])
                self.drop(link)

    def ban(self, peer: bytes, why: str) -> None:
        """Drop a peer that sent what no honest peer could (a forged block, say) and refuse it
        for PEER_BAN_S."""
        log.warning("peer %s %s: dropping it for %.0f s", peer.hex()[:12], why, PEER_BAN_S)
        self._charges.pop(peer, None)
        self._bans[peer] = time.monotonic() + PEER_BAN_S
        link = self.links.get(peer)
        if link is not None:
            self.drop(link)

    def charge(self, peer: bytes, forged: int) -> None:
        """Count what a peer relayed that no honest peer could have; past the bound in the
        window it is dropped and banned for a while."""
        if forged <= 0:
            return
        now = time.monotonic()
        count, since = self._charges.get(peer, (0, now))
        if now - since > PEER_CHARGE_S:
            count, since = 0, now
        count += forged
        self._charges[peer] = (count, since)
        if count > PEER_FORGED_MAX:
            self.ban(peer, f"relayed {count} forged or malformed transactions in {now - since:.0f} s")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
        if not self._begin_handshake(source, writer):
            self.stats.refused_peers += 1
            self._refusals.warning("refused a connection from %s: too many handshakes in progress", source)
            writer.transport.abort()
            return
        try:
            channel = await respond(reader, writer, self.chain_id, self.key, self._dials_us)
        except (HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError) as exc:
            self.stats.refused_peers += 1
            self._refusals.warning("refused a connection from %s: %s", source, exc)
            writer.close()
            return
        finally:
            self._end_handshake(writer)
        self._attach(channel)

    def _begin_handshake(self, source: str, writer: asyncio.StreamWriter) -> bool:
        """Take a handshake slot for a new connection. A source at its own bound is refused;
        when every slot is taken, the oldest handshake in progress is cut off to make room. An
        honest handshake completes in a round trip or two, so holding every slot takes opening
        connections faster than that, not leaving a few dozen idle for HANDSHAKE_TIMEOUT_S
        from as many addresses (which locked out every member that had to reconnect)."""
        if self.handshakes.held.get(source, 0) >= self.handshakes.per_source:
            self.handshakes.refused += 1
            return False
        if self.handshakes.count >= self.handshakes.total and self._handshaking:
            oldest = next(iter(self._handshaking))
            self._end_handshake(oldest)
            oldest.transport.abort()  # its `respond` fails at once, and `_accept` finds it ended
        if not self.handshakes.admit(source):
            return False
        self._handshaking[writer] = source
        return True

    def _end_handshake(self, writer: asyncio.StreamWriter) -> None:
        source = self._handshaking.pop(writer, None)
        if source is not None:
            self.handshakes.release(source)

    async def _dial_loop(self, key: bytes, host: str, port: int) -> None:
        """Keep a link to `key` up: dial with backoff while there is none, and wait while one
        (ours, or the peer's when it has our address too) is up."""
        backoff = 0.1
        while self._running:
            if self.banned(key):
                await asyncio.sleep(self._bans[key] - time.monotonic())
                continue
            link = self.links.get(key)
            if link is not None:
                await link.closed.wait()
                continue
            try:
                reader, writer = await asyncio.open_connection(host, port)
                channel = await initiate(reader, writer, self.chain_id, self.key, self.is_member, key)
            except (OSError, HandshakeError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                log.debug("dial %s:%d failed: %s", host, port, exc)
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            await self._attach(channel).closed.wait()

    # --- links ------------------------------------------------------------------------------

    def _attach(self, channel: SecureChannel) -> PeerLink:
        old = self.links.get(channel.peer)
        if old is not None:
            self.drop(old)
        link = PeerLink(channel, asyncio.Queue(self.config.send_queue))
        link.tasks = [asyncio.create_task(self._read(link)), asyncio.create_task(self._write(link))]
        self.links[channel.peer] = link
        log.info("connected to %s", channel.peer.hex()[:12])
        self.on_connect(channel.peer)
        return link

    def drop(self, link: PeerLink) -> None:
        if self.links.get(link.channel.peer) is link:
            del self.links[link.channel.peer]
        for task in link.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        link.channel.close()
        link.closed.set()

    async def _keepalive_loop(self) -> None:
        """Every keepalive interval: a link with nothing sent for that long gets a keepalive
        frame, and one that completed no frame for SILENT_KEEPALIVES intervals is dropped (its
        dialler connects again at once). One timer for all links, not one per frame."""
        interval = self.config.keepalive_ms / 1000
        silence = SILENT_KEEPALIVES * interval
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for link in list(self.links.values()):
                if now - link.last_heard > silence:
                    log.warning("no frame from %s for %.1f s: dropping the link to redial it",
                                link.channel.peer.hex()[:12], now - link.last_heard)
                    self.drop(link)
                elif now - link.last_sent >= interval and link.queue.empty():
                    link.queued_bytes += 1
                    link.queue.put_nowait(bytes([KEEPALIVE]))

    async def _read(self, link: PeerLink) -> None:
        try:
            while True:
                frame = await link.channel.recv()
                link.last_heard = time.monotonic()
                if frame and frame[0] != KEEPALIVE:
                    self.on_frame(link.channel.peer, frame[0], frame[1:])
        except (FrameError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.warning("closing connection to %s: %s", link.channel.peer.hex()[:12], exc or type(exc).__name__)
        except Exception:  # a bug, not the peer's fault: say so loudly, then drop the link
            log.exception("error handling a frame from %s", link.channel.peer.hex()[:12])
        finally:
            self.drop(link)

    async def _write(self, link: PeerLink) -> None:
        try:
            while True:
                frame = await link.queue.get()
                link.queued_bytes -= len(frame)
                await link.channel.send(frame)
                link.last_sent = time.monotonic()
                self.stats.bytes_sent += len(frame) + FRAME_OVERHEAD
        except (FrameError, ConnectionError) as exc:
            log.warning("send to %s failed: %s", link.channel.peer.hex()[:12], exc)
            self.drop(link)

    def send(self, peer: bytes, channel: int, payload: bytes) -> None:
        """Queue a frame for a peer, within the link's bounds in frames and bytes. A frame over
        them is dropped (consensus retransmits, gossip is resent); a peer whose queue stays full
        for SLOW_PEER_S is not reading, and the link is dropped so its memory is freed."""
        link = self.links.get(peer)
        if link is None:
            return
        frame = bytes([channel]) + payload
        if link.queued_bytes + len(frame) > self.config.send_queue_bytes or link.queue.full():
            link.dropped += 1
            self.stats.dropped_messages += 1
            now = time.monotonic()
            if link.full_since is None:
                link.full_since = now
            elif now - link.full_since > SLOW_PEER_S:
                log.warning("%s has not read for %.0f s with %d bytes queued: dropping the link",
                            peer.hex()[:12], now - link.full_since, link.queued_bytes)
                self.drop(link)
            return
        link.full_since = None
        link.queued_bytes += len(frame)
        link.queue.put_nowait(frame)
