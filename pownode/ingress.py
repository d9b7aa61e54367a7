"""Transactions waiting for admission, queued per source and served in turn.

A source is a client address (the connection's, which a flooder cannot mint for free) or a
peer. Every source has its own queue, bounded in bytes, and all queues together are bounded
too: a batch over either bound is refused at once (`Overloaded`, an HTTP 503 for clients, a
dropped frame for peers) instead of growing the node. The admission loop takes one slice at a
time from each source with work, round robin, so a source with a million queued transactions
delays another's small batch by one slice per busy source, not by the million.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Hashable


class Overloaded(Exception):
    """The queues cannot take this batch now; the message says which bound."""


@dataclass
class Job:
    """One submitted batch: its transactions, where admission is, and the results so far."""

    raws: list[bytes]
    origin: bytes | None  # the peer it came from; None for a client
    future: asyncio.Future | None
    size: int
    start: int = 0
    results: list[dict] = field(default_factory=list)


class FairIngress:
    def __init__(self, per_source_bytes: int, total_bytes: int) -> None:
        self.per_source_bytes = per_source_bytes
        self.total_bytes = total_bytes
        self.queued_bytes = 0
        self._queues: OrderedDict[Hashable, deque[Job]] = OrderedDict()
        self._bytes: dict[Hashable, int] = {}

    def __bool__(self) -> bool:
        return bool(self._queues)

    def put(self, source: Hashable, raws: list[bytes], origin: bytes | None,
            future: asyncio.Future | None) -> None:
        size = sum(len(r) for r in raws) + 64 * len(raws)  # bytes plus the list's own cost
        have = self._bytes.get(source, 0)
        if have + size > self.per_source_bytes:
            raise Overloaded(f"this source already has {have} bytes waiting for admission")
        if self.queued_bytes + size > self.total_bytes:
            raise Overloaded("the node's admission queue is full")
        self._queues.setdefault(source, deque()).append(Job(raws, origin, future, size))
        self._bytes[source] = have + size
        self.queued_bytes += size

    def take(self, slice_size: int) -> tuple[Job, list[bytes]] | None:
        """The next slice to admit: from the source first in turn, which then goes to the back
        if it has more. The job's `start` moves past the slice; a finished job leaves."""
        if not self._queues:
            return None
        source, queue = next(iter(self._queues.items()))
        job = queue[0]
        piece = job.raws[job.start:job.start + slice_size]
        job.start += len(piece)
        if job.start >= len(job.raws):
            queue.popleft()
            self._bytes[source] -= job.size
            self.queued_bytes -= job.size
        del self._queues[source]
        if queue:
            self._queues[source] = queue  # to the back of the turn
        else:
            self._bytes.pop(source, None)
        return job, piece
