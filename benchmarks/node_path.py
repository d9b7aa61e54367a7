"""Per-transaction CPU cost of each step a node takes for a transfer, in one process.

A validator that is not the proposer: admits the transaction from gossip (decode, verify in
batches as `TxReactor` does, mempool checks; also timed checking each signature alone), then receives the compact proposal naming it (decode and authenticate the
envelope, fill the block from the mempool),
validates the block (hash, execute, state root) and commits it to LevelDB. The proposer instead
builds the block. `pownode bench` measures the whole cluster; this says where a node's time goes.

    python benchmarks/node_path.py [--txs 5000] [--clock cpu|wall] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from consensus.messages import CompactProposal, Envelope  # noqa: E402
from ledger.blocks import Block  # noqa: E402
from ledger.chain import Chain  # noqa: E402
from ledger.database import LevelDB, MemoryDB  # noqa: E402
from ledger.devnet import Devnet, make_devnet  # noqa: E402
from ledger.encoding import pack  # noqa: E402
from ledger.executor import prove_signatures  # noqa: E402
from ledger.keys import VerifiedCache, verify  # noqa: E402
from ledger.mempool import Mempool  # noqa: E402
from ledger.transactions import Transaction, Transfer  # noqa: E402
from pownode.tx_reactor import ADMIT_SLICE, decode_batch  # noqa: E402
from pownode.parallel_verify import ParallelVerifier  # noqa: E402
from pownode.serve import tune_gc  # noqa: E402

SENDERS = 1000


def _load(devnet: Devnet, count: int) -> list[Transaction]:
    users = devnet.users
    return [Transaction.create(users[i % len(users)], devnet.genesis.chain_id, i // len(users),
                               Transfer(users[(i + 1) % len(users)].address, 1), fee=1) for i in range(count)]


def _admit_in_parallel(devnet: Devnet, batches: list[bytes], workers: int) -> float:
    """Admission as a node with `verify_workers` does it: decode, verify in worker processes
    (their start-up not timed), then admit with the signatures cached."""
    chain = Chain(MemoryDB(), devnet.genesis)
    mempool = Mempool(devnet.genesis, chain.cache)

    async def admit(verifier: ParallelVerifier) -> float:
        await verifier.start()
        started = time.perf_counter()
        for raw in batches:
            decoded = [Transaction.decode(item) for item in decode_batch(raw, len(raw) + 1)]
            for start in range(0, len(decoded), ADMIT_SLICE):
                await verifier.verify_into(decoded[start : start + ADMIT_SLICE], chain.cache)
            for tx in decoded:
                mempool.add(tx, chain.state)
        return time.perf_counter() - started

    verifier = ParallelVerifier(workers)
    try:
        return asyncio.run(admit(verifier))
    finally:
        verifier.close()


def run_once(count: int, workers: int, clock: Callable[[], float] = time.process_time) -> dict[str, float]:
    """One pass; each step timed with `clock` (CPU time by default: on a shared machine the wall
    clock also counts other processes' turns). Admission with verifying processes is timed on
    the wall clock, as its work is spread over other processes."""
    devnet = make_devnet(validators=4, users=SENDERS, meters=0, label="node-path")
    txs = _load(devnet, count)
    batches = [pack([t.encoded for t in txs[i : i + 1000]]) for i in range(0, count, 1000)]
    with tempfile.TemporaryDirectory() as proposer_dir, tempfile.TemporaryDirectory() as replica_dir:
        proposer = Chain(LevelDB(Path(proposer_dir), create=True), devnet.genesis)
        replica_cache = VerifiedCache()
        replica = Chain(LevelDB(Path(replica_dir), create=True), devnet.genesis, cache=replica_cache)
        mempool = Mempool(devnet.genesis, replica_cache)
        timings: dict[str, float] = {}

        alone = Mempool(devnet.genesis, VerifiedCache())
        started = clock()
        for raw in batches:
            for item in decode_batch(raw, len(raw) + 1):
                alone.add(item, replica.state)
        timings["gossip_admit_one_by_one"] = clock() - started

        started = clock()
        for raw in batches:
            items = decode_batch(raw, len(raw) + 1)
            for start in range(0, len(items), ADMIT_SLICE):
                decoded = [mempool.decode(item) for item in items[start : start + ADMIT_SLICE]]
                prove_signatures(decoded, replica_cache)
                for tx in decoded:
                    mempool.add(tx, replica.state)
        timings["gossip_admit"] = clock() - started
        if workers:
            timings[f"gossip_admit_{workers}_verify_processes"] = _admit_in_parallel(devnet, batches, workers)

        proposer_key = devnet.validators[0]
        started = clock()
        block, dropped = proposer.build_block(txs, proposer_key.public_key, devnet.genesis.genesis_time_ms + 1000,
                                              max_txs=count)
        timings["proposer_build"] = clock() - started
        assert not dropped and len(block.txs) == count
        compact = CompactProposal(1, 0, block.header, tuple(tx.hash for tx in block.txs))
        data = Envelope.seal(proposer_key, devnet.genesis.chain_id, compact).encoded
        timings["proposal_bytes"] = len(data) * 1e-6  # reported per transaction, like the times

        started = clock()
        env = Envelope.decode(data)
        filled = [mempool.get(h) for h in env.payload.tx_hashes]
        assert None not in filled
        received = Block(env.payload.header, tuple(filled))
        assert env.signature and received.hash == block.hash
        timings["proposal_decode"] = clock() - started

        started = clock()
        assert verify(env.sender, env.signing_bytes(devnet.genesis.chain_id), env.signature)
        timings["proposal_authenticate"] = clock() - started

        started = clock()
        replica.validate_block(received)
        timings["replica_validate"] = clock() - started

        sealed = devnet.seal(received)
        started = clock()
        replica.commit_block(sealed)
        mempool.remove_committed(list(sealed.txs), replica.state)
        timings["replica_commit"] = clock() - started
        replica.store.db.close()
        proposer.store.db.close()
    return {k: v / count * 1e6 for k, v in timings.items()}  # microseconds per transaction


def main() -> None:
    tune_gc()  # as in a node process
    parser = argparse.ArgumentParser()
    parser.add_argument("--txs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--verify-workers", type=int, default=os.cpu_count() or 1,
                        help="also time admission with this many verifying processes (0: skip)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="time steps in this process's CPU time (default) or on the wall clock")
    parser.add_argument("--json")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    runs = [run_once(args.txs, args.verify_workers, clock) for _ in range(args.repeat)]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    replica_total = sum(v for k, v in medians.items()
                        if k not in ("proposer_build", "proposal_bytes", "gossip_admit_one_by_one") and "processes" not in k)
    results = {k: round(v, 2) for k, v in medians.items()} | {"replica_total": round(replica_total, 2)}
    emit("node_path (microseconds per transaction, median of runs)", results,
         [(k, f"{v:8.2f} us") for k, v in results.items()], args.json)


if __name__ == "__main__":
    main()
