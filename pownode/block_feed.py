"""Committed blocks for full nodes, on the peer set's `BLOCKS` channel.

A validator (`BlockServer`) pushes each block it commits, with its commit certificate, to the
full nodes connected to it, and answers a lagging full node's request for the blocks from a
height on with the stored bytes, bounded per request and paced per peer. A full node
(`BlockFollower`) commits a block only after checking its certificate against the validator set
its own chain holds at that height and executing it to the header's state root, so a validator
it links with can withhold blocks, but cannot make it accept a forged one: a peer that sends a
block that fails those checks is banned for a while and the block is asked of another.

A frame is one kind byte then its body: `REQUEST` + the first height wanted (8 bytes, big
endian), or `BLOCK` + an encoded block with its proof. A block frame is decoded one transaction
at a time and refused as soon as they hold more decoded than the chain's `max_block_memory`
(`ledger.bounded_decode`): no valid block does, and a frame of nested-list calls would otherwise
cost 70 times its bytes before its certificate is checked.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Callable

from ledger.application import LedgerApp
from ledger.blocks import Block, Header, block_header, verify_quorum
from ledger.bounded_decode import decode_bounded
from ledger.errors import DecodeError, InvalidBlock, LedgerError
from pownode.peer_set import BLOCKS, PeerSet
from pownode.ratelimit import ThrottledLog

log = logging.getLogger("pownode.blocks")

REQUEST, BLOCK = 1, 2
SERVE_BLOCKS = 64  # blocks per answered request
SERVE_BYTES = 8 * 1024 * 1024  # and their bytes: what the first block over this would pass is not sent
SERVE_EVERY_S = 0.2  # a full node's requests answered at most this often
SERVE_BYTES_PER_S = 32 * 1024 * 1024  # all full nodes' answers together, read from the store
AHEAD = 64  # certified blocks a full node holds above its next height while it fetches the gap
AHEAD_MEMORY = 256 * 1024 * 1024  # and what they hold decoded (`held_memory`)
STALL_S = 2.0  # no block for this long: ask a validator for what follows the head
BLOCK_OVERHEAD = 256 * 1024  # a header and its certificate, beyond the block's transaction bytes


def held_memory(block: Block) -> int:
    """About what a decoded block holds: its header and its transactions' `retained_bytes`. A
    valid block holds at most the chain's max_block_memory, but a member's valid block of
    nested-list calls may hold 70 times its bytes: blocks kept are counted in this measure."""
    return len(block.header.encoded) + sum(tx.retained_bytes for tx in block.txs)


def request_frame(height: int) -> bytes:
    return bytes([REQUEST]) + height.to_bytes(8, "big")


class BlockServer:
    """A validator's side: push commits to full nodes, answer their requests from the store."""

    def __init__(self, app: LedgerApp, peers: PeerSet) -> None:
        self.app = app
        self.peers = peers
        self._answered: dict[bytes, float] = {}  # full node -> when its last request was answered
        self._second = (0.0, 0)  # (start, bytes read for answers since then): the shared budget
        self._refusals = ThrottledLog(log)

    def on_commit(self, block: Block) -> None:
        followers = self.peers.followers()
        if followers:
            frame = bytes([BLOCK]) + block.encoded
            for peer in followers:
                self.peers.send(peer, BLOCKS, frame)

    def on_frame(self, peer: bytes, payload: bytes) -> None:
        if len(payload) != 9 or payload[0] != REQUEST:
            self._refusals.warning("ignored a malformed block request from %s", peer.hex()[:12])
            return
        now = time.monotonic()
        if now - self._answered.get(peer, -SERVE_EVERY_S) < SERVE_EVERY_S:
            return  # asked again too soon: the blocks of the last answer are on their way
        self._answered[peer] = now
        if len(self._answered) > 4 * max(1, len(self.peers)):  # forget nodes long gone
            self._answered = {k: t for k, t in self._answered.items() if k in self.peers}
        if now - self._second[0] >= 1.0:
            self._second = (now, 0)
        height = int.from_bytes(payload[1:], "big")
        store, sent = self.app.chain.store, 0
        for h in range(max(1, height), min(self.app.chain.height, height + SERVE_BLOCKS - 1) + 1):
            # Read nothing the link could not take now, or the budget of this second not cover.
            if self.peers.room(peer) < BLOCK_OVERHEAD or self._second[1] >= SERVE_BYTES_PER_S:
                break
            raw = store.block_bytes(h)
            if raw is None or sent + len(raw) > SERVE_BYTES and sent or len(raw) + 1 > self.peers.room(peer):
                break
            self.peers.send(peer, BLOCKS, bytes([BLOCK]) + raw)
            sent += len(raw)
            self._second = (self._second[0], self._second[1] + len(raw))


