"""The PoE block incentive in each of 003 V.F's programs, on hand-worked numbers."""

from __future__ import annotations

import hashlib

import pytest

from consensus.election import PoeElection
from ledger import accounts
from ledger.application import LedgerApp
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import Devnet, make_devnet
from ledger.encoding import Record
from ledger.errors import GenesisError
from ledger.keys import PrivateKey
from ledger.mempool import Mempool
from ledger.receipts import OK
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading, Transaction
from tests.unit.test_settled_energy import GAS, MARKET
from vm.machine import VM, contract_address

INTERVAL_MS = 1000
INCENTIVE = 1000
CONTRACT_FEE = 1 + GAS // 1000

# Interval 0, for validators v0, v1, v2 (v2 has a meter but sends no reading):
#   v0: P=900,  C=600  -> CPF = e^-0.3 = 0.740818 ->  740818 ppm; a market claims 300 Wh of its export
#   v1: P=2000, C=1500 -> CPF = e^-0.5 = 0.606530 ->  606530 ppm; a market claims 250 Wh of its 500
#   v2: no reading     -> CPF 0                               ;  a market's claim of 5000 Wh gets 0
# Paid in interval 1, with block_incentive 1000 and poe_full_wh 1000:
#   incentive = 1000 * min(X, 1000) // 1000 * CPF // 10^6
#   RE    (X = P):           v0: 900 * 740818 // 10^6 = 666;  v1: X=2000 -> 1000 * 0.606530 -> 606
#   TE    (X = settled):     v0: 300 * 740818 // 10^6 = 222;  v1: 250 * 606530 // 10^6 = 151
#   RE+TE (X = P + settled): v0: X=1200 -> 1000 -> 740;       v1: X=2250 -> 1000 -> 606
#   v2 (CPF 0, nothing settled) is paid 0 in every program but flat.
READINGS = ((900, 600), (2000, 1500))
CLAIMS = (300, 250, 5000)
SETTLED = (300, 250, 0)
EXPECTED = {
    "flat": (1000, 1000, 1000),
    "RE": (666, 606, 0),
    "TE": (222, 151, 0),
    "RE+TE": (740, 606, 0),
}


def _devnet(mode: str, **params: int | str) -> Devnet:
    return make_devnet(
        validators=3, users=1, meters=3, meter_owners="validators", consensus="poe", label="poe-incentive",
        params={"interval_ms": INTERVAL_MS, "block_incentive": INCENTIVE, "poe_incentive": mode, **params},
    )


class PoeChain:
    def __init__(self, mode: str) -> None:
        self.net = _devnet(mode)
        self.chain = Chain(MemoryDB(), self.net.genesis, runtime=VM())
        self.app = LedgerApp(self.chain, Mempool(self.net.genesis, self.chain.cache))

    def tx(self, key: PrivateKey, body: Record, fee: int = 0) -> Transaction:
        nonce = accounts.get_account(self.chain.state, key.address).nonce
        return Transaction.create(key, self.net.genesis.chain_id, nonce, body, fee=fee)

    def commit(self, txs: list[Transaction], proposer: PrivateKey, at_ms: int) -> None:
        """Commit a block by `proposer` at `at_ms` after genesis."""
        block, dropped = self.chain.build_block(txs, proposer.public_key, self.net.genesis.genesis_time_ms + at_ms)
        assert not dropped, dropped[0][1]
        self.chain.commit_block(self.net.seal(block))

    def balance(self, key: PrivateKey) -> int:
        return accounts.get_account(self.chain.state, key.address).balance


