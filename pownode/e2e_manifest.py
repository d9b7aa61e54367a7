"""The manifest of a `pownode e2e` run: a cluster, its load, and timed perturbations.

A TOML file (documented in the README), for example:

    consensus = "pbft"     # pbft, pos or poe
    nodes = 4
    senders = 16           # clients, each sending transfers one at a time with ?wait=commit
    duration_s = 30        # how long the load runs, from the moment the cluster is in step
    recovery_s = 30        # after the last perturbation ends, every node must pass the height
                           # the cluster had then within this many seconds

    [[perturb]]
    at_s = 5               # seconds after the load started
    node = 1
    action = "kill"        # kill (SIGKILL), pause (SIGSTOP), or restart (SIGTERM)
    for_s = 3              # then restarted, resumed (SIGCONT) or restarted after this long
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

ACTIONS = ("kill", "pause", "restart")
NOT_BUILT = ("partition", "disconnect", "damage", "byzantine")
CONSENSUS = ("pbft", "pos", "poe")


class ManifestError(ValueError):
    """A manifest that cannot be run; the message names the field and what it expects."""


@dataclass(frozen=True)
class Perturbation:
    at_s: float
    node: int
    action: str
    for_s: float

    @property
    def end_s(self) -> float:
        return self.at_s + self.for_s


@dataclass(frozen=True)
class Manifest:
    name: str
    consensus: str
    nodes: int
    senders: int
    duration_s: float
    recovery_s: float
    perturbations: tuple[Perturbation, ...]

    @property
    def last_end_s(self) -> float:
        return max((p.end_s for p in self.perturbations), default=0.0)


def _number(doc: dict, key: str, default: float | None, low: float, high: float, where: str) -> float:
    value = doc.get(key, default)
    if value is None:
        raise ManifestError(f"{where}: {key} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ManifestError(f"{where}: {key} must be a number from {low:g} to {high:g}, not {value!r}")
    return value


def _perturbation(doc: object, nodes: int, index: int) -> Perturbation:
    where = f"perturb[{index}]"
    if not isinstance(doc, dict):
        raise ManifestError(f"{where} must be a table")
    unknown = set(doc) - {"at_s", "node", "action", "for_s"}
    if unknown:
        raise ManifestError(f"{where}: unknown fields {sorted(unknown)}")
    action = doc.get("action")
    if action in NOT_BUILT:
        raise NotImplementedError(f"{where}: the {action!r} perturbation is not built yet (built: {', '.join(ACTIONS)})")
    if action not in ACTIONS:
        raise ManifestError(f"{where}: action must be one of {', '.join(ACTIONS)}, not {action!r}")
    node = doc.get("node")
    if not isinstance(node, int) or isinstance(node, bool) or not 0 <= node < nodes:
        raise ManifestError(f"{where}: node must be an index from 0 to {nodes - 1}, not {node!r}")
    return Perturbation(_number(doc, "at_s", None, 0, 3600, where), node, action,
                        _number(doc, "for_s", 1.0, 0, 600, where))


def parse(doc: dict, name: str) -> Manifest:
    unknown = set(doc) - {"consensus", "nodes", "senders", "duration_s", "recovery_s", "perturb"}
    if unknown:
        raise ManifestError(f"{name}: unknown fields {sorted(unknown)}")
    consensus = doc.get("consensus", "pbft")
    if consensus not in CONSENSUS:
        raise ManifestError(f"{name}: consensus must be one of {', '.join(CONSENSUS)}, not {consensus!r}")
    nodes = int(_number(doc, "nodes", 4, 4, 16, name))
    perturb = doc.get("perturb", [])
    if not isinstance(perturb, list):
        raise ManifestError(f"{name}: perturb must be an array of tables ([[perturb]])")
    perturbations = tuple(sorted((_perturbation(p, nodes, i) for i, p in enumerate(perturb)), key=lambda p: p.at_s))
    manifest = Manifest(name, consensus, nodes, int(_number(doc, "senders", 16, 1, 256, name)),
                        _number(doc, "duration_s", 30, 1, 3600, name), _number(doc, "recovery_s", 30, 1, 600, name),
                        perturbations)
    faulty_at_once = max((sum(1 for q in perturbations if q.at_s <= p.at_s < q.end_s) for p in perturbations), default=0)
    if faulty_at_once > (nodes - 1) // 3:
        raise ManifestError(f"{name}: {faulty_at_once} nodes perturbed at once; {nodes} nodes tolerate "
                            f"{(nodes - 1) // 3}, and the checker expects liveness")
    return manifest


def load(path: Path) -> Manifest:
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not TOML: {exc}") from None
    return parse(doc, path.stem)
