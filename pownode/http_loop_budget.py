"""The event loop's time that the API's read handlers may take, per client and for all clients.

The API shares its loop with consensus. Each read is bounded on its own (pages, offsets, proof
sizes), but nothing bounded how many a client asks: an unpaced read costs 0.05-0.5 ms (the
dashboard's script, /openapi.json), and a market window at its largest offset walks some 49,000
storage keys, so a client with its 64 connections could keep the loop busy. Here every GET
(but the WebSocket, which lives on) is measured in CPU time of the loop's thread, which is its
own as long as it runs (read handlers never await), and charged after it ran, with REQUEST_MS
for the HTTP work around it, to its client (an IPv4 address, an IPv6 /64) and to all clients
together. A client, or all of them, whose budget
is spent is answered 429 before any work until it refills, so what reads can take of the loop
is bounded by the budgets whatever is asked. A refusal is not charged: an honest client polling
hard (one request a connection, a hundred transactions' statuses at a time) must get through
once it slows down, and refusing costs the node far less than serving. Clients beyond the table
of budgets share one (pownode.ratelimit.BucketTable). Submissions (POST /txs) have their own bounds.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from aiohttp import web

from pownode.http_common import client_of
from pownode.http_pacing import too_many
from pownode.ratelimit import BucketTable

LOOP_MS_PER_S = 250  # a client's reads: a quarter of the loop at most
LOOP_MS_PER_S_ALL = 500  # all clients' reads: consensus keeps the rest
BURST_S = 2.0  # a budget holds this many seconds of its rate
# What aiohttp spends around a handler (parsing the request, writing the answer; a dashboard file
# is sent after its handler returns): measured 0.05-0.5 ms a request on a loopback node, charged
# on top of the handler's own time so that a flood of cheap reads is bounded too.
REQUEST_MS = 0.25


class LoopBudget:
    """Milliseconds of loop time per second, per client and for all: `refuse` before a request
    (429 while the client's or all clients' budget is spent), `charge` after it with what it
    took. A budget may go into debt by one request's cost, which
    is then paid back over time."""

    def __init__(self, per_client_ms: float, all_ms: float, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        if not 0 < per_client_ms <= all_ms:
            raise ValueError("a client's budget must be positive and within all clients' budget")
        self.per_client_ms = per_client_ms
        self.all_ms = all_ms
        self.clock = clock
        self._clients = BucketTable(per_client_ms, per_client_ms * BURST_S, max_clients)
        self._all = BucketTable(all_ms, all_ms * BURST_S, 1)

    def refuse(self, client: str) -> web.HTTPException | None:
        """A 429 to answer instead of serving `client` now, or None to serve it."""
        now = self.clock()
        left = self._clients.level(client, now)
        if left < 0:
            return too_many(f"rate limit: {self.per_client_ms:g} ms of the node's time a second per client",
                            -left / self.per_client_ms)
        left_all = self._all.level(ALL, now)
        if left_all < 0:
            return too_many(f"rate limit: {self.all_ms:g} ms of the node's time a second for all clients",
                            -left_all / self.all_ms)
        return None

    def charge(self, client: str, ms: float) -> None:
        now = self.clock()
        self._clients.set(client, self._clients.level(client, now) - ms, now)
        self._all.set(ALL, self._all.level(ALL, now) - ms, now)


ALL = "all"  # the one key of all clients' budget
LOOP_BUDGET = web.AppKey("loop_budget", LoopBudget)


@web.middleware
async def charge_reads(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    """Serve a GET within its client's and all clients' loop budgets, and charge what it took."""
    if request.method != "GET" or request.path == "/ws":
        return await handler(request)
    budget = request.app[LOOP_BUDGET]
    client = client_of(request.remote)
    refused = budget.refuse(client)
    if refused is not None:
        # And the connection closed: requests pipelined behind this one are not parsed and
        # refused one by one at the node's cost; a flooding client must connect again.
        response = web.Response(body=refused.body, status=refused.status, headers=refused.headers)
        response.force_close()
        return response
    started = time.thread_time()
    try:
        return await handler(request)
    finally:
        budget.charge(client, (time.thread_time() - started) * 1000 + REQUEST_MS)
