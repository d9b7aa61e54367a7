"""`make demo`'s main job: a 4-node PoE cluster trades and clears, and every block's proposer is
the one the nodes' own CPF ranking names."""

from __future__ import annotations

import json
from pathlib import Path

from pownode.cluster_demo import run_cluster_demo
from tests.cluster.test_local_cluster import _free_base


def test_cluster_demo(tmp_path: Path) -> None:
    report = run_cluster_demo(tmp_path / "demo", windows=2, base_port=_free_base(8), show=False)
    exported = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert exported["windows"] == report["windows"] and (tmp_path / "demo" / "demo.png").stat().st_size > 0
    rows = (tmp_path / "demo" / "trades.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(w["trades"] for w in report["windows"])
    assert len(report["windows"]) == 2 and all(w["trades"] > 0 and w["paid"] > 0 for w in report["windows"])
    assert all(w["price"] > 5_000 and w["price"] <= 24_000 for w in report["windows"])
    for w in report["windows"]:  # the market API's trade lines add up to its clearing result
        assert len(w["trade_list"]) == w["trades"]
        assert sum(t["energy_wh"] for t in w["trade_list"]) == w["volume_wh"]
        assert sum(t["payment"] for t in w["trade_list"]) == w["paid"]
    proposers = report["proposers"]
    assert proposers and all(p["proposer"] == p["expected"] for p in proposers)
    assert len({p["proposer"] for p in proposers}) > 1  # the best CPF rotates between prosumers
    paid = sum(w["paid"] + w["service"] for w in report["windows"])
    consumers = list(report["credit_changes"].values())[4:]
    assert all(v < 0 for v in consumers) and -sum(consumers) >= paid  # consumers paid the trades from credit
    settled = {s["window"] for s in report["settlements"]}
    assert settled == {w["window"] for w in report["windows"]}  # every cleared window settled on the meters
    for s in report["settlements"]:
        assert len(s["settlements"]) == 8 and sum(x["metering"] == "metered" for x in s["settlements"]) == 4
