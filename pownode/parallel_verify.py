"""Signature verification spread over worker processes, for a node with cores to spare.

ed25519-zebra holds the GIL, so threads would not run verifications in parallel: workers are
processes (spawned, so they hold nothing of the node's). A batch is split across them, and
every signature that verifies is added to the node's `VerifiedCache`, which admission and
block validation consult before verifying anything themselves.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from ledger.keys import VerifiedCache, verify_batch
from ledger.transactions import Transaction


class ParallelVerifier:
    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker process")
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    async def start(self) -> None:
        """Start every worker now rather than on the first batch (spawning takes ~0.3 s)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, verify_batch, []) for _ in range(self.workers)))

    async def verify_into(self, txs: list[Transaction], cache: VerifiedCache) -> None:
        """Verify `txs` in parallel; remember those that verify in `cache` (the rest are
        refused later, with their reason, by whoever verifies them again)."""
        loop = asyncio.get_running_loop()
        chunks = [txs[i :: self.workers] for i in range(self.workers) if txs[i :: self.workers]]
        verdicts = await asyncio.gather(*(
            loop.run_in_executor(self._pool, verify_batch, [(t.sender, t.signing_bytes, t.signature) for t in chunk])
            for chunk in chunks))
        for chunk, oks in zip(chunks, verdicts, strict=True):
            for tx, ok in zip(chunk, oks, strict=True):
                if ok:
                    cache.add(tx.hash)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
