"""001's coalition auction (Section IV.A) on a real chain: each phase's refusals, commit-reveal
(wrong, late and double reveals, forfeits), allocation to the highest prices, settlement on
certified readings, and properties over random rounds: the contract holds exactly what its rounds
hold, what buyers pay is what sellers get, every deposit and collateral returns or is forfeited as
the contract says."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger import accounts
from ledger.devnet import make_devnet
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading, RevokeMeter
from market.agents.auction import auction_secret, commitment, salt_for
from market.contracts import source
from pownode.scenario.phases import GAS as RUNNER_GAS
from tests.market.helpers import NET, ContractChain, DevnetChain, accepted_ces_offer, interval_time, metered_devnet
from tests.market.test_p2p_contract import UTILITY as P2P_UTILITY, Market
from vm import values
from vm.machine import contract_address

FIT, TOU = 5_000, 30_000  # the reserve and cap of a revealed price
RATE = 5_000  # collateral per kWh pledged
MIN_DEPOSIT = 1_000
MIN_WH = 10
GRACE = 2
OPERATOR, UTILITY = NET.users[0], NET.users[16]  # the deployer; the beneficiary of forfeits
SELLERS, BUYERS = NET.users[1:9], NET.users[9:16]
I0 = 10
D = I0 + 4  # delivery: commits until D - 3, reveals at D - 2, allocation from D - 1
D2 = D + 1
AUCTION = contract_address(OPERATOR.address, hashlib.sha256(source("coalition_auction").encode()).digest())


@dataclass(frozen=True)
class Bid:
    energy_wh: int
    price: int
    deposit: int
    salt: bytes

    def sealed(self, key, delivery: int = D, auction: bytes | None = None) -> bytes:
        """The commitment for `auction` (by default the contract OPERATOR deploys in `Auction`)."""
        return commitment(auction or AUCTION, delivery, key.address, self.energy_wh, self.price, self.salt)


def bid(energy_wh: int, price: int, deposit: int | None = None, salt: int = 7) -> Bid:
    return Bid(energy_wh, price, energy_wh * price // 1000 if deposit is None else deposit,
               salt.to_bytes(32, "big"))


class Auction(ContractChain):
    def __init__(self, certify: bool = True) -> None:
        super().__init__()
        self.block([], interval_time(I0 - 1))
        self.address = self.deploy("coalition_auction", OPERATOR)
        self.run(self.address, OPERATOR, "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)
        if certify:
            assert self.block([(NET.operator, CertifyMarket(self.address, 1))])[0].status == 0
        self.block([], interval_time(I0))

    def on(self, key, function: str, *args, value: int = 0):
        return ContractChain.call(self.address, key, function, *args, value=value)

    def try_(self, key, function: str, *args, value: int = 0, at: int | None = None):
        """One call in a block (inside interval `at`, if given): its receipt."""
        return self.block([self.on(key, function, *args, value=value)],
                          None if at is None else interval_time(at, self._offset(at)))[0]

    def _offset(self, at: int) -> int:
        return max(1, self.time_ms - interval_time(at, 0) + 1)

    def at(self, interval: int, calls: list) -> list:
        receipts = self.block(calls, interval_time(interval, self._offset(interval)))
        assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
        return receipts

    def view(self, function: str, *args):
        return lists(self.run(self.address, OPERATOR, function, *args))

    def anyone(self, function: str, *args):
        """`function` called by a member with no pledge or bid: its output."""
        return lists(self.run(self.address, NET.users[12], function, *args))

    def pledges(self, energies: list[int], delivery: int = D) -> list:
        return [self.on(k, "pledge", delivery, e, value=e * RATE // 1000) for k, e in zip(SELLERS, energies)]

    def commits(self, bids: list[Bid], delivery: int = D) -> list:
        return [self.on(k, "commit", delivery, b.sealed(k, delivery, self.address), value=b.deposit)
                for k, b in zip(BUYERS, bids)]

    def reveals(self, bids: list[Bid], delivery: int = D) -> list:
        return [self.on(k, "reveal", delivery, b.energy_wh, b.price, b.salt) for k, b in zip(BUYERS, bids)]


def lists(v):
    """A contract's output with its tuples (stored lists read back as tuples) as lists."""
    return [lists(x) for x in v] if isinstance(v, (list, tuple)) else v


def _refused(receipt, reason: str) -> None:
    assert receipt.status == 1 and reason in receipt.reason, receipt.reason


