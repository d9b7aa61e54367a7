"""What each transaction kind does to the state, and who may send it."""

from __future__ import annotations

import pytest

from ledger import accounts
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet
from ledger.errors import InvalidTransaction
from ledger.executor import NotBuiltYet, apply_transaction, check_transaction
from ledger.keys import PrivateKey
from ledger.receipts import BlockContext
from ledger.transactions import (
    BUY,
    SELL,
    ContractCall,
    ContractDeploy,
    MarketOrder,
    MeterReading,
    RegisterMeter,
    RevokeMeter,
    SetValidator,
    Transaction,
    Transfer,
)


@pytest.fixture
def chain(devnet: Devnet) -> Chain:
    return Chain(MemoryDB(), devnet.genesis)


def _apply(net: Devnet, chain: Chain, key: PrivateKey, body, fee: int = 1, interval: int = 0) -> None:
    nonce = accounts.get_account(chain.state, key.address).nonce
    tx = Transaction.create(key, net.genesis.chain_id, nonce, body, fee=fee)
    apply_transaction(chain.state, net.genesis, tx, BlockContext(1, 0, net.validators[0].public_key, interval))


def _rejected(net: Devnet, chain: Chain, key: PrivateKey, body, fee: int = 1, interval: int = 0) -> str:
    with pytest.raises(InvalidTransaction) as info:
        _apply(net, chain, key, body, fee, interval)
    return info.value.reason


def test_meter_readings_are_recorded_once_per_interval(devnet: Devnet, chain: Chain) -> None:
    meter = devnet.meters[1]
    # Only an interval that has ended by the block's: nobody can report what is still to be metered.
    assert _rejected(devnet, chain, meter, MeterReading(7, 2400, 900), fee=0, interval=7) == "reading-too-early"
    assert _rejected(devnet, chain, meter, MeterReading(8, 2400, 900), fee=0, interval=7) == "reading-too-early"
    _apply(devnet, chain, meter, MeterReading(7, 2400, 900), fee=0, interval=8)
    [(key, reading)] = accounts.readings(chain.state, 7)
    assert key == meter.public_key
    assert (reading.produced_wh, reading.consumed_wh, reading.owner) == (2400, 900, devnet.users[1].address)
    assert _rejected(devnet, chain, meter, MeterReading(7, 1, 1), fee=0, interval=9) == "duplicate-reading"
    # A reading the market kernels could not take (an owner's 16 meters stay below 2**31 Wh).
    assert _rejected(devnet, chain, meter, MeterReading(8, 1 << 27, 0), fee=0, interval=9) == "reading-out-of-range"
    assert _rejected(devnet, chain, meter, MeterReading(8, 0, 1 << 40), fee=0, interval=9) == "reading-out-of-range"


def test_orders_are_stored_and_validated(devnet: Devnet, chain: Chain) -> None:
    u = devnet.users[2]
    _apply(devnet, chain, u, MarketOrder(4, SELL, 1500, 11_000, 3, 1))
    [(sender, oid, order)] = accounts.orders(chain.state, 4)
    assert (sender, oid, order.side, order.energy_wh, order.price_mc_per_kwh, order.zone) == (
        u.address, 1, SELL, 1500, 11_000, 3)
    assert _rejected(devnet, chain, u, MarketOrder(4, BUY, 10, 10, 0, 1)) == "duplicate-order"
    assert _rejected(devnet, chain, u, MarketOrder(4, 2, 10, 10, 0, 2)) == "bad-side"
    assert _rejected(devnet, chain, u, MarketOrder(4, BUY, 0, 10, 0, 3)) == "zero-energy"
    assert _rejected(devnet, chain, u, MarketOrder(4, BUY, 10, 0, 0, 4)) == "zero-price"


def test_registry_operations_are_operator_only(devnet: Devnet, chain: Chain) -> None:
    new_meter = PrivateKey.from_label("new-meter")
    body = RegisterMeter(new_meter.public_key, "smart-meter", "SM-NEW", devnet.users[3].address)
    assert _rejected(devnet, chain, devnet.users[3], body) == "not-operator"
    _apply(devnet, chain, devnet.operator, body, fee=0)
    assert accounts.get_meter(chain.state, new_meter.public_key).serial == "SM-NEW"
    assert _rejected(devnet, chain, devnet.operator, body, fee=0) == "meter-exists"
    _apply(devnet, chain, new_meter, MeterReading(1, 10, 20), fee=0, interval=2)
    _apply(devnet, chain, devnet.operator, RevokeMeter(new_meter.public_key), fee=0, interval=2)
    assert _rejected(devnet, chain, new_meter, MeterReading(2, 10, 20), fee=0, interval=3) == "unknown-meter"


