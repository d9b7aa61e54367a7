"""Per-transaction CPU cost of each step a node takes for a transfer, in one process.

A validator that is not the proposer: admits the transaction from gossip (decode, verify,
mempool checks), then receives the proposal holding it (decode and authenticate the envelope),
validates the block (hash, execute, state root) and commits it to LevelDB. The proposer instead
builds the block. `pownode bench` measures the whole cluster; this says where a node's time goes.

    python benchmarks/node_path.py [--txs 5000] [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from consensus.messages import Envelope, Proposal  # noqa: E402
from ledger.chain import Chain  # noqa: E402
from ledger.database import LevelDB  # noqa: E402
from ledger.devnet import Devnet, make_devnet  # noqa: E402
from ledger.encoding import pack, unpack  # noqa: E402
from ledger.keys import VerifiedCache, verify  # noqa: E402
from ledger.mempool import Mempool  # noqa: E402
from ledger.transactions import Transaction, Transfer  # noqa: E402
from pownode.node import TX_BATCH  # noqa: E402
from pownode.serve import tune_gc  # noqa: E402

SENDERS = 1000


def _load(devnet: Devnet, count: int) -> list[Transaction]:
    users = devnet.users
    return [Transaction.create(users[i % len(users)], devnet.genesis.chain_id, i // len(users),
                               Transfer(users[(i + 1) % len(users)].address, 1), fee=1) for i in range(count)]


def run_once(count: int) -> dict[str, float]:
    devnet = make_devnet(validators=4, users=SENDERS, meters=0, label="node-path")
    txs = _load(devnet, count)
    batches = [pack([t.encoded for t in txs[i : i + 1000]]) for i in range(0, count, 1000)]
    with tempfile.TemporaryDirectory() as proposer_dir, tempfile.TemporaryDirectory() as replica_dir:
        proposer = Chain(LevelDB(Path(proposer_dir)), devnet.genesis)
        replica_cache = VerifiedCache()
        replica = Chain(LevelDB(Path(replica_dir)), devnet.genesis, cache=replica_cache)
        mempool = Mempool(devnet.genesis, replica_cache)
        timings: dict[str, float] = {}

        started = time.perf_counter()
        for raw in batches:
            for item in TX_BATCH.check(unpack(raw, max_size=len(raw) + 1), "txs"):
                mempool.add(item, replica.state)
        timings["gossip_admit"] = time.perf_counter() - started

        proposer_key = devnet.validators[0]
        started = time.perf_counter()
        block, dropped = proposer.build_block(txs, proposer_key.public_key, devnet.genesis.genesis_time_ms + 1000,
                                              max_txs=count)
        timings["proposer_build"] = time.perf_counter() - started
        assert not dropped and len(block.txs) == count
        data = Envelope.seal(proposer_key, devnet.genesis.chain_id, Proposal(1, 0, block)).encoded

        started = time.perf_counter()
        env = Envelope.decode(data)
        assert env.signature and env.payload.block.hash == block.hash
        timings["proposal_decode"] = time.perf_counter() - started

        started = time.perf_counter()
        assert verify(env.sender, env.signing_bytes(devnet.genesis.chain_id), env.signature)
        timings["proposal_authenticate"] = time.perf_counter() - started

        received = env.payload.block
        started = time.perf_counter()
        replica.validate_block(received)
        timings["replica_validate"] = time.perf_counter() - started

        sealed = devnet.seal(received)
        started = time.perf_counter()
        replica.commit_block(sealed)
        mempool.remove_committed(list(sealed.txs), replica.state)
        timings["replica_commit"] = time.perf_counter() - started
        replica.store.db.close()
        proposer.store.db.close()
    return {k: v / count * 1e6 for k, v in timings.items()}  # microseconds per transaction


def main() -> None:
    tune_gc()  # as in a node process
    parser = argparse.ArgumentParser()
    parser.add_argument("--txs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    runs = [run_once(args.txs) for _ in range(args.repeat)]
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    replica_total = sum(v for k, v in medians.items() if k != "proposer_build")
    results = {k: round(v, 2) for k, v in medians.items()} | {"replica_total": round(replica_total, 2)}
    emit("node_path (microseconds per transaction, median of runs)", results,
         [(k, f"{v:8.2f} us") for k, v in results.items()], args.json)


if __name__ == "__main__":
    main()
