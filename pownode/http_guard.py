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
import time
from typing import Any

from aiohttp import web

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
        if per_client <= 0 or total <= 0:
            raise ValueError("connection bounds must be positive")
        self.per_client = per_client
        self.total = total_bound(total)
        self.open: dict[str, int] = {}
        self.count = 0
        self._clients: dict[Any, str] = {}  # admitted connection's handler -> client address
        self.refused = 0
        self._logged_at = 0.0
        self._unlogged = 0

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
                self.release(client)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def admit(self, client: str) -> bool:
        if self.count >= self.total or self.open.get(client, 0) >= self.per_client:
            self.refused += 1
            self._log_refusal(client)
            return False
        self.open[client] = self.open.get(client, 0) + 1
        self.count += 1
        return True

    def release(self, client: str) -> None:
        left = self.open.get(client, 0) - 1
        if left <= 0:
            self.open.pop(client, None)
        else:
            self.open[client] = left
        self.count = max(0, self.count - 1)

    def _log_refusal(self, client: str) -> None:
        now = time.monotonic()
        self._unlogged += 1
        if now - self._logged_at >= LOG_EVERY_S:
            log.warning("API connections refused: %d in the last %.0f s (latest from %s; bounds %d per client, "
                        "%d in all)", self._unlogged, LOG_EVERY_S, client, self.per_client, self.total)
            self._logged_at = now
            self._unlogged = 0


def _client(transport: Any) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, (tuple, list)) and peer else ""
