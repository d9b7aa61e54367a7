"""Building, validating and committing blocks; every bad block is rejected with its reason."""

from __future__ import annotations

import pytest

from ledger import accounts, schema
from ledger.blocks import make_quorum, sign_commit
from ledger.chain import Chain
from ledger.database import Database, LevelDB, MemoryDB
from ledger.devnet import Devnet, make_devnet
from ledger.errors import InvalidBlock, StorageError
from ledger.keys import PrivateKey
from ledger.merkle import merkle_root
from ledger.receipts import SUCCESS
from ledger.store import TxLocation
from ledger.transactions import Transaction, Transfer


def _transfers(net: Devnet, count: int, nonce: int = 0) -> list[Transaction]:
    u = net.users
    return [
        Transaction.create(u[i % len(u)], net.genesis.chain_id, nonce + i // len(u), Transfer(u[(i + 1) % len(u)].address, 10 + i), fee=1)
        for i in range(count)
    ]


def _next_block(net: Devnet, chain: Chain, txs: list[Transaction], dt: int = 1000):
    block, dropped = chain.build_block(txs, net.validators[0].public_key, chain.head.time_ms + dt)
    assert not dropped
    return net.seal(block)


def test_commit_moves_balances_and_pays_fees(devnet: Devnet, db: Database) -> None:
    chain = Chain(db, devnet.genesis)
    u = devnet.users
    before = accounts.get_account(chain.state, u[1].address).balance
    tx = Transaction.create(u[0], devnet.genesis.chain_id, 0, Transfer(u[1].address, 500), fee=3)
    chain.commit_block(_next_block(devnet, chain, [tx]))
    assert chain.height == 1
    assert accounts.get_account(chain.state, u[1].address).balance == before + 500
    assert accounts.get_account(chain.state, u[0].address).nonce == 1
    assert accounts.get_account(chain.state, devnet.validators[0].address).balance == 3
    assert chain.store.tx_location(tx.hash).height == 1


def test_reopen_restores_head_and_state(devnet: Devnet, tmp_path) -> None:
    chain = Chain(LevelDB(tmp_path / "db", create=True), devnet.genesis)
    for h in range(3):
        chain.commit_block(_next_block(devnet, chain, _transfers(devnet, 16, nonce=2 * h)))
    root, head = chain.state.root(), chain.head
    chain.store.db.close()
    again = Chain(LevelDB(tmp_path / "db"), devnet.genesis)
    assert again.head == head and again.state.root() == root
    assert again.audit() == 3


def test_other_genesis_is_refused(devnet: Devnet, tmp_path) -> None:
    Chain(LevelDB(tmp_path / "db", create=True), devnet.genesis).store.db.close()
    other = make_devnet(label="other")
    with pytest.raises(StorageError, match="different genesis"):
        Chain(LevelDB(tmp_path / "db"), other.genesis)


def _tampered(devnet: Devnet, chain: Chain, **header_changes):
    good = _next_block(devnet, chain, _transfers(devnet, 4))
    chain.discard_pending()  # forget the builder's pending execution: validate from scratch
    header = good.header.replace(**header_changes)
    return devnet.seal(good.replace(header=header))


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda c: {"height": c.height + 2}, "bad-height"),
        (lambda c: {"prev_hash": b"\1" * 32}, "bad-parent"),
        (lambda c: {"time_ms": c.head.time_ms}, "bad-time"),
        (lambda c: {"chain_id": "elsewhere"}, "wrong-chain"),
        (lambda c: {"proposer": PrivateKey.from_label("stranger").public_key}, "bad-proposer"),
        (lambda c: {"tx_root": b"\2" * 32}, "bad-tx-root"),
        (lambda c: {"state_root": b"\3" * 32}, "bad-state-root"),
        (lambda c: {"tx_count": 99}, "bad-tx-count"),
    ],
)
def test_bad_headers_rejected_and_state_untouched(devnet: Devnet, change, reason: str) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    root = chain.state.root()
    block = _tampered(devnet, chain, **change(chain))
    with pytest.raises(InvalidBlock) as info:
        chain.commit_block(block)
    assert info.value.reason == reason
    assert chain.height == 0 and chain.state.root() == root


