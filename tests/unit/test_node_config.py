"""A node's config.json is checked field by field: a typo or a wrong type is an error that names
it, not a Python traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pownode.config import NodeConfig


def _write(home: Path, **changes) -> None:
    doc = {"name": "node0", "genesis": "../genesis.json", "key": "node.key", "api_port": 26601, **changes}
    home.mkdir(exist_ok=True)
    (home / "config.json").write_text(json.dumps(doc))


@pytest.mark.parametrize(("changes", "message"), [
    ({"api_prot": 1}, r"unknown fields \['api_prot'\]"),
    ({"api_port": "26601"}, "api_port must be an integer"),
    ({"listen_host": 5}, "listen_host must be a string"),
    ({"peers": [{"host": "a"}]}, "peers must be a list of"),
    ({"name": None}, "name is required"),
    ({"dial_all_peers": 1}, "dial_all_peers must be true or false"),
])
def test_a_bad_config_is_refused_with_the_field_named(tmp_path: Path, changes: dict, message: str) -> None:
    _write(tmp_path / "n", **changes)
    with pytest.raises(ValueError, match=message):
        NodeConfig.load(tmp_path / "n")


def test_a_good_config_loads_and_a_missing_one_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "n", peers=[{"public_key": "ab", "host": "10.0.0.2", "port": 26600}])
    config = NodeConfig.load(tmp_path / "n")
    assert config.api_port == 26601 and config.peers[0].host == "10.0.0.2"
    with pytest.raises(ValueError, match="not a node home"):
        NodeConfig.load(tmp_path / "elsewhere")


def test_a_full_nodes_home_dials_every_validator_where_the_others_do(tmp_path) -> None:
    from pownode.config import NodeConfig, add_full_homes, init_network
    from pownode.keyfile import read_key

    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    homes = init_network(tmp_path / "net", 4, "pbft", base_port=27000, hosts=hosts)
    [full] = add_full_homes(tmp_path / "net", 1)
    config = NodeConfig.load(full)
    keys = [read_key(Path(NodeConfig.load(h).key)).public_key.hex() for h in homes]
    assert config.role == "full" and [(p.public_key, p.host, p.port) for p in config.peers] == [
        (k, host, 27000) for k, host in zip(keys, hosts)]
    assert read_key(Path(config.key)).public_key.hex() not in keys
    [second] = add_full_homes(tmp_path / "net", 1)
    assert second.name == "full1" and NodeConfig.load(second).api_port != config.api_port
