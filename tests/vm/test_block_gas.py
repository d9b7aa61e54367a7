"""A block's contract execution is bounded: the genesis `max_block_gas`.

Every member may send contract calls with up to `max_tx_gas` each, and a block holds up to
10,000 transactions: without a bound on their sum, one block of calls that burn their whole gas
would take every validator over an hour to build or validate (0.45 s per 10M-gas call here), and
a proposer that included the same mempool again after a view change would stall the chain as
long as the sender paid fees. As in Ethereum, a contract transaction enters a block only if the gas the
block used so far plus its gas limit fits, so the bound holds before any of it runs.
"""

from __future__ import annotations

import hashlib

import pytest

from ledger import accounts
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.errors import InvalidBlock
from ledger.genesis import Genesis
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from vm.machine import VM, contract_address

BURN = "def f():\n    i = 0\n    while True:\n        i = i + 1\n"
CALL_GAS = 100_000
NET = make_devnet(validators=1, users=2, meters=0, label="block-gas", params={"max_block_gas": 350_000})


def _chain_with_burner() -> tuple[Chain, bytes]:
    chain = Chain(MemoryDB(), NET.genesis, runtime=VM())
    key = NET.users[0]
    deploy = Transaction.create(key, NET.genesis.chain_id, 0, ContractDeploy(BURN, 300_000), fee=1_000)
    block, dropped = chain.build_block([deploy], NET.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and len(block.txs) == 1
    chain.commit_block(NET.seal(block))
    return chain, contract_address(key.address, hashlib.sha256(BURN.encode()).digest())


def _burns(contract: bytes, count: int) -> list[Transaction]:
    key = NET.users[0]
    return [Transaction.create(key, NET.genesis.chain_id, 1 + i, ContractCall(contract, "f", (), CALL_GAS, 0),
                               fee=1_000) for i in range(count)]


def test_a_proposer_leaves_what_exceeds_the_block_gas_for_the_next_block() -> None:
    chain, contract = _chain_with_burner()
    txs = _burns(contract, 5)
    block, dropped = chain.build_block(txs, NET.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped
    assert [t.hash for t in block.txs] == [t.hash for t in txs[:3]]  # 3 x 100,000 used; a 4th would pass 350,000
    chain.commit_block(NET.seal(block))
    receipts = [chain.store.tx_location(t.hash).receipt for t in block.txs]
    assert all(r.gas_used == CALL_GAS and r.reason.startswith("out-of-gas") for r in receipts)
    assert chain.store.tx_location(txs[3].hash) is None
    block, dropped = chain.build_block(txs[3:], NET.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and len(block.txs) == 2


def test_a_block_over_its_gas_is_invalid_whoever_built_it(monkeypatch: pytest.MonkeyPatch) -> None:
    chain, contract = _chain_with_burner()
    txs = _burns(contract, 5)
    with monkeypatch.context() as m:  # a proposer that ignores the bound
        m.setattr(Genesis, "max_block_gas", property(lambda self: 10**12), raising=False)
        block, dropped = chain.build_block(txs, NET.validators[0].public_key, chain.head.time_ms + 1000)
    assert not dropped and len(block.txs) == 5
    chain.discard_pending()
    root = chain.state.root()
    with pytest.raises(InvalidBlock) as info:
        chain.validate_block(block)
    assert info.value.reason == "block-gas" and info.value.tx_index == 3
    assert chain.state.root() == root and accounts.get_account(chain.state, NET.users[0].address).nonce == 1


def test_the_bound_is_a_positive_genesis_param() -> None:
    from ledger.errors import GenesisError

    assert make_devnet(label="block-gas-default").genesis.max_block_gas == 100_000_000
    with pytest.raises(GenesisError):
        _ = make_devnet(label="block-gas-zero", params={"max_block_gas": 0}).genesis.max_block_gas


def test_the_local_scenario_driver_commits_a_phase_that_needs_several_blocks() -> None:
    """The in-process scenario chain puts a phase in as many blocks as its gas needs, a
    sender's later nonces with them, as a cluster's proposers do."""
    from pownode.scenario.drivers import LocalDriver

    driver = LocalDriver(NET.genesis, NET.validators)
    key = NET.users[1]
    deploy = Transaction.create(key, NET.genesis.chain_id, 0, ContractDeploy(BURN, 300_000), fee=1_000)
    assert driver.submit([deploy])[0].ok
    contract = contract_address(key.address, hashlib.sha256(BURN.encode()).digest())
    calls = [Transaction.create(key, NET.genesis.chain_id, 1 + i, ContractCall(contract, "f", (), CALL_GAS, 0),
                                fee=1_000) for i in range(7)]
    committed = driver.submit(calls)
    assert [c.reason.startswith("out-of-gas") for c in committed] == [True] * 7
    assert driver.chain.height == 1 + 3  # 3 + 3 + 1 calls


def test_a_call_that_would_fit_no_block_is_refused_at_the_door() -> None:
    """A gas limit above max_block_gas (a genesis may set max_tx_gas higher) is refused, not
    left in the mempool holding up its sender's later nonces."""
    from ledger.errors import InvalidTransaction
    from ledger.executor import check_transaction

    chain, contract = _chain_with_burner()
    tx = Transaction.create(NET.users[0], NET.genesis.chain_id, 1, ContractCall(contract, "f", (), 350_001, 0),
                            fee=1_000)
    with pytest.raises(InvalidTransaction) as info:
        check_transaction(chain.state, NET.genesis, tx, runtime=chain.runtime)
    assert info.value.reason == "gas-limit"


def test_calls_left_out_for_gas_are_not_counted_as_censored() -> None:
    """PBFT's request timer counts what the last block could have held and did not: a call whose
    gas limit exceeded the gas that block left waited for room (a backlog of calls fills blocks
    by gas, not count), while a transfer left out still counts against the proposer."""
    from ledger.application import LedgerApp
    from ledger.mempool import Mempool
    from ledger.transactions import Transfer

    chain, contract = _chain_with_burner()
    app = LedgerApp(chain, Mempool(NET.genesis, chain.cache, runtime=chain.runtime))
    burns = _burns(contract, 5)
    for tx in burns:
        app.mempool.add(tx, chain.state)
    block = app.propose(NET.validators[0].public_key, chain.head.time_ms + 1000, [])
    assert len(block.txs) == 3  # 300,000 of 350,000 gas used
    app.commit(NET.seal(block))
    assert burns[3].hash not in app.ready_requests()  # 100,000 did not fit the 50,000 left
    transfer = Transaction.create(NET.users[1], NET.genesis.chain_id, 0, Transfer(NET.users[0].address, 1), fee=1_000)
    app.mempool.add(transfer, chain.state)
    assert app.ready_requests() == [transfer.hash]
    block = app.propose(NET.validators[0].public_key, chain.head.time_ms + 1000, [])
    assert len(block.txs) == 3  # the two calls left and the transfer: room to spare
    app.commit(NET.seal(block))
    assert app.ready_requests() == []
