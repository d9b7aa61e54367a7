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
