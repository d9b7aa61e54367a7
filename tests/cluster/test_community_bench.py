"""benchmarks/community.py runs end to end in a short form: every household's readings, sent
through its light gateway to a full node, commit once each, and every receipt is proven."""

from __future__ import annotations

from benchmarks import community


def test_a_small_community_commits_and_proves_every_reading(tmp_path) -> None:
    found = community.run(households=3, full=1, readings=2, json_path=str(tmp_path / "community.json"))
    assert found["readings"] == 6 and found["committed"] == 6 and found["verified_receipts"] == 6
    assert found["full"]["count"] == 1 and found["light_gateways"]["count"] == 3
    assert (tmp_path / "community.json").exists()
