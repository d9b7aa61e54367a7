"""Mempool admission: every rejection carries its reason; selection respects nonces."""

from __future__ import annotations

import pytest

from ledger import accounts
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet
from ledger.errors import LedgerError
from ledger.keys import PrivateKey, VerifiedCache, address_of
from ledger.mempool import Mempool
from ledger.transactions import MeterReading, RevokeMeter, Transaction, Transfer


@pytest.fixture
def setup(devnet: Devnet):
    chain = Chain(MemoryDB(), devnet.genesis)
    return devnet, chain, Mempool(devnet.genesis, chain.cache, capacity=8)


def _reason(pool: Mempool, tx, state) -> str:
    with pytest.raises(LedgerError) as info:
        pool.add(tx, state)
    return info.value.reason


def _transfer(net: Devnet, user: int, nonce: int, fee: int = 1, chain_id: str | None = None) -> Transaction:
    u = net.users
    return Transaction.create(u[user], chain_id or net.genesis.chain_id, nonce, Transfer(u[0].address, 7), fee=fee)


def test_rejections_each_have_their_reason(setup) -> None:
    net, chain, pool = setup
    state = chain.state
    good = _transfer(net, 1, 0)
    forged = good.replace(signature=bytes(64))
    assert _reason(pool, forged, state) == "bad-signature"
    assert _reason(pool, _transfer(net, 1, 0, chain_id="another-net"), state) == "wrong-chain"
    assert _reason(pool, b"\x93\x01\x02\x03", state) == "arity"
    assert _reason(pool, b"\xc1garbage", state) == "malformed"
    rogue = PrivateKey.from_label("rogue-meter")
    assert _reason(pool, Transaction.create(rogue, net.genesis.chain_id, 0, MeterReading(1, 5, 5)), state) == "unknown-meter"
    pool.add(good, state)
    assert _reason(pool, good.encoded, state) == "duplicate"
    assert _reason(pool, _transfer(net, 1, 0, fee=1), state) in {"nonce-taken", "duplicate"}
    assert _reason(pool, _transfer(net, 1, 500), state) == "nonce-too-far"
    assert _reason(pool, _transfer(net, 2, 0, fee=0), state) == "fee-too-low"


def test_replayed_nonce_rejected_after_commit(setup) -> None:
    net, chain, pool = setup
    tx = _transfer(net, 1, 0)
    pool.add(tx, chain.state)
    block, _ = chain.build_block(pool.select(chain.state, 100), net.validators[0].public_key, chain.head.time_ms + 1)
    chain.commit_block(net.seal(block))
    pool.remove_committed(list(block.txs), chain.state)
    assert len(pool) == 0
    assert _reason(pool, tx, chain.state) == "stale-nonce"


def test_signature_verified_once(setup, monkeypatch) -> None:
    net, chain, pool = setup
    tx = _transfer(net, 3, 0)
    pool.add(tx, chain.state)
    calls = []
    monkeypatch.setattr(Transaction, "signature_valid", lambda self: calls.append(self) or True)
    block, dropped = chain.build_block(pool.select(chain.state, 10), net.validators[0].public_key, chain.head.time_ms + 1)
    assert block.txs == (tx,) and not dropped
    assert calls == []  # the cache answered: no second verification


def test_select_orders_nonces_and_skips_gaps(setup) -> None:
    net, chain, pool = setup
    for tx in (_transfer(net, 1, 1), _transfer(net, 2, 0), _transfer(net, 1, 0), _transfer(net, 3, 2)):
        pool.add(tx, chain.state)
    chosen = pool.select(chain.state, 10)
    assert [(t.sender_address, t.nonce) for t in chosen] == [
        (net.users[1].address, 0), (net.users[1].address, 1), (net.users[2].address, 0)
    ]


