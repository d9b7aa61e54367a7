"""The P2P forward-market contract on a real chain with the VM and the market precompiles."""

from __future__ import annotations

import hashlib

import pytest

from ledger import accounts
from ledger.transactions import ContractDeploy
from market import reference
from market.contracts import source
from tests.market.helpers import GAS, NET, ContractChain
from vm import values
from vm.machine import contract_address

WINDOW_MS = 60_000
FIT, TOU, ALPHA = 5_000, 30_000, 800_000
CAP = TOU * ALPHA // 1_000_000
OPERATOR, PROSUMERS, CONSUMERS = NET.users[0], NET.users[1:9], NET.users[9:17]
W0 = NET.genesis.genesis_time_ms // WINDOW_MS + 10  # the window the tests start in
T0 = W0 * WINDOW_MS


class Market(ContractChain):
    def __init__(self) -> None:
        super().__init__()
        self.address = contract_address(OPERATOR.address, hashlib.sha256(source("p2p_market").encode()).digest())

    def call(self, key, function: str, *args, value: int = 0):  # type: ignore[override]
        return ContractChain.call(self.address, key, function, *args, value=value)

    def balance(self, key) -> int:  # type: ignore[override]
        return accounts.get_account(self.chain.state, key.address).balance


def _setup(m: Market, t0: int) -> None:
    receipts = m.block([(OPERATOR, ContractDeploy(source("p2p_market"), GAS))], t0)
    assert receipts[0].status == 0, receipts[0].reason
    calls = [m.call(OPERATOR, "setup", FIT, TOU, ALPHA, WINDOW_MS, 1, 2)]
    calls += [m.call(OPERATOR, "register", k.address, i % 3, 1 if k in PROSUMERS else 0)
              for i, k in enumerate(PROSUMERS + CONSUMERS)]
    assert all(r.status == 0 for r in m.block(calls, t0 + 1000)), "setup failed"


def test_full_forward_window_clears_and_settles() -> None:
    m = Market()
    t0 = T0
    _setup(m, t0)
    window = W0 + 1  # at t0 the current window is W0: W0+1 .. W0+3 are open (lead 1, span 2)
    offers = [(2_000 + 300 * i, 8_000 + 1_500 * i) for i in range(8)]  # (Wh, price)
    demands = [1_500 + 250 * j for j in range(8)]
    before = {k.address: m.balance(k) for k in PROSUMERS + CONSUMERS}
    calls = [m.call(k, "post", window, 1, e, p, 1) for k, (e, p) in zip(PROSUMERS, offers)]
    calls += [m.call(k, "post", window, 0, d, CAP, 1, value=d * CAP // 1000) for k, d in zip(CONSUMERS, demands)]
    receipts = m.block(calls, t0 + 2000)
    assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
    early = m.block([m.call(OPERATOR, "clear", window)], t0 + 3000)[0]
    assert early.status == 1 and "window still open" in early.reason
    cleared = m.block([m.call(OPERATOR, "clear", window)], window * WINDOW_MS + 5)[0]
    assert cleared.status == 0, cleared.reason
    price, volume, count, paid_total = values.decode(cleared.output)

    # The same book through the reference implementation gives the same price and trades.
    sell_p, sell_e = [p for _, p in offers], [e for e, _ in offers]
    assert price == reference.merit_order_price(sell_p, sell_e, sum(demands), CAP, FIT)
    expected = reference.pro_rata_assign(demands, sell_p, sell_e, CAP, FIT, price)
    assert count == len(expected) and volume == min(sum(demands), sum(e for e, p in offers if FIT < p < CAP))
    # Orders were read back in storage-key order (hex address): map the reference's indices.
    by_key = sorted(range(8), key=lambda i: PROSUMERS[i].address.hex())
    buyers_by_key = sorted(range(8), key=lambda j: CONSUMERS[j].address.hex())
    received = {k.address: 0 for k in PROSUMERS}
    paid = {k.address: 0 for k in CONSUMERS}
    sell_p_k = [sell_p[i] for i in by_key]
    sell_e_k = [sell_e[i] for i in by_key]
    demands_k = [demands[j] for j in buyers_by_key]
    for s, b, e, pay in reference.pro_rata_assign(demands_k, sell_p_k, sell_e_k, CAP, FIT, price):
        received[PROSUMERS[by_key[s]].address] += pay
        paid[CONSUMERS[buyers_by_key[b]].address] += pay
    for k in PROSUMERS:
        assert m.balance(k) - before[k.address] == received[k.address] - m.fees[k.address]
    for k in CONSUMERS:
        assert m.balance(k) - before[k.address] == -paid[k.address] - m.fees[k.address]
    assert sum(received.values()) == sum(paid.values()) == paid_total
    assert accounts.get_account(m.chain.state, m.address).balance == 0  # every deposit paid out or refunded
    trade0 = m.block([m.call(OPERATOR, "trade", window, 0)], window * WINDOW_MS + 10)[0]
    assert len(values.decode(trade0.output)) == 4
    again = m.block([m.call(OPERATOR, "clear", window)], window * WINDOW_MS + 20)[0]
    assert again.status == 1 and "already cleared" in again.reason


@pytest.mark.parametrize("args, value, who, reason", [
    ((W0 + 2, 1, 0, 9_000, 7), 0, 1, "energy must be positive"),
    # a free offer this large made every clearing of the window fail, locking its deposits
    ((W0 + 2, 1, 2**31, 9_000, 7), 0, 1, "below 2**24 Wh"),
    ((W0 + 2, 1, 1_000, 25_000, 7), 0, 1, "price outside"),
    ((W0 + 2, 1, 1_000, 4_000, 7), 0, 1, "price outside"),
    ((W0 + 2, 1, 1_000, 9_000, 7), 0, None, "unknown participant"),
    ((W0, 1, 1_000, 9_000, 7), 0, 1, "window is not open"),
    ((W0 + 10, 1, 1_000, 9_000, 7), 0, 1, "window is not open"),
    ((W0 + 2, 0, 1_000, 9_000, 7), 5, 9, "send exactly the deposit"),
    ((W0 + 2, 2, 1_000, 9_000, 7), 0, 1, "side is 0"),
])
def test_bad_orders_are_rejected_and_store_nothing(args, value, who, reason) -> None:
    m = Market()
    t0 = T0
    _setup(m, t0)
    key = NET.users[who] if who is not None else NET.validators[0]
    if who is None:
        m.nonces[key.address] = 0
    state_before = dict(m.chain.state.scan(b"c" + m.address))
    receipt = m.block([m.call(key, "post", *args, value=value)], t0 + 2000)[0]
    assert receipt.status == 1 and reason in receipt.reason, receipt.reason
    assert dict(m.chain.state.scan(b"c" + m.address)) == state_before


def test_duplicate_order_id_is_rejected() -> None:
    m = Market()
    t0 = T0
    _setup(m, t0)
    first, second = m.block([m.call(PROSUMERS[0], "post", W0 + 2, 1, 1_000, 9_000, 7),
                             m.call(PROSUMERS[0], "post", W0 + 2, 1, 2_000, 9_500, 7)], t0 + 2000)
    assert first.status == 0 and second.status == 1 and "duplicate order id" in second.reason
