"""Connection bounds of the HTTP API: how many connections one client address and all clients
together may hold, so that dripping or idle connections cannot take the node's file
descriptors (which LevelDB and the peer links need too), and how fast one client may open them,
so that a client closed after a 429 (pownode.http_loop_budget) and connecting again at once
cannot keep the node busy accepting its connections and refusing its requests.

A connection over a bound is closed at once, before aiohttp reads a byte of it (the cheapest
refusal an asyncio server has: the kernel has accepted it); refusals are counted and logged at
most once per LOG_EVERY_S. New connections are a token bucket per client (an IPv4 address, an
IPv6 /64): CONNECTIONS_PER_S, above the 20 proofs a second a light gateway opening one
connection per request may ask, and bursts of CONNECTIONS_BURST, twice the connections a client
may hold. Clients beyond the table of buckets share one (pownode.ratelimit.BucketTable). The total bound is also kept below the
process's descriptor limit less RESERVED_FDS. Slow requests are bounded elsewhere: aiohttp's
keep-alive timer closes a connection whose request headers are not complete in time, and the
handlers read bodies under a deadline and a size bound (pownode.api).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from typing import Any, Callable

from aiohttp import web

from pownode.http_common import client_of
from pownode.ratelimit import BucketTable, SourceCounter, ThrottledLog

log = logging.getLogger("pownode.api")
RESERVED_FDS = 256  # storage, peer links and the loop's own descriptors
LOG_EVERY_S = 10.0
CONNECTIONS_PER_S = 32  # new connections a second per client
CONNECTIONS_BURST = 128
MAX_CLIENTS = 10_000  # clients with a bucket of their own


def total_bound(configured: int) -> int:
    """The configured total, lowered so that RESERVED_FDS descriptors always stay free."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - RESERVED_FDS))


class ConnectionGuard:
    """Counts open connections per client address, and paces new ones; installed on an aiohttp
    `web.Server`."""

    def __init__(self, per_client: int, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.open = SourceCounter(per_client, total_bound(total))
        self.opening = BucketTable(CONNECTIONS_PER_S, CONNECTIONS_BURST, MAX_CLIENTS)
        self.clock = clock
        self.too_fast = 0  # connections refused for coming faster than CONNECTIONS_PER_S
        self._clients: dict[Any, str] = {}  # admitted connection's handler -> client address
        self._log = ThrottledLog(log, LOG_EVERY_S)
        self._fast_log = ThrottledLog(log, LOG_EVERY_S)

    def admit(self, client: str) -> bool:
        """Whether a new connection of `client` may stay open: one of its new-connection tokens
        and a place within the open bounds. It is counted as open if so."""
        now = self.clock()
        tokens = self.opening.level(client, now)
        if tokens < 1:
            self.too_fast += 1
            self._fast_log.warning("API connection from %s refused: more than %d new connections a second per client",
                                   client, CONNECTIONS_PER_S)
            return False
        self.opening.set(client, tokens - 1, now)
        if not self.open.admit(client):
            self._log.warning("API connection from %s refused: bounds %d per client, %d in all", client,
                              self.open.per_source, self.open.total)
            return False
        return True

    def install(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            client = _client(transport)
            if self.admit(client):
                self._clients[handler] = client  # released when the connection ends
            else:
                # After the handler has finished setting up (it starts its reading task right
                # after this hook): then its own connection_lost cleans it up.
                asyncio.get_running_loop().call_soon(transport.abort)

        def connection_lost(handler: Any, exc: BaseException | None) -> None:
            lost(handler, exc)
            client = self._clients.pop(handler, None)
            if client is not None:
                self.open.release(client)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]


def _client(transport: Any) -> str:
    """The connection's client as every per-client bound counts it (an IPv6 /64 is one)."""
    peer = transport.get_extra_info("peername")
    return client_of(str(peer[0]) if isinstance(peer, (tuple, list)) and peer else None)
