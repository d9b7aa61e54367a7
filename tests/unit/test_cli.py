"""The demo does real work end to end; keygen and check behave as the README says."""

from __future__ import annotations

import json
import socket

from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.devnet import make_devnet
from pownode.cli import main
from pownode.demo import run_demo
from pownode.keyfile import read_key


def test_demo_trades_through_the_market_contract(tmp_path) -> None:
    report = run_demo(tmp_path / "demo", intervals=48, users=4, show=False)
    assert report.blocks == 49  # the opening block and one per interval
    assert report.rejected == {} and report.failed_calls == 0
    assert report.txs == sum(report.kinds.values())
    assert report.kinds["MeterReading"] == 48 * 2  # 2 metered households, one reading per interval
    assert len(report.windows) == 47  # every window but the last is cleared by the next block
    traded = [w for w in report.windows if w[2] > 0]
    assert traded and report.paid > 0  # by noon the PV households sell to the others
    assert all(5_000 < price <= 24_000 for _, price, volume, _ in report.windows if volume)
    assert report.settled == 48 - 3  # every delivered window but the last two, against the meters


def test_keygen_writes_a_private_key_file(tmp_path, capsys) -> None:
    path = tmp_path / "node.key"
    assert main(["keygen", "--out", str(path)]) == 0
    key = read_key(path)
    assert key.public_key.hex() in capsys.readouterr().out
    assert path.stat().st_mode & 0o077 == 0
    assert main(["keygen", "--out", str(path)]) == 1  # never overwrites a key
    assert "already exists: a key file is never overwritten" in capsys.readouterr().err
    assert read_key(path).seed == key.seed


def test_a_refused_init_writes_nothing_so_a_corrected_one_succeeds(tmp_path, capsys) -> None:
    """`init` checks the network before writing a key: a wrong --nodes or --base-port leaves no
    half-made folder that would make the corrected command refuse a non-empty one."""
    out = tmp_path / "net"
    for wrong, named in ((["--nodes", "0"], "--nodes: at least 1"), (["--base-port", "65530"], "to 65537, outside 0..65535"),
                         (["--base-port", "70000"], "outside 0..65535"), (["--base-port", "-2"], "outside 0..65535")):
        assert main(["init", "--out", str(out), *wrong]) == 1
        assert named in capsys.readouterr().err and not out.exists()
    assert main(["init", "--out", str(out), "--base-port", "65000"]) == 0
    assert f"pownode cluster up --home {out}" in capsys.readouterr().out  # what to do next
    assert sorted(p.name for p in out.iterdir()) == ["clients", "genesis.json", "meters", "node0", "node1", "node2",
                                                     "node3", "operator.key"]


def test_check_audits_a_store(tmp_path, capsys) -> None:
    net = make_devnet(label="cli")
    chain = Chain(LevelDB(tmp_path / "db", create=True), net.genesis)
    block, _ = chain.build_block([], net.validators[0].public_key, chain.head.time_ms + 1)
    chain.commit_block(net.seal(block))
    chain.store.db.close()
    (tmp_path / "genesis.json").write_text(json.dumps(net.genesis.to_json()))
    assert main(["check", "--db", str(tmp_path / "db"), "--genesis", str(tmp_path / "genesis.json")]) == 0
    assert "ok: 1 blocks" in capsys.readouterr().out
    other = make_devnet(label="cli-other")
    (tmp_path / "other.json").write_text(json.dumps(other.genesis.to_json()))
    assert main(["check", "--db", str(tmp_path / "db"), "--genesis", str(tmp_path / "other.json")]) == 1


def test_a_node_not_running_is_named_with_what_to_check(capsys) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    assert main(["query", "status", "--api", f"127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the node at 127.0.0.1:{port} (Connection refused): is it running" in err, err
    assert "cluster status" in err and "Errno" not in err and err.count("\n") == 1