def test_full_pool_evicts_lowest_fee(setup) -> None:
    net, chain, pool = setup
    for user in range(1, 8):
        pool.add(_transfer(net, user, 0, fee=5), chain.state)
    pool.add(_transfer(net, 1, 1, fee=1), chain.state)  # 8th: full now
    assert _reason(pool, _transfer(net, 2, 1, fee=1), chain.state) == "mempool-full"
    rich = pool.add(_transfer(net, 2, 1, fee=9), chain.state)
    assert rich.hash in pool and len(pool) == 8
    assert _transfer(net, 1, 1, fee=1).hash not in pool


def test_higher_fee_replaces_same_nonce(setup) -> None:
    net, chain, pool = setup
    low = pool.add(_transfer(net, 4, 0, fee=1), chain.state)
    high = pool.add(_transfer(net, 4, 0, fee=2), chain.state)
    assert high.hash in pool and low.hash not in pool


def test_cache_is_bounded() -> None:
    cache = VerifiedCache(capacity=3)
    for i in range(5):
        cache.add(bytes([i]) * 32)
    assert len(cache) == 3 and bytes([0]) * 32 not in cache and bytes([4]) * 32 in cache


def test_proposal_after_an_uncommitted_one_keeps_every_transaction(setup) -> None:
    """Regression: proposing while a validated block of an earlier view is still pending used to
    select nonces that followed the pending block, see them as gaps, and evict them for good."""
    from ledger.application import LedgerApp

    net, chain, pool = setup
    app = LedgerApp(chain, pool)
    proposer = net.validators[0].public_key
    for n in range(3):
        pool.add(_transfer(net, 1, n), chain.state)
    first = app.propose(proposer, chain.head.time_ms + 1, [])  # view 0: executed, left pending
    assert len(first.txs) == 3
    app.validate(first)
    second = app.propose(net.validators[1].public_key, chain.head.time_ms + 2, [proposer])  # view 1, first never committed
    assert len(second.txs) == 3 and len(pool) == 3


def _commit(net: Devnet, chain: Chain, pool: Mempool, txs: list[Transaction], time_ms: int = 0) -> None:
    block, dropped = chain.build_block(txs, net.validators[0].public_key, max(time_ms, chain.head.time_ms + 1))
    assert not dropped
    chain.commit_block(net.seal(block))
    pool.remove_committed(list(block.txs), chain.state)
    pool.recheck(chain.state, chain.height)


def test_admission_counts_the_senders_pending_spends(setup) -> None:
    net, chain, pool = setup
    user = net.users[1]
    balance = 10**12  # the devnet's
    cid = net.genesis.chain_id
    pool.add(Transaction.create(user, cid, 0, Transfer(net.users[0].address, balance - 10), fee=1), chain.state)
    overdraft = Transaction.create(user, cid, 1, Transfer(net.users[0].address, 100), fee=1)
    assert _reason(pool, overdraft, chain.state) == "insufficient-balance"  # was admitted, then pending forever
    pool.add(Transaction.create(user, cid, 1, Transfer(net.users[0].address, 8), fee=1), chain.state)


def test_what_can_never_apply_is_dropped_with_its_reason(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache)
    meter, cid = devnet.meters[0], devnet.genesis.chain_id
    pending = pool.add(Transaction.create(meter, cid, 0, MeterReading(5, 100, 50)), chain.state)
    revoke = Transaction.create(devnet.operator, cid, 0, RevokeMeter(meter.public_key))
    _commit(devnet, chain, pool, [revoke], devnet.genesis.interval_start_ms(6))
    assert pending.hash not in pool
    assert pool.dropped[pending.hash] == "unknown-meter"


def test_a_reading_waits_for_its_interval_to_end_and_one_far_ahead_is_refused(devnet: Devnet) -> None:
    from ledger.application import LedgerApp

    g = devnet.genesis
    chain = Chain(MemoryDB(), g)
    pool = Mempool(g, chain.cache, clock_ms=lambda: g.interval_start_ms(1) + 5)  # this node's clock: interval 1
    app = LedgerApp(chain, pool)
    meter, cid = devnet.meters[0], g.chain_id
    far = Transaction.create(meter, cid, 0, MeterReading(3, 100, 50))
    assert _reason(pool, far, chain.state) == "reading-too-early"
    early = pool.add(Transaction.create(meter, cid, 0, MeterReading(1, 100, 50)), chain.state)
    block = app.propose(devnet.validators[0].public_key, g.interval_start_ms(1), [])  # interval 1 has not ended
    assert block.txs == () and early.hash in pool and early.hash not in app.ready_requests()
    app.commit(devnet.seal(block))
    block = app.propose(devnet.validators[0].public_key, g.interval_start_ms(2), [])
    assert block.txs == (early,)
    app.commit(devnet.seal(block))
    assert early.hash not in pool and accounts.get_reading(chain.state, 1, meter.public_key) is not None