def test_a_round_sells_the_pool_to_the_highest_bids_and_pays_sellers_for_what_they_delivered() -> None:
    a = Auction()
    before = {k.address: a.balance(k.address) for k in SELLERS + BUYERS + (UTILITY,)}
    bids = [bid(2_000, 20_000, 50_000), bid(2_000, 15_000), bid(1_500, 25_000), bid(1_000, 15_000)]
    a.at(I0, a.pledges([2_000, 1_500, 1_000]) + a.commits(bids))
    assert a.view("round_info", D)[1:4] == [4_500, 3, 4]
    a.at(D - 2, a.reveals(bids))
    a.block([], interval_time(D - 1, 1))
    # 25,000 takes 1,500 Wh, 20,000 takes 2,000, the first 15,000 bid (commit order) the last 1,000.
    assert a.anyone("allocate", D) == [4_500, 3, 0]
    assert [a.view("bid", D, i)[6:8] for i in range(4)] == [[2_000, 40_000], [1_000, 15_000], [1_500, 37_500],
                                                           [0, 0]]
    assert a.balance(BUYERS[0].address) == before[BUYERS[0].address] - a.fees[BUYERS[0].address] - 40_000
    assert a.balance(BUYERS[3].address) == before[BUYERS[3].address] - a.fees[BUYERS[3].address]
    # Delivery: seller 0 exports 2,000 net, seller 1 only 1,000 of its 1,500, seller 2 all 1,000.
    a.readings(D, {1: (2_500, 500), 2: (1_200, 200), 3: (1_000, 0), 9: (0, 2_000), 10: (0, 400), 11: (0, 1_500)})
    assert a.anyone("settle", D) == [4_000, 85_000, 2_500]
    # 4,000 Wh serve 1,500 @ 25,000, 2,000 @ 20,000 and 500 of the 15,000 bid's 1,000.
    paid = {0: 40_000, 1: 7_500, 2: 37_500, 3: 0}
    for i, k in enumerate(BUYERS[:4]):
        assert a.balance(k.address) == before[k.address] - a.fees[k.address] - paid[i]
    # 85,000 split 2,000 : 1,000 : 1,000; seller 1 forfeits the collateral of its missing 500 Wh.
    for k, share, forfeited in zip(SELLERS, (42_500, 21_250, 21_250), (0, 2_500, 0)):
        assert a.balance(k.address) == before[k.address] - a.fees[k.address] + share - forfeited
    assert a.balance(UTILITY.address) == before[UTILITY.address] + 2_500
    assert [a.view("seller", D, i)[3:] for i in range(3)] == [[2_000, 10_000, 2_000, 42_500],
                                                             [1_500, 7_500, 1_000, 21_250],
                                                             [1_000, 5_000, 1_000, 21_250]]
    assert a.balance(a.address) == 0 and a.view("holding", D) == 0
    info = a.view("round_info", D)
    assert info[0] == 2 and info[5:8] == [I0, D - 1, D + 1] and info[8:] == [4_500, 4_000, 85_000, 2_500, 4]


