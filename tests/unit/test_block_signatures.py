"""A block whose transactions this node never admitted (synced, or missed by gossip) has their
signatures checked in batches as validation reaches them, with the same verdicts as one by one:
a forged signature fails the block at its index, whatever group it was checked in."""

from __future__ import annotations

import pytest

from ledger.chain import PROVE_AHEAD, Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet
from ledger.errors import InvalidBlock
from ledger.executor import prove_signatures
from ledger import transactions
from ledger.keys import VerifiedCache, verify
from ledger.transactions import Transaction, Transfer


def _transfers(net: Devnet, count: int) -> list[Transaction]:
    users = net.users
    return [Transaction.create(users[i % len(users)], net.genesis.chain_id, i // len(users),
                               Transfer(users[(i + 1) % len(users)].address, 1), fee=1) for i in range(count)]


def _forge(tx: Transaction) -> Transaction:
    signature = bytearray(tx.signature)
    signature[10] ^= 1
    return tx.replace(signature=bytes(signature))


def _block(net: Devnet, txs: list[Transaction], vouched: VerifiedCache):
    """A block holding `txs` as they are, built by a proposer whose cache vouches for them."""
    proposer = Chain(MemoryDB(), net.genesis, cache=vouched)
    block, dropped = proposer.build_block(txs, net.validators[0].public_key, net.genesis.genesis_time_ms + 1000,
                                          max_txs=len(txs))
    assert not dropped
    return block


def test_a_block_of_unseen_transactions_is_proven_in_batches(devnet: Devnet, monkeypatch) -> None:
    alone = []
    monkeypatch.setattr(transactions, "verify", lambda *args: alone.append(args) or verify(*args))
    txs = _transfers(devnet, PROVE_AHEAD + 90)
    vouched = VerifiedCache()
    for tx in txs:
        vouched.add(tx.hash)
    block = _block(devnet, txs, vouched)
    replica = Chain(MemoryDB(), devnet.genesis)
    assert not any(tx.hash in replica.cache for tx in txs)
    replica.validate_block(block)
    assert all(tx.hash in replica.cache for tx in txs)
    assert not alone  # none was checked on its own


@pytest.mark.parametrize("index", [0, 5, 63, 64, PROVE_AHEAD - 1, PROVE_AHEAD, PROVE_AHEAD + 70])
def test_a_forged_signature_fails_the_block_at_its_index(devnet: Devnet, index: int) -> None:
    txs = _transfers(devnet, PROVE_AHEAD + 90)
    txs[index] = _forge(txs[index])
    vouched = VerifiedCache()
    for tx in txs:
        vouched.add(tx.hash)
    block = _block(devnet, txs, vouched)
    replica = Chain(MemoryDB(), devnet.genesis)
    with pytest.raises(InvalidBlock) as failed:
        replica.validate_block(block)
    assert failed.value.reason == "bad-signature" and failed.value.tx_index == index
    assert txs[index].hash not in replica.cache
    assert replica.head.height == 0


def test_prove_signatures_remembers_only_what_verifies(devnet: Devnet) -> None:
    txs = _transfers(devnet, 130)
    forged = {3, 77}
    for i in forged:
        txs[i] = _forge(txs[i])
    cache = VerifiedCache()
    prove_signatures(txs, cache)
    assert all(txs[i].hash not in cache for i in forged)
    # The groups that held a forged signature proved nothing; every other group was proven.
    assert 0 < len(cache) < len(txs) - len(forged)
    for tx in txs:
        assert (tx.hash in cache) <= tx.signature_valid()