def test_a_transaction_behind_a_gap_expires(devnet: Devnet) -> None:
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache, expire_blocks=5)
    stuck = pool.add(_transfer(devnet, 2, 1), chain.state)  # nonce 0 never comes
    for _ in range(4):
        _commit(devnet, chain, pool, [])
    assert stuck.hash in pool  # waiting is not a reason to drop before expiry
    _commit(devnet, chain, pool, [])
    assert stuck.hash not in pool and pool.dropped[stuck.hash].startswith("expired")


def test_a_bad_signature_is_verified_once_then_refused_by_its_hash(setup, monkeypatch) -> None:
    """A flood replaying one forged transaction costs a hash per copy, not a verification."""
    net, chain, pool = setup
    forged = _transfer(net, 1, 0).replace(signature=bytes(64))
    assert _reason(pool, forged.encoded, chain.state) == "bad-signature"
    calls = []
    monkeypatch.setattr(Transaction, "signature_valid", lambda self: calls.append(self) or False)
    for _ in range(3):
        assert _reason(pool, forged.encoded, chain.state) == "bad-signature"
    assert calls == []


def test_early_readings_take_no_place_in_a_block_and_wait_out_their_interval(devnet: Devnet) -> None:
    """Readings whose interval has not ended are passed over by the block builder (they would
    fill its quota and be refused, leaving the block empty), and they do not expire while their
    interval is still being metered."""
    from ledger.application import LedgerApp

    g = devnet.genesis
    now = [g.interval_start_ms(1) + 5]
    chain = Chain(MemoryDB(), g)
    pool = Mempool(g, chain.cache, expire_blocks=2, clock_ms=lambda: now[0])
    app = LedgerApp(chain, pool, max_block_txs=2)
    early = [pool.add(Transaction.create(m, g.chain_id, 0, MeterReading(1, 10, 5)), chain.state) for m in devnet.meters]
    transfer = pool.add(_transfer(devnet, 1, 0), chain.state)
    block = app.propose(devnet.validators[0].public_key, g.interval_start_ms(1) + 10, [])
    assert block.txs == (transfer,)
    app.commit(devnet.seal(block))
    for k in range(4):  # blocks within interval 1: the readings wait, whatever expire_blocks says
        app.commit(devnet.seal(app.propose(devnet.validators[0].public_key, g.interval_start_ms(1) + 20 + k, [])))
    assert all(tx.hash in pool for tx in early)
    now[0] = g.interval_start_ms(2) + 5  # interval 1 has ended: a block in interval 2 takes them
    block = app.propose(devnet.validators[0].public_key, g.interval_start_ms(2) + 10, [])
    assert set(block.txs) == set(early[:2])


