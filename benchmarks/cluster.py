"""The cluster throughput benchmark as a script: the same as `pownode bench` (see pownode/bench.py).

    python benchmarks/cluster.py --nodes 4 --consensus pbft --duration 20 --open-loop --json out.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pownode import bench  # noqa: E402

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="benchmarks/cluster.py")
    bench.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *sys.argv[1:]])
    sys.exit(args.run(args))
