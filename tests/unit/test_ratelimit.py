"""Per-client token buckets on transaction submission."""

from __future__ import annotations

import pytest

from pownode.ratelimit import ClientLimits


def test_a_client_gets_its_burst_then_its_rate() -> None:
    limits = ClientLimits(tx_per_s=100, burst=200)
    assert limits.take("a", 200, now=0.0) == 0.0
    assert limits.take("a", 50, now=0.0) == pytest.approx(0.5)  # refused: 50 tokens take 0.5 s
    assert limits.take("a", 50, now=0.5) == 0.0  # refilled at 100/s, and the refusal spent nothing
    assert limits.take("a", 1, now=0.5) > 0


def test_clients_are_limited_separately_and_buckets_cap_at_the_burst() -> None:
    limits = ClientLimits(tx_per_s=10, burst=20)
    assert limits.take("a", 20, now=0.0) == 0.0
    assert limits.take("b", 20, now=0.0) == 0.0  # a's flood does not touch b
    assert limits.take("a", 20, now=1000.0) == 0.0
    assert limits.take("a", 1, now=1000.0) > 0  # idle time refills to the burst, no further


def test_a_batch_larger_than_the_burst_is_an_error_not_a_wait() -> None:
    with pytest.raises(ValueError, match="burst"):
        ClientLimits(tx_per_s=10, burst=20).take("a", 21, now=0.0)


def test_a_forgotten_client_gets_back_no_more_than_it_had() -> None:
    """More clients than the table holds (an IPv6 /48 holds 65,536 /64s) get no fresh buckets:
    a bucket is forgotten only once it has refilled, and clients the table has no room for share
    one bucket."""
    limits = ClientLimits(tx_per_s=1, burst=1, max_clients=2)
    assert limits.take("a", 1, now=0.0) == 0.0
    assert limits.take("b", 1, now=0.0) == 0.0
    assert limits.take("c", 1, now=0.0) == 0.0  # no room: c takes the shared bucket's token
    assert limits.take("d", 1, now=0.0) > 0  # d shares it: nothing left
    assert limits.take("a", 1, now=0.0) > 0  # a was not forgotten, and has spent its token
    assert limits.take("a", 1, now=1.0) == 0.0  # a refills at its own rate
    assert limits.take("d", 1, now=1.5) == 0.0  # b has refilled: forgotten, and d gets a bucket
    assert limits.take("e", 1, now=1.5) == 0.0  # a has not: e takes the shared token, refilled since 0
    assert limits.take("f", 1, now=1.5) > 0  # which f shares


def test_many_addresses_take_no_more_than_the_table_and_one_shared_bucket() -> None:
    limits = ClientLimits(tx_per_s=10, burst=10, max_clients=100)
    granted = sum(limits.take(f"2001:db8:0:{i:x}::/64", 10, now=0.5 * (i // 1000)) == 0.0 for i in range(5000))
    # Over 2 s, what 101 clients could take (a burst and 2 s of rate each), not 5,000 bursts.
    assert 100 <= granted * 10 <= 101 * (10 + 10 * 2.0)