def test_each_senders_pending_spend_stays_exact_through_every_change(devnet: Devnet) -> None:
    """The running total per sender (which admission reads instead of summing the queue) equals
    a fresh count after replacements, out-of-order nonces, evictions, commits, drops and expiry;
    and admission decides as the sum over the sender's other pending transactions would."""
    import random

    from ledger.executor import spend_of

    rng = random.Random(20)
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache, capacity=12, max_nonce_ahead=6, expire_blocks=3)
    cid, users = devnet.genesis.chain_id, devnet.users
    start = accounts.get_account(chain.state, users[1].address).balance
    outcomes = set()
    for step in range(160):
        user = rng.randrange(1, 4)
        account = accounts.get_account(chain.state, users[user].address)
        nonce = account.nonce + rng.randrange(0, 5)
        amount = rng.choice([1, 5, start // 3, start // 2])  # some overdraw with what is pending
        tx = Transaction.create(users[user], cid, nonce, Transfer(users[0].address, amount), fee=rng.randrange(1, 6))
        queue = pool._by_sender.get(users[user].address, {})
        covered = spend_of(tx) + sum(spend_of(t) for n, t in queue.items() if n != nonce) <= account.balance
        try:
            pool.add(tx, chain.state)
            outcomes.add("admitted")
            assert covered
        except LedgerError as exc:
            outcomes.add(exc.reason)
            assert covered != (exc.reason == "insufficient-balance")
        if step % 20 == 19:
            _commit(devnet, chain, pool, pool.select(chain.state, rng.randrange(0, 4)))
        elif step % 27 == 26 and len(pool):
            pool.drop(rng.choice(pool.pending()), "invalid")
        for queue in pool._by_sender.values():
            assert queue and queue.spend == sum(spend_of(t) for t in queue.values())
    assert {"admitted", "insufficient-balance", "nonce-taken"} <= outcomes


def test_fee_heap_and_rotation_stay_within_the_pools_size(devnet: Devnet, monkeypatch) -> None:
    """Transactions that leave the pool leave its fee heap and recheck rotation too (they used to
    stay for good in a pool that never fills, or that takes more per block than it rechecks),
    and eviction still takes the lowest fee, the latest arrival first among equal fees."""
    from ledger import mempool as mempool_module

    monkeypatch.setattr(mempool_module, "COMPACT_SLACK", 4)
    chain = Chain(MemoryDB(), devnet.genesis)
    pool = Mempool(devnet.genesis, chain.cache, capacity=6, recheck_per_block=1)
    for height in range(12):
        for user in range(1, 4):
            pool.add(_transfer(devnet, user, height, fee=2), chain.state)
            assert len(pool._fee_heap) <= 2 * len(pool) + 5 and len(pool._rotation) <= 2 * len(pool) + 5
        _commit(devnet, chain, pool, pool.select(chain.state, 3))
    assert len(pool) == 0
    kept = [pool.add(_transfer(devnet, user, 12, fee=3), chain.state) for user in (1, 2, 3)]
    kept += [pool.add(_transfer(devnet, user, 0, fee=2), chain.state) for user in (4, 5)]
    latest_cheap = pool.add(_transfer(devnet, 6, 0, fee=2), chain.state)
    pool.add(_transfer(devnet, 7, 0, fee=4), chain.state)  # full: evicts the latest of the cheapest
    assert latest_cheap.hash not in pool and all(tx.hash in pool for tx in kept)


def _nested_call(net: Devnet, user: int, nonce: int, fee: int) -> Transaction:
    """A valid contract call whose arguments are 64 lists of 256 empty lists: 16 KiB of msgpack
    that decodes into some 16,000 Python lists (and their checked tuples)."""
    from ledger.transactions import ContractCall

    args = tuple(tuple(() for _ in range(256)) for _ in range(64))
    return Transaction.create(net.users[user], net.genesis.chain_id, nonce,
                              ContractCall(bytes(20), "f", args, 10_000, 0), fee=fee)


def test_retained_bytes_bounds_what_a_decoded_transaction_holds() -> None:
    """The pool's byte bound is only as good as the measure: decoded from its bytes, a
    transaction (the worst shape of arguments, and a transfer) holds no more than it says."""
    import gc
    import tracemalloc

    from ledger.devnet import make_devnet

    net = make_devnet(validators=1, users=2, meters=0, label="retained")
    for tx in (_nested_call(net, 1, 0, fee=100), _transfer(net, 1, 0)):
        raw = tx.encoded
        gc.collect()
        tracemalloc.start()
        decoded = Transaction.decode(raw)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert held <= decoded.retained_bytes, (type(tx.body).__name__, held, decoded.retained_bytes)
    assert _nested_call(net, 1, 0, fee=100).retained_bytes > 40 * len(raw)  # the call: far above its bytes


def test_a_pool_full_in_bytes_evicts_only_what_a_better_fee_needs(devnet: Devnet) -> None:
    from vm.machine import VM

    chain = Chain(MemoryDB(), devnet.genesis)
    heavy = _nested_call(devnet, 1, 0, fee=100)
    pool = Mempool(devnet.genesis, chain.cache, runtime=VM(), max_bytes=3 * heavy.retained_bytes + 4_000)
    kept = [pool.add(_nested_call(devnet, user, 0, fee=100 + user), chain.state) for user in (1, 2, 3)]
    cheap = pool.add(_transfer(devnet, 4, 0, fee=1), chain.state)  # a transfer still fits
    # Full in bytes, though 4 of 50,000 in count: a heavy call must outbid what it displaces.
    assert _reason(pool, _nested_call(devnet, 5, 0, fee=50), chain.state) == "mempool-full"
    assert all(tx.hash in pool for tx in [*kept, cheap])  # a refused transaction evicted nothing
    rich = pool.add(_nested_call(devnet, 5, 0, fee=200), chain.state)
    assert rich.hash in pool and kept[0].hash not in pool and cheap.hash not in pool
    assert kept[1].hash in pool and kept[2].hash in pool
    assert pool._bytes == sum(pool.get(h).retained_bytes for h in pool._by_hash) <= pool.max_bytes


def test_a_refused_replacement_leaves_the_senders_pending_transaction(devnet: Devnet) -> None:
    """A sender replacing its own pending transaction with a larger one that cannot get in keeps
    the one it has; a replacement that fits in the room of the one it replaces evicts nobody."""
    from vm.machine import VM

    chain = Chain(MemoryDB(), devnet.genesis)
    heavy = _nested_call(devnet, 1, 0, fee=100)
    pool = Mempool(devnet.genesis, chain.cache, runtime=VM(), max_bytes=3 * heavy.retained_bytes + 4_000)
    kept = [pool.add(_nested_call(devnet, user, 0, fee=100 + user), chain.state) for user in (1, 2, 3)]
    own = pool.add(_transfer(devnet, 4, 0, fee=1), chain.state)
    # Outbids its own transfer but none of the calls it would need room from.
    assert _reason(pool, _nested_call(devnet, 4, 0, fee=50), chain.state) == "mempool-full"
    assert own.hash in pool and all(tx.hash in pool for tx in kept)
    better = pool.add(_transfer(devnet, 4, 0, fee=2), chain.state)  # the same size: its own room
    assert better.hash in pool and own.hash not in pool and all(tx.hash in pool for tx in kept)
    assert pool._bytes == sum(pool.get(h).retained_bytes for h in pool._by_hash) <= pool.max_bytes


def test_a_block_filled_in_memory_by_its_proposer_excuses_no_one_left_out() -> None:
    """PBFT's request timer: a proposer can fill a block's bytes or decoded memory with a few
    cheap transactions of its own (their fees come back to it), so a transaction left out of
    such a block still counts against the proposer; only gas, which must be burnt, excuses."""
    from ledger.application import LedgerApp
    from ledger.devnet import make_devnet

    probe = make_devnet(validators=1, users=8, meters=0, label="memory-excuse")
    held = _transfer(probe, 1, 0).retained_bytes
    net = make_devnet(validators=1, users=8, meters=0, label="memory-excuse",
                      params={"max_block_memory": 3 * held + held // 2})
    chain = Chain(MemoryDB(), net.genesis)
    app = LedgerApp(chain, Mempool(net.genesis, chain.cache))
    own = [_transfer(net, user, 0) for user in (1, 2, 3)]  # the proposer's: they fill the block's memory
    victim = _transfer(net, 4, 0)
    block, _ = chain.build_block(own, net.validators[0].public_key, chain.head.time_ms + 1000)
    assert list(block.txs) == own
    app.mempool.add(victim, chain.state)
    app.commit(net.seal(block))
    assert app.ready_requests() == [victim.hash]  # half a transfer's memory left: still counted


def test_no_order_of_arrival_lets_pending_transactions_spend_a_balance_twice(setup) -> None:
    """Admission counts every pending spend of the sender, not only those with lower nonces: a
    later nonce sent first, or a replacement spending more, used to leave the sender's pending
    transactions spending the balance twice (all gossiped and holding room, all but one unable
    to pay their fees)."""
    net, chain, pool = setup
    user, cid, to = net.users[1], net.genesis.chain_id, net.users[0].address
    balance = accounts.get_account(chain.state, user.address).balance
    pool.add(Transaction.create(user, cid, 1, Transfer(to, balance - 10), fee=1), chain.state)
    first = Transaction.create(user, cid, 0, Transfer(to, balance - 10), fee=1)
    assert _reason(pool, first, chain.state) == "insufficient-balance"
    small = pool.add(Transaction.create(user, cid, 0, Transfer(to, 5), fee=1), chain.state)
    bigger = Transaction.create(user, cid, 0, Transfer(to, balance // 2), fee=2)
    assert _reason(pool, bigger, chain.state) == "insufficient-balance"
    assert small.hash in pool
    pool.add(Transaction.create(user, cid, 0, Transfer(to, 6), fee=2), chain.state)  # still covered: replaces
    assert small.hash not in pool and len(pool) == 2


def test_a_meter_cannot_queue_a_second_reading_of_an_interval_for_free(devnet: Devnet) -> None:
    """Readings pay no fee, and admission compared a reading only with the committed state, so
    a meter could queue a reading of the same interval under each of its next 64 nonces: all
    admitted and gossiped for free, all but one sure to be dropped by the builder. A reading of
    an interval the meter already has pending under another nonce is refused; a replacement at
    the same nonce is not."""
    g = devnet.genesis
    chain = Chain(MemoryDB(), g)
    pool = Mempool(g, chain.cache, clock_ms=lambda: g.interval_start_ms(3) + 5)
    meter, cid = devnet.meters[0], g.chain_id
    fund = Transaction.create(devnet.users[1], cid, 0, Transfer(address_of(meter.public_key), 10), fee=1)
    _commit(devnet, chain, pool, [fund])  # so that it can pay to replace its own reading
    pool.add(Transaction.create(meter, cid, 0, MeterReading(1, 100, 50)), chain.state)
    again = Transaction.create(meter, cid, 1, MeterReading(1, 900, 0))
    assert _reason(pool, again, chain.state) == "reading-pending"
    pool.add(Transaction.create(meter, cid, 1, MeterReading(2, 100, 50)), chain.state)
    fixed = pool.add(Transaction.create(meter, cid, 0, MeterReading(1, 120, 50), fee=1), chain.state)
    assert fixed.hash in pool and len(pool) == 2


def test_readings_go_first_whatever_backlog_arrived_before_them(devnet: Devnet) -> None:
    from ledger.application import LedgerApp

    g = devnet.genesis
    chain = Chain(MemoryDB(), g)
    pool = Mempool(g, chain.cache, clock_ms=lambda: g.interval_start_ms(3))
    app = LedgerApp(chain, pool, max_block_txs=4)
    cid = g.chain_id
    backlog = [pool.add(_transfer(devnet, user, nonce), chain.state) for user in range(1, 5) for nonce in range(3)]
    readings = [pool.add(Transaction.create(devnet.meters[m], cid, 0, MeterReading(1, 100 * m, 50)), chain.state)
                for m in range(3)]
    not_ended = pool.add(Transaction.create(devnet.meters[0], cid, 1, MeterReading(2, 1, 1)), chain.state)
    chosen = pool.select(chain.state, 4, interval=2)  # interval 2 has not ended by the block's time
    assert chosen[:3] == readings and chosen[3] == backlog[0] and not_ended not in chosen
    block = app.propose(devnet.validators[0].public_key, g.interval_start_ms(2), [])
    assert block.txs[:3] == tuple(readings)
    # Full blocks excuse a transaction left out, never a reading: it is always due.
    assert all(app.always_due(r.hash) for r in readings) and not app.always_due(backlog[5].hash)
