"""Per-client submission limits: a token bucket per client address, so one client flooding
`POST /txs` is told to back off (429) while the others keep their share of the node."""

from __future__ import annotations

from collections import OrderedDict


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
