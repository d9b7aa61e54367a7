"""The P2P market contract on a real chain with the VM and the market precompiles: posting,
clearing by each mechanism against the reference, and real-time settlement on certified readings."""

from __future__ import annotations

import pytest

from ledger import accounts
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, RegisterMeter, RevokeMeter
from market import reference
from tests.market.helpers import NET, ContractChain, interval_time
from vm.machine import read_storage, scan_storage

FIT, TOU, ALPHA, P_SER = 5_000, 30_000, 800_000, 1_000
CAP = TOU * ALPHA // 1_000_000
MERIT, ZONE, DOUBLE = 0, 1, 2
OPERATOR, UTILITY = NET.users[0], NET.users[16]
PROSUMERS, CONSUMERS = NET.users[1:9], NET.users[9:16]
I0 = 10  # the interval the tests start in
W = I0 + 1  # the first window open at I0 (lead 1, span 2)
CREDIT = 10_000_000


class Market(ContractChain):
    def __init__(self, mechanism: int = MERIT, grace: int = 1, grid: bytes = b"", any_zone: int = 0,
                 certify: bool = True) -> None:
        super().__init__()
        self.block([], interval_time(I0 - 2))
        self.address = self.deploy("p2p_market", OPERATOR)
        calls = [self.on(OPERATOR, "setup", mechanism, FIT, TOU, ALPHA, P_SER, 1, 2, UTILITY.address, grace, grid,
                         any_zone, OPERATOR.address)]
        calls += [self.on(OPERATOR, "register", k.address, i % 3, 1 if k in PROSUMERS else 0)
                  for i, k in enumerate(PROSUMERS + CONSUMERS)]
        calls += [self.on(k, "deposit", value=CREDIT) for k in PROSUMERS + CONSUMERS + (UTILITY,)]
        receipts = self.block(calls, interval_time(I0 - 1))
        assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
        if certify:
            assert self.block([(NET.operator, CertifyMarket(self.address, 1))])[0].status == 0

    def on(self, key, function: str, *args, value: int = 0, gas: int = 1_500_000):
        return ContractChain.call(self.address, key, function, *args, value=value, gas=gas)

    def view(self, function: str, *args):
        return self.run(self.address, OPERATOR, function, *args)

    def credit(self, key) -> int:
        return self.view("credit", key.address)

    def clear_all(self, window: int, steps: int = 4096, time_ms: int | None = None) -> tuple:
        """Call clear until it returns the result; returns (result, number of calls)."""
        calls = 0
        while True:
            receipt = self.block([self.on(OPERATOR, "clear", window, steps, gas=9_000_000)], time_ms)[0]
            assert receipt.status == 0, receipt.reason
            calls += 1
            result = self.view("result", window)
            if result is not None:
                return result, calls

    def settle_all(self, window: int, steps: int = 256) -> list:
        while True:
            done = self.run(self.address, OPERATOR, "settle", window, steps, gas=9_000_000)
            if done[1] == 1:
                return done

    def contract_holdings(self) -> int:
        """Credits, the locks of orders not yet cleared and the money held for members until
        settlement: what the contract's balance must equal."""
        state = self.chain.state

        def uncleared(key: bytes) -> bool:
            return read_storage(state, self.address, b"R" + key[1:9]) is None

        credits = sum(v for _, v in scan_storage(state, self.address, b"$", 1024))
        locks = sum(v[2] for k, v in scan_storage(state, self.address, b"B", 1024) if uncleared(k))
        locks += sum(v[5] for k, v in scan_storage(state, self.address, b"S", 1024) if uncleared(k))
        held = sum(v[4] for _, v in scan_storage(state, self.address, b"N", 1024))
        return credits + locks + held


def _post_book(m: Market, window: int, offers: list[tuple[int, int]], demands: list[int],
               time_ms: int | None = None) -> None:
    calls = [m.on(k, "post", window, 1, e, p, 1) for k, (e, p) in zip(PROSUMERS, offers)]
    calls += [m.on(k, "post", window, 0, d, 0, 1) for k, d in zip(CONSUMERS, demands)]
    receipts = m.block(calls, time_ms or interval_time(I0, 100))
    assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]


