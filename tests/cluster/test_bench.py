"""Short runs of `pownode bench` on real 4-node clusters, asserting the benchmark's own
accounting (never its timings): every valid transaction submitted is committed exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pownode.bench import BenchSpec, run_bench
from tests.cluster.test_local_cluster import _free_base

REQUIRED = {"consensus", "nodes", "committed_tx_per_s", "latency_p50_s", "latency_p99_s", "latency_samples",
            "ceiling_tx_per_s", "submitted", "committed", "lost", "cpu_s_per_tx", "peak_rss_mb", "view_changes",
            "view_changed_heights"}
# How long a run waits for its accepted transactions to commit after submission ends: on a loaded
# machine a backlog of open-loop meter readings takes far longer than the default 30 s to drain,
# and the accounting (every accepted transaction committed once) is what these tests check.
DRAIN_S = 180.0


def _check_accounting(result: dict, spec: BenchSpec) -> None:
    assert REQUIRED <= set(result)
    assert (result["consensus"], result["nodes"]) == (spec.consensus, spec.nodes)
    assert 0 < result["submitted"] <= result["presigned"]
    assert result["accepted"] + result["rejected"] == result["submitted"]
    assert result["rejected"] == 0, result["rejected_reasons"]  # every transaction was valid
    assert result["committed"] == result["accepted"] and result["lost"] == 0
    assert result["duplicates"] == 0 and result["foreign"] == 0
    if result["latency_samples"]:
        assert result["latency_p50_s"] <= result["latency_p99_s"]
    else:  # nothing submitted after the warm-up committed: a loaded machine's slow start
        assert result["latency_p50_s"] is None and result["latency_p99_s"] is None
    assert result["cpu_s_per_tx"] > 0 and result["peak_rss_mb"] > 0 and result["blocks"] > 0


def test_a_fixed_rate_run_accounts_for_every_transfer(tmp_path: Path) -> None:
    spec = BenchSpec(nodes=4, consensus="pbft", duration_s=3, rate=300, warmup_s=1, base_port=_free_base(8),
                     home=tmp_path / "bench", drain_s=DRAIN_S)
    result = run_bench(spec, say=lambda line: None)
    _check_accounting(result, spec)
    assert result["submitted"] >= 600  # most of the 900 due in 3 s at 300/s


@pytest.mark.parametrize("consensus, kind", [("poe", "meter"), ("pos", "order")])
def test_open_loop_runs_of_other_kinds_and_modules_account_too(tmp_path: Path, consensus: str, kind: str) -> None:
    spec = BenchSpec(nodes=4, consensus=consensus, duration_s=3, rate=None, kind=kind, warmup_s=1,
                     base_port=_free_base(8), home=tmp_path / "bench", drain_s=DRAIN_S)
    _check_accounting(run_bench(spec, say=lambda line: None), spec)


def test_the_command_line_writes_the_json_and_the_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "pownode.cli", "bench", "--nodes", "4", "--duration", "2", "--rate",
                           "200", "--json", str(out), "--base-port", str(_free_base(8))],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["lost"] == 0 and result["committed"] == result["submitted"]
    header = [line for line in done.stdout.splitlines() if line.lstrip().startswith("consensus")]
    assert header and "ceiling" in header[0] and "p99 s" in header[0]


def test_a_home_that_is_not_a_bench_home_is_never_deleted(tmp_path: Path) -> None:
    precious = tmp_path / "mine"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing"):
        run_bench(BenchSpec(duration_s=1, rate=10, home=precious), say=lambda line: None)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_several_sizes_give_one_result_each_and_a_chart_against_n(tmp_path: Path) -> None:
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    done = subprocess.run([sys.executable, "-m", "pownode.cli", "bench", "--nodes", "4,5", "--duration", "2", "--rate",
                           "100", "--json", str(out), "--png", str(png), "--base-port", str(_free_base(10))],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert [(r["consensus"], r["nodes"]) for r in results] == [("pbft", 4), ("pbft", 5)]
    assert all(r["lost"] == 0 and r["duplicates"] == 0 for r in results)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
