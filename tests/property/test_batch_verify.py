"""Batch verification gives `verify`'s answers, signature by signature.

`ledger.keys.verify_batch` proves groups of signatures valid with ed25519-donna's batch check
(a random linear combination of their equations, cofactorless) and checks the rest alone. Its
answers must be `verify`'s (ZIP-215, cofactored, minus small-order keys) on everything a member
can send: honest and tampered signatures, signatures with a small-order part in R (valid under
ZIP-215, invalid without the cofactor), a non-canonical S (which the batch equation alone
would take), small-order keys, wrong types and lengths.
"""

from __future__ import annotations

import hashlib
import os

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import keys
from ledger.keys import GROUP_ORDER, SMALL_ORDER_KEYS, VERIFIERS, PrivateKey, proven_by_batch, verify, verify_batch

ORDER_8_POINT = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")


def _honest(count: int, size: int = 120) -> list[tuple[bytes, bytes, bytes]]:
    items = []
    for _ in range(count):
        key, message = PrivateKey.generate(), os.urandom(size)
        items.append((key.public_key, message, key.sign(message)))
    return items


def _scalar(data: bytes) -> bytes:
    return sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(data).digest())


def _with_torsion_in_r(message: bytes) -> tuple[bytes, bytes, bytes]:
    """A signature whose R is rB plus a point of order 8, S = r + k*a: the cofactored equation
    holds (ZIP-215 accepts it), the cofactorless one does not (libsodium refuses it)."""
    a, r = _scalar(os.urandom(32)), _scalar(os.urandom(32))
    public = sodium.crypto_scalarmult_ed25519_base_noclamp(a)
    big_r = sodium.crypto_core_ed25519_add(sodium.crypto_scalarmult_ed25519_base_noclamp(r), ORDER_8_POINT)
    k = sodium.crypto_core_ed25519_scalar_reduce(hashlib.sha512(big_r + public + message).digest())
    s = sodium.crypto_core_ed25519_scalar_add(r, sodium.crypto_core_ed25519_scalar_mul(k, a))
    return public, message, big_r + s


def _non_canonical_s(item: tuple[bytes, bytes, bytes]) -> tuple[bytes, bytes, bytes]:
    key, message, signature = item
    s = int.from_bytes(signature[32:], "little") + GROUP_ORDER  # the same scalar mod L
    return key, message, signature[:32] + s.to_bytes(32, "little")


def test_the_batch_verifier_is_built() -> None:
    # setup.py builds it optionally (a node without a C compiler checks every signature alone);
    # the tests are run where it is built, so a failed build shows here.
    assert keys.BATCH_VERIFIER == "ed25519-donna"


def test_honest_signatures_are_proven_in_groups() -> None:
    for count in (4, 5, 63, 64, 65, 200):
        items = _honest(count)
        assert proven_by_batch(items) == [True] * count
        assert verify_batch(items) == [True] * count
    assert proven_by_batch(_honest(3)) == [False] * 3  # too few for a batch: checked alone
    assert verify_batch(_honest(3)) == [True] * 3


@settings(max_examples=60, deadline=None)
@given(count=st.integers(4, 140), tampered=st.sets(st.integers(0, 139), max_size=6),
       where=st.sampled_from(["key", "message", "signature"]), position=st.integers(0, 10**6),
       xor=st.integers(1, 255))
def test_tampered_signatures_are_found_and_the_rest_kept(count: int, tampered: set[int], where: str,
                                                         position: int, xor: int) -> None:
    items = _honest(count, size=40)
    for index in tampered:
        if index < count:
            parts = dict(zip(("key", "message", "signature"), items[index]))
            raw = bytearray(parts[where] or b"\0")
            raw[position % len(raw)] ^= xor
            parts[where] = bytes(raw)
            items[index] = (parts["key"], parts["message"], parts["signature"])
    expected = [verify(*item) for item in items]
    assert verify_batch(items) == expected
    assert all(not proven or ok for proven, ok in zip(proven_by_batch(items), expected))


def test_small_order_parts_in_r_get_verifys_answer_whatever_the_batch_draws() -> None:
    crafted = _with_torsion_in_r(b"pay the grid")
    assert verify(*crafted) and not VERIFIERS["libsodium"](*crafted)  # the case that differs
    for _ in range(20):  # the batch's coefficients are random: each draw must give the same answers
        items = _honest(30) + [_with_torsion_in_r(os.urandom(20)) for _ in range(4)] + _honest(30)
        assert verify_batch(items) == [True] * len(items)
        alone = [_with_torsion_in_r(os.urandom(20)) for _ in range(8)]
        assert verify_batch(alone) == [True] * 8


def test_a_non_canonical_s_is_refused_though_the_batch_equation_alone_would_take_it() -> None:
    items = _honest(63)
    bad = _non_canonical_s(_honest(1)[0])
    assert not verify(*bad)
    group = items + [bad]
    # The equation reduces S modulo the group order, so asked directly it holds:
    assert keys._ed25519_batch.holds(*(list(column) for column in zip(*group)))
    assert verify_batch(group) == [True] * 63 + [False]
    assert not proven_by_batch(group)[-1]


def test_small_order_keys_are_never_proven() -> None:
    forged = bytes.fromhex("01" + "00" * 31) + bytes(32)  # R = identity, S = 0
    items = _honest(10) + [(key, b"transfer everything", forged) for key in SMALL_ORDER_KEYS]
    assert verify_batch(items) == [True] * 10 + [False] * len(SMALL_ORDER_KEYS)


def test_wrong_types_and_lengths_are_refused_without_raising() -> None:
    key, message, signature = _honest(1)[0]
    odd = [(key[:31], message, signature), (key, message, signature[:63]), (bytearray(key), message, signature),
           (key, message, signature + b"\0"), (key, None, signature)]
    items = _honest(8) + odd  # type: ignore[list-item]
    assert verify_batch(items) == [True] * 8 + [False] * len(odd)


def test_the_compiled_check_refuses_malformed_arguments() -> None:
    columns = [list(column) for column in zip(*_honest(4))]
    with pytest.raises(ValueError):
        keys._ed25519_batch.holds(columns[0][:3], columns[1][:3], columns[2][:3])  # below 4
    with pytest.raises(ValueError):
        keys._ed25519_batch.holds(columns[0] * 17, columns[1] * 17, columns[2] * 17)  # above 64
    with pytest.raises(ValueError):
        keys._ed25519_batch.holds(columns[0], columns[1], columns[2][:3])
    with pytest.raises(TypeError):
        keys._ed25519_batch.holds(columns[0], columns[1], [bytearray(s) for s in columns[2]])
    with pytest.raises(ValueError):
        keys._ed25519_batch.holds(columns[0], columns[1], [s[:63] for s in columns[2]])
