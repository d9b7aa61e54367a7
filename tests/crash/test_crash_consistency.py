"""SIGKILL a committing process at random moments; every reopen must be consistent.

Across the suite the committer is killed KILLS times (in several fresh databases so the
replay audit stays short). After each kill the store must open at a height no lower than the
last one the child reported committed, with block and state of that height matching, and
replaying every stored block from genesis must reproduce the stored state exactly.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.chain import Chain
from ledger.database import LevelDB
from tests.crash.committer import NET

ROUNDS = 6
KILLS_PER_ROUND = 9  # 54 kills in all
CHILD = [sys.executable, "-m", "tests.crash.committer"]
ROOT = Path(__file__).resolve().parents[2]


def _run_and_kill(path: Path, rng: random.Random) -> int:
    """Start the committer, kill it after a random delay; return the last height it reported."""
    proc = subprocess.Popen(CHILD + [str(path), "100000"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("ready"), first + proc.stderr.read()
        time.sleep(rng.uniform(0.0, 0.35))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"committer exited by itself with {proc.returncode}"
    heights = [int(line.split()[1]) for line in (first + out).splitlines() if line.startswith(("ready", "committed"))]
    return max(heights)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_sigkill_leaves_a_consistent_store(round_: int, tmp_path: Path) -> None:
    rng = random.Random(1000 + round_)
    path = tmp_path / "chain"
    last_height = 0
    for _ in range(KILLS_PER_ROUND):
        reported = _run_and_kill(path, rng)
        chain = Chain(LevelDB(path), NET.genesis)  # raises StorageError if inconsistent
        try:
            assert chain.height >= reported, "a block reported committed was lost"
            assert chain.height >= last_height
            assert chain.store.block(chain.height).header == chain.head
            assert chain.store.block(chain.height + 1) is None
            assert chain.audit() == chain.height
            last_height = chain.height
        finally:
            chain.store.db.close()
    assert last_height > 0, "the committer never committed anything: kills came too early"
