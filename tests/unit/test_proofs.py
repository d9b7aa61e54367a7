"""State and transaction proofs: what they show checks out against the roots, and any change to
a proof, its entries or its root is refused."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.errors import InvalidBlock
from ledger.proofs import InvalidProof, StateProof, TxProof, prove_state, prove_tx, verify_state, verify_tx
from ledger.state import State, bucket_of, entry_digest, sub_of
from ledger.transactions import SetValidator, Transaction, Transfer

NET = make_devnet(validators=4, users=4, meters=0, label="proofs")

keys = st.binary(min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(items=st.dictionaries(keys, st.binary(max_size=40), max_size=60), probe=keys)
def test_a_state_proof_shows_the_value_or_the_absence(items: dict[bytes, bytes], probe: bytes) -> None:
    state = State(items.items())
    root = state.root()
    for key in list(items)[:5] + [probe]:
        assert verify_state(root, prove_state(state, key)) == items.get(key)
        assert verify_state(root, StateProof.from_json(prove_state(state, key).to_json())) == items.get(key)


def _crowded_state() -> tuple[State, bytes, bytes]:
    """A state where the probed key shares its sub-bucket with another key and its bucket with a
    key of a lower sub-bucket, and one absent key that falls in its sub-bucket too."""
    target = b"key-0"
    same = [k for k in (b"key-%d" % i for i in range(1, 3_000_000))
            if bucket_of(k) == bucket_of(target) and sub_of(k) == sub_of(target)][:2]
    below = next(k for k in (b"low-%d" % i for i in range(1_000_000))
                 if bucket_of(k) == bucket_of(target) and sub_of(k) < sub_of(target))
    state = State([(target, b"mine"), (same[0], b"neighbour"), (below, b"lower sub-bucket")]
                  + [(b"other-%d" % i, b"x") for i in range(300)])
    return state, target, same[1]


def test_every_change_to_a_state_proof_is_refused() -> None:
    state, target, absent = _crowded_state()
    root = state.root()
    proof = prove_state(state, target)
    assert verify_state(root, proof) == b"mine" and len(proof.others) == 1
    gap = prove_state(state, absent)
    assert verify_state(root, gap) is None and len(gap.others) == 2
    mine = entry_digest(target, b"mine")
    (k0, d0), (k1, d1) = gap.others
    forged = {
        "value": StateProof(target, b"yours", proof.others, proof.subs, proof.path),
        "present made absent": StateProof(target, None, proof.others, proof.subs, proof.path),
        "present made absent, its digest kept among the others": StateProof(
            target, None, tuple(sorted(proof.others + ((target, mine),))), proof.subs, proof.path),
        "neighbour left out": StateProof(target, b"mine", (), proof.subs, proof.path),
        "reordered": StateProof(absent, None, ((k1, d1), (k0, d0)), gap.subs, gap.path),
        "repeated": StateProof(absent, None, ((k0, d0), (k0, d0), (k1, d1)), gap.subs, gap.path),
        "stranger entry": StateProof(target, b"mine", tuple(sorted(proof.others + ((b"zz", bytes(32)),))),
                                     proof.subs, proof.path),
        "short digest": StateProof(target, b"mine", tuple((k, d[:31]) for k, d in proof.others), proof.subs,
                                   proof.path),
        "path": StateProof(target, b"mine", proof.others, proof.subs, (bytes(32),) + proof.path[1:]),
        "short path": StateProof(target, b"mine", proof.others, proof.subs, proof.path[1:]),
        "own sub listed": StateProof(target, b"mine", proof.others, proof.subs + ((sub_of(target), bytes(32)),),
                                     proof.path),
        "absent made present": StateProof(absent, b"x", gap.others, gap.subs, gap.path),
    }
    # The key's sub-bucket hidden inside a longer "hash" of the sub-bucket before it: the bucket
    # hash (indices and hashes concatenated) comes out the same, and the key would look absent.
    assert proof.subs and min(s for s, _ in proof.subs) < sub_of(target), "the scenario needs a sub-bucket before"
    before = max((s, h) for s, h in proof.subs if s < sub_of(target))
    own = hashlib.sha256(b"".join(d for _, d in sorted(proof.others + ((target, mine),)))).digest()
    forged["hidden sub-bucket"] = StateProof(target, None, (), tuple(
        (s, h + bytes((sub_of(target),)) + own if (s, h) == before else h) for s, h in proof.subs), proof.path)
    for what, bad in forged.items():
        with pytest.raises(InvalidProof):
            verify_state(root, bad)
            pytest.fail(f"accepted a proof with a forged {what}")
    with pytest.raises(InvalidProof):
        verify_state(bytes(32), proof)
    with pytest.raises(InvalidProof):
        StateProof.from_json({"key": "zz"})


def _block_with_receipts():
    chain = Chain(MemoryDB(), NET.genesis)
    u = NET.users
    txs = [Transaction.create(u[i], NET.genesis.chain_id, 0, Transfer(u[(i + 1) % 4].address, 10 + i), fee=1)
           for i in range(3)]
    txs.append(Transaction.create(NET.operator, NET.genesis.chain_id, 0, SetValidator(u[3].public_key, 2)))
    block, dropped = chain.build_block(txs, NET.validators[0].public_key, NET.genesis.genesis_time_ms + 10)
    assert not dropped
    sealed = NET.seal(block)
    chain.commit_block(sealed)
    return chain, sealed


def test_a_transaction_and_its_receipt_are_proven_against_the_header() -> None:
    chain, block = _block_with_receipts()
    h = block.header
    receipts = [r.encoded for r in chain.receipts_of(block)]
    for index in range(4):
        proof = prove_tx(1, [tx.encoded for tx in block.txs], receipts, index)
        verify_tx(h.tx_root, h.receipts_root, h.tx_count, TxProof.from_json(proof.to_json()))
    proof = prove_tx(1, [tx.encoded for tx in block.txs], receipts, 2)
    for bad in (TxProof(1, 2, 4, block.txs[1].encoded, proof.tx_path, proof.receipt, proof.receipt_path),
                TxProof(1, 2, 4, proof.tx, proof.tx_path, receipts[0][:-1] + b"\x01", proof.receipt_path),
                TxProof(1, 1, 4, proof.tx, proof.tx_path, proof.receipt, proof.receipt_path),
                TxProof(1, 2, 5, proof.tx, proof.tx_path, proof.receipt, proof.receipt_path)):
        with pytest.raises(InvalidProof):
            verify_tx(h.tx_root, h.receipts_root, h.tx_count, bad)


def test_a_header_commits_to_its_receipts_and_the_next_validator_set() -> None:
    chain, block = _block_with_receipts()
    assert block.header.validators_hash != chain.store.header(0).validators_hash  # the block changed the set
    replay = Chain(MemoryDB(), NET.genesis)
    for field, reason in (("receipts_root", "bad-receipts-root"), ("validators_hash", "bad-validators-hash")):
        bad = NET.seal(block.replace(header=block.header.replace(**{field: bytes(32), "proof": b""})))
        with pytest.raises(InvalidBlock) as refused:
            replay.validate_block(bad)
        assert refused.value.reason == reason
    replay.commit_block(block)
    assert replay.head.validators_hash == block.header.validators_hash
