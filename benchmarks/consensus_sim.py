"""Consensus cost in the deterministic simulator: messages, bytes and latency per block.

    python benchmarks/consensus_sim.py [--blocks 20] [--json FILE]

Each module runs at n = 4, 7, 10, 16 on a fault-free network where every message takes exactly
one delay (10 virtual ms) and proposers propose at once, until every replica has committed
`--blocks` blocks. Messages count every point-to-point delivery (a broadcast to n-1 peers is n-1
messages); latency is from a height's first Proposal to the last replica's commit of it, in
message delays. Blocks after the first few are empty, so bytes measure consensus overhead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from consensus.simulator import Scenario, Simulation  # noqa: E402

DELAY_MS = 10


def measure(consensus: str, nodes: int, blocks: int) -> dict:
    scenario = Scenario(consensus, nodes, seed=0, min_delay_ms=DELAY_MS, max_delay_ms=DELAY_MS,
                        target_height=blocks, propose_delay_ms=0, view_timeout_ms=2000)
    sim = Simulation(scenario, measure=True)
    started = time.perf_counter()
    result = sim.run()
    wall = time.perf_counter() - started
    if not result.ok:
        raise RuntimeError(result.report())
    height = min(result.heights.values())
    latencies = [
        (max(result.commit_times[h]) - sim.proposal_times[h]) / DELAY_MS
        for h in range(1, height + 1) if h in sim.proposal_times and len(result.commit_times.get(h, [])) == nodes
    ]
    return {
        "consensus": consensus,
        "nodes": nodes,
        "blocks": height,
        "messages_per_block": result.messages / height,
        "bytes_per_block": result.bytes / height,
        "latency_delays": statistics.median(latencies),
        "view_changes": result.view_changes,
        "sim_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--nodes", type=int, nargs="+", default=[4, 7, 10, 16])
    parser.add_argument("--json", help="also write the JSON results to this file")
    args = parser.parse_args()
    rows = [measure(c, n, args.blocks) for c in ("pbft", "pos", "poe") for n in args.nodes]
    table = [(f"{r['consensus']:<4} n={r['nodes']:<2}",
              f"{r['messages_per_block']:7.1f} msgs/block  {r['bytes_per_block']:9.0f} B/block  "
              f"latency {r['latency_delays']:.1f} delays") for r in rows]
    emit("consensus_sim", {"rows": rows, "delay_ms": DELAY_MS}, table, args.json)


if __name__ == "__main__":
    main()