def test_a_meter_reports_only_intervals_from_its_certification_on(devnet: Devnet, chain: Chain) -> None:
    """A replacement meter cannot rewrite an interval its predecessor left unreported."""
    meter = PrivateKey.from_label("late-meter")
    _apply(devnet, chain, devnet.operator, RegisterMeter(meter.public_key, "smart-meter", "SM-LATE",
                                                         devnet.users[4].address), fee=0, interval=9)
    assert accounts.get_meter(chain.state, meter.public_key).since == 9
    assert _rejected(devnet, chain, meter, MeterReading(8, 10, 20), fee=0, interval=10) == "reading-before-certification"
    _apply(devnet, chain, meter, MeterReading(9, 10, 20), fee=0, interval=10)


def test_validator_set_changes(devnet: Devnet, chain: Chain) -> None:
    newcomer = PrivateKey.from_label("newcomer")
    _apply(devnet, chain, devnet.operator, SetValidator(newcomer.public_key, 5), fee=0)
    assert dict(accounts.validators(chain.state))[newcomer.public_key] == 5
    for v in devnet.validators:
        _apply(devnet, chain, devnet.operator, SetValidator(v.public_key, 0), fee=0)
    assert accounts.validators(chain.state) == [(newcomer.public_key, 5)]
    assert _rejected(devnet, chain, devnet.operator, SetValidator(newcomer.public_key, 0), fee=0) == "last-validator"


def test_the_validator_set_never_outgrows_a_certificate(devnet: Devnet, chain: Chain, monkeypatch) -> None:
    """A certificate holds at most MAX_VALIDATORS signatures (and a header's `skipped` as many
    bits): a set already that large takes no newcomer, though a member may change its power."""
    from ledger import executor

    monkeypatch.setattr(executor, "MAX_VALIDATORS", len(accounts.validators(chain.state)))
    member = accounts.validators(chain.state)[0][0]
    newcomer = PrivateKey.from_label("executor/one-too-many")
    assert _rejected(devnet, chain, devnet.operator, SetValidator(newcomer.public_key, 1), fee=0) == "too-many-validators"
    _apply(devnet, chain, devnet.operator, SetValidator(member, 3), fee=0)
    assert dict(accounts.validators(chain.state))[member] == 3


def test_contracts_are_not_built_yet(devnet: Devnet, chain: Chain) -> None:
    u = devnet.users[0]
    for body in (ContractDeploy("def f():\n    return 1\n", 10_000), ContractCall(b"\1" * 20, "f", (1, b"x"), 10_000, 0)):
        tx = Transaction.create(u, devnet.genesis.chain_id, 0, body, fee=1)
        with pytest.raises(NotImplementedError) as info:
            check_transaction(chain.state, devnet.genesis, tx)
        assert isinstance(info.value, NotBuiltYet) and info.value.reason == "not-built"


def test_transfer_rules(devnet: Devnet, chain: Chain) -> None:
    u = devnet.users
    assert _rejected(devnet, chain, u[0], Transfer(u[1].address, 0)) == "zero-amount"
    assert _rejected(devnet, chain, u[0], Transfer(u[1].address, 10**13)) == "insufficient-balance"
    tx = Transaction.create(u[0], devnet.genesis.chain_id, 3, Transfer(u[1].address, 1), fee=1)
    with pytest.raises(InvalidTransaction) as info:
        check_transaction(chain.state, devnet.genesis, tx)
    assert info.value.reason == "nonce-gap"
    check_transaction(chain.state, devnet.genesis, tx, exact_nonce=False)


def test_contract_storage_is_namespaced_per_contract() -> None:
    from ledger.state import State

    s = State()
    a, b = b"\xaa" * 20, b"\xbb" * 20
    accounts.storage_put(s, a, b"k2", b"2")
    accounts.storage_put(s, a, b"k1", b"1")
    accounts.storage_put(s, b, b"k1", b"other")
    assert accounts.storage_scan(s, a, b"k", 10) == [(b"k1", b"1"), (b"k2", b"2")]
    assert accounts.storage_scan(s, a, b"k", 1) == [(b"k1", b"1")]
    accounts.storage_delete(s, a, b"k1")
    assert accounts.storage_get(s, a, b"k1") is None and accounts.storage_get(s, b, b"k1") == b"other"
    with pytest.raises(ValueError):
        accounts.storage_scan(s, a, b"", 10**6)
