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


class ClientLimits:
    def __init__(self, tx_per_s: int, burst: int, max_clients: int = 10_000) -> None:
        if tx_per_s <= 0 or burst <= 0:
            raise ValueError("the rate and the burst must be positive")
        self.rate = tx_per_s
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client -> (tokens, time)

    def take(self, client: str, count: int, now: float) -> float:
        """Spend `count` tokens of `client`'s bucket at monotonic time `now`: 0.0 if granted,
        otherwise the seconds until they would be (nothing is spent then)."""
        if count > self.burst:
            raise ValueError(f"{count} exceeds the burst of {self.burst}: it could never pass")
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if count > tokens:
            wait = (count - tokens) / self.rate
        else:
            tokens -= count
        self._buckets[client] = (tokens, now)  # most recent last: the least recent is evicted
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


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
