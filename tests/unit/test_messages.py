"""Consensus messages built from stored bytes equal the ones built from records."""

from __future__ import annotations

from consensus.messages import Envelope, SyncResponse, seal_sync_response
from ledger.blocks import Block
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
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