def test_merit_window_clears_as_the_reference_and_conserves_money() -> None:
    m = Market()
    offers = [(2_000 + 300 * i, 8_000 + 1_500 * i) for i in range(8)]  # (Wh, price), all inside (FIT, CAP)
    demands = [1_500 + 250 * j for j in range(7)]
    money = m.total_money()
    _post_book(m, W, offers, demands)
    assert m.balance(m.address) == m.contract_holdings()
    early = m.block([m.on(OPERATOR, "clear", W, 100)], interval_time(I0, 200))[0]
    assert early.status == 1 and "window still open" in early.reason
    result, _ = m.clear_all(W, time_ms=interval_time(W, 10))
    price, volume, count, paid, service = result[:5]

    sell_p, sell_e = [p for _, p in offers], [e for e, _ in offers]
    assert price == reference.merit_order_price(sell_p, sell_e, sum(demands), CAP, FIT)
    expected = reference.pro_rata_assign(demands, sell_p, sell_e, CAP, FIT, price)
    trades = [m.view("trade", W, k) for k in range(count)]
    assert [(t[0], t[1], t[2], t[3]) for t in trades] == [
        (PROSUMERS[s].address, CONSUMERS[b].address, e, pay) for s, b, e, pay in expected]
    assert volume == sum(t[2] for t in expected) == min(sum(demands), sum(sell_e))
    assert service == sum(e * P_SER // 1000 for _, _, e, _ in expected)
    for i, k in enumerate(PROSUMERS):  # proceeds and collateral are held until settlement
        sold = sum(e for s, _, e, _ in expected if s == i)
        assert m.credit(k) == CREDIT - (offers[i][0] * TOU // 1000 if sold else 0)
        held = sum(pay for s, _, _, pay in expected if s == i) + (offers[i][0] * TOU // 1000 if sold else 0)
        assert m.view("committed", W, k.address) == (sold, 0, 0, 0, held)
    for j, k in enumerate(CONSUMERS):
        assert m.credit(k) == CREDIT - sum(pay + e * P_SER // 1000 for _, b, e, pay in expected if b == j)
    assert m.credit(UTILITY) == CREDIT + service
    assert m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money  # fees move to the proposer; nothing is created or lost
    again = m.block([m.on(OPERATOR, "clear", W, 10)])[0]
    assert again.status == 1 and "already cleared" in again.reason


@pytest.mark.parametrize("args, who, reason", [
    ((W + 1, 1, 0, 9_000, 7), 1, "energy must be positive"),
    ((W + 1, 1, 2**31, 9_000, 7), 1, "below 2**24 Wh"),
    ((W + 1, 1, 1_000, CAP, 7), 1, "strictly between FIT and alpha*TOU"),
    ((W + 1, 1, 1_000, FIT, 7), 1, "strictly between FIT and alpha*TOU"),
    ((W + 1, 1, 1_000, 9_000, 7), None, "unknown participant"),
    ((I0, 1, 1_000, 9_000, 7), 1, "window is not open"),
    ((W + 5, 1, 1_000, 9_000, 7), 1, "window is not open"),
    ((W + 1, 0, 16_000_000, 0, 7), 9, "does not cover"),
    ((W + 1, 2, 1_000, 9_000, 7), 1, "side is 0"),
])
def test_bad_orders_are_rejected_and_store_nothing(args, who, reason) -> None:
    m = Market()
    key = NET.users[who] if who is not None else NET.validators[0]
    if who is None:
        m.nonces[key.address] = 0
    state_before = dict(m.chain.state.scan(b"c" + m.address))
    receipt = m.block([m.on(key, "post", *args)], interval_time(I0, 100))[0]
    assert receipt.status == 1 and reason in receipt.reason, receipt.reason
    assert dict(m.chain.state.scan(b"c" + m.address)) == state_before


def test_duplicate_order_id_is_rejected_and_cancel_unlocks() -> None:
    m = Market()
    first, second, demand = m.block([m.on(PROSUMERS[0], "post", W, 1, 1_000, 9_000, 7),
                                     m.on(PROSUMERS[0], "post", W, 1, 2_000, 9_500, 7),
                                     m.on(CONSUMERS[0], "post", W, 0, 2_000, 0, 3)], interval_time(I0, 100))
    assert first.status == 0 and second.status == 1 and "duplicate order id" in second.reason
    assert demand.status == 0 and m.credit(CONSUMERS[0]) == CREDIT - 2_000 * (CAP + P_SER) // 1000
    m.run(m.address, CONSUMERS[0], "cancel", W, 3)
    assert m.credit(CONSUMERS[0]) == CREDIT
    assert m.view("totals", W) == (2, 1, 0, 1_000)


def _deviation(committed: int, metered: int) -> int:
    d = metered - committed
    return -(-d * TOU // 1000) if d < 0 else d * FIT // 1000


def test_realtime_settlement_reads_certified_meters() -> None:
    """000 II.C on chain: deviations priced at TOU/FIT from the members' own readings, no amounts
    from the utility, netted with the sellers' held proceeds and collateral; a revoked meter's
    readings never count; a member whose readings are missing waits for the grace period, is
    then settled provisionally and may not post until its readings come in and settle late."""
    m = Market(grace=1)
    offers = [(2_000 + 300 * i, 8_000 + 1_500 * i) for i in range(8)]
    demands = [1_500 + 250 * j for j in range(7)]
    _post_book(m, W, offers, demands)
    m.clear_all(W, time_ms=interval_time(W, 10))
    early = m.block([m.on(OPERATOR, "settle", W, 10)], interval_time(W, 20))[0]
    assert early.status == 1 and "has not ended" in early.reason
    members = PROSUMERS + CONSUMERS
    committed = {k.address: m.view("committed", W, k.address) for k in members}
    net = {a: c[0] + c[2] - c[1] - c[3] for a, c in committed.items()}
    assert sum(net.values()) == 0  # every Wh sold was bought
    # Interval W's readings: prosumer i exports 100*i less than it sold (i=0 exactly), consumers
    # import 50 Wh less than they bought; CONSUMERS[6] reports late; CONSUMERS[5]'s only meter
    # is revoked after reporting, which leaves it a member without meters.
    energy = {}
    for i, k in enumerate(PROSUMERS):
        energy[1 + i] = (net[k.address] - 100 * i + 700, 700)
    for j, k in enumerate(CONSUMERS[:6]):
        energy[9 + j] = (0, -net[k.address] - 50)
    m.readings(W, energy, interval_time(W + 1, 1))
    assert m.block([(NET.operator, RevokeMeter(NET.meters[14].public_key))])[0].status == 0
    credit_before = {k.address: m.credit(k) for k in members}
    utility_before = m.credit(UTILITY)
    money = m.total_money()
    # Within the grace period settlement stops at the first member still missing readings.
    partial = m.run(m.address, OPERATOR, "settle", W, 256, gas=9_000_000)
    assert partial[1] == 0
    order = sorted(members, key=lambda k: k.address)
    assert partial[0] == order.index(CONSUMERS[6])
    m.block([], interval_time(W + 2, 1))
    assert m.settle_all(W) == (len(members), 1)
    expected_utility = 0
    for k in members:
        a = k.address
        status = {CONSUMERS[5]: 2, CONSUMERS[6]: 0}.get(k, 1)
        metered = {2: net[a], 0: min(net[a], 0)}.get(status)
        if metered is None:
            metered = energy[NET.users.index(k)][0] - energy[NET.users.index(k)][1]
        amount = _deviation(net[a], metered)
        assert m.view("settlement", W, a) == (net[a], metered, amount, status)
        assert m.credit(k) - credit_before[a] == committed[a][4] + amount  # held money released
        assert m.view("committed", W, a)[4] == 0
        expected_utility -= amount
    assert m.credit(UTILITY) - utility_before == expected_utility
    # A shortfall was bought at TOU, a surplus sold at FIT: prosumer 7 under-delivered by 700 Wh.
    assert m.view("settlement", W, PROSUMERS[7].address)[2] == -(700 * TOU // 1000)
    assert m.view("settlement", W, CONSUMERS[0].address)[2] == 50 * FIT // 1000
    # Delivered energy was claimed on chain (PoS's E), only from complete readings.
    assert accounts.traded_wh(m.chain.state, PROSUMERS[0].address) == net[PROSUMERS[0].address]
    assert accounts.traded_wh(m.chain.state, PROSUMERS[7].address) == net[PROSUMERS[7].address] - 700
    assert accounts.traded_wh(m.chain.state, CONSUMERS[6].address) == 0
    assert m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money
    # The late member cannot post until its readings arrive; then the difference is settled.
    late = CONSUMERS[6]
    refused = m.block([m.on(late, "post", W + 3, 0, 100, 0, 9)], interval_time(W + 2, 100))[0]
    assert refused.status == 1 and "awaits its meter readings" in refused.reason
    used = -net[late.address] + 400  # it used 400 Wh more than it bought
    m.readings(W, {15: (0, used)})
    diff = m.run(m.address, OPERATOR, "settle_late", W, late.address)
    assert diff == -(400 * TOU // 1000)
    assert m.view("settlement", W, late.address) == (net[late.address], -used, diff, 1)
    assert m.block([m.on(late, "post", W + 3, 0, 100, 0, 9)])[0].status == 0
    assert m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money


def test_unpaid_deviation_becomes_debt_and_unpaid_feed_in_is_owed() -> None:
    m = Market(grace=0)
    seller, buyer, neighbour = PROSUMERS[0], CONSUMERS[0], CONSUMERS[1]
    receipts = m.block([m.on(seller, "post", W, 1, 1_000, 9_000, 1), m.on(buyer, "post", W, 0, 1_000, 0, 1)],
                       interval_time(I0, 100))
    assert all(r.status == 0 for r in receipts)
    m.clear_all(W, time_ms=interval_time(W, 10))
    # The buyer withdraws everything, then uses five times what it bought; the utility
    # withdraws its credit too, and a neighbour feeds in 100 Wh.
    m.run(m.address, buyer, "withdraw", m.credit(buyer))
    m.run(m.address, UTILITY, "withdraw", m.credit(UTILITY))
    energy = {1 + i: (0, 0) for i in range(8)} | {9 + j: (0, 0) for j in range(7)}
    energy[1] = (1_000, 0)  # the seller delivers exactly
    energy[9] = (0, 5_000)
    energy[10] = (100, 0)
    m.readings(W, energy, interval_time(W + 1, 1))
    m.settle_all(W)
    shortfall = 4_000 * TOU // 1000
    assert m.view("debt", buyer.address) == shortfall
    assert m.view("owed", neighbour.address) == 100 * FIT // 1000
    assert m.credit(seller) == CREDIT + 9_000  # proceeds and collateral released on delivery
    refused = m.block([m.on(buyer, "post", W + 2, 0, 500, 0, 2)])[0]
    assert refused.status == 1 and "debt" in refused.reason
    # Money reaching a member in debt pays the debt first, to the utility's credit.
    m.run(m.address, buyer, "deposit", value=shortfall + 10)
    assert m.view("debt", buyer.address) == 0 and m.credit(buyer) == 10
    assert m.credit(UTILITY) == shortfall
    assert m.run(m.address, neighbour, "claim") == 100 * FIT // 1000
    assert m.view("owed", neighbour.address) == 0
    assert accounts.traded_wh(m.chain.state, seller.address) == 1_000  # claimed delivery: PoS's E
    assert m.balance(m.address) == m.contract_holdings()


def test_a_seller_cannot_walk_away_with_proceeds_it_did_not_deliver() -> None:
    """Proceeds and collateral are held until the meters settle the window: a seller that
    withdraws all it can and delivers nothing pays the shortfall at TOU from what was held."""
    m = Market(grace=0)
    seller, buyer = PROSUMERS[0], CONSUMERS[0]
    m.block([m.on(seller, "post", W, 1, 2_000, 20_000, 1), m.on(buyer, "post", W, 0, 2_000, 0, 1)],
            interval_time(I0, 100))
    m.clear_all(W, time_ms=interval_time(W, 10))
    proceeds = 2_000 * 20_000 // 1000
    assert m.credit(seller) == CREDIT - 2_000 * TOU // 1000  # nothing of the sale to withdraw yet
    taken = m.credit(seller)
    m.run(m.address, seller, "withdraw", taken)
    too_much = m.block([m.on(seller, "withdraw", 1)])[0]
    assert too_much.status == 1 and "does not cover" in too_much.reason
    energy = {1 + i: (0, 0) for i in range(8)} | {9 + j: (0, 0) for j in range(7)}
    energy[9] = (0, 2_000)
    utility_before = m.credit(UTILITY)
    m.readings(W, energy, interval_time(W + 1, 1))
    m.settle_all(W)
    shortfall = 2_000 * TOU // 1000
    # The held proceeds and collateral pay the shortfall; the seller keeps what is left of them.
    assert m.credit(seller) == proceeds + 2_000 * TOU // 1000 - shortfall
    assert m.view("debt", seller.address) == 0
    assert m.credit(UTILITY) - utility_before == shortfall
    assert m.balance(m.address) == m.contract_holdings()


def test_a_meter_certified_after_a_window_does_not_hold_its_owners_settlement() -> None:
    """A meter certified after an interval cannot report it (its readings start at its own
    interval), yet it counted among the owner's meters for that interval, so the owner's
    readings stayed incomplete for good: a seller who delivered in full was settled as having
    delivered nothing (its collateral paid the "shortfall"), could never be settled late, and
    could neither withdraw nor post. An interval counts the meters certified for it."""
    m = Market(grace=0)
    seller, buyer = PROSUMERS[0], CONSUMERS[0]
    m.block([m.on(seller, "post", W, 1, 2_000, 20_000, 1), m.on(buyer, "post", W, 0, 2_000, 0, 1)],
            interval_time(I0, 100))
    m.clear_all(W, time_ms=interval_time(W, 10))
    energy = {1 + i: (0, 0) for i in range(8)} | {9 + j: (0, 0) for j in range(7)}
    energy[1], energy[9] = (2_000, 0), (0, 2_000)
    m.readings(W, energy, interval_time(W + 1, 1))
    added = PrivateKey.from_label("p2p/added-meter")
    assert m.block([(NET.operator, RegisterMeter(added.public_key, "pv-inverter", "PV-1", seller.address))],
                   interval_time(W + 1, 2))[0].status == 0
    credit = m.credit(seller)
    m.settle_all(W)
    proceeds, collateral = 2_000 * 20_000 // 1000, 2_000 * TOU // 1000
    assert m.view("settlement", W, seller.address) == (2_000, 2_000, 0, 1)  # metered, nothing owed
    assert m.credit(seller) == credit + proceeds + collateral
    assert m.block([m.on(seller, "withdraw", 1)])[0].status == 0
    assert accounts.traded_wh(m.chain.state, seller.address) == 2_000
    assert m.balance(m.address) == m.contract_holdings()


def test_windows_before_the_market_and_members_after_a_window_are_not_settled() -> None:
    m = Market(grace=0)
    refused = m.block([m.on(OPERATOR, "clear", I0 - 5, 10)], interval_time(I0, 100))[0]
    assert refused.status == 1 and "did not exist" in refused.reason
    m.clear_all(W, time_ms=interval_time(W, 10))
    newcomer = NET.users[16]  # the utility's key, registered as a member once W had closed
    m.block([m.on(OPERATOR, "register", newcomer.address, 0, 0)], interval_time(W, 200))
    m.readings(W, {16: (0, 5_000)}, interval_time(W + 1, 1))
    m.settle_all(W)
    assert m.view("settlement", W, newcomer.address) is None  # it could not have traded in W
    assert m.view("settlement", W, CONSUMERS[0].address) is not None


def test_one_unreserved_metered_surplus_is_paid_once_across_the_market_and_an_aggregator() -> None:
    """Real-time settlement claims a member's whole unreserved metered net, so an aggregator
    round for the same interval cannot pay the same export again. (The answer was made while the
    aggregator was not certified, so it reserved nothing: tests/market/test_reservations.py has
    the reserved case, where the round gets the Wh whoever settles first.)"""
    m = Market(grace=0)
    seller = PROSUMERS[0]  # no P2P order: its export is all deviation, sold at FIT
    agg = m.deploy("aggregator", UTILITY)
    m.run(agg, UTILITY, "open_round", 1, 1, 1_000, 15_000, W, 1, value=15_000)
    m.run(agg, seller, "answer", 1, 1_000, 14_000, value=14_000)
    m.run(agg, UTILITY, "close", 1)
    assert m.block([(NET.operator, CertifyMarket(agg, 1))])[0].status == 0
    m.clear_all(W, time_ms=interval_time(W, 10))
    energy = {1 + i: (0, 0) for i in range(8)} | {9 + j: (0, 0) for j in range(7)}
    energy[1] = (1_000, 0)
    m.readings(W, energy, interval_time(W + 1, 1))
    m.settle_all(W)
    assert m.view("settlement", W, seller.address)[2] == 1_000 * FIT // 1000  # the market paid FIT for it
    assert m.run(agg, UTILITY, "settle", 1) == (0, 0)  # so the aggregator pays nothing


def test_only_members_with_a_meter_offer_and_a_silent_member_cannot_withdraw() -> None:
    m = Market(grace=0)
    assert m.block([(NET.operator, RevokeMeter(NET.meters[2].public_key))])[0].status == 0
    refused = m.block([m.on(PROSUMERS[1], "post", W, 1, 1_000, 9_000, 1)], interval_time(I0, 100))[0]
    assert refused.status == 1 and "certified meter" in refused.reason
    m.clear_all(W, time_ms=interval_time(W, 10))
    silent = CONSUMERS[0]
    energy = {1 + i: (0, 0) for i in range(8)} | {9 + j: (0, 0) for j in range(7)}
    del energy[9], energy[2]  # the silent member's, and the revoked meter's
    m.readings(W, energy, interval_time(W + 1, 1))
    m.settle_all(W)
    assert m.view("settlement", W, silent.address)[3] == 0  # provisional
    blocked = m.block([m.on(silent, "withdraw", 1)])[0]
    assert blocked.status == 1 and "awaits its meter readings" in blocked.reason
    # Its meter is then revoked: nothing more can be measured; only the operator closes it.
    assert m.block([(NET.operator, RevokeMeter(NET.meters[9].public_key))])[0].status == 0
    stranger = m.block([m.on(PROSUMERS[0], "settle_late", W, silent.address)])[0]
    assert stranger.status == 1 and "only the operator" in stranger.reason
    assert m.run(m.address, OPERATOR, "settle_late", W, silent.address) == 0
    assert m.block([m.on(silent, "withdraw", 1)])[0].status == 0


def test_every_call_that_moves_no_money_refuses_value() -> None:
    """Attack (money locked): only `deposit` and orders credit the value sent with them, yet
    every other function took value too, so what a member sent with a withdrawal, a cancel, a
    clear, a settlement or a view stayed in the contract, credited to no one, for good: the
    contract's balance exceeded what it owes. Now each refuses value and the member keeps it."""
    m = Market()
    a = PROSUMERS[0]
    m.block([m.on(a, "post", W, 1, 1_000, 9_000, 7)], interval_time(I0, 100))
    calls = [("setup", (MERIT, FIT, TOU, ALPHA, P_SER, 1, 2, UTILITY.address, 1, b"", 0, OPERATOR.address)),
             ("params", ()), ("register", (a.address, 0, 1)), ("member", (a.address,)), ("credit", (a.address,)),
             ("debt", (a.address,)), ("owed", (a.address,)), ("withdraw", (5,)), ("claim", ()),
             ("current_window", ()), ("cancel", (W, 7)), ("totals", (W,)), ("order", (W, a.address, 7)),
             ("clear", (W, 10)), ("result", (W,)), ("trade", (W, 0)), ("committed", (W, a.address)),
             ("settle", (W, 10)), ("settle_late", (W, a.address)), ("settlement", (W, a.address))]
    money, credit = m.total_money(), m.credit(a)
    for function, args in calls:
        sender = OPERATOR if function in ("setup", "register") else a
        receipt = m.block([m.on(sender, function, *args, value=1_000)], interval_time(I0, 200))[0]
        assert receipt.status == 1 and "value" in receipt.reason, (function, receipt.reason)
    assert m.balance(m.address) == m.contract_holdings()
    assert m.credit(a) == credit and m.total_money() == money
    assert m.view("order", W, a.address, 7) is not None  # the cancel with value did not cancel
