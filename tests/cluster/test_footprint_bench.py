"""benchmarks/footprint.py runs end to end in a short form: every reading sent to the validator
commits, a full node follows, the light gateway takes a burst through to the chain (proving each
receipt), and the figures are recorded
(their size is the benchmark's to report, not a test's to assert)."""

from __future__ import annotations

from benchmarks import footprint


def test_the_footprint_bench_measures_every_role(tmp_path) -> None:
    # One second idle gives each idle figure two samples: enough to record it (the bench's own
    # ten seconds steady the median it reports).
    found = footprint.run(load_s=3, rate=50, json_path=str(tmp_path / "footprint.json"), idle_s=1.0)
    v, f, g = found["validator"], found["full_node"], found["light_gateway"]
    assert v["loaded"]["readings_committed"] == v["loaded"]["readings_sent"] > 0
    assert v["startup_s"] > 0 and v["idle"]["rss_mb"] > 0 and v["disk_bytes_per_reading"] > 0
    assert f["height"] > 0 and f["idle"]["rss_mb"] > 0 and f["loaded"]["rss_mb"] > 0
    assert g["burst"]["readings"] == footprint.GATEWAY_BURST and g["idle"]["rss_mb"] > 0
    assert (tmp_path / "footprint.json").exists()
