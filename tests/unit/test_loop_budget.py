"""Reads are served within a budget of the event loop's time per client and for all clients: a
client whose reads took its budget is answered 429, before any work, until it refills, and other
clients are still served (the loop is the one consensus runs on)."""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pownode.http_loop_budget import BURST_S, LOOP_BUDGET, LoopBudget, charge_reads

BURN_MS = 60


async def _burn(request: web.Request) -> web.Response:
    """A read that takes BURN_MS of CPU on the loop, as a market window at its deepest offset can."""
    started = time.thread_time()
    while time.thread_time() - started < BURN_MS / 1000:
        pass
    return web.json_response({"ok": True})


def test_a_budget_refuses_a_client_in_debt_and_refills_at_its_rate() -> None:
    now = [0.0]
    budget = LoopBudget(100, 300, clock=lambda: now[0])
    assert budget.refuse("a") is None
    budget.charge("a", 100 * BURST_S + 50)  # its whole burst and a request's worth more
    refused = budget.refuse("a")
    assert refused is not None and refused.status == 429 and refused.headers["Retry-After"] == "1"
    assert budget.refuse("b") is None  # another client is served
    now[0] += 0.6  # 60 ms back: out of debt
    assert budget.refuse("a") is None
    budget.charge("b", 300 * BURST_S)  # all clients' budget spent (b's own in debt too)
    refused = budget.refuse("c")
    assert refused is not None and "for all clients" in refused.text


def test_a_refusal_costs_nothing_so_a_client_that_slows_down_gets_through() -> None:
    """An honest client polling hard is refused, but is served again once its debt is paid
    back, however many times it was refused meanwhile."""
    now = [0.0]
    budget = LoopBudget(100, 10_000, clock=lambda: now[0])
    budget.charge("a", 100 * BURST_S + 50)  # 50 ms in debt: 0.5 s to pay back
    for _ in range(100_000):
        assert budget.refuse("a") is not None
    assert budget.refuse("b") is None  # a's refusals are a's, not all clients'
    now[0] += 0.6
    assert budget.refuse("a") is None


def test_more_clients_than_the_table_holds_get_no_fresh_budgets() -> None:
    now = [0.0]
    budget = LoopBudget(100, 10_000, clock=lambda: now[0], max_clients=2)
    for client in ("a", "b", "c"):
        budget.charge(client, 100 * BURST_S + 50)  # c has no room of its own: the shared budget
    assert budget.refuse("a") is not None and budget.refuse("d") is not None  # d shares c's debt
    now[0] += 0.6  # the shared budget is out of debt
    assert budget.refuse("d") is None


async def test_a_client_whose_reads_take_its_budget_is_refused_before_more_work() -> None:
    app = web.Application(middlewares=[charge_reads])
    app[LOOP_BUDGET] = LoopBudget(BURN_MS, 10 * BURN_MS)  # a burst of two such reads, then one a second
    calls: list[int] = []

    async def counted(request: web.Request) -> web.Response:
        calls.append(1)
        return await _burn(request)

    app.router.add_get("/burn", counted)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        # Eight reads pipelined on one connection, far faster than one a second.
        reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
        writer.write(b"GET /burn HTTP/1.1\r\nHost: x\r\n\r\n" * 8)
        answers = await asyncio.wait_for(reader.read(-1), 30)  # until the node closes the connection
        writer.close()
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429 and statuses.count(429) == 1
    assert len(calls) == statuses.count(200)  # the refused read did no work, nor did those behind it
