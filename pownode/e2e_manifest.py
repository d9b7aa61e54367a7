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

from dataclasses import dataclass
from pathlib import Path

from pownode.toml_tables import Fields, read_toml

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


def _perturbation(doc: object, nodes: int, index: int) -> Perturbation:
    f = Fields(doc, f"perturb[{index}]", ManifestError)
    action = f.choice("action", ACTIONS, None, NOT_BUILT, " as a perturbation")
    node = f.number("node", 0, nodes - 1, integer=True)
    perturbation = Perturbation(f.number("at_s", 0, 3600), node, action, f.number("for_s", 0, 600, 1.0))
    f.done()
    return perturbation


def parse(doc: dict, name: str) -> Manifest:
    f = Fields(doc, name, ManifestError)
    consensus = f.choice("consensus", CONSENSUS, "pbft")
    nodes = f.number("nodes", 4, 16, 4, integer=True)
    perturbations = tuple(sorted((_perturbation(p, nodes, i) for i, p in enumerate(f.get("perturb", list, []))),
                                 key=lambda p: p.at_s))
    manifest = Manifest(name, consensus, nodes, f.number("senders", 1, 256, 16, integer=True),
                        f.number("duration_s", 1, 3600, 30), f.number("recovery_s", 1, 600, 30), perturbations)
    f.done()
    faulty_at_once = max((sum(1 for q in perturbations if q.at_s <= p.at_s < q.end_s) for p in perturbations), default=0)
    if faulty_at_once > (nodes - 1) // 3:
        raise ManifestError(f"{name}: {faulty_at_once} nodes perturbed at once; {nodes} nodes tolerate "
                            f"{(nodes - 1) // 3}, and the checker expects liveness")
    return manifest


def load(path: Path) -> Manifest:
    return parse(read_toml(path, ManifestError), path.stem)
