"""A light gateway loads what it runs, nothing more: issue 16 gives it 40 MB, and the node's
HTTP stack, the benchmark tools and the numeric libraries would take a third of that."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from pownode.cli import build_parser
args = build_parser().parse_args(["gateway", "--mqtt", "mqtt://127.0.0.1", "--meter-key", "m.key", "--light",
                                  "--genesis", "genesis.json"])
import pownode.gateway, pownode.light, aiomqtt
loaded = sorted(m for m in ("aiohttp", "uvloop", "numpy", "numba", "multiprocessing", "vm.machine", "ledger.chain",
                            "importlib.metadata")
                if m in sys.modules)
print(" ".join(loaded) or "ok")
"""


def test_light_gateway_loads_no_node_or_bench_modules() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok", f"loaded by a light gateway: {out.stdout.strip()}"
