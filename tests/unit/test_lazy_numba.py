"""A node that never asks for a numba kernel never imports numba."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.mempool import Mempool
net = make_devnet()
chain = Chain(MemoryDB(), net.genesis)
block, _ = chain.build_block([], net.validators[0].public_key, chain.head.time_ms + 1)
chain.commit_block(net.seal(block))
assert "numba" not in sys.modules, "numba imported on the default path"
from ledger.hashing import BACKENDS
BACKENDS["numba"]([b"x"])
assert "numba" in sys.modules
print("ok")
"""


def test_numba_is_imported_only_on_demand() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