def _settled_chain(mode: str) -> PoeChain:
    """Interval 0's readings and settlements as in the table above, then the head in interval 1;
    v2 proposes every block so far (v2's pay is 0 in every program but flat)."""
    poe = PoeChain(mode)
    v, user = poe.net.validators, poe.net.users[0]
    deploy = poe.tx(user, ContractDeploy(MARKET, GAS), fee=CONTRACT_FEE)
    poe.commit([deploy], v[2], 100)
    market = contract_address(user.address, hashlib.sha256(MARKET.encode()).digest())
    poe.commit([poe.tx(poe.net.operator, CertifyMarket(market, 1))], v[2], 200)
    readings = [poe.tx(poe.net.meters[i], MeterReading(0, p, c)) for i, (p, c) in enumerate(READINGS)]
    poe.commit(readings, v[2], 1000)  # in interval 1, once interval 0 has ended
    for i, (key, wh) in enumerate(zip(v, CLAIMS)):
        call = poe.tx(user, ContractCall(market, "settle", (key.address, 0, wh), GAS, 0), fee=CONTRACT_FEE)
        poe.commit([call], v[2], 1100 + 100 * i)
        assert poe.chain.store.tx_location(call.hash).receipt.status == OK
    assert [accounts.settled_wh(poe.chain.state, k.address, 0) for k in v] == list(SETTLED)
    return poe


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_each_program_pays_its_hand_worked_incentive(mode: str) -> None:
    poe = _settled_chain(mode)
    v = poe.net.validators
    for i, key in enumerate(v):  # empty blocks: no fees, the incentive alone
        before, supply = poe.balance(key), accounts.supply(poe.chain.state)
        poe.commit([], key, 1500 + 100 * i)
        paid = poe.balance(key) - before
        assert paid == EXPECTED[mode][i]
        assert accounts.supply(poe.chain.state) == supply + paid


def test_a_fallback_proposer_is_paid_by_its_own_merit() -> None:
    # The election names v0 (best CPF) first and v2 (CPF 0) last; when v0 and v1 are silent, v2
    # proposes and is paid by its own CPF and energy: nothing, not v0's merit.
    poe = _settled_chain("RE+TE")
    v = poe.net.validators
    assert PoeElection().ranking(poe.app) == [k.public_key for k in v]
    before = [poe.balance(k) for k in v]
    poe.commit([], v[2], 1500)
    assert [poe.balance(k) for k in v] == before


def test_nothing_is_paid_before_an_interval_has_ended() -> None:
    poe = PoeChain("RE")
    v0 = poe.net.validators[0]
    poe.commit([], v0, 900)
    assert poe.balance(v0) == 0
    # Interval 1: interval 0 has ended, and its reading is in the block; CPF 1e6, X = 700.
    poe.commit([poe.tx(poe.net.meters[0], MeterReading(0, 700, 700))], v0, 1000)
    assert poe.balance(v0) == 700


def test_an_interval_some_of_the_proposers_meters_did_not_report_pays_nothing() -> None:
    """v0's second meter measured 1,000 Wh of consumption it withholds: over its first meter
    alone (P=C=700) it was paid 700 in RE; over both it would be paid 700 * e^-1 = 257. Until
    all its meters report the interval, it is paid nothing for it, as the election values it."""
    from ledger.transactions import RegisterMeter

    poe = PoeChain("RE")
    v0 = poe.net.validators[0]
    second = PrivateKey.from_label("poe-incentive/meter/second")
    poe.commit([poe.tx(poe.net.operator, RegisterMeter(second.public_key, "smart-meter", "SM-2", v0.address))], v0, 100)
    poe.commit([poe.tx(poe.net.meters[0], MeterReading(0, 700, 700))], v0, 1000)
    assert poe.balance(v0) == 0
    poe.commit([poe.tx(second, MeterReading(0, 0, 1000))], v0, 1100)
    assert poe.balance(v0) == 700 * 367879 // 10**6  # the block after both reported: e^-1 = 0.367879


def test_unknown_program_or_zero_divisor_is_a_genesis_error() -> None:
    with pytest.raises(GenesisError, match="poe_incentive.*RE\\+TE.*'TE\\+RE'"):
        _devnet("TE+RE")
    with pytest.raises(GenesisError, match="poe_full_wh"):
        _devnet("RE", poe_full_wh=0)
    assert _devnet("flat", poe_full_wh=0).genesis.poe_incentive == "flat"  # flat never divides
