"""Pacing of read endpoints whose work grows with what they return (proofs, a block's listing):
each client (an IPv4 address, or an IPv6 /64, which one household can rotate through) has a
budget of units a second, and all clients together another, so neither one client nor many
can keep the event loop that consensus runs on busy. Beyond either, 429 with Retry-After."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

from pownode.http_common import client_error, client_of
from pownode.ratelimit import ClientLimits


@dataclass
class Pacing:
    """`per_client` units/s for each client, `all_clients` for all together (bursts of twice
    that); `unit` names what is counted in the 429's reason."""

    per_client: int
    all_clients: int
    unit: str
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.per_client <= self.all_clients:
            raise ValueError("a client's budget must be positive and within all clients' budget")
        self._clients = ClientLimits(self.per_client, 2 * self.per_client)
        self._all = ClientLimits(self.all_clients, 2 * self.all_clients)

    def spend(self, request: web.Request, cost: int = 1) -> None:
        """Charge `cost` units to the request's client and to all clients, or raise 429 (a
        client's units stay spent when the node-wide budget refuses: it asked while the node was
        at its bound)."""
        now = self.clock()
        cost = min(cost, 2 * self.per_client)  # a burst's worth at most, or it could never pass
        wait = self._clients.take(client_of(request.remote), cost, now)
        if wait:
            raise too_many(f"rate limit: {self.per_client} {self.unit}/s per client", wait)
        wait = self._all.take("all", cost, now)
        if wait:
            raise too_many(f"rate limit: {self.all_clients} {self.unit}/s for all clients", wait)


def too_many(reason: str, wait: float) -> web.HTTPException:
    return client_error(429, reason, retry_after_s=round(wait, 3), headers={"Retry-After": str(max(1, math.ceil(wait)))})
