"""`pownode e2e`: the short manifests CI runs (one per consensus module) pass on a real cluster,
the checker catches forks, losses and duplicates, and bad manifests are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from pownode import e2e
from pownode.e2e_manifest import ManifestError, load, parse
from tests.cluster.test_local_cluster import _free_base

MANIFESTS = Path(__file__).resolve().parents[2] / "e2e"


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_short_manifest_passes(consensus: str) -> None:
    manifest = load(MANIFESTS / f"{consensus}-short.toml")
    assert {p.action for p in manifest.perturbations} == {"kill", "pause", "restart"}
    outcome = e2e.run(manifest, base_port=_free_base(2 * manifest.nodes))
    assert outcome.passed, e2e.report(outcome)
    assert outcome.durable > 100 and outcome.lost == 0 and not outcome.fork_heights


def _block(height: int, block_hash: str, txs: list[bytes]) -> dict:
    return {"height": height, "hash": block_hash, "txs": [t.hex() for t in txs]}


def test_the_checker_finds_forks_losses_and_duplicates() -> None:
    a, b, c = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32
    honest = [_block(1, "h1", [a]), _block(2, "h2", [b])]
    out = e2e.Outcome("t", "pbft", 2, recovery_s=1.0, converged=True)
    e2e.judge([honest, list(honest)], [a, b], [], out)
    assert out.passed and out.lost == 0
    forked = [honest[0], _block(2, "other", [b])]
    out = e2e.Outcome("t", "pbft", 2, recovery_s=1.0, converged=True)
    e2e.judge([honest, forked], [a, b, c], [c], out)
    assert out.fork_heights == [2] and out.lost == 1 and out.committed_unacknowledged == 0 and not out.passed
    out = e2e.Outcome("t", "pbft", 2, recovery_s=1.0, converged=True)
    e2e.judge([[_block(1, "h1", [a]), _block(2, "h2", [a])]] * 2, [a], [], out)
    assert out.duplicated == 1 and not out.passed


@pytest.mark.parametrize(("doc", "message"), [
    ({"consensus": "raft"}, "consensus must be one of"),
    ({"nodes": 2}, "nodes must be from 4"),
    ({"perturb": [{"at_s": 1, "node": 9, "action": "kill"}]}, "node must be from 0 to 3"),
    ({"perturb": [{"at_s": 1, "node": 0, "action": "explode"}]}, "action must be one of kill, pause, restart"),
    ({"perturb": [{"at_s": 1, "node": 0, "action": "kill", "for_s": 5},
                  {"at_s": 2, "node": 1, "action": "pause"}]}, "2 nodes perturbed at once"),
    ({"duraton_s": 5}, "unknown fields"),
])
def test_bad_manifests_are_refused_with_the_field_named(doc: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse(doc, "bad")


def test_perturbations_not_built_say_so() -> None:
    with pytest.raises(NotImplementedError, match="action 'partition' is not built as a perturbation"):
        parse({"perturb": [{"at_s": 1, "node": 0, "action": "partition"}]}, "later")
