"""`cluster down` recognises a node process by its command line and home, wherever the process
or `down` was started from, and nothing else; `cluster up`'s wait for its nodes says which did
not answer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pownode import cluster
from pownode.cluster import _home_of
from pownode.cli import main
from pownode.config import init_network
from tests.cluster.test_local_cluster import _free_base


def test_a_node_started_with_a_relative_home_is_found_from_anywhere(tmp_path: Path) -> None:
    (tmp_path / "net" / "node0").mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    node_like = subprocess.Popen(sleeper + ["pownode.cli", "run", "--home", "net/node0"], cwd=tmp_path)
    other = subprocess.Popen(sleeper + ["something", "else"], cwd=tmp_path)
    try:
        assert _home_of(node_like.pid) == (tmp_path / "net" / "node0").resolve()
        assert _home_of(other.pid) is None
    finally:
        for p in (node_like, other):
            p.kill()
            p.wait()
    assert _home_of(node_like.pid) is None  # gone


def test_nodes_that_never_answer_end_the_wait_with_each_named_and_where_to_look(tmp_path: Path) -> None:
    """`cluster up`'s wait names each node and its API, and points at the logs, instead of
    printing a list of (name, None) tuples."""
    home = tmp_path / "net"
    init_network(home, 2, "pbft", base_port=_free_base(4))
    with pytest.raises(TimeoutError) as waited:
        cluster.wait_in_step(home, timeout_s=0.5)
    said = str(waited.value)
    assert "node0 not answering at http://127.0.0.1:" in said and "node1 not answering" in said
    assert f"{home}/<node>/node.log" in said and "None" not in said


def test_up_refuses_flags_that_would_reshape_an_existing_home(tmp_path: Path, capsys) -> None:
    """`cluster up --consensus poe` on a home holding a PBFT network says so and starts nothing,
    instead of silently running the home's PBFT network; the home's own values pass."""
    home = tmp_path / "net"
    base = _free_base(4)
    init_network(home, 2, "pbft", base_port=base)
    assert main(["cluster", "up", "--home", str(home), "--consensus", "poe", "--nodes", "2", "--duration", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{home} already holds a network of 2 pbft validators from port {base}: --consensus poe" in err, err
    assert "--nodes" not in err.split(":", 2)[2] and not (home / "cluster.json").exists()
    cluster.refuse_other_shape(home, nodes=2, consensus="pbft", base_port=base)
    cluster.refuse_other_shape(tmp_path / "new", nodes=7, consensus="poe", base_port=1)  # a new home: anything
