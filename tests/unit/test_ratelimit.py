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


def test_the_least_recent_client_is_forgotten_beyond_the_bound() -> None:
    limits = ClientLimits(tx_per_s=1, burst=1, max_clients=2)
    limits.take("a", 1, now=0.0)
    limits.take("b", 1, now=0.0)
    limits.take("c", 1, now=0.0)  # evicts a
    assert limits.take("a", 1, now=0.0) == 0.0  # a starts again with a full bucket
    assert limits.take("c", 1, now=0.0) > 0
