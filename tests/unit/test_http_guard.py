"""The API's connection bound counts an IPv6 /64 as one client, as its pacing does: one
household holds a /64 and can rotate through its addresses, which made the per-client bound of
64 connections no bound at all (one household could take all 1,024 and lock everyone out)."""

from __future__ import annotations

from pownode.http_guard import ConnectionGuard, _client


class _Accepted:
    """What the guard reads of an accepted connection's transport: its peer's address."""

    def __init__(self, host: str) -> None:
        self._peer = (host, 40000, 0, 0) if ":" in host else (host, 40000)

    def get_extra_info(self, name: str) -> object:
        return self._peer if name == "peername" else None


def test_one_ipv6_64_is_one_client_for_the_connection_bound() -> None:
    guard = ConnectionGuard(per_client=2, total=100)
    one_household = [f"2001:db8:0:7::{i:x}" for i in range(1, 4)]
    admitted = [guard.open.admit(_client(_Accepted(host))) for host in one_household]
    assert admitted == [True, True, False]
    assert guard.open.admit(_client(_Accepted("2001:db8:0:8::1")))  # another /64 is another client
    assert _client(_Accepted("::ffff:10.0.0.1")) == _client(_Accepted("10.0.0.1")) == "10.0.0.1"


async def test_a_client_connecting_faster_than_its_rate_is_closed_before_a_request_is_read() -> None:
    """A client closed after a 429 that connects again at once was accepted and refused at the
    node's cost; now its new connections are paced (CONNECTIONS_PER_S, bursts of CONNECTIONS_BURST)
    and one beyond is closed before any request on it is parsed or handled."""
    import asyncio

    from aiohttp import web

    from pownode.http_guard import CONNECTIONS_BURST, CONNECTIONS_PER_S

    now = [0.0]
    handled: list[int] = []

    async def status(request: web.Request) -> web.Response:
        handled.append(1)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    guard = ConnectionGuard(per_client=64, total=1024, clock=lambda: now[0])
    assert runner.server is not None
    guard.install(runner.server)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def one_request() -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            answer = await asyncio.wait_for(reader.read(-1), 30)
        except ConnectionResetError:
            answer = b""
        writer.close()
        return answer.startswith(b"HTTP/1.1 200")

    try:
        served = [await one_request() for _ in range(CONNECTIONS_BURST + 20)]
        assert served == [True] * CONNECTIONS_BURST + [False] * 20
        assert len(handled) == CONNECTIONS_BURST and guard.too_fast == 20
        now[0] += 1.0  # a second's worth of new connections
        served = [await one_request() for _ in range(CONNECTIONS_PER_S + 5)]
        assert served == [True] * CONNECTIONS_PER_S + [False] * 5
        assert guard.open.count == 0  # refused connections never held a place
    finally:
        await runner.cleanup()
