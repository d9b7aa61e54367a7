"""Reserved delivery: a Wh goes to the market its owner committed it to before the interval, not
to whichever certified market settles first.

Red-team finding: the real-time settlement (p2p_market's `settle`, anyone's from window + 1)
claimed all of a member's unclaimed metered energy, so when it ran first a coalition-auction
seller forfeited its collateral for the kWh it delivered (paid FIT instead), an auction buyer
paid TOU instead of its bid, an accepted CES offer was paid nothing and an aggregator answer
went unpaid. Each test here lets the real-time settlement run first: the committed market
still gets its Wh and pays or charges as it specifies, and money is conserved. Then the rules
of `reserve_delivery` itself: only the owner's own transaction raises a reservation, only
before the interval, lowering is the market's, and a reservation lapses."""

from __future__ import annotations

import hashlib

from ledger import accounts
from ledger.accounts import RESERVATION_INTERVALS
from ledger.transactions import CertifyMarket, ContractDeploy
from tests.market.helpers import NET, ContractChain, accepted_ces_offer, interval_time
from tests.market.test_coalition_auction import (BUYERS, D, FIT, I0, MIN_DEPOSIT, MIN_WH, RATE, SELLERS, TOU, Auction,
                                               bid, lists)
from tests.market.test_p2p_contract import UTILITY, W, Market
from vm import values
from vm.machine import contract_address

SELLER, BUYER = NET.users[1], NET.users[9]  # members of the P2P market, with no order in its windows
ALL_QUIET = {1 + i: (0, 0) for i in range(15)}  # every P2P member's readings: nothing measured


def _realtime_settles_first(m: Market, window: int, energy: dict[int, tuple[int, int]]) -> None:
    m.readings(window, ALL_QUIET | energy)
    m.clear_all(window)
    m.settle_all(window)