def test_each_phase_refuses_what_it_does_not_take() -> None:
    a = Auction()
    b = bid(1_000, 20_000)
    a.at(I0, a.pledges([1_000]) + a.commits([b]))
    _refused(a.try_(SELLERS[0], "pledge", D, 500, value=2_500), "one pledge per seller")
    _refused(a.try_(BUYERS[0], "commit", D, b.sealed(BUYERS[0]), value=b.deposit), "one commitment per buyer")
    _refused(a.try_(BUYERS[1], "commit", D, b.sealed(BUYERS[1]), value=MIN_DEPOSIT - 1), "at least 1000")
    _refused(a.try_(BUYERS[1], "commit", D, b"short", value=MIN_DEPOSIT), "a commitment is 32 bytes")
    _refused(a.try_(SELLERS[1], "pledge", D, 1_000, value=4_999), "send exactly the collateral: 5000")
    _refused(a.try_(SELLERS[1], "pledge", D, MIN_WH - 1, value=0), "below the smallest pledge")
    _refused(a.try_(SELLERS[1], "pledge", D, 1 << 24, value=0), "energy must be")
    _refused(a.try_(SELLERS[1], "pledge", I0 + 97, 1_000, value=5_000), "within 96 intervals")
    _refused(a.try_(BUYERS[0], "reveal", D, b.energy_wh, b.price, b.salt), "two before delivery only")
    _refused(a.try_(BUYERS[0], "allocate", D), "reveals are still open")
    _refused(a.try_(BUYERS[0], "settle", D), "not allocated")
    _refused(a.try_(OPERATOR, "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH), "already set up")
    _refused(a.try_(BUYERS[0], "reveal", D + 40, 1, 1, b.salt), "no such round")
    for function, args in (("allocate", (D,)), ("settle", (D,)), ("reveal", (D, 1, 1, b.salt)),
                           ("round_info", (D,)), ("holding", (D,)), ("seller", (D, 0)), ("bid", (D, 0))):
        _refused(a.try_(BUYERS[2], function, *args, value=1), "takes no value")  # it would belong to no round
    # The reveal phase: commitments are closed, a reveal must match.
    _refused(a.try_(SELLERS[1], "pledge", D, 1_000, value=5_000, at=D - 2), "close two intervals before delivery")
    _refused(a.try_(BUYERS[1], "commit", D, b.sealed(BUYERS[1]), value=b.deposit), "close two intervals")
    _refused(a.try_(BUYERS[1], "reveal", D, b.energy_wh, b.price, b.salt), "no commitment of yours")
    _refused(a.try_(BUYERS[0], "reveal", D, b.energy_wh, b.price + 1, b.salt), "does not match the commitment")
    _refused(a.try_(BUYERS[0], "reveal", D, b.energy_wh, b.price, b"\x01" * 32), "does not match the commitment")
    a.at(D - 2, a.reveals([b]))
    _refused(a.try_(BUYERS[0], "reveal", D, b.energy_wh, b.price, b.salt), "already revealed")
    a.at(D - 1, [a.on(BUYERS[3], "allocate", D)])
    _refused(a.try_(BUYERS[3], "allocate", D), "already allocated")
    _refused(a.try_(BUYERS[3], "settle", D), "has not ended")
    a.block([], interval_time(D + 1, 5))
    _refused(a.try_(BUYERS[3], "settle", D), "waiting for meter readings")


def test_setup_is_the_deployers_and_bounded() -> None:
    c = ContractChain()
    c.block([], interval_time(I0))
    address = c.deploy("coalition_auction", OPERATOR)
    stranger = c.block([c.call(address, BUYERS[0], "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)])[0]
    _refused(stranger, "only the deployer")
    _refused(c.block([c.call(address, OPERATOR, "setup", UTILITY.address, TOU, FIT, RATE, MIN_DEPOSIT, MIN_WH)])[0],
             "reserve <= cap")
    _refused(c.block([c.call(address, OPERATOR, "setup", b"x" * 19, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)])[0],
             "20-byte address")
    _refused(c.block([c.call(address, BUYERS[0], "pledge", D, 1_000)])[0], "not set up")


def test_every_pledge_locks_collateral_and_forfeits_never_go_to_the_auction_itself() -> None:
    """Attacks on the set-up's bounds. (1) A free pledge: with a collateral rate of 0 (or one that
    rounds the smallest pledge's collateral to 0) a member pledged 2**24 - 1 Wh for nothing, took
    the whole pool from the coalition, delivered nothing and lost nothing, and could do so every
    round: no bid was ever served. (2) The auction as its own beneficiary: every forfeit stayed in
    its balance, held by no round, for good (its balance exceeded what its rounds hold). Now the
    smallest pledge locks at least 1 milli-cent and the beneficiary is another address."""
    c = ContractChain()
    c.block([], interval_time(I0))
    address = c.deploy("coalition_auction", OPERATOR)

    def setup(beneficiary: bytes, rate: int, min_wh: int):
        return c.block([c.call(address, OPERATOR, "setup", beneficiary, FIT, TOU, rate, MIN_DEPOSIT, min_wh)])[0]

    _refused(setup(UTILITY.address, 0, MIN_WH), "must lock collateral")
    _refused(setup(UTILITY.address, 999, 1), "must lock collateral")  # 1 Wh * 999 // 1000 = 0
    _refused(setup(address, RATE, MIN_WH), "not the auction itself")
    assert setup(UTILITY.address, 1_000, 1).status == 0  # 1 Wh locks 1 milli-cent


def test_a_late_or_out_of_range_reveal_is_refused_and_the_deposit_forfeited() -> None:
    a = Auction()
    late, rich, cheap, honest = bid(1_000, 20_000), bid(2_000, 25_000, 10_000), bid(500, FIT - 1), \
        bid(500, 18_000, 100_000)
    a.at(I0, a.pledges([3_000]) + a.commits([late, rich, cheap, honest]))
    before = {k.address: a.balance(k.address) for k in BUYERS[:4] + (UTILITY,)}
    fees = dict(a.fees)
    a.block([], interval_time(D - 2, 1))
    _refused(a.try_(BUYERS[1], "reveal", D, rich.energy_wh, rich.price, rich.salt), "does not cover the bid's escrow")
    _refused(a.try_(BUYERS[2], "reveal", D, cheap.energy_wh, cheap.price, cheap.salt), "within 5000 .. 30000")
    a.at(D - 2, [a.on(BUYERS[3], "reveal", D, honest.energy_wh, honest.price, honest.salt)])
    _refused(a.try_(BUYERS[0], "reveal", D, late.energy_wh, late.price, late.salt, at=D - 1),
             "two before delivery only")
    total, taken, forfeited = a.anyone("allocate", D)
    assert (total, taken) == (500, 1) and forfeited == late.deposit + rich.deposit + cheap.deposit
    assert a.balance(UTILITY.address) == before[UTILITY.address] + forfeited  # the beneficiary
    for k in BUYERS[:3]:  # nothing of their deposits came back
        assert a.balance(k.address) == before[k.address] - (a.fees[k.address] - fees[k.address])
    # The honest bid's deposit above its escrow (100,000 - 9,000) came back at allocation.
    assert a.view("bid", D, 3)[5:8] == [1, 500, 9_000]
    assert a.view("holding", D) == 9_000 + 500 * RATE // 1000 == a.balance(a.address)



def test_the_coalition_covers_a_members_shortfall_from_the_others_surplus() -> None:
    a = Auction()
    _allocated(a, [2_000, 2_000, 1_000], [bid(2_500, 20_000)])
    assert [a.view("seller", D, i)[3] for i in range(3)] == [1_000, 1_000, 500]  # by pledge: 2:2:1
    before = {k.address: a.balance(k.address) for k in SELLERS[:3] + BUYERS[:1] + (UTILITY,)}
    # Seller 0 exports nothing; seller 1 exports 1,800 (800 beyond its share), seller 2 800 (300
    # beyond): the coalition delivers 1,000 + 500, then 800 + 200 of the others' shortfall: 2,500.
    a.readings(D, {1: (0, 300), 2: (2_000, 200), 3: (800, 0), 9: (0, 2_500)})
    assert a.anyone("settle", D) == [2_500, 50_000, 5_000]  # seller 0's collateral of 1,000 Wh
    assert [a.view("seller", D, i)[5:] for i in range(3)] == [[0, 0], [1_800, 36_000], [700, 14_000]]
    assert a.balance(SELLERS[0].address) == before[SELLERS[0].address]
    assert a.balance(SELLERS[1].address) == before[SELLERS[1].address] + 36_000 + 5_000
    assert a.balance(SELLERS[2].address) == before[SELLERS[2].address] + 14_000 + 2_500
    assert a.balance(BUYERS[0].address) == before[BUYERS[0].address]  # served in full: no refund
    assert a.balance(UTILITY.address) == before[UTILITY.address] + 5_000
    assert a.balance(a.address) == 0



def test_settlement_waits_for_the_readings_of_a_seller_that_would_cover_a_shortfall() -> None:
    """Attack: settle waited only for sellers with a share of the allocation; a seller whose
    share rounded to 0 can still cover the others' shortfall, and anyone (the beneficiary, who
    gets the forfeited collateral) could settle before its readings arrived, so the short seller
    forfeited and the buyer went unserved. Now settle waits (up to GRACE) for every seller it
    claims from."""
    a = Auction()
    _allocated(a, [1_000, MIN_WH], [bid(50, 20_000)])
    assert [a.view("seller", D, i)[3] for i in range(2)] == [50, 0]  # 10 * 50 // 1010 rounds to 0
    a.readings(D, {1: (0, 0), 9: (0, 50)})  # seller 0 delivers nothing; seller 1's meter has not reported yet
    _refused(a.try_(UTILITY, "settle", D), "waiting for meter readings")
    a.readings(D, {2: (100, 0)})
    assert a.anyone("settle", D) == [MIN_WH, MIN_WH * 20_000 // 1000, 50 * RATE // 1000]  # seller 1 covers 10 Wh


def test_a_member_is_a_seller_or_a_buyer_of_a_round_not_both() -> None:
    """Attack: a member could pledge its export and bid for it in the same round, buying its own
    energy (alone in the coalition, it paid itself): the claim of its export counted as energy
    traded through a certified market, PoS's E and PoE's TE, with no one on the other side. Now
    a round's sellers do not bid in it and its bidders do not pledge to it (001: sellers form
    the coalition, buyers bid individually)."""
    a = Auction()
    b = bid(1_000, 20_000)
    a.at(I0, a.pledges([1_000]) + [a.on(BUYERS[0], "commit", D, b.sealed(BUYERS[0]), value=b.deposit)])
    _refused(a.try_(SELLERS[0], "commit", D, b.sealed(SELLERS[0]), value=b.deposit), "a seller of this round")
    _refused(a.try_(BUYERS[0], "pledge", D, 1_000, value=5_000), "a bidder of this round")
    a.at(I0, [a.on(SELLERS[0], "commit", D2, b.sealed(SELLERS[0], D2), value=b.deposit)])  # another round

def test_a_member_without_a_certified_meter_can_neither_pledge_nor_bid() -> None:
    a = Auction()
    assert a.block([(NET.operator, RevokeMeter(NET.meters[2].public_key))])[0].status == 0
    assert a.block([(NET.operator, RevokeMeter(NET.meters[9].public_key))])[0].status == 0
    _refused(a.try_(SELLERS[1], "pledge", D, 1_000, value=5_000), "a seller needs a certified meter")
    b = bid(1_000, 20_000)
    _refused(a.try_(BUYERS[0], "commit", D, b.sealed(BUYERS[0]), value=b.deposit), "a buyer needs a certified meter")
    a.at(I0, a.pledges([1_000]) + [a.on(BUYERS[1], "commit", D, b.sealed(BUYERS[1]), value=b.deposit)])


def _allocated(a: Auction, pledges: list[int], bids: list[Bid]) -> None:
    a.at(I0, a.pledges(pledges) + a.commits(bids))
    a.at(D - 2, a.reveals(bids))
    a.at(D - 1, [a.on(OPERATOR, "allocate", D)])


def test_no_settlement_without_certified_readings_and_silence_after_grace_delivers_nothing() -> None:
    a = Auction()
    b = bid(3_000, 20_000)
    _allocated(a, [1_000, 2_000], [b])
    before = {k.address: a.balance(k.address) for k in SELLERS[:2] + BUYERS[:1] + (UTILITY,)}
    a.readings(D, {1: (1_500, 0)})  # seller 1's meter stays silent
    _refused(a.try_(OPERATOR, "settle", D), "waiting for meter readings")
    a.block([], interval_time(D + GRACE, 1))
    _refused(a.try_(OPERATOR, "settle", D), "waiting for meter readings")
    a.block([], interval_time(D + GRACE + 1, 1))
    assert a.anyone("settle", D) == [1_000, 20_000, 10_000]  # the silent seller's 2,000 Wh collateral
    assert a.balance(BUYERS[0].address) == before[BUYERS[0].address] + 40_000  # escrow of the 2,000 Wh not served
    assert a.balance(SELLERS[0].address) == before[SELLERS[0].address] + 20_000 + 5_000
    assert a.balance(SELLERS[1].address) == before[SELLERS[1].address]
    assert a.balance(UTILITY.address) == before[UTILITY.address] + 10_000
    assert a.balance(a.address) == 0


def test_an_uncertified_auction_takes_no_money_it_could_never_settle() -> None:
    """Attack: pledges and commitments sent to an auction the operator never certified were held
    for good (settle needs the certification, and nothing else releases them). Now a round takes
    money only while the auction is certified."""
    a = Auction(certify=False)
    b = bid(1_000, 20_000)
    _refused(a.try_(SELLERS[0], "pledge", D, 1_000, value=5_000), "must certify this auction")
    _refused(a.try_(BUYERS[0], "commit", D, b.sealed(BUYERS[0]), value=b.deposit), "must certify this auction")
    assert a.view("round_info", D) is None and a.balance(a.address) == 0


def test_a_withdrawn_certification_holds_the_round_until_the_operator_certifies_again() -> None:
    a = Auction()
    _allocated(a, [1_000], [bid(1_000, 20_000)])
    assert a.block([(NET.operator, CertifyMarket(a.address, 0))])[0].status == 0
    a.readings(D, {1: (1_000, 0), 9: (0, 1_000)})
    _refused(a.try_(OPERATOR, "settle", D), "must certify this auction")
    assert a.view("holding", D) == 20_000 + 5_000 == a.balance(a.address)
    assert a.block([(NET.operator, CertifyMarket(a.address, 1))])[0].status == 0
    assert a.anyone("settle", D) == [1_000, 20_000, 0]
    assert a.view("holding", D) == 0 == a.balance(a.address)


def test_one_delivery_is_paid_once_across_two_auctions() -> None:
    a = Auction()
    first = a.address
    second = a.deploy("coalition_auction", UTILITY)  # a second auction on the same chain
    a.run(second, UTILITY, "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)
    assert a.block([(NET.operator, CertifyMarket(second, 1))])[0].status == 0
    for address in (first, second):
        a.address = address
        a.at(I0, a.pledges([1_000]) + a.commits([bid(1_000, 20_000)]))
    for address in (first, second):
        a.address = address
        a.at(D - 2, a.reveals([bid(1_000, 20_000)]))
    for address in (first, second):
        a.address = address
        a.at(D - 1, [a.on(OPERATOR, "allocate", D)])
    a.readings(D, {1: (1_000, 0), 9: (0, 1_000)})  # seller 0 exported 1,000 Wh and pledged them to both
    a.address = first
    assert a.anyone("settle", D)[:2] == [1_000, 20_000]
    a.address = second
    assert a.anyone("settle", D) == [0, 0, 5_000]  # nothing left to claim: its collateral is forfeited



def test_a_commitment_opens_in_the_auction_it_was_made_for_only() -> None:
    """Attack: the commitment hashed the delivery and the sender but not the auction, so the same
    opening was valid in every auction (and every chain with the same deployer key); a bidder
    whose salt repeats across auctions exposed one bid by revealing the other. Now the hash
    binds the contract's address, and the agents' salts bind the chain and the auction."""
    a = Auction()
    first = a.address
    second = a.deploy("coalition_auction", UTILITY)
    a.run(second, UTILITY, "setup", UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)
    assert a.block([(NET.operator, CertifyMarket(second, 1))])[0].status == 0
    b = bid(1_000, 20_000)
    a.address = second
    a.at(I0, a.pledges([1_000]) + [a.on(BUYERS[0], "commit", D, b.sealed(BUYERS[0], auction=first),
                                        value=b.deposit)])
    _refused(a.try_(BUYERS[0], "reveal", D, b.energy_wh, b.price, b.salt, at=D - 2), "does not match the commitment")
    one, other = auction_secret(b"seed", "pownode-dev", first), auction_secret(b"seed", "pownode-dev", second)
    assert len({one, other, auction_secret(b"seed", "pownode-test", first)}) == 3
    assert salt_for(one, D) != salt_for(other, D)

HONEST, SILENT, WRONG = 0, 1, 2  # how a bidder reveals


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_sellers=st.integers(0, 5), n_bids=st.integers(0, 7),
       late_settle=st.booleans())
def test_money_is_conserved_and_every_deposit_returns_or_is_forfeited_as_specified(seed, n_sellers, n_bids,
                                                                                   late_settle) -> None:
    assume(n_sellers + n_bids > 0)  # a round exists once someone pledges or commits
    rng = random.Random(seed)
    a = Auction()
    pledges = [rng.randint(MIN_WH, 5_000) for _ in range(n_sellers)]
    bids, modes = [], []
    for i in range(n_bids):
        energy, price = rng.randint(1, 4_000), rng.choice([rng.randint(FIT, TOU), FIT, TOU, FIT - 1, TOU + 1])
        escrow = energy * price // 1000
        deposit = max(MIN_DEPOSIT, rng.choice([escrow, escrow + rng.randint(1, 20_000), escrow - 1]))
        bids.append(bid(energy, price, deposit, salt=rng.randint(0, 2**64)))
        modes.append(rng.choice([HONEST, HONEST, HONEST, SILENT, WRONG]))
    everyone = SELLERS[:n_sellers] + BUYERS[:n_bids] + (UTILITY,)
    start = {k.address: a.balance(k.address) for k in everyone}
    money = a.total_money()
    # A second round (delivered at D2 = D + 1) runs beside it, one phase behind, with other members.
    other = bid(1_500, 20_000)
    a.at(I0, a.pledges(pledges) + a.commits(bids) + [a.on(k, "pledge", D2, 1_000, value=1_000 * RATE // 1000)
                                                     for k in SELLERS[5:7]]
         + [a.on(OPERATOR, "commit", D2, other.sealed(OPERATOR, D2), value=other.deposit)])

    def held() -> int:  # what the contract holds: the two rounds' holdings
        return a.view("holding", D) + a.view("holding", D2)

    assert a.balance(a.address) == held() == sum(p * RATE // 1000 for p in pledges) + sum(
        b.deposit for b in bids) + 2 * 1_000 * RATE // 1000 + other.deposit
    reveals = [a.on(k, "reveal", D, b.energy_wh, b.price, b.salt if m == HONEST else b"\x00" * 32)
               for k, b, m in zip(BUYERS, bids, modes) if m != SILENT]
    a.block(reveals, interval_time(D - 2, 5))
    assert a.balance(a.address) == held()
    # What the contract says, computed here from the rules in its docstring.
    revealed = [i for i, (b, m) in enumerate(zip(bids, modes))
                if m == HONEST and FIT <= b.price <= TOU and b.energy_wh * b.price // 1000 <= b.deposit]
    forfeited = sum(b.deposit for i, b in enumerate(bids) if i not in revealed)
    pool, left = sum(pledges), sum(pledges)
    allocated = {}
    for i in sorted(revealed, key=lambda i: (-bids[i].price, i)):
        if left > 0:
            allocated[i] = min(left, bids[i].energy_wh)
            left -= allocated[i]
    total = sum(allocated.values())
    shares = [p * total // pool if pool else 0 for p in pledges]
    for i in range(total - sum(shares)):
        shares[i] += 1
    a.at(D - 1, [a.on(OPERATOR, "reveal", D2, other.energy_wh, other.price, other.salt)])
    assert a.anyone("allocate", D) == [total, len(allocated), forfeited]
    assert a.balance(a.address) == held()
    a.block([], interval_time(D, 1))
    assert a.anyone("allocate", D2) == [1_500, 1, 0]
    assert a.balance(a.address) == held()
    energy = {}
    for i in range(n_sellers):
        if rng.random() < 0.8:
            energy[1 + i] = (rng.randint(0, 6_000), rng.randint(0, 3_000))
    for i in range(n_bids):  # every buyer's meter reports what it used, at least its bid
        energy[9 + i] = (0, bids[i].energy_wh + rng.randint(0, 500))
    a.readings(D, energy)
    # Settlement waits for the readings of every seller it claims from: those with a share, and
    # those without one that it asks to cover a shortfall.
    complete = all(1 + i in energy for i in range(n_sellers) if shares[i] > 0)
    export = [max(0, energy[1 + i][0] - energy[1 + i][1]) if 1 + i in energy else 0 for i in range(n_sellers)]
    delivered = [min(shares[i], export[i]) for i in range(n_sellers)]
    for i in range(n_sellers):  # the coalition covers its shortfall from the others' export
        if total > sum(delivered) and shares[i] == 0 and 1 + i not in energy:
            complete = False
        delivered[i] += min(total - sum(delivered), pledges[i] - shares[i], export[i] - delivered[i])
    if late_settle or not complete:
        a.block([], interval_time(D + GRACE + 1, 1))
    served_left, proceeds, paid, served = sum(delivered), 0, {}, {}
    for i in sorted(allocated, key=lambda i: (-bids[i].price, i)):
        served[i] = min(allocated[i], served_left)
        served_left -= served[i]
        paid[i] = served[i] * bids[i].price // 1000
        proceeds += paid[i]
    income = [proceeds * d // sum(delivered) if sum(delivered) else 0 for d in delivered]
    if proceeds:
        income[next(i for i, d in enumerate(delivered) if d)] += proceeds - sum(income)
    lost = [shares[i] * RATE // 1000 - min(delivered[i], shares[i]) * RATE // 1000 for i in range(n_sellers)]
    assert a.anyone("settle", D) == [sum(delivered), proceeds, sum(lost)]
    for i, k in enumerate(BUYERS[:n_bids]):  # what a buyer was served is claimed as its import
        assert accounts.claimed(a.chain.state, k.address, D).import_wh == served.get(i, 0)
    assert a.view("holding", D) == 0 and a.balance(a.address) == held() == a.view("holding", D2) > 0
    a.readings(D2, {6: (1_000, 0), 7: (900, 100), 0: (0, 1_500)})
    assert a.anyone("settle", D2) == [1_500, 30_000, 0]
    assert a.balance(a.address) == held() == 0
    assert sum(income) == proceeds  # what buyers paid is what sellers got
    change = {k.address: a.balance(k.address) - start[k.address] + a.fees.get(k.address, 0) for k in everyone}
    for i in range(n_sellers):
        assert change[SELLERS[i].address] == income[i] - lost[i]
    for i, b in enumerate(bids):
        assert change[BUYERS[i].address] == -(paid.get(i, 0) if i in revealed else b.deposit)
    assert change[UTILITY.address] == forfeited + sum(lost)
    assert sum(change.values()) == 0 and a.total_money() == money


def test_a_full_round_of_64_sellers_and_64_bids_allocates_and_settles_in_one_call_each() -> None:
    """The per-call work is bounded by MAX_SELLERS and MAX_BIDS: the largest round fits well
    inside the scenario runner's gas limit, and a 65th pledge or commitment is refused."""
    net = make_devnet(validators=1, users=130, meters=130, label="auction-full", params={"interval_ms": 1000})
    chain = DevnetChain(net)
    block = chain.block

    def call(key, function: str, *args, value: int = 0, gas: int = 1_500_000):
        return key, ContractCall(address, function, tuple(args), gas, value)

    operator, utility = net.users[0], net.users[129]
    sellers, buyers = net.users[1:66], net.users[66:129]
    block([(operator, ContractDeploy(source("coalition_auction"), 1_500_000))], I0)
    address = contract_address(operator.address, hashlib.sha256(source("coalition_auction").encode()).digest())
    receipts = block([call(operator, "setup", utility.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH),
                      (net.operator, CertifyMarket(address, 1))], I0)
    assert all(r.status == 0 for r in receipts)
    # The bids take about half the pool, so the coalition can cover the silent half's shortfall
    # (every seller is claimed from twice: the costliest settlement).
    bids = [bid(100 + i, FIT + 97 * i, deposit=TOU * 2, salt=i) for i in range(len(buyers))]
    receipts = block([call(k, "pledge", D, 200, value=1_000) for k in sellers]
                     + [call(k, "commit", D, b.sealed(k, auction=address), value=b.deposit)
                        for k, b in zip(buyers, bids)]
                     + [call(net.users[65], "commit", D, bids[0].sealed(net.users[65], auction=address),
                             value=bids[0].deposit)], I0)
    assert all(r.status == 0 for r in receipts[:64]) and "coalition is full" in receipts[64].reason
    assert all(r.status == 0 for r in receipts[65:]), [r.reason for r in receipts[65:] if r.status]  # 64 bids
    refused = block([call(net.users[129], "commit", D, bids[0].sealed(net.users[129], auction=address),
                          value=bids[0].deposit)], I0)
    assert "all the bids it takes" in refused[0].reason
    block([call(k, "reveal", D, b.energy_wh, b.price, b.salt) for k, b in zip(buyers, bids)], D - 2)
    allocated = block([call(operator, "allocate", D, gas=RUNNER_GAS)], D - 1)[0]
    assert allocated.status == 0, allocated.reason
    block([(m, MeterReading(D, 400 if i % 2 else 0, 0)) for i, m in enumerate(net.meters[1:65])]
          + [(m, MeterReading(D, 0, b.energy_wh)) for m, b in zip(net.meters[66:129], bids)], D + 1)
    settled = block([call(operator, "settle", D, gas=RUNNER_GAS)], D + 1)[0]
    assert settled.status == 0, settled.reason
    assert allocated.gas_used < RUNNER_GAS // 2 and settled.gas_used < RUNNER_GAS // 2, (allocated.gas_used,
                                                                                      settled.gas_used)
    assert chain.balance(address) == 0
    assert values.decode(settled.output)[0] == 32 * 200  # the exporting half delivered its whole pledges


CLI_GAS = 1_000_000  # `pownode call`'s default --gas (pownode/client.py)


def test_the_costliest_settlement_meters_16_meters_a_member_within_half_the_runners_gas() -> None:
    """Each seller's and each served buyer's meters are read for every claim (`claim_delivery`
    and `owner_reading` scan all of the owner's certified meters, at most MAX_METERS_PER_OWNER =
    16). The costliest settlement: 64 sellers and 64 buyers with 16 meters each, all reported
    within GRACE, the first seller delivering nothing and the others exactly their share, so
    every other seller is asked to cover (and has nothing beyond its share), and no buyer's
    meters show the import it is served, so each is read after its claim. It fits in half the
    scenario runner's gas."""
    per = accounts.MAX_METERS_PER_OWNER
    net = metered_devnet("auction-16-meters", 130, [1 + i // per for i in range(128 * per)])
    deployer, sellers, buyers, utility = net.users[0], net.users[1:65], net.users[65:129], net.users[129]
    meters = net.meters
    chain = DevnetChain(net)

    def block(calls: list, interval: int) -> list:
        receipts = chain.block(calls, interval)
        assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
        return receipts

    def call(key, function: str, *args, value: int = 0):
        return key, ContractCall(address, function, tuple(args), RUNNER_GAS, value)

    block([(deployer, ContractDeploy(source("coalition_auction"), 1_500_000))], I0)
    address = contract_address(deployer.address, hashlib.sha256(source("coalition_auction").encode()).digest())
    block([call(deployer, "setup", utility.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH),
           (net.operator, CertifyMarket(address, 1))], I0)
    # 64 bids of 100 Wh take half the pool of 64 pledges of 200 Wh: each seller's share is 100 Wh.
    bids = [bid(100, FIT + 97 * i, deposit=TOU * 2, salt=i) for i in range(64)]
    block([call(k, "pledge", D, 200, value=1_000) for k in sellers]
          + [call(k, "commit", D, b.sealed(k, auction=address), value=b.deposit) for k, b in zip(buyers, bids)], I0)
    block([call(k, "reveal", D, b.energy_wh, b.price, b.salt) for k, b in zip(buyers, bids)], D - 2)
    block([call(deployer, "allocate", D)], D - 1)
    # Seller 0's meters export nothing; every other seller's 16 meters export 100 Wh in all; the
    # buyers' meters report nothing used.
    block([(m, MeterReading(D, 0 if i < per or i >= 64 * per else (100 // per + (1 if i % per < 100 % per else 0)), 0))
           for i, m in enumerate(meters)], D + 1)
    settled = block([call(deployer, "settle", D)], D + 1)[0]
    assert list(values.decode(settled.output)[:2]) == [63 * 100, sum(100 * b.price // 1000 for b in bids[1:])]
    assert settled.gas_used < RUNNER_GAS // 2, settled.gas_used


def test_a_buyer_pays_once_for_what_it_is_served_when_a_real_time_market_settles_its_meters_too() -> None:
    """Attack (double pay): the auction claimed its sellers' export but not its buyers' import,
    so a P2P market's real-time settlement, which prices every member's unclaimed metered
    import at TOU, charged a buyer again for the Wh the coalition had delivered to it and it had
    paid for: 1 kWh cost it 20,000 in the auction and 30,000 more to the utility, who supplied
    none of it. Now what a bid is served is claimed as its buyer's import, and the real-time
    settlement finds that Wh settled; money is conserved across both markets."""
    m = Market()
    m.block([], interval_time(I0))
    auction = m.deploy("coalition_auction", P2P_UTILITY)
    m.run(auction, P2P_UTILITY, "setup", P2P_UTILITY.address, FIT, TOU, RATE, MIN_DEPOSIT, MIN_WH)
    assert m.block([(NET.operator, CertifyMarket(auction, 1))])[0].status == 0
    seller, buyer = SELLERS[0], BUYERS[0]  # members of the P2P market too, with no order in window D
    b = bid(1_000, 20_000)
    assert all(r.status == 0 for r in m.block([
        m.call(auction, seller, "pledge", D, 1_000, value=1_000 * RATE // 1000),
        m.call(auction, buyer, "commit", D, b.sealed(buyer, D, auction), value=b.deposit)], interval_time(I0, 500)))
    assert m.block([m.call(auction, buyer, "reveal", D, b.energy_wh, b.price, b.salt)],
                   interval_time(D - 2, 5))[0].status == 0
    assert m.block([m.call(auction, buyer, "allocate", D)], interval_time(D - 1, 5))[0].status == 0
    money = m.total_money()
    m.readings(D, {1: (1_000, 0), 9: (0, 1_000)})  # the seller's kWh went to the buyer
    credit = {k.address: m.credit(k) for k in (seller, buyer, P2P_UTILITY)}
    assert lists(m.run(auction, P2P_UTILITY, "settle", D)) == [1_000, 20_000, 0]
    m.clear_all(D)
    m.settle_all(D)
    assert m.credit(buyer) == credit[buyer.address]  # no TOU for the kWh it bought in the auction
    assert m.credit(seller) == credit[seller.address]  # no FIT for the kWh it sold in the auction
    assert m.credit(P2P_UTILITY) == credit[P2P_UTILITY.address]
    assert accounts.claimed(m.chain.state, buyer.address, D).import_wh == 1_000
    assert m.balance(auction) == 0 and m.balance(m.address) == m.contract_holdings()
    assert m.total_money() == money


def test_one_export_is_paid_once_across_the_auction_and_the_ces_incentives() -> None:
    """A seller who pledged to the coalition and accepted a CES offer for the same interval is
    paid once for each metered Wh: the auction claims its share first, the CES offer is paid
    only for the export left; money is conserved and each contract holds what it owes."""
    a = Auction()
    seller = SELLERS[0]
    ces = accepted_ces_offer(a, UTILITY, seller, D)  # 12,000 escrowed
    _allocated(a, [1_000], [bid(1_000, 20_000)])
    money = a.total_money()
    a.readings(D, {1: (1_500, 0), 9: (0, 1_000)})  # 1,500 Wh exported: 1,000 to the auction, 500 left
    assert a.anyone("settle", D) == [1_000, 20_000, 0]
    a.block([], interval_time(20, 1))  # CES period 1 (intervals 10..19) has ended
    before = a.balance(seller.address)
    assert lists(a.run(ces, BUYERS[2], "reconcile", seller.address, 1)) == [1, 500, 6_000, 0]
    assert a.balance(seller.address) == before + 6_000
    assert accounts.claimed(a.chain.state, seller.address, D).export_wh == 1_500
    assert a.balance(a.address) == 0 and a.balance(ces) == a.run(ces, UTILITY, "budget") == 100_000 - 6_000
    assert a.total_money() == money


def test_settlement_waits_for_a_served_buyers_readings_until_grace() -> None:
    """A served buyer's import is claimed only from complete readings, so settle waits for them
    (up to GRACE, as for a seller's); after GRACE the buyer still pays for what it was served,
    and what no meter showed it import stays unclaimed."""
    a = Auction()
    _allocated(a, [1_000], [bid(1_000, 20_000)])
    a.readings(D, {1: (1_000, 0)})  # the buyer's meter is silent
    _refused(a.try_(OPERATOR, "settle", D), "waiting for meter readings")
    a.block([], interval_time(D + GRACE + 1, 1))
    assert a.anyone("settle", D) == [1_000, 20_000, 0]
    assert accounts.claimed(a.chain.state, BUYERS[0].address, D).import_wh == 0
    assert a.balance(a.address) == 0
