"""The signature acceptance rules are consensus: ZIP-215 via ed25519-zebra, minus small-order keys.

On every signature an honest signer makes, and on every tampering of one, the node's `verify`
agrees with libsodium and with `cryptography`. Where ZIP-215 alone would let anyone sign (a
small-order public key), `verify` refuses, as libsodium does.
"""

from __future__ import annotations

import ed25519_zebra
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.keys import SMALL_ORDER_KEYS, VERIFIERS, PrivateKey, is_small_order, verify

IDENTITY_R = bytes.fromhex("01" + "00" * 31)


@settings(max_examples=150, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300),
       flip=st.one_of(st.none(), st.tuples(st.sampled_from(["key", "message", "signature"]), st.integers(0, 10**6),
                                           st.integers(1, 255))))
def test_every_backend_agrees_on_honest_and_tampered_signatures(seed: bytes, message: bytes, flip) -> None:
    key = PrivateKey(seed)
    parts = {"key": key.public_key, "message": message, "signature": key.sign(message)}
    if flip is not None:
        name, position, xor = flip
        raw = bytearray(parts[name])
        if raw:
            raw[position % len(raw)] ^= xor
            parts[name] = bytes(raw)
    verdicts = {name: fn(parts["key"], parts["message"], parts["signature"]) for name, fn in VERIFIERS.items()}
    assert len(set(verdicts.values())) == 1, verdicts
    assert verify(parts["key"], parts["message"], parts["signature"]) == verdicts["zebra"]
    if flip is None:
        assert verdicts["zebra"]


def test_small_order_keys_are_refused_though_zip215_alone_accepts_a_forgery_for_them() -> None:
    forged = IDENTITY_R + bytes(32)  # R = identity, S = 0: [8](S*B - R - k*A) = 0 when 8A = 0
    accepted_raw = 0
    for base in SMALL_ORDER_KEYS:
        for key in (base, base[:31] + bytes([base[31] | 0x80])):  # both sign bits
            assert is_small_order(key)
            assert not verify(key, b"transfer everything", forged)
            assert not VERIFIERS["libsodium"](key, b"transfer everything", forged)
            accepted_raw += ed25519_zebra.ed_verify(forged, b"transfer everything", key)
    assert accepted_raw >= 7  # without the guard these keys would be anyone's


def test_ordinary_keys_are_not_small_order() -> None:
    assert not any(is_small_order(PrivateKey.from_label(str(i)).public_key) for i in range(200))
    assert not is_small_order(b"\x01" * 31)  # wrong length is simply not a key of small order
