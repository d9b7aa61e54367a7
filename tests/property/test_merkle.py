"""Merkle proofs verify and fail when tampered; the numba kernel equals hashlib exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.hashing import BACKENDS
from ledger.merkle import EMPTY_ROOT, merkle_proof, merkle_root, verify_proof

leaves_st = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@settings(max_examples=150)
@given(leaves=leaves_st, data=st.data())
def test_every_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    assert verify_proof(root, leaves[i], i, len(leaves), merkle_proof(leaves, i))


@settings(max_examples=150)
@given(leaves=leaves_st, data=st.data())
def test_tampered_proofs_fail(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle_proof(leaves, i)
    other_leaf = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != leaves[i]))
    assert not verify_proof(root, other_leaf, i, n, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[k] = bytes([bad[k][0] ^ 1]) + bad[k][1:]
        assert not verify_proof(root, leaves[i], i, n, bad)
        assert not verify_proof(root, leaves[i], i, n, proof[:-1])
    assert not verify_proof(root, leaves[i], i, n, proof + [b"\0" * 32])
    if n > 1 and leaves[i] != leaves[(i + 1) % n]:
        assert not verify_proof(root, leaves[i], (i + 1) % n, n, proof)


def test_odd_leaf_is_promoted_not_duplicated() -> None:
    a, b, c = (bytes([x]) * 32 for x in (1, 2, 3))
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    assert merkle_root([]) == EMPTY_ROOT


@settings(max_examples=60, deadline=None)
@given(txs=st.lists(st.binary(max_size=300), max_size=40))
def test_numba_kernel_equals_hashlib(txs: list[bytes]) -> None:
    assert BACKENDS["numba"](txs) == BACKENDS["hashlib"](txs)


def test_numba_kernel_block_boundaries() -> None:
    # Message lengths around the 55/56/64-byte padding boundaries, where SHA-256 bugs live.
    txs = [bytes(range(256))[:n] for n in (0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200)]
    assert BACKENDS["numba"](txs) == BACKENDS["hashlib"](txs)


def _reference_root(leaves: list[bytes]) -> bytes:
    """The tree as the module docstring defines it, hashing every leaf and node."""
    import hashlib

    if not leaves:
        return EMPTY_ROOT
    level = [hashlib.sha256(b"\x00" + x).digest() for x in leaves]
    while len(level) > 1:
        up = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = up + level[-1:] if len(level) % 2 else up
    return level[0]


@settings(max_examples=150)
@given(runs=st.lists(st.tuples(st.binary(min_size=32, max_size=32), st.integers(1, 9)), max_size=12),
       data=st.data())
def test_repeated_leaves_give_the_same_root_and_proofs_as_distinct_ones(runs, data) -> None:
    """Runs of one leaf object (receipts: mostly the one SUCCESS), which the tree hashes once
    per level, give the root and proofs of the same values as distinct objects."""
    shared = [leaf for leaf, count in runs for _ in range(count)]
    distinct = [bytes(bytearray(leaf)) for leaf in shared]
    assert merkle_root(shared) == merkle_root(distinct) == _reference_root(distinct)
    if shared:
        i = data.draw(st.integers(0, len(shared) - 1))
        assert merkle_proof(shared, i) == merkle_proof(distinct, i)
        assert verify_proof(merkle_root(shared), shared[i], i, len(shared), merkle_proof(shared, i))
