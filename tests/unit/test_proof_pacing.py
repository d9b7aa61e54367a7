"""Proof requests are paced per client, an IPv6 /64 counting as one, and for all clients."""

from __future__ import annotations

from types import SimpleNamespace

from aiohttp import web

from pownode.proof_api import ALL_CLIENTS, PROOF_LIMITS, PROOFS_PER_S, _paced, client_of
from pownode.ratelimit import ClientLimits


def test_an_ipv6_household_counts_as_its_64() -> None:
    assert client_of("127.0.0.1") == "127.0.0.1" and client_of("::ffff:10.0.0.1") == "10.0.0.1"
    assert client_of("2001:db8::1") == client_of("2001:db8::ffff:abcd") == "2001:db8::/64"
    assert client_of("2001:db8:0:1::1") != client_of("2001:db8::1")


def test_one_client_rotating_addresses_and_many_clients_meet_a_bound() -> None:
    app = {PROOF_LIMITS: ClientLimits(PROOFS_PER_S, 2 * PROOFS_PER_S), ALL_CLIENTS: ClientLimits(50, 100)}

    def ask(remote: str) -> bool:
        try:
            _paced(SimpleNamespace(app=app, remote=remote))
            return True
        except web.HTTPTooManyRequests:
            return False

    rotating = [ask(f"2001:db8::{i:x}") for i in range(3 * PROOFS_PER_S)]
    assert rotating.count(True) == 2 * PROOFS_PER_S  # one /64: one burst
    many = [ask(f"10.0.{i // 250}.{i % 250}") for i in range(300)]
    assert many.count(True) <= 100 - 2 * PROOFS_PER_S + 1 and not many[-1]  # the node's bound holds


