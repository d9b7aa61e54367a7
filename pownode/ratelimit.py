"""Per-client submission limits (a token bucket per client address, so one client flooding
`POST /txs` is told to back off with 429 while the others keep their share of the node) and a
log line that a flood cannot multiply."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict


class ThrottledLog:
    """Logs a kind of event at most once per `every_s`, with how many happened since."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._at = -every_s
        self._count = 0

    def warning(self, message: str, *args: object) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._at >= self.every_s:
            self.logger.warning(message + " (%d in the last %.0f s)", *args, self._count, self.every_s)
            self._at = now
            self._count = 0


class BucketTable:
    """Token buckets (a level refilled at `rate` a second up to `capacity`) for at most
    `max_clients` clients, whose forgetting gives no client more than it had.

    A bucket is forgotten only once it has refilled to `capacity`, which is what a bucket starts
    with, so a client forgotten and seen again gets back what it had. When the table is full of
    buckets still refilling (more clients active at once than it holds: say an attacker's
    IPv6 /64s of a /48), clients without a bucket share one, so the addresses beyond the table
    are worth one client's budget together."""

    SHARED = "*"  # no client's name (pownode.http_common.client_of): the clients without a bucket

    def __init__(self, rate: float, capacity: float, max_clients: int) -> None:
        if rate <= 0 or capacity <= 0 or max_clients <= 0:
            raise ValueError("the rate, the capacity and the table's size must be positive")
        self.rate = rate
        self.capacity = capacity
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (level, time), oldest first
        self._shared = (capacity, 0.0)

    def level(self, client: str, now: float) -> float:
        """What `client`'s bucket holds at monotonic time `now` (below zero: in debt)."""
        key = self._key(client, now, claim=False)
        return self._refill(self._shared if key == self.SHARED else self._buckets.get(key), now)

    def set(self, client: str, level: float, now: float) -> None:
        """Leave `client`'s bucket at `level` (from `level` read at the same `now`)."""
        key = self._key(client, now, claim=True)
        if key == self.SHARED:
            self._shared = (level, now)
        else:
            self._buckets.pop(key, None)
            self._buckets[key] = (level, now)

    def _key(self, client: str, now: float, claim: bool) -> str:
        if client in self._buckets or len(self._buckets) < self.max_clients:
            return client
        oldest, bucket = next(iter(self._buckets.items()))
        if self._refill(bucket, now) < self.capacity:
            return self.SHARED
        if claim:
            del self._buckets[oldest]
        return client

    def _refill(self, bucket: tuple[float, float] | None, now: float) -> float:
        if bucket is None:
            return self.capacity
        level, at = bucket
        return min(self.capacity, level + max(0.0, now - at) * self.rate)


class ClientLimits:
    def __init__(self, tx_per_s: int, burst: int, max_clients: int = 10_000) -> None:
        if tx_per_s <= 0 or burst <= 0:
            raise ValueError("the rate and the burst must be positive")
        self.rate = tx_per_s
        self.burst = burst
        self._buckets = BucketTable(tx_per_s, burst, max_clients)

    def take(self, client: str, count: int, now: float) -> float:
        """Spend `count` tokens of `client`'s bucket at monotonic time `now`: 0.0 if granted,
        otherwise the seconds until they would be (nothing is spent then)."""
        if count > self.burst:
            raise ValueError(f"{count} exceeds the burst of {self.burst}: it could never pass")
        tokens = self._buckets.level(client, now)
        if count > tokens:
            return (count - tokens) / self.rate
        self._buckets.set(client, tokens - count, now)
        return 0.0


class SourceCounter:
    """How many of something (connections, handshakes) each source holds, bounded per source
    and in all: `admit` takes one if both bounds allow, `release` gives it back."""

    def __init__(self, per_source: int, total: int) -> None:
        if per_source <= 0 or total <= 0:
            raise ValueError("the bounds must be positive")
        self.per_source = per_source
        self.total = total
        self.held: dict[str, int] = {}
        self.count = 0
        self.refused = 0

    def admit(self, source: str) -> bool:
        if self.count >= self.total or self.held.get(source, 0) >= self.per_source:
            self.refused += 1
            return False
        self.held[source] = self.held.get(source, 0) + 1
        self.count += 1
        return True

    def release(self, source: str) -> None:
        left = self.held.get(source, 0) - 1
        if left <= 0:
            self.held.pop(source, None)
        else:
            self.held[source] = left
        self.count = max(0, self.count - 1)
