"""SHA-256 transaction hashes and the block merkle root in one numba call.

Input is one contiguous buffer of encoded transactions plus their offsets, so no Python call is
made per transaction. The result must equal `ledger.merkle.hash_and_root` exactly (property test
in tests/property/test_merkle.py). Importing this module imports numba: only
`ledger.hashing.hash_and_root_numba` does, on first use.

Arithmetic is done in int64 and masked to 32 bits: numba widens uint32 operands to 64 bits, and
int64 holds every intermediate (a 32-bit value shifted left by at most 31 bits, or a sum of five
32-bit values) without overflow.
"""

from __future__ import annotations

import numba
import numpy as np

_K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.int64,
)
_H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.int64,
)
_M = 0xFFFFFFFF


@numba.njit(cache=True, inline="always")
def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _M


@numba.njit(cache=True)
def _compress(state: np.ndarray, block: np.ndarray, start: int, w: np.ndarray, k: np.ndarray) -> None:
    for i in range(16):
        j = start + 4 * i
        w[i] = (np.int64(block[j]) << 24) | (np.int64(block[j + 1]) << 16) | (np.int64(block[j + 2]) << 8) | np.int64(block[j + 3])
    for i in range(16, 64):
        x = w[i - 15]
        y = w[i - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> 10)
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & _M
    a, b, c, d = state[0], state[1], state[2], state[3]
    e, f, g, h = state[4], state[5], state[6], state[7]
    for i in range(64):
        t1 = (h + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ ((~e & _M) & g)) + k[i] + w[i]) & _M
        t2 = ((_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) & _M
        h = g
        g = f
        f = e
        e = (d + t1) & _M
        d = c
        c = b
        b = a
        a = (t1 + t2) & _M
    state[0] = (state[0] + a) & _M
    state[1] = (state[1] + b) & _M
    state[2] = (state[2] + c) & _M
    state[3] = (state[3] + d) & _M
    state[4] = (state[4] + e) & _M
    state[5] = (state[5] + f) & _M
    state[6] = (state[6] + g) & _M
    state[7] = (state[7] + h) & _M


@numba.njit(cache=True)
def _sha256_into(data: np.ndarray, start: int, length: int, out: np.ndarray, out_row: int,
                 w: np.ndarray, tail: np.ndarray, state: np.ndarray, k: np.ndarray, h0: np.ndarray) -> None:
    """SHA-256 of data[start:start+length] written to out[out_row]."""
    for i in range(8):
        state[i] = h0[i]
    full = length // 64
    for blk in range(full):
        _compress(state, data, start + 64 * blk, w, k)
    rem = length - 64 * full
    for i in range(128):
        tail[i] = 0
    for i in range(rem):
        tail[i] = data[start + 64 * full + i]
    tail[rem] = 0x80
    tail_len = 64 if rem < 56 else 128
    bits = np.int64(length) * 8
    for i in range(8):
        tail[tail_len - 1 - i] = (bits >> (8 * i)) & 0xFF
    _compress(state, tail, 0, w, k)
    if tail_len == 128:
        _compress(state, tail, 64, w, k)
    for i in range(8):
        v = state[i]
        out[out_row, 4 * i] = (v >> 24) & 0xFF
        out[out_row, 4 * i + 1] = (v >> 16) & 0xFF
        out[out_row, 4 * i + 2] = (v >> 8) & 0xFF
        out[out_row, 4 * i + 3] = v & 0xFF


@numba.njit(cache=True)
def hash_and_root_kernel(buf: np.ndarray, offsets: np.ndarray, k: np.ndarray, h0: np.ndarray,
                         empty_root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the n messages buf[offsets[i]:offsets[i+1]] and the merkle root over them."""
    n = offsets.shape[0] - 1
    w = np.empty(64, dtype=np.int64)
    tail = np.empty(128, dtype=np.uint8)
    state = np.empty(8, dtype=np.int64)
    hashes = np.empty((n, 32), dtype=np.uint8)
    for i in range(n):
        _sha256_into(buf, offsets[i], offsets[i + 1] - offsets[i], hashes, i, w, tail, state, k, h0)
    root = np.empty(32, dtype=np.uint8)
    if n == 0:
        root[:] = empty_root
        return hashes, root
    # Leaves: sha256(0x00 || tx_hash); inner nodes: sha256(0x01 || left || right).
    level = np.empty((n, 32), dtype=np.uint8)
    msg = np.empty(65, dtype=np.uint8)
    for i in range(n):
        msg[0] = 0
        msg[1:33] = hashes[i]
        _sha256_into(msg, 0, 33, level, i, w, tail, state, k, h0)
    size = n
    while size > 1:
        half = size // 2
        for i in range(half):
            msg[0] = 1
            msg[1:33] = level[2 * i]
            msg[33:65] = level[2 * i + 1]
            _sha256_into(msg, 0, 65, level, i, w, tail, state, k, h0)
        if size % 2 == 1:
            level[half] = level[size - 1]
            size = half + 1
        else:
            size = half
    root[:] = level[0]
    return hashes, root
