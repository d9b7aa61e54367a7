"""Paced read endpoints (proofs, block pages) count per client, an IPv6 /64 counting as one, and
for all clients together."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web

from pownode.http_pacing import Pacing, client_of
from pownode.proof_api import PROOFS_PER_S


def test_an_ipv6_household_counts_as_its_64() -> None:
    assert client_of("127.0.0.1") == "127.0.0.1" and client_of("::ffff:10.0.0.1") == "10.0.0.1"
    assert client_of("2001:db8::1") == client_of("2001:db8::ffff:abcd") == "2001:db8::/64"
    assert client_of("2001:db8:0:1::1") != client_of("2001:db8::1")


def _asker(pacing: Pacing, cost: int = 1):
    def ask(remote: str) -> bool:
        try:
            pacing.spend(SimpleNamespace(remote=remote), cost)
            return True
        except web.HTTPTooManyRequests as exc:
            assert exc.headers["Retry-After"] and "rate limit" in exc.text
            return False
    return ask


def test_one_client_rotating_addresses_and_many_clients_meet_a_bound() -> None:
    ask = _asker(Pacing(PROOFS_PER_S, 50, "proof requests", clock=lambda: 1000.0))
    rotating = [ask(f"2001:db8::{i:x}") for i in range(3 * PROOFS_PER_S)]
    assert rotating.count(True) == 2 * PROOFS_PER_S  # one /64: one burst
    many = [ask(f"10.0.{i // 250}.{i % 250}") for i in range(300)]
    assert many.count(True) <= 100 - 2 * PROOFS_PER_S + 1 and not many[-1]  # the node's bound holds


def test_a_cost_is_charged_whole_and_never_beyond_a_burst() -> None:
    ask = _asker(Pacing(1000, 5000, "block transactions listed", clock=lambda: 1000.0), cost=900)
    assert [ask("10.0.0.1") for _ in range(3)] == [True, True, False]  # 2,000 of burst: 900 + 900, then no
    huge = _asker(Pacing(1000, 5000, "block transactions listed", clock=lambda: 1000.0), cost=10**6)
    assert huge("10.0.0.2") and not huge("10.0.0.2")  # costs a whole burst, and can still pass once


def test_a_clients_budget_within_all_clients() -> None:
    with pytest.raises(ValueError):
        Pacing(100, 50, "proof requests")
