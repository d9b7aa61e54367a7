"""Consensus messages built from stored bytes equal the ones built from records."""

from __future__ import annotations

import pytest

from consensus.messages import Envelope, PreparedCert, Proposal, SyncResponse, seal_sync_response
from ledger.blocks import Block, CommitSig
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.encoding import pack
from ledger.keys import verify
from ledger.transactions import Transaction, Transfer


def test_a_sync_response_from_stored_bytes_is_the_sealed_record() -> None:
    net = make_devnet(validators=4, users=3, meters=0, label="sync-bytes")
    cid = net.genesis.chain_id
    chain = Chain(MemoryDB(), net.genesis)
    txs = [Transaction.create(u, cid, 0, Transfer(net.users[0].address, 7), fee=1) for u in net.users]
    block, dropped = chain.build_block(txs, net.validators[0].public_key, net.genesis.genesis_time_ms + 1000)
    assert not dropped
    chain.commit_block(net.seal(block))
    raw = chain.store.block_bytes(1)
    key = net.validators[2]
    spliced = seal_sync_response(key, cid, raw)
    assert spliced == Envelope.seal(key, cid, SyncResponse(Block.decode(raw))).encoded
    env = Envelope.decode(spliced)
    assert env.payload.block.encoded == raw
    assert verify(env.sender, env.signing_bytes(cid), env.signature)


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17])  # a msgpack array's header widens at 16 items
def test_blocks_and_their_carriers_encode_as_packing_their_wire_forms(count: int) -> None:
    """Block, Proposal and PreparedCert build `encoded` from the transactions' own encodings;
    the bytes must be `pack(to_wire())`'s (what a peer's decode checks as canonical), for blocks
    built here and for blocks assembled from decoded transactions as a replica fills one."""
    net = make_devnet(validators=4, users=17, meters=0, label="spliced-blocks")
    cid = net.genesis.chain_id
    chain = Chain(MemoryDB(), net.genesis)
    txs = [Transaction.create(u, cid, 0, Transfer(net.users[0].address, 7), fee=1) for u in net.users[:count]]
    built, dropped = chain.build_block(txs, net.validators[0].public_key, net.genesis.genesis_time_ms + 1000)
    assert not dropped
    filled = Block(built.header, tuple(Transaction.decode(tx.encoded) for tx in txs))
    for block in (built, filled, net.seal(built)):
        assert block.encoded == pack(block.to_wire())
        assert Block.decode(block.encoded) == block
        sigs = tuple(CommitSig(k.public_key, bytes(64)) for k in net.validators[:3])
        for carrier in (Proposal(1, 2, block), PreparedCert(2, block, sigs)):
            assert carrier.encoded == pack(carrier.to_wire())
            assert type(carrier).decode(carrier.encoded) == carrier