class BlockFollower:
    """A full node's side: commit certified blocks in order, fetch what is missing."""

    def __init__(self, app: LedgerApp, peers: PeerSet, on_committed: Callable[[Block], None]) -> None:
        self.app = app
        self.peers = peers
        self.on_committed = on_committed
        self.max_frame = app.chain.genesis.max_block_bytes + BLOCK_OVERHEAD
        self.max_block_memory = app.chain.genesis.max_block_memory  # a block holds at most this decoded
        self.refused_blocks = 0
        self._ahead: dict[int, tuple[bytes, Block]] = {}  # height -> (sender, block), certificates checked
        self._ahead_memory = 0
        self._last_progress = time.monotonic()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._stall_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def on_connect(self, peer: bytes) -> None:
        self.peers.send(peer, BLOCKS, request_frame(self.app.chain.height + 1))

    def on_frame(self, peer: bytes, payload: bytes) -> None:
        """A block frame: its header decides, before its transactions are decoded, whether the
        block is wanted (a height not yet committed, held or too far ahead) and certified under
        the set this node holds; only then is the block decoded. A validator could otherwise
        make this node decode a block's worth of nested-list calls (some 0.3 s for 0.5 MB) per
        frame of an old height or a made-up certificate, without limit."""
        if not payload or payload[0] != BLOCK or len(payload) > self.max_frame:
            self.peers.ban(peer, "sent a block frame no validator sends")
            return
        try:
            header = block_header(payload[1:])
        except DecodeError as exc:
            self.peers.ban(peer, f"sent an undecodable block ({exc})")
            return
        nxt = self.app.chain.height + 1
        if header.height < nxt:
            return  # already committed (a push and an answer crossed)
        if header.height > nxt:
            if self._may_hold(header):
                self._hold(peer, payload[1:])
            if nxt not in self._ahead:
                self.peers.send(peer, BLOCKS, request_frame(nxt))
            return
        try:
            verify_quorum(header, self.app.chain.validators)
        except InvalidBlock as exc:
            self._refuse(peer, header.height, exc)
            return
        block = self._decode(peer, payload[1:])
        if block is not None and self._commit(peer, block):
            self._drain()

    def _decode(self, peer: bytes, raw: bytes) -> Block | None:
        """A block whose header was judged wanted, decoded within the chain's max_block_memory;
        None, and its sender banned, where it does not decode (no validator sends such a block)."""
        try:
            return decode_bounded(Block, raw, self.max_block_memory)
        except DecodeError as exc:
            self.peers.ban(peer, f"sent an undecodable block ({exc})")
            return None

    def _may_hold(self, header: Header) -> bool:
        """Whether a block above the next height may be kept: within AHEAD blocks, the first of
        its height (a certified block is the block), and its certificate holds under the current
        set (no validator can fill the space with blocks it made up; one certified by a set this
        node has not reached yet is asked for in turn)."""
        if header.height - self.app.chain.height > AHEAD or header.height in self._ahead:
            return False
        try:
            verify_quorum(header, self.app.chain.validators)
        except InvalidBlock:
            return False
        return True

    def _hold(self, peer: bytes, raw: bytes) -> None:
        """Keep a certified block above the next height for later, within AHEAD_MEMORY of what
        the held blocks hold decoded."""
        block = self._decode(peer, raw)
        if block is None:
            return
        size = held_memory(block)
        if self._ahead_memory + size > AHEAD_MEMORY:
            return
        self._ahead[block.height] = (peer, block)
        self._ahead_memory += size

    def _release(self, height: int) -> tuple[bytes, Block] | None:
        held = self._ahead.pop(height, None)
        if held is not None:
            self._ahead_memory -= held_memory(held[1])
        return held

    def _commit(self, peer: bytes, block: Block) -> bool:
        try:
            self.app.follow(block)
        except (InvalidBlock, LedgerError) as exc:
            self._refuse(peer, block.height, exc)
            return False
        self._last_progress = time.monotonic()
        self.on_committed(block)
        return True

    def _refuse(self, peer: bytes, height: int, exc: Exception) -> None:
        """A block of the next height that fails verification: ban its sender, forget what it
        sent ahead, and ask another validator for the height at once (not at the next stall)."""
        self.refused_blocks += 1
        self.peers.ban(peer, f"sent block {height} that fails verification: {exc}")
        for h in [h for h, (sender, _) in self._ahead.items() if sender == peer]:
            self._release(h)
        others = self.peers.members()
        if others:
            self.peers.send(random.choice(others), BLOCKS, request_frame(height))

    def _drain(self) -> None:
        """Commit the held blocks that now follow the head."""
        while True:
            nxt = self.app.chain.height + 1
            held = self._release(nxt)
            for h in [h for h in self._ahead if h < nxt]:
                self._release(h)
            if held is None:
                return
            if not self._commit(*held):
                return

    async def _stall_loop(self) -> None:
        """While no block arrives (the chain is idle, or pushes were lost), ask a connected
        validator, a different one each time, for what follows the head."""
        while True:
            await asyncio.sleep(STALL_S / 2)
            validators = self.peers.members()
            if validators and time.monotonic() - self._last_progress >= STALL_S:
                self.peers.send(random.choice(validators), BLOCKS, request_frame(self.app.chain.height + 1))
