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


def test_an_added_validators_home_dials_every_validator_on_ports_nobody_uses(tmp_path) -> None:
    from pownode.config import NodeConfig, add_full_homes, add_validator_home, init_network
    from pownode.keyfile import read_key

    net = tmp_path / "net"
    homes = init_network(net, 4, "pbft", base_port=27000, block_interval_ms=500)
    add_full_homes(net, 1)
    new = add_validator_home(net)
    config = NodeConfig.load(new)
    keys = [read_key(Path(NodeConfig.load(h).key)).public_key.hex() for h in homes]
    assert new.name == "node4" and config.role == "validator" and config.dial_all_peers
    assert [(p.public_key, p.port) for p in config.peers] == [(k, 27000 + 2 * i) for i, k in enumerate(keys)]
    used = {port for h in [*homes, net / "full0"] for port in (NodeConfig.load(h).listen_port, NodeConfig.load(h).api_port)}
    assert {config.listen_port, config.api_port}.isdisjoint(used)
    assert config.block_interval_ms == 500 and read_key(Path(config.key)).public_key.hex() not in keys
    # The next one dials this one too, at its own address, since no other config has it.
    second = NodeConfig.load(add_validator_home(net))
    assert (read_key(Path(config.key)).public_key.hex(), config.listen_port) in {(p.public_key, p.port) for p in second.peers}
    assert second.listen_port not in used | {config.listen_port, config.api_port}


def test_an_added_validator_across_machines_listens_on_the_networks_ports(tmp_path) -> None:
    from pownode.config import NodeConfig, add_full_homes, add_validator_home, init_network
    from pownode.keyfile import read_key

    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
    net = tmp_path / "net"
    init_network(net, 4, "pbft", base_port=27000, hosts=hosts)
    with pytest.raises(ValueError, match="--host: the address of the new validator's machine"):
        add_validator_home(net)
    assert sorted(h.name for h in net.glob("node*")) == ["node0", "node1", "node2", "node3"]
    config = NodeConfig.load(add_validator_home(net, "10.0.0.5"))
    assert (config.listen_host, config.listen_port, config.api_port) == ("0.0.0.0", 27000, 27001)
    assert [(p.host, p.port) for p in config.peers] == [(host, 27000) for host in hosts]
    # Nodes added after it dial it on its machine, not at the address it listens on (0.0.0.0).
    key = read_key(Path(config.key)).public_key.hex()
    second = NodeConfig.load(add_validator_home(net, "10.0.0.6"))
    [full] = add_full_homes(net, 1)
    for later in (second, NodeConfig.load(full)):
        assert (key, "10.0.0.5", 27000) in {(p.public_key, p.host, p.port) for p in later.peers}


def test_an_added_validator_on_loopback_takes_no_host(tmp_path) -> None:
    from pownode.config import add_validator_home, init_network

    init_network(tmp_path / "net", 4, "pbft", base_port=27000)
    with pytest.raises(ValueError, match="runs on loopback"):
        add_validator_home(tmp_path / "net", "10.0.0.5")


def test_each_network_init_makes_has_a_chain_id_of_its_own(tmp_path) -> None:
    """Signatures cover the chain id: two networks sharing one would accept each other's
    transactions from a key funded on both."""
    from ledger.genesis import Genesis
    from pownode.config import init_network

    ids = []
    for name in ("a", "b"):
        init_network(tmp_path / name, 1, "pbft", base_port=27000)
        ids.append(Genesis.load(tmp_path / name / "genesis.json").chain_id)
    assert ids[0] != ids[1] and all(i.startswith("pownode-pbft-") for i in ids)
    init_network(tmp_path / "named", 1, "pos", base_port=27000, chain_id="my-community")
    assert Genesis.load(tmp_path / "named" / "genesis.json").chain_id == "my-community"


def test_add_validator_prints_the_key_and_the_command_the_operator_signs(tmp_path, capsys) -> None:
    from pownode.cli import main
    from pownode.config import init_network
    from pownode.keyfile import read_key

    init_network(tmp_path / "net", 4, "pbft")
    assert main(["add-validator", "--network", str(tmp_path / "net"), "--power", "3"]) == 0
    key = read_key(tmp_path / "net" / "node4" / "node.key").public_key.hex()
    assert f"set-validator --node {key} --power 3" in capsys.readouterr().out
    assert main(["add-validator", "--network", str(tmp_path / "net"), "--power", "0"]) == 1
    assert "--power: at least 1" in capsys.readouterr().err
    assert not (tmp_path / "net" / "node5").exists()
