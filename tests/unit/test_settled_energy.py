"""Honest inputs to PoS: a raw order buys no proposer slots; E grows only through a market the
operator certified claiming metered delivery (never more than the meters measured, never the same
Wh twice), capped per address and interval, for intervals that have ended."""

from __future__ import annotations

import hashlib

from consensus.election import PosElection
from ledger import accounts
from ledger.application import LedgerApp
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet, make_devnet
from ledger.encoding import Record
from ledger.keys import PrivateKey
from ledger.mempool import Mempool
from ledger.receipts import FAILED, OK, Receipt
from ledger.transactions import (
    BUY,
    CertifyMarket,
    ContractCall,
    ContractDeploy,
    MarketOrder,
    MeterReading,
    Transaction,
    Transfer,
)
from vm import values
from vm.machine import VM, contract_address

INTERVAL_MS = 1000
STEP_MS = INTERVAL_MS // 4  # between blocks
CAP_WH = 5000
GAS = 200_000
MARKET = "def settle(who, k, wh):\n    return claim_delivery(who, k, wh, 0)[0]\n"


class PosChain:
    """A PoS devnet with the VM, where every height is proposed by its elected proposer."""

    def __init__(self) -> None:
        self.net: Devnet = make_devnet(
            validators=4, users=2, meters=2, consensus="pos", label="settled", meter_owners="validators",
            params={"interval_ms": INTERVAL_MS, "settled_cap_wh": CAP_WH},
        )
        self.chain = Chain(MemoryDB(), self.net.genesis, runtime=VM())
        self.app = LedgerApp(self.chain, Mempool(self.net.genesis, self.chain.cache))

    def next_nonce(self, key: PrivateKey) -> int:
        return accounts.get_account(self.chain.state, key.address).nonce

    def tx(self, key: PrivateKey, body: Record, fee: int = 1) -> Transaction:
        return Transaction.create(key, self.net.genesis.chain_id, self.next_nonce(key), body, fee=fee)

    def commit(self, txs: list[Transaction]) -> bytes:
        """Commit one block by the elected proposer, a quarter interval after the head; returns
        the proposer."""
        proposer = PosElection().ranking(self.app)[0]
        block, dropped = self.chain.build_block(txs, proposer, self.chain.head.time_ms + STEP_MS)
        assert not dropped, dropped[0][1]
        self.chain.commit_block(self.net.seal(block))
        return proposer

    def receipt(self, tx: Transaction) -> Receipt:
        return self.chain.store.tx_location(tx.hash).receipt

    @property
    def next_interval(self) -> int:
        """The settlement interval of the next block."""
        return self.net.genesis.interval_of(self.chain.head.time_ms + STEP_MS)


def test_a_raw_order_for_the_largest_energy_does_not_capture_the_proposer() -> None:
    pos = PosChain()
    attacker = pos.net.validators[2]
    pos.commit([pos.tx(pos.net.users[0], Transfer(attacker.address, 1000))])
    pos.commit([pos.tx(attacker, MarketOrder(9, BUY, (1 << 64) - 1, 9000, 0, 0))])
    proposers = [pos.commit([]) for _ in range(40)]
    assert accounts.traded_wh(pos.chain.state, attacker.address) == 0
    assert len(set(proposers)) == 4  # every validator still proposes
    assert proposers.count(attacker.public_key) <= 20


def _deploy_market(pos: PosChain) -> bytes:
    owner = pos.net.users[0]
    deploy = pos.tx(owner, ContractDeploy(MARKET, GAS), fee=1 + GAS // 1000)
    pos.commit([deploy])
    assert pos.receipt(deploy).status == OK, pos.receipt(deploy).reason
    return contract_address(owner.address, hashlib.sha256(MARKET.encode()).digest())


def _settle(pos: PosChain, market: bytes, who: bytes, interval: int, wh: int) -> Receipt:
    call = pos.tx(pos.net.users[1], ContractCall(market, "settle", (who, interval, wh), GAS, 0), fee=1 + GAS // 1000)
    pos.commit([call])
    return pos.receipt(call)


def test_only_a_certified_market_credits_metered_delivery() -> None:
    pos = PosChain()
    market = _deploy_market(pos)
    who = pos.net.validators[1].address
    meter = pos.net.meters[1]  # validator 1's
    reading = Transaction.create(meter, pos.net.genesis.chain_id, 0, MeterReading(0, 9_000, 500))  # exports 8,500
    later = Transaction.create(meter, pos.net.genesis.chain_id, 1, MeterReading(1, 1_000, 300))  # exports 700
    for interval, tx in ((0, reading), (1, later)):  # each once its interval has ended
        while pos.next_interval <= interval:
            pos.commit([])
        pos.commit([tx])
    refused = _settle(pos, market, who, 0, 3000)
    assert refused.status == FAILED and "certified" in refused.reason
    assert accounts.traded_wh(pos.chain.state, who) == 0

    pos.commit([pos.tx(pos.net.operator, CertifyMarket(market, 1), fee=0)])
    assert accounts.is_market(pos.chain.state, market)
    assert values.decode(_settle(pos, market, who, 0, 3000).output) == 3000
    # Claims draw on the 8,500 Wh metered and on the cap of 5,000 per address and interval.
    assert values.decode(_settle(pos, market, who, 0, 4000).output) == 4000
    assert values.decode(_settle(pos, market, who, 0, 4000).output) == 1500  # what the meter has left
    assert values.decode(_settle(pos, market, who, 0, 1).output) == 0
    assert accounts.settled_wh(pos.chain.state, who, 0) == CAP_WH
    assert values.decode(_settle(pos, market, who, 1, 5_000).output) == 700
    assert accounts.traded_wh(pos.chain.state, who) == CAP_WH + 700
    unmetered = pos.net.validators[2].address  # no meter: nothing to claim
    assert values.decode(_settle(pos, market, unmetered, 0, 100).output) == 0

    current = _settle(pos, market, who, pos.next_interval, 100)  # the call's own interval
    assert current.status == FAILED and "ended" in current.reason
    assert accounts.traded_wh(pos.chain.state, who) == CAP_WH + 700

    pos.commit([pos.tx(pos.net.operator, CertifyMarket(market, 0), fee=0)])
    withdrawn = _settle(pos, market, who, 1, 100)
    assert withdrawn.status == FAILED and "certified" in withdrawn.reason
    assert accounts.traded_wh(pos.chain.state, who) == CAP_WH + 700
