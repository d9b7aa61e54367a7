"""`cluster down` recognises a node process by its command line and home, wherever the process
or `down` was started from, and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pownode.cluster import _home_of


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
