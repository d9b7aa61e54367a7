"""benchmarks/attack.py: its window arithmetic, and one short attack on a real cluster, asserting
what the attack did and that every figure was measured (never the figures' values)."""

from __future__ import annotations

from benchmarks import attack
from tests.cluster.test_local_cluster import _free_base


def test_the_worst_gap_counts_from_the_window_edges() -> None:
    samples = [(0.0, 5), (1.0, 5), (2.0, 6), (3.0, 6), (7.5, 7), (8.0, 7)]
    rises = attack._rises(samples)
    assert rises == [0.0, 2.0, 7.5]
    assert attack._worst_gap(rises, 1.0, 9.0) == 5.5  # 2.0 -> 7.5
    assert attack._worst_gap(rises, 8.0, 12.0) == 4.0  # no block at all in the window
    assert attack._blocks_per_s(samples, 1.0, 8.0) == (7 - 5) / 7


def test_a_short_forged_gossip_run_is_measured_and_the_impostor_banned() -> None:
    # Long enough for a loaded machine to verify the first thousand forgeries and drop the link.
    result = attack._run("forged-gossip", 12.0, _free_base(8), keep=False)
    assert "error" not in result and "error" not in result["details"]
    assert result["honest_nodes"] == ["node0", "node1", "node2"]
    assert result["details"]["dropped"] and result["details"]["refused_afterwards"]
    assert result["baseline_blocks_per_s"] > 0 and result["probe"]["sent"] > 0
    assert set(result["goals"]) == {"throughput", "rss", "gap", "latency"}
