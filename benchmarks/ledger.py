"""Ledger benchmark: verify backends, encoding, merkle backends, block commit, disk use.

    python -m benchmarks.ledger [--quick] [--json FILE]

Every figure is a median over repeated runs in this one process; ratios compare figures taken
in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.report import emit, median_seconds
from ledger.chain import Chain
from ledger.database import LevelDB, MemoryDB
from ledger.devnet import Devnet, make_devnet
from ledger.hashing import BACKENDS
from ledger.keys import VERIFIERS, VerifiedCache, proven_by_batch
from ledger.transactions import Transaction, Transfer


def transfers(net: Devnet, count: int, start_nonce: int = 0) -> list[Transaction]:
    u = net.users
    n = len(u)
    return [
        Transaction.create(u[i % n], net.genesis.chain_id, start_nonce + i // n, Transfer(u[(i + 1) % n].address, 1 + i % 1000), fee=1)
        for i in range(count)
    ]


def bench_verify(repeat: int) -> dict[str, float]:
    net = make_devnet(users=1, meters=0, label="bench-verify")
    tx = transfers(net, 1)[0]
    args = (tx.sender, tx.signing_bytes, tx.signature)
    n = 2000
    out = {}
    for name, verify in VERIFIERS.items():
        assert verify(*args)
        out[name] = median_seconds(lambda: [verify(*args) for _ in range(n)], repeat) / n * 1e6
    # What admission and block validation do with many: batches of 64 distinct signatures.
    many = [(t.sender, t.signing_bytes, t.signature) for t in transfers(make_devnet(users=64, meters=0, label="bench-batch"), 64 * 16)]
    assert all(proven_by_batch(many))
    out["batch_of_64"] = median_seconds(lambda: proven_by_batch(many), repeat) / len(many) * 1e6
    return out


def bench_codec(repeat: int) -> dict[str, float]:
    net = make_devnet(users=2, meters=0, label="bench-codec")
    txs = transfers(net, 2000)
    raws = [t.encoded for t in txs]
    wires = [t.to_wire() for t in txs]
    from ledger.encoding import pack

    encode = median_seconds(lambda: [pack(w) for w in wires], repeat) / len(txs) * 1e6
    decode = median_seconds(lambda: [Transaction.decode(r) for r in raws], repeat) / len(txs) * 1e6
    return {"tx_encode_us": encode, "tx_decode_us": decode, "tx_bytes": len(raws[0])}


def bench_merkle(repeat: int, sizes: list[int]) -> dict[str, dict[str, float]]:
    net = make_devnet(users=16, meters=0, label="bench-merkle")
    pool = transfers(net, max(sizes))
    started = time.perf_counter()
    BACKENDS["numba"]([pool[0].encoded])  # numba import + compile or cache load
    first_call = time.perf_counter() - started
    out: dict[str, dict[str, float]] = {"numba_first_call_s": {"s": first_call}}
    for size in sizes:
        raw = [t.encoded for t in pool[:size]]
        assert BACKENDS["numba"](raw) == BACKENDS["hashlib"](raw)
        out[str(size)] = {name: median_seconds(lambda f=f: f(raw), repeat) * 1e3 for name, f in BACKENDS.items()}
    return out


def bench_commit(repeat: int, sizes: list[int], workdir: Path) -> dict[str, dict[str, float]]:
    """Validate + commit a received block to LevelDB (synced): signatures cold, then cached."""
    out: dict[str, dict[str, float]] = {}
    for size in sizes:
        net = make_devnet(users=200, meters=0, label=f"bench-commit-{size}")
        txs = transfers(net, size)
        builder = Chain(MemoryDB(), net.genesis)
        block, dropped = builder.build_block(txs, net.validators[0].public_key, builder.head.time_ms + 1)
        assert not dropped
        block = net.seal(block)
        fresh: dict[str, Chain] = {}

        def setup(cache: VerifiedCache | None) -> None:
            path = workdir / f"commit-{size}"
            if "chain" in fresh:
                fresh["chain"].store.db.close()
            shutil.rmtree(path, ignore_errors=True)
            fresh["chain"] = Chain(LevelDB(path, create=True), net.genesis, cache=cache)

        warm = VerifiedCache()
        for tx in txs:
            warm.add(tx.hash)
        cold = median_seconds(lambda: fresh["chain"].commit_block(block), repeat, lambda: setup(None))
        cached = median_seconds(lambda: fresh["chain"].commit_block(block), repeat, lambda: setup(warm))
        fresh["chain"].store.db.close()
        out[str(size)] = {"cold_sigs_tx_per_s": size / cold, "cached_sigs_tx_per_s": size / cached}
    return out


def bench_disk(blocks: int, per_block: int, workdir: Path) -> float:
    net = make_devnet(users=200, meters=0, label="bench-disk")
    path = workdir / "disk"
    chain = Chain(LevelDB(path, create=True), net.genesis)
    per_sender = per_block // len(net.users)
    for b in range(blocks):
        block, _ = chain.build_block(transfers(net, per_block, b * per_sender), net.validators[0].public_key,
                                     chain.head.time_ms + 1000)
        chain.commit_block(net.seal(block))
    chain.store.db.compact()
    chain.store.db.close()
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return size / (blocks * per_block)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    parser.add_argument("--json", help="also write the JSON results to this file")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    workdir = Path(tempfile.mkdtemp(prefix="pownode-bench-"))
    try:
        verify = bench_verify(repeat)
        codec = bench_codec(repeat)
        merkle = bench_merkle(repeat, [1000, 10000])
        commit = bench_commit(max(1, repeat // 2), [1000, 10000], workdir)
        disk = bench_disk(5 if args.quick else 20, 1000, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = {
        "verify_us": verify,
        "verify_speedup_zebra_vs_libsodium": verify["libsodium"] / verify["zebra"],
        "verify_speedup_libsodium_vs_cryptography": verify["cryptography"] / verify["libsodium"],
        "codec": codec,
        "merkle_ms": merkle,
        "commit": commit,
        "disk_bytes_per_tx": disk,
    }
    rows = [
        ("verify zebra / libsodium / cryptography (us/op)",
         f"{verify['zebra']:.1f} / {verify['libsodium']:.1f} / {verify['cryptography']:.1f}"),
        ("zebra speedup over libsodium", f"{results['verify_speedup_zebra_vs_libsodium']:.2f}x"),
        ("verify in batches of 64, ed25519-donna (us/signature)",
         f"{verify['batch_of_64']:.1f} ({verify['zebra'] / verify['batch_of_64']:.2f}x zebra alone)"),
        ("tx encode / decode (us/op)", f"{codec['tx_encode_us']:.2f} / {codec['tx_decode_us']:.2f}"),
        ("transfer tx size (bytes)", str(codec["tx_bytes"])),
        ("numba first call (s)", f"{merkle['numba_first_call_s']['s']:.2f}"),
    ]
    for size in ("1000", "10000"):
        m = merkle[size]
        rows.append((f"hashes+root {size} txs hashlib / numba (ms)",
                     f"{m['hashlib']:.2f} / {m['numba']:.2f}  (hashlib {m['numba'] / m['hashlib']:.2f}x faster)"))
    for size in ("1000", "10000"):
        c = commit[size]
        rows.append((f"commit block of {size} (tx/s) cold / cached sigs",
                     f"{c['cold_sigs_tx_per_s']:.0f} / {c['cached_sigs_tx_per_s']:.0f}"))
    rows.append(("bytes on disk per transfer", f"{disk:.0f}"))
    emit("ledger", results, rows, args.json)


if __name__ == "__main__":
    main()
