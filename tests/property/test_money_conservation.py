"""Money is conserved: over random blocks of transfers, contract calls carrying value (paying
on, keeping it, forwarding it to another contract, reverting, failing inside `try_call`), meter
readings, orders and deploys, each block built and committed by a real chain with the VM, the
balances of every account (members, contracts, proposers) add up to the recorded supply, which
moves only by the block incentives; a failed call costs its sender its fee and nothing more, and
no one is paid or charged but by a transaction that names them."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import accounts, schema
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.encoding import unpack
from ledger.executor import contract_fee
from ledger.transactions import ContractCall, ContractDeploy, MarketOrder, MeterReading, Transaction, Transfer
from vm.machine import VM, contract_address

INCENTIVE = 7
NET = make_devnet(validators=2, users=4, meters=2, label="money", balance=10**6,
                  params={"block_incentive": INCENTIVE, "interval_ms": 1000})
GAS = 200_000
FEE = contract_fee(NET.genesis, GAS)
SOURCE = '''
def pay(to, amount):
    transfer(to, amount)

def keep():
    return value()

def forward(other, amount):
    call_value(other, "keep", amount)

def bounce(to, amount):
    transfer(to, amount)
    revert("bounced")

def shield(other, to, amount):
    return try_call(other, "bounce", to, amount)
'''
DEPLOYERS = NET.users[:2]
CONTRACTS = [contract_address(k.address, hashlib.sha256(SOURCE.encode()).digest()) for k in DEPLOYERS]
PEOPLE = [k.address for k in NET.users] + [v.address for v in NET.validators]
TARGETS = PEOPLE + CONTRACTS

AMOUNT = st.one_of(st.integers(0, 3), st.integers(1, 2 * 10**6), st.sampled_from([10**6, 2**63, 2**64 - 1]))
user = st.integers(0, len(NET.users) - 1)
target = st.integers(0, len(TARGETS) - 1)
contract = st.integers(0, len(CONTRACTS) - 1)
op = st.one_of(
    st.tuples(st.just("transfer"), user, target, AMOUNT, st.integers(0, 3)),
    st.tuples(st.just("pay"), user, contract, target, AMOUNT, AMOUNT),
    st.tuples(st.just("keep"), user, contract, AMOUNT),
    st.tuples(st.just("forward"), user, contract, contract, AMOUNT, AMOUNT),
    st.tuples(st.just("bounce"), user, contract, target, AMOUNT, AMOUNT),
    st.tuples(st.just("shield"), user, contract, contract, target, AMOUNT),
    st.tuples(st.just("reading"), st.integers(0, len(NET.meters) - 1), st.integers(0, 3), AMOUNT),
    st.tuples(st.just("order"), user, st.integers(0, 2)),
)
block = st.tuples(st.integers(0, len(NET.validators) - 1), st.lists(op, max_size=8))


def _body(o: tuple):
    kind = o[0]
    if kind == "transfer":
        return NET.users[o[1]], Transfer(TARGETS[o[2]], min(o[3], 2**64 - 1)), o[4]
    if kind == "reading":
        return NET.meters[o[1]], MeterReading(o[2], min(o[3], 5_000), 0), 0
    if kind == "order":
        return NET.users[o[1]], MarketOrder(5, 1, 100, 9_000, 0, o[2]), 1
    key = NET.users[o[1]]
    c = CONTRACTS[o[2]]
    if kind == "pay":
        return key, ContractCall(c, "pay", (TARGETS[o[3]], min(o[4], 2**63 - 1)), GAS, o[5]), FEE
    if kind == "keep":
        return key, ContractCall(c, "keep", (), GAS, o[3]), FEE
    if kind == "forward":
        return key, ContractCall(c, "forward", (CONTRACTS[o[3]], min(o[4], 2**63 - 1)), GAS, o[5]), FEE
    if kind == "bounce":
        return key, ContractCall(c, "bounce", (TARGETS[o[3]], min(o[4], 2**63 - 1)), GAS, o[5]), FEE
    return key, ContractCall(c, "shield", (CONTRACTS[o[3]], TARGETS[o[4]], min(o[5], 2**63 - 1)), GAS, 0), FEE


def _balances(chain: Chain) -> dict[bytes, int]:
    n = len(schema.ACCOUNT)
    return {k[n:]: accounts.Account.from_wire(unpack(v)).balance for k, v in chain.state.scan(schema.ACCOUNT)}


def _chain() -> Chain:
    chain = Chain(MemoryDB(), NET.genesis, runtime=VM())
    txs = [Transaction.create(k, NET.genesis.chain_id, 0, ContractDeploy(SOURCE, GAS), fee=FEE) for k in DEPLOYERS]
    built, dropped = chain.build_block(txs, NET.validators[0].public_key, NET.genesis.genesis_time_ms + 1)
    assert not dropped
    chain.commit_block(NET.seal(built))
    return chain


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(block, min_size=1, max_size=6))
def test_balances_always_add_up_to_the_supply(blocks: list) -> None:
    chain = _chain()
    assert all(accounts.get_code(chain.state, c) is not None for c in CONTRACTS)
    supply = accounts.supply(chain.state)
    assert sum(_balances(chain).values()) == supply
    nonces: dict[bytes, int] = {}
    for proposer, ops in blocks:
        txs = []
        for o in ops:
            key, body, fee = _body(o)
            nonce = nonces.get(key.address, accounts.get_account(chain.state, key.address).nonce)
            nonces[key.address] = nonce + 1
            txs.append(Transaction.create(key, NET.genesis.chain_id, nonce, body, fee=fee))
        before = _balances(chain)
        time_ms = max(chain.head.time_ms + 1, NET.genesis.interval_start_ms(chain.head.height + 2))
        built, dropped = chain.build_block(txs, NET.validators[proposer].public_key, time_ms)
        chain.commit_block(NET.seal(built))
        for tx, _ in dropped:  # a dropped transaction never ran: its nonce is free again
            nonces[tx.sender_address] = min(nonces[tx.sender_address], tx.nonce)
        after = _balances(chain)
        assert accounts.supply(chain.state) == supply + INCENTIVE
        supply += INCENTIVE
        assert sum(after.values()) == supply
        # Who could have been paid in this block: the proposer, the contracts, and whatever a
        # transfer or a call names. Everyone else moves by exactly what their own transaction
        # spends: a failed call its fee only, a call its fee and value, a transfer its amount.
        paid = {NET.validators[proposer].address, *CONTRACTS}
        for tx in built.txs:
            body = tx.body
            if isinstance(body, Transfer):
                paid.add(body.to)
            elif isinstance(body, ContractCall):
                paid.update(a for a in body.args if type(a) is bytes)
        senders = [tx.sender_address for tx in built.txs]
        for tx, receipt in zip(built.txs, chain.receipts_of(built)):
            who = tx.sender_address
            if who in paid or senders.count(who) > 1:
                continue
            spent = tx.fee
            if isinstance(tx.body, Transfer):
                spent += tx.body.amount
            elif isinstance(tx.body, ContractCall) and receipt.status == 0:
                spent += tx.body.value
            assert after.get(who, 0) == before.get(who, 0) - spent
        for address in set(PEOPLE) - paid - set(senders):
            assert after.get(address, 0) == before.get(address, 0)
    assert chain.audit() == chain.height
