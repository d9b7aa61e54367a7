"""`pownode run`: one node and its API in one asyncio loop, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
import signal
from pathlib import Path

import uvloop

from pownode.embed import EmbeddedNode
from pownode.logs import LogFile, setup_logging

def tune_gc() -> None:
    """Collect young objects far less often, and never scan what start-up built.

    Decoding one 5,000-transaction proposal allocates some 10^5 container objects; at Python's
    default threshold (700) that triggers older-generation collections that walk the whole
    mempool and state, which cost more than the decoding itself (benchmarks/node_path.py).
    Records are acyclic, so the garbage left for the collector is rare.
    """
    gc.set_threshold(50_000, 20, 100)
    gc.freeze()


async def serve(home: Path, resync: bool) -> None:
    async with EmbeddedNode(home, resync=resync):
        tune_gc()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def run(home: Path, resync: bool = False, log_level: str = "info", log_json: bool = False,
        log_file: LogFile | None = None) -> None:
    """Run until SIGTERM; `resync` rebuilds a lost chain database from the peers. With
    POWNODE_PROFILE=1 in the environment, the node runs under cProfile and writes
    `profile.pstats` into its home at exit (for `pownode bench` studies)."""
    setup_logging(log_level, log_json, log_file)
    if os.environ.get("POWNODE_PROFILE") != "1":
        uvloop.run(serve(home, resync))  # libuv's loop: less CPU per socket event than asyncio's own
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        uvloop.run(serve(home, resync))
    finally:
        profiler.disable()
        profiler.dump_stats(home / "profile.pstats")