def test_block_with_invalid_transaction_rejected(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    txs = _transfers(devnet, 3)
    block = _next_block(devnet, chain, txs)
    chain.discard_pending()
    replayed = (txs[0], txs[1], txs[0])  # a replayed nonce, in an otherwise consistent header
    header = block.header.replace(tx_root=merkle_root([tx.hash for tx in replayed]))
    with pytest.raises(InvalidBlock) as info:
        chain.validate_block(block.replace(header=header, txs=replayed))
    assert (info.value.tx_index, info.value.reason) == (2, "stale-nonce")


def test_quorum_rules(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    block = _next_block(devnet, chain, _transfers(devnet, 2))
    header = block.header
    sigs = [sign_commit(k, header) for k in devnet.validators]
    stranger = sign_commit(PrivateKey.from_label("stranger"), header)
    cases = {
        "no-quorum": make_quorum(header, sigs[:2]),  # 2 of 4 is not > 2/3
        "bad-proof": make_quorum(header, sigs[:2] + [stranger]),
    }
    for reason, proof in cases.items():
        with pytest.raises(InvalidBlock) as info:
            chain.commit_block(block.replace(header=header.replace(proof=proof)))
        assert info.value.reason == reason
    forged = sigs[:3]
    forged[0] = forged[0].replace(signature=bytes(64))
    with pytest.raises(InvalidBlock, match="bad commit signature"):
        chain.commit_block(block.replace(header=header.replace(proof=make_quorum(header, forged))))
    chain.commit_block(block.replace(header=header.replace(proof=make_quorum(header, sigs[:3]))))
    assert chain.height == 1


def test_builder_drops_invalid_transactions_with_reasons(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    u = devnet.users
    poor = PrivateKey.from_label("poor")
    txs = [
        Transaction.create(u[0], devnet.genesis.chain_id, 0, Transfer(u[1].address, 5), fee=1),
        Transaction.create(u[0], devnet.genesis.chain_id, 0, Transfer(u[1].address, 6), fee=1),
        Transaction.create(poor, devnet.genesis.chain_id, 0, Transfer(u[1].address, 5), fee=1),
    ]
    block, dropped = chain.build_block(txs, devnet.validators[0].public_key, chain.head.time_ms + 1)
    assert block.txs == (txs[0],)
    assert [e.reason for _, e in dropped] == ["stale-nonce", "insufficient-balance"]


def test_block_effects_record_proposer_and_pay_incentive() -> None:
    net = make_devnet(validators=2, users=2, meters=0, label="incentive", params={"block_incentive": 50})
    chain = Chain(MemoryDB(), net.genesis)
    supply0 = accounts.supply(chain.state)
    proposer = net.validators[1]
    for _ in range(2):
        block, _ = chain.build_block([], proposer.public_key, chain.head.time_ms + 1)
        chain.commit_block(net.seal(block))
    assert accounts.get_account(chain.state, proposer.address).balance == 100
    assert accounts.supply(chain.state) == supply0 + 100
    assert accounts.proposer_stats(chain.state, proposer.public_key) == accounts.ProposerStats(2, 2)
    assert accounts.proposer_stats(chain.state, net.validators[0].public_key).blocks == 0


def test_raw_orders_credit_no_traded_energy(devnet: Devnet) -> None:
    """The captured-proposer attack of an unmatched order for 2**64 - 1 Wh: a raw order is
    stored, but only a certified market's settlement feeds PoS's E."""
    from ledger.transactions import MarketOrder

    chain = Chain(MemoryDB(), devnet.genesis)
    u = devnet.users[5]
    txs = [Transaction.create(u, devnet.genesis.chain_id, 0, MarketOrder(9, 1, (1 << 64) - 1, 9000, 0, 0), fee=1)]
    chain.commit_block(_next_block(devnet, chain, txs))
    assert accounts.get_order(chain.state, 9, u.address, 0) is not None
    assert accounts.traded_wh(chain.state, u.address) == 0


def test_the_transaction_index_holds_canonical_locations(devnet: Devnet, db: Database) -> None:
    chain = Chain(db, devnet.genesis)
    txs = _transfers(devnet, 5)
    chain.commit_block(_next_block(devnet, chain, txs))
    for index, tx in enumerate(txs):
        raw = db.get(schema.db_tx(tx.hash))
        assert raw == TxLocation(1, index, SUCCESS).encoded  # the packed-directly bytes
        assert TxLocation.decode(raw) == chain.store.tx_location(tx.hash)


def test_blocks_are_bounded_in_bytes() -> None:
    """A proposer leaves what does not fit for the next block; a block over the chain's
    max_block_bytes is invalid, whoever built it."""
    from ledger.devnet import make_devnet
    from ledger.errors import InvalidBlock

    net = make_devnet(validators=1, users=8, meters=0, label="block-bytes", params={"max_block_bytes": 700})
    chain = Chain(MemoryDB(), net.genesis)
    txs = _transfers(net, 8)
    block, dropped = chain.build_block(txs, net.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and 0 < len(block.txs) < 8
    assert sum(len(t.encoded) for t in block.txs) <= 700
    chain.discard_pending()
    from ledger.blocks import Block

    from ledger.merkle import merkle_root

    # as a proposer could send it, its header committing to it
    oversized = Block(block.header.replace(tx_count=8, tx_root=merkle_root([t.hash for t in txs])), tuple(txs))
    with pytest.raises(InvalidBlock) as info:
        chain.validate_block(oversized)
    assert info.value.reason == "block-too-large"


def test_fees_credited_per_block_give_the_state_of_crediting_each_fee_at_once(devnet: Devnet) -> None:
    """`BlockFees` defers the proposer's fee credits, settling them before any transaction
    that could see its account: the proposer spending fees it earned earlier in the block,
    a transfer to it, and a transaction dropped after such a settlement all end on the state
    root of crediting every fee as its transaction applies."""
    from ledger.executor import apply_block_effects, apply_transaction

    u, proposer = devnet.users, devnet.validators[0]
    cid = devnet.genesis.chain_id
    txs = [
        Transaction.create(u[0], cid, 0, Transfer(u[1].address, 500), fee=3),
        Transaction.create(u[1], cid, 0, Transfer(u[2].address, 100), fee=4),
        # The proposer starts with nothing: this spends the 7 it has earned so far.
        Transaction.create(proposer, cid, 0, Transfer(u[3].address, 5), fee=2),
        Transaction.create(proposer, cid, 1, Transfer(u[3].address, 10**9), fee=2),  # dropped
        Transaction.create(u[2], cid, 0, Transfer(proposer.address, 50), fee=1),
        Transaction.create(u[3], cid, 0, Transfer(u[0].address, 9), fee=5),
    ]
    chain = Chain(MemoryDB(), devnet.genesis)
    block, dropped = chain.build_block(txs, proposer.public_key, chain.head.time_ms + 1000)
    assert [tx for tx, _ in dropped] == [txs[3]] and dropped[0][1].reason == "insufficient-balance"
    assert block.txs == tuple(txs[:3] + txs[4:])

    reference = Chain(MemoryDB(), devnet.genesis)
    state = reference.state
    state.begin_block()
    ctx = reference._context(1, block.header.time_ms, proposer.public_key, ())
    for tx in block.txs:
        apply_transaction(state, devnet.genesis, tx, ctx)
    apply_block_effects(state, devnet.genesis, ctx)
    assert state.root() == block.header.state_root
    assert accounts.get_account(state, proposer.address).balance == 3 + 4 - 7 + 2 + 50 + 1 + 5

    replica = Chain(MemoryDB(), devnet.genesis)
    replica.commit_block(devnet.seal(block))
    assert replica.state.root() == block.header.state_root


def test_the_tx_root_is_over_the_hashes_of_the_encodings(devnet: Devnet) -> None:
    """Building and validating take each transaction's cached hash for the tx root and the
    index: the transactions a replica holds came through the mempool, which sets that hash from
    the bytes it decoded. Root and index must be those of hashing every encoding (the spec,
    `merkle.hash_and_root`), or the replica refuses the proposer's block."""
    from ledger.blocks import Block
    from ledger.keys import VerifiedCache
    from ledger.merkle import hash_and_root
    from ledger.mempool import Mempool

    built_by = Chain(MemoryDB(), devnet.genesis)
    txs = _transfers(devnet, 12)
    block, dropped = built_by.build_block(txs, devnet.validators[0].public_key, built_by.head.time_ms + 1000)
    assert not dropped
    hashes, root = hash_and_root([tx.encoded for tx in txs])
    assert block.header.tx_root == root
    cache = VerifiedCache()
    replica = Chain(MemoryDB(), devnet.genesis, cache=cache)
    mempool = Mempool(devnet.genesis, cache)
    held = [mempool.add(tx.encoded, replica.state) for tx in txs]  # decoded, hash set from the bytes
    replica.commit_block(devnet.seal(Block(block.header, tuple(held))))
    assert [replica.store.tx_location(h).index for h in hashes] == list(range(12))


def test_blocks_are_bounded_in_what_their_transactions_hold_decoded() -> None:
    """A proposer leaves a transaction that would take its block past the chain's
    max_block_memory (what its transactions hold decoded, `retained_bytes` summed) for a later
    block; a block over it is invalid, whoever built it, with its own reason."""
    from ledger.blocks import Block

    probe = make_devnet(validators=1, users=8, meters=0, label="block-memory")
    held = _transfers(probe, 1)[0].retained_bytes
    bound = 3 * held + held // 2  # room for three transfers of this size, not four
    net = make_devnet(validators=1, users=8, meters=0, label="block-memory", params={"max_block_memory": bound})
    chain = Chain(MemoryDB(), net.genesis)
    txs = _transfers(net, 8)
    block, dropped = chain.build_block(txs, net.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and len(block.txs) == 3
    assert sum(t.retained_bytes for t in block.txs) <= bound
    chain.commit_block(net.seal(block))  # the proposer's own block is valid
    rest = txs[3:]
    block, dropped = chain.build_block(rest, net.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and list(block.txs) == rest[:3]  # the left-out ones come next, in order
    chain.discard_pending()
    from ledger.merkle import merkle_root

    # as a proposer could send it, its header committing to it
    heavy = Block(block.header.replace(tx_count=len(rest), tx_root=merkle_root([t.hash for t in rest])), tuple(rest))
    assert sum(len(t.encoded) for t in rest) <= net.genesis.max_block_bytes  # within the byte bound
    with pytest.raises(InvalidBlock) as info:
        chain.validate_block(heavy)
    assert info.value.reason == "block-memory"


def test_the_memory_bound_is_a_positive_genesis_param() -> None:
    from ledger.errors import GenesisError
    from ledger.genesis import DEFAULT_MAX_BLOCK_MEMORY

    assert make_devnet(label="memory-default").genesis.max_block_memory == DEFAULT_MAX_BLOCK_MEMORY
    with pytest.raises(GenesisError):
        make_devnet(label="memory-zero", params={"max_block_memory": 0})
