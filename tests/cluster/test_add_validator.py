"""A validator joins a running network: four pbft validator processes run; the operator writes a
fifth home with `pownode add-validator`, signs `set-validator` for its key and starts it. None
of the four is reconfigured or restarted, though every one of them has a smaller key than the
newcomer's (the case where, by the smaller-dials rule alone, each would have to dial it): the
newcomer dials them, they accept it as a member, it catches up, and its commit signatures
appear in the certificates of the blocks that follow."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.keys import PrivateKey
from pownode import cluster
from pownode.cli import main
from pownode.client import request
from pownode.config import NodeConfig
from pownode.keyfile import read_key, write_key
from tests.cluster.test_local_cluster import _free_base, _wait


def _api(home: Path) -> str:
    config = NodeConfig.load(home)
    return f"{config.api_host}:{config.api_port}"


def _key_above(keys: list[bytes]) -> PrivateKey:
    """A key larger than all of `keys` (about one try in five for four random keys)."""
    while True:
        key = PrivateKey.generate()
        if key.public_key > max(keys):
            return key


def _signed_by(api: str, key: str, since: int) -> int | None:
    """The first height after `since` whose certificate carries `key`'s signature, if any yet."""
    top = request(api, "/status")["height"]
    for height in range(since + 1, top + 1):
        if key in request(api, f"/blocks/{height}")["proof"]["signers"]:
            return height
    return None


def test_a_validator_joins_without_restarting_the_others(tmp_path: Path, capsys) -> None:
    home = tmp_path / "net"
    procs = []
    try:
        cluster.start(home, 4, "pbft", _free_base(12), procs, client_meters=True)
        cluster.wait_in_step(home, procs=procs, timeout_s=180)
        first = {p.pid for p in procs}
        old = [read_key(Path(NodeConfig.load(h).key)).public_key for h in cluster.node_homes(home)]

        assert main(["add-validator", "--network", str(home)]) == 0
        printed = capsys.readouterr().out
        new_home = home / "node4"
        assert NodeConfig.load(new_home).dial_all_peers
        assert read_key(new_home / "node.key").public_key.hex() in printed
        assert re.search(r"set-validator --node [0-9a-f]{64} --power 1", printed)
        # Every existing validator's key smaller than the newcomer's: each must accept it.
        (new_home / "node.key").unlink()
        write_key(new_home / "node.key", _key_above(old))
        new_key = read_key(new_home / "node.key").public_key.hex()

        api = _api(home / "node0")
        assert main(["tx", "send", "--api", api, "--key", str(home / "operator.key"), "--wait",
                     "set-validator", "--node", new_key, "--power", "1"]) == 0
        listed = {v["public_key"] for v in request(api, "/validators")["validators"]}
        assert new_key in listed and len(listed) == 5
        joined_at = request(api, "/status")["height"]

        cluster._spawn_recorded(home, new_home, procs)
        new_api = _api(new_home)
        _wait(lambda: cluster.api_get(new_api, "/status"), 180, "the newcomer's API")
        _wait(lambda: len(request(new_api, "/status")["peers"]) == 4, 120, "the newcomer links to all four")
        for h in cluster.node_homes(home)[:4]:
            _wait(lambda: new_key in request(_api(h), "/status")["peers"], 60, f"{h.name} links to the newcomer")
        _wait(lambda: request(new_api, "/status")["height"] >= joined_at, 120, "the newcomer catches up")
        signed = _wait(lambda: _signed_by(api, new_key, joined_at), 120, "a certificate with the newcomer's signature")
        # The newcomer holds the very block the others certified with its signature.
        _wait(lambda: request(new_api, "/status")["height"] >= signed, 60, "the newcomer reaches it")
        assert request(new_api, f"/blocks/{signed}")["hash"] == request(api, f"/blocks/{signed}")["hash"]
        # The chain keeps committing with the five, and none of the four was restarted.
        _wait(lambda: request(api, "/status")["height"] > signed + 2, 60, "more blocks with the new set")
        assert all(p.poll() is None for p in procs)
        assert first <= {p.pid for p in procs} and len(procs) == 5
    finally:
        cluster.stop(procs)
