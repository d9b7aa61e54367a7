"""Two validators' homes on free loopback ports, for tests that run one of them embedded and
play the other (its real key over a real socket) as the attacker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger.keys import PrivateKey
from pownode.config import init_network
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base


@dataclass(frozen=True)
class TwoValidators:
    homes: list[Path]
    keys: list[PrivateKey]
    me: int  # the one played by the test: the smaller key, which dials
    other: int  # the one run embedded
    port: int  # where `other` accepts peers


def two_validators(folder: Path) -> TwoValidators:
    base = _free_base(4)
    homes = init_network(folder, 2, "pbft", base_port=base)
    keys = [read_key(h / "node.key") for h in homes]
    me, other = (0, 1) if keys[0].public_key < keys[1].public_key else (1, 0)
    return TwoValidators(homes, keys, me, other, base + 2 * other)