class _Round:
    """A coalition auction on the P2P market's chain: SELLER pledged 1 kWh for D and BUYER bid
    20,000 for it, both allocated; D's readings show the kWh went from one to the other; the
    real-time settlement of window D has run before the auction settles."""

    def __init__(self) -> None:
        m = self.m = Market()
        m.block([], interval_time(I0))
        self.auction = m.deploy("coalition_auction", UTILITY)
        m.run(self.auction, UTILITY, "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)
        assert m.block([(NET.operator, CertifyMarket(self.auction, 1))])[0].status == 0
        b = bid(1_000, 20_000)
        assert all(r.status == 0 for r in m.block([
            m.call(self.auction, SELLER, "pledge", D, 1_000, value=1_000 * RATE // 1000),
            m.call(self.auction, BUYER, "commit", D, b.sealed(BUYER, D, self.auction), value=b.deposit)],
            interval_time(I0, 500)))
        assert m.block([m.call(self.auction, BUYER, "reveal", D, b.energy_wh, b.price, b.salt)],
                       interval_time(D - 2, 5))[0].status == 0
        assert m.block([m.call(self.auction, UTILITY, "allocate", D)], interval_time(D - 1, 5))[0].status == 0
        self.money = m.total_money()
        self.credit = {k.address: m.credit(k) for k in (SELLER, BUYER, UTILITY)}
        self.balance = {k.address: m.balance(k.address) for k in (SELLER, BUYER)}
        _realtime_settles_first(m, D, {1: (1_000, 0), 9: (0, 1_000)})
        assert lists(m.run(self.auction, UTILITY, "settle", D)) == [1_000, 20_000, 0]

    def conserved(self) -> None:
        m = self.m
        assert m.credit(UTILITY) == self.credit[UTILITY.address]  # the utility bought and sold nothing
        assert m.balance(self.auction) == 0 and m.balance(m.address) == m.contract_holdings()
        assert m.total_money() == self.money


def test_an_auction_seller_is_paid_by_the_auction_when_the_realtime_market_settles_first() -> None:
    """Old code: P2P paid the seller FIT (5,000) for the kWh, the auction found nothing to claim
    and forfeited its 5,000 of collateral."""
    r = _Round()
    assert r.m.credit(SELLER) == r.credit[SELLER.address]  # no FIT from the real-time market
    assert r.m.balance(SELLER.address) == r.balance[SELLER.address] + 20_000 + 1_000 * RATE // 1000
    assert lists(r.m.run(r.auction, UTILITY, "seller", D, 0))[5:] == [1_000, 20_000]
    assert accounts.claimed(r.m.chain.state, SELLER.address, D).export_wh == 1_000
    r.conserved()


def test_an_auction_buyer_pays_its_bid_not_tou_when_the_realtime_market_settles_first() -> None:
    """Old code: P2P charged the buyer TOU (30,000) for the kWh and the auction served it none."""
    r = _Round()
    assert r.m.credit(BUYER) == r.credit[BUYER.address]  # no TOU from the real-time market
    assert r.m.balance(BUYER.address) == r.balance[BUYER.address]  # its escrow paid the 20,000
    assert lists(r.m.run(r.auction, UTILITY, "bid", D, 0))[8:] == [1_000, 20_000]
    assert accounts.claimed(r.m.chain.state, BUYER.address, D).import_wh == 1_000
    r.conserved()


def test_an_accepted_ces_offer_is_paid_when_the_realtime_market_settles_first() -> None:
    """Old code: the CES reconciles after its period, always after P2P had claimed the export: the
    accepted offer worth 12,000 was paid nothing and P2P paid 5,000 at FIT instead."""
    m = Market()
    m.block([], interval_time(I0))
    ces = accepted_ces_offer(m, UTILITY, SELLER, D)  # 12,000 escrowed
    money, credit = m.total_money(), m.credit(SELLER)
    _realtime_settles_first(m, D, {1: (1_000, 0)})
    assert m.credit(SELLER) == credit  # no FIT: the kWh was the offer's
    m.block([], interval_time(20, 1))  # CES period 1 (intervals 10..19) has ended
    before = m.balance(SELLER.address)
    assert lists(m.run(ces, NET.users[12], "reconcile", SELLER.address, 1)) == [1, 1_000, 12_000, 0]
    assert m.balance(SELLER.address) == before + 12_000
    assert m.balance(ces) == m.run(ces, UTILITY, "budget") == 100_000 - 12_000
    assert m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money


def test_an_aggregator_answer_is_paid_when_the_realtime_market_settles_first() -> None:
    """Old code: P2P paid FIT for the answer's kWh and the aggregator round paid nothing. Now the
    answer's kWh is the round's; the export beyond it is the real-time market's, at FIT."""
    m = Market(grace=0)
    agg = m.deploy("aggregator", UTILITY)
    assert m.block([(NET.operator, CertifyMarket(agg, 1))])[0].status == 0
    m.run(agg, UTILITY, "open_round", 1, 1, 1_000, 15_000, W, 1, value=15_000)
    m.run(agg, SELLER, "answer", 1, 1_000, 14_000, value=14_000)
    m.run(agg, UTILITY, "close", 1)
    money, before = m.total_money(), m.balance(SELLER.address)
    m.clear_all(W, time_ms=interval_time(W, 10))
    m.readings(W, ALL_QUIET | {1: (1_500, 0)}, interval_time(W + 1, 1))
    m.settle_all(W)
    assert m.view("settlement", W, SELLER.address)[2] == 500 * FIT // 1000  # only what the round left
    assert m.run(agg, UTILITY, "settle", 1) == (1_000, 14_000)
    assert m.balance(SELLER.address) == before + 14_000 + 14_000  # the payment and its collateral back
    assert accounts.claimed(m.chain.state, SELLER.address, W).export_wh == 1_500
    assert m.balance(agg) == 0 and m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money


# --- the host function's rules, through a certified market that reserves what it is asked ----

PROBE = """
def reserve(owner, k, export_wh, import_wh):
    return reserve_delivery(owner, k, export_wh, import_wh)


def claim(owner, k, export_wh, import_wh):
    return claim_delivery(owner, k, export_wh, import_wh)
"""
OWNER, STRANGER = NET.users[3], NET.users[4]
K = 20  # the interval reserved


class _Probes(ContractChain):
    """Two certified probe markets (the same code by two deployers), in interval I0."""

    def __init__(self) -> None:
        super().__init__()
        self.block([], interval_time(I0))
        self.markets = [self._deploy_probe(key) for key in (NET.users[0], NET.users[16])]

    def _deploy_probe(self, key) -> bytes:
        assert self.block([(key, ContractDeploy(PROBE, 200_000))])[0].status == 0
        address = contract_address(key.address, hashlib.sha256(PROBE.encode()).digest())
        assert self.block([(NET.operator, CertifyMarket(address, 1))])[0].status == 0
        return address

    def try_(self, market: int, key, function: str, *args, at: int | None = None):
        return self.block([self.call(self.markets[market], key, function, *args)],
                          None if at is None else interval_time(at, 500))[0]

    def ok(self, market: int, key, function: str, *args, at: int | None = None):
        receipt = self.try_(market, key, function, *args, at=at)
        assert receipt.status == 0, receipt.reason
        return lists(values.decode(receipt.output))

    def held(self, market: int) -> tuple[int, int]:
        r = accounts.reserved(self.chain.state, OWNER.address, K, self.markets[market])
        return r.export_wh, r.import_wh


def test_a_market_cannot_reserve_a_strangers_energy() -> None:
    p = _Probes()
    refused = p.try_(0, STRANGER, "reserve", OWNER.address, K, 1_000, 0)
    assert refused.status == 1 and "only the owner's own transaction" in refused.reason
    refused = p.try_(0, STRANGER, "reserve", OWNER.address, K, -1, 1)  # any raise, even with a lowering
    assert refused.status == 1 and "only the owner's own transaction" in refused.reason
    assert p.held(0) == (0, 0)
    assert p.ok(0, OWNER, "reserve", OWNER.address, K, 1_000, 0) == [1_000, 0]
    assert accounts.reserved_total(p.chain.state, OWNER.address, K) == accounts.Claimed(1_000, 0)


def test_a_reservation_for_an_interval_already_begun_is_refused() -> None:
    p = _Probes()
    refused = p.try_(0, OWNER, "reserve", OWNER.address, I0, 1_000, 0)
    assert refused.status == 1 and "has not begun" in refused.reason
    assert p.ok(0, OWNER, "reserve", OWNER.address, I0 + 1, 0, 1_000) == [0, 1_000]


def test_an_uncertified_contract_reserves_nothing() -> None:
    p = _Probes()
    assert p.block([(NET.operator, CertifyMarket(p.markets[0], 0))])[0].status == 0
    refused = p.try_(0, OWNER, "reserve", OWNER.address, K, 1_000, 0)
    assert refused.status == 1 and "certified" in refused.reason


def test_the_market_lowers_its_reservation_for_anyone_at_any_time_and_only_its_own() -> None:
    p = _Probes()
    p.ok(0, OWNER, "reserve", OWNER.address, K, 1_000, 400)
    p.ok(1, OWNER, "reserve", OWNER.address, K, 300, 0)
    assert p.ok(0, STRANGER, "reserve", OWNER.address, K, -600, 0) == [400, 400]  # called by anyone
    assert p.ok(0, STRANGER, "reserve", OWNER.address, K, -1_000, -100, at=K + 1) == [0, 300]  # never below 0
    assert p.held(1) == (300, 0)  # the other market's stands
    assert accounts.reserved_total(p.chain.state, OWNER.address, K) == accounts.Claimed(300, 300)
    assert p.block([(NET.operator, CertifyMarket(p.markets[0], 0))])[0].status == 0
    assert p.ok(0, STRANGER, "reserve", OWNER.address, K, 0, -300) == [0, 0]  # uncertified, it still lowers
    assert accounts.reserved_total(p.chain.state, OWNER.address, K) == accounts.Claimed(300, 0)


def test_a_claim_takes_what_others_reserved_only_once_their_reservations_lapse() -> None:
    p = _Probes()
    p.ok(0, OWNER, "reserve", OWNER.address, K, 1_000, 0)
    meter = NET.users.index(OWNER)
    p.readings(K, {meter: (1_500, 0)})
    assert p.ok(1, STRANGER, "claim", OWNER.address, K, 1_500, 0, at=K + RESERVATION_INTERVALS)[0] == 500
    assert p.ok(1, STRANGER, "claim", OWNER.address, K, 1_500, 0, at=K + RESERVATION_INTERVALS + 1)[0] == 1_000
    assert p.ok(0, STRANGER, "claim", OWNER.address, K, 1_000, 0)[0] == 0  # nothing left: paid once


def test_an_expired_reservation_no_longer_holds_the_energy_from_the_realtime_market() -> None:
    m = Market(grace=0)
    agg = m.deploy("aggregator", UTILITY)
    assert m.block([(NET.operator, CertifyMarket(agg, 1))])[0].status == 0
    m.run(agg, UTILITY, "open_round", 1, 1, 1_000, 15_000, W, 1, value=15_000)
    m.run(agg, SELLER, "answer", 1, 1_000, 14_000, value=14_000)
    m.run(agg, UTILITY, "close", 1)  # the round is never settled
    m.clear_all(W, time_ms=interval_time(W, 10))
    m.readings(W, ALL_QUIET | {1: (1_000, 0)}, interval_time(W + RESERVATION_INTERVALS + 1, 1))
    m.settle_all(W)
    assert m.view("settlement", W, SELLER.address)[2] == 1_000 * FIT // 1000


def test_a_bid_revealed_while_the_auction_is_not_certified_counts_unreserved() -> None:
    """A reservation needs a certified market; a withdrawn certification must not make a reveal
    fail (its deposit would be forfeited at allocation): the bid counts, its import unreserved."""
    a = Auction()
    a.at(I0, a.pledges([1_000]) + a.commits([bid(1_000, 20_000)]))
    assert accounts.reserved(a.chain.state, SELLERS[0].address, D, a.address) == accounts.Claimed(1_000, 0)
    assert a.block([(NET.operator, CertifyMarket(a.address, 0))])[0].status == 0
    a.at(D - 2, a.reveals([bid(1_000, 20_000)]))
    assert a.view("bid", D, 0)[5] == 1  # revealed
    assert accounts.reserved(a.chain.state, BUYERS[0].address, D, a.address) == accounts.Claimed(0, 0)
