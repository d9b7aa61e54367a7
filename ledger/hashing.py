"""Transaction hashes plus merkle root of a block, with a choice of backend.

`hashlib` (OpenSSL, SHA-NI where the CPU has it) is the node's default path: on our hardware it
beats the numba kernel (numbers in README and `benchmarks/ledger.py`). The numba kernel stays
available and tested so a CPU without SHA extensions can switch by name. numba is imported only
when the numba backend is first used: a node that never asks for it never pays that import.
"""

from __future__ import annotations

from typing import Callable, Sequence

from ledger.merkle import EMPTY_ROOT, hash_and_root


def hash_and_root_numba(encoded_txs: Sequence[bytes]) -> tuple[list[bytes], bytes]:
    """Same result as `ledger.merkle.hash_and_root`, computed in one numba call."""
    import numpy as np

    from ledger import sha256_kernel as kernel

    offsets = np.zeros(len(encoded_txs) + 1, dtype=np.int64)
    if encoded_txs:
        np.cumsum([len(tx) for tx in encoded_txs], out=offsets[1:])
    buf = np.frombuffer(b"".join(encoded_txs), dtype=np.uint8)
    hashes, root = kernel.hash_and_root_kernel(
        buf, offsets, kernel._K, kernel._H0, np.frombuffer(EMPTY_ROOT, dtype=np.uint8)
    )
    raw = hashes.tobytes()
    return [raw[i : i + 32] for i in range(0, len(raw), 32)], root.tobytes()


BACKENDS: dict[str, Callable[[Sequence[bytes]], tuple[list[bytes], bytes]]] = {
    "hashlib": hash_and_root,
    "numba": hash_and_root_numba,
}
