"""The proposer cuts its batching window short only for a full block of transactions that are
ready for the next block: pending ones behind a nonce gap (free to send, never included) must
not make it propose at every admission."""

from __future__ import annotations

from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet
from ledger.mempool import Mempool
from ledger.transactions import Transaction, Transfer
from pownode.config import NodeConfig
from pownode.tx_reactor import TxReactor

MAX_TXS = 16


def _transfer(net: Devnet, user: int, nonce: int) -> Transaction:
    return Transaction.create(net.users[user], net.genesis.chain_id, nonce, Transfer(net.users[0].address, 7), fee=1)


def test_only_ready_transactions_count_towards_an_early_proposal(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache)
    reactor = TxReactor(chain, pool, peers=None, config=NodeConfig("n", "g", "k", max_block_txs=MAX_TXS),
                        on_many=lambda: None)
    passes = []
    select = pool.select
    pool.select = lambda *args, **kw: passes.append(1) or select(*args, **kw)

    for user in range(1, 7):  # 18 pending, every one behind its sender's missing nonce 0
        for nonce in range(1, 4):
            pool.add(_transfer(devnet, user, nonce), chain.state)
    assert len(pool) >= MAX_TXS
    assert not reactor.block_ready()
    assert not reactor.block_ready() and len(passes) == 1  # no new pass until the pool grows

    for user in (1, 2):  # 8 ready; the pool grew by an eighth of a block since the last pass
        pool.add(_transfer(devnet, user, 0), chain.state)
    assert not reactor.block_ready() and len(passes) == 2
    pool.add(_transfer(devnet, 3, 0), chain.state)  # 12 ready, but the pool grew by one only
    assert not reactor.block_ready() and len(passes) == 2
    pool.add(_transfer(devnet, 4, 0), chain.state)  # 16 ready
    assert reactor.block_ready() and len(passes) == 3

def test_a_pool_of_gapped_transactions_costs_a_pass_per_eighth_of_its_size(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache)
    reactor = TxReactor(chain, pool, peers=None, config=NodeConfig("n", "g", "k", max_block_txs=4),
                        on_many=lambda: None)
    passes = []
    select = pool.select
    pool.select = lambda *args, **kw: passes.append(1) or select(*args, **kw)
    for user in range(1, 8):  # 56 pending behind gaps, 14 blocks' worth
        for nonce in range(1, 9):
            pool.add(_transfer(devnet, user, nonce), chain.state)
    assert not reactor.block_ready() and len(passes) == 1
    for nonce in range(9, 15):  # 6 more behind the same gap: under an eighth of the 56
        pool.add(_transfer(devnet, 1, nonce), chain.state)
        assert not reactor.block_ready()
    assert len(passes) == 1
    pool.add(_transfer(devnet, 1, 15), chain.state)  # the seventh: a new pass
    assert not reactor.block_ready() and len(passes) == 2
