"""Connection bounds of the HTTP API: how many connections one client address and all clients
together may hold, so that dripping or idle connections cannot take the node's file
descriptors (which LevelDB and the peer links need too).

A connection over either bound is closed at once, before aiohttp handles a byte of it; refusals
are counted and logged at most once per LOG_EVERY_S. The total bound is also kept below the
process's descriptor limit less RESERVED_FDS. Slow requests are bounded elsewhere: aiohttp's
keep-alive timer closes a connection whose request headers are not complete in time, and the
handlers read bodies under a deadline and a size bound (pownode.api).
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from aiohttp import web

from pownode.http_common import client_of
from pownode.ratelimit import SourceCounter, ThrottledLog

log = logging.getLogger("pownode.api")
RESERVED_FDS = 256  # storage, peer links and the loop's own descriptors
LOG_EVERY_S = 10.0


def total_bound(configured: int) -> int:
    """The configured total, lowered so that RESERVED_FDS descriptors always stay free."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - RESERVED_FDS))


class ConnectionGuard:
    """Counts open connections per client address; installed on an aiohttp `web.Server`."""

    def __init__(self, per_client: int, total: int) -> None:
        self.open = SourceCounter(per_client, total_bound(total))
        self._clients: dict[Any, str] = {}  # admitted connection's handler -> client address
        self._log = ThrottledLog(log, LOG_EVERY_S)

    def install(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: Any) -> None:
            made(handler, transport)
            client = _client(transport)
            if self.open.admit(client):
                self._clients[handler] = client  # released when the connection ends
            else:
                self._log.warning("API connection from %s refused: bounds %d per client, %d in all", client,
                                  self.open.per_source, self.open.total)
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
