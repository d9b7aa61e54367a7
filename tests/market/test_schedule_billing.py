"""S2, 001's billing contract (`schedule_billing`), on a real chain against a final S1 schedule:
hand-computed bills, refusals with reasons (billing before readings among them), settlement
without readings after GRACE, debts and what the utility owes, and a property test: money is
conserved and every deposit comes back less exactly its member's charges."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.accounts import MAX_METERS_PER_OWNER
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading
from market.contracts import source
from tests.market.helpers import NET, ContractChain, DevnetChain, interval_time, metered_devnet
from tests.market.test_admm_scheduler import DEPLOYER, I0, RHO, STRANGER, Scheduler, _plain
from tests.market.test_coalition_auction import CLI_GAS
from vm import values
from vm.machine import contract_address

A, B, C = NET.users[1:4]
UTILITY = NET.users[4]
FIT, TOU, PRICE = 6_000, 25_000, 10_000
FIRST = I0 + 3  # the schedule's interval k is chain interval FIRST + k
GRACE = 1
CREDIT = 1_000_000


class Billing(Scheduler):
    """S1 for A, B, C and the utility with T = 2, fixed after one round at PRICE (RHO 1 and a
    balanced schedule keep the opening price), or after the rounds `before` and that one, and
    S2 set up, certified, and funded."""

    def __init__(self, schedule: dict, credits: dict | None = None, certify: bool = True,
                 before: tuple[dict, ...] = ()) -> None:
        super().__init__(members=(A, B, C, UTILITY), intervals=2, rho=1, max_rounds=len(before) + 1, first=FIRST,
                         price0=PRICE)
        for earlier in before + (schedule,):
            self.round(earlier, interval_time(I0, 100))
        self.s1 = self.address
        self.s2 = self.deploy("schedule_billing", DEPLOYER)
        assert self.run(self.s2, DEPLOYER, "setup", self.s1, UTILITY.address, FIT, TOU, GRACE) is None
        if certify:
            assert self.block([(NET.operator, CertifyMarket(self.s2, 1))])[0].status == 0
        credits = {k: CREDIT for k in (A, B, C, UTILITY)} if credits is None else credits
        receipts = self.block([ContractChain.call(self.s2, k, "deposit", value=v) for k, v in credits.items() if v])
        assert all(r.status == 0 for r in receipts)

    def bill(self, key, function: str, *args, value: int = 0, time_ms: int | None = None):
        return self.block([ContractChain.call(self.s2, key, function, *args, value=value)], time_ms)[0]

    def get(self, function: str, *args):
        return self.run(self.s2, DEPLOYER, function, *args)

    def holdings(self) -> int:
        return sum(self.get("credit", k.address) for k in (A, B, C, UTILITY))


BALANCED = {A: [1_000, -300], B: [-600, 200], C: [-400, 100], UTILITY: [0, 0]}


def test_a_bill_is_the_schedule_at_its_price_and_the_deviations_at_tou_and_fit() -> None:
    b = Billing(BALANCED)
    money = b.total_money()
    assert _plain(b.run(b.s1, DEPLOYER, "final"))[3] == [PRICE, PRICE]
    b.readings(FIRST, {1: (900, 0), 2: (0, 600), 3: (0, 500)})  # A short 100, C imports 100 more
    out = b.get("settle", 0)
    assert list(out) == [1_000, 1_000, 900, 200, 0]
    # A: paid 1,000 Wh at PRICE, buys its 100 Wh shortfall at TOU; B: pays 600 at PRICE; C: pays
    # 400 at PRICE and 100 at TOU.
    assert b.get("credit", A.address) == CREDIT + 10_000 - 2_500
    assert b.get("credit", B.address) == CREDIT - 6_000
    assert b.get("credit", C.address) == CREDIT - 4_000 - 2_500
    assert b.get("credit", UTILITY.address) == CREDIT + 5_000  # the two shortfalls at TOU
    assert list(b.get("settlement", 0, A.address)) == [1_000, 900, PRICE, 10_000, -2_500, 1]
    # Interval 1: B exports 300 more than its 200 (sold at FIT); the others as scheduled.
    b.readings(FIRST + 1, {1: (0, 300), 2: (500, 0), 3: (100, 0)})
    b.get("settle", 1)
    assert b.get("credit", B.address) == CREDIT - 6_000 + 2_000 + 300 * FIT // 1000
    assert b.balance(b.s2) == b.holdings() == 4 * CREDIT
    assert b.total_money() == money


def test_billing_refuses_with_reasons() -> None:
    b = Billing(BALANCED, credits={}, certify=False)
    assert "already set up" in b.bill(DEPLOYER, "setup", b.s1, UTILITY.address, FIT, TOU, GRACE).reason
    assert "certify billing" in b.bill(STRANGER, "settle", 0).reason
    assert b.block([(NET.operator, CertifyMarket(b.s2, 1))])[0].status == 0
    assert "only the schedule's members and the utility" in b.bill(STRANGER, "deposit", value=5).reason
    assert "has not ended" in b.bill(STRANGER, "settle", 0, time_ms=interval_time(FIRST, 10)).reason
    # Billing before readings: A's meter has not reported and GRACE has not passed.
    b.readings(FIRST, {2: (0, 600), 3: (0, 400)})
    assert "waiting for meter readings" in b.bill(STRANGER, "settle", 0).reason
    assert "in order: next is 0" in b.bill(STRANGER, "settle", 1).reason
    assert "takes no money" in b.bill(STRANGER, "settle", 0, value=7).reason  # it would be held for no one
    assert "once every interval of the schedule is settled" in b.bill(A, "withdraw", 1).reason
    other = Scheduler(members=(A, UTILITY), intervals=2, max_rounds=3, first=FIRST)  # never final
    s2 = other.deploy("schedule_billing", DEPLOYER)
    assert other.block([(NET.operator, CertifyMarket(s2, 1))])[0].status == 0
    assert other.run(s2, DEPLOYER, "setup", other.address, UTILITY.address, FIT, TOU, GRACE) is None
    receipt = other.block([ContractChain.call(s2, STRANGER, "settle", 0)], interval_time(FIRST + 1))[0]
    assert "the schedule is not final" in receipt.reason
    bad = other.deploy("schedule_billing", A)
    receipt = other.block([ContractChain.call(bad, A, "setup", other.address, UTILITY.address, TOU, FIT, 1)])[0]
    assert "need 0 < FIT < TOU" in receipt.reason


def test_an_uncertified_billing_takes_no_deposit_it_could_never_return() -> None:
    """Attack: a deposit into a billing contract the operator never certified was held for good
    (settle needs the certification and withdraw needs every interval settled). Now credit is
    taken only while the contract is certified; if the operator withdraws the certification,
    the credit waits, as the coalition auction's rounds do, until it certifies again."""
    b = Billing(BALANCED, credits={}, certify=False)
    for key in (A, UTILITY):
        receipt = b.bill(key, "deposit", value=5_000)
        assert receipt.status == 1 and "must certify billing before it takes credit" in receipt.reason
    assert b.balance(b.s2) == 0 == b.holdings()
    assert b.block([(NET.operator, CertifyMarket(b.s2, 1))])[0].status == 0
    assert b.bill(A, "deposit", value=5_000).status == 0 and b.get("credit", A.address) == 5_000


def test_no_member_profits_from_a_price_it_pushed_beyond_fit_or_tou() -> None:
    """Attack: A exports the most S1 takes in interval 0 and imports it in interval 1 for two
    rounds, which drives interval 0's price to 0 and interval 1's above TOU, then schedules the
    opposite in the last round (the schedule is final unconverged, with those prices). It neither
    delivers nor consumes anything: interval 0's scheduled import cost it nothing and its
    "surplus" was sold at FIT; interval 1's scheduled export was paid above TOU and its shortfall
    bought back at TOU, both at the utility's expense. Now S2 bills the schedule at its price
    within FIT..TOU, the utility's own prices: not delivering what one scheduled never pays."""
    m = 99_999
    push = {A: [m, -m], B: [0, 0], C: [0, 0], UTILITY: [0, 0]}
    b = Billing({A: [-m, m], B: [0, 0], C: [0, 0], UTILITY: [0, 0]}, before=(push, push))
    final = _plain(b.run(b.s1, DEPLOYER, "final"))
    assert final[0] == 2 and final[3][0] < FIT and final[3][1] > TOU  # unconverged: 0 and 34,999
    for k in range(2):
        b.readings(FIRST + k, {1: (0, 0), 2: (0, 0), 3: (0, 0)})
        b.get("settle", k)
    assert b.get("credit", A.address) == CREDIT and b.get("credit", UTILITY.address) == CREDIT
    assert [b.get("settlement", k, A.address)[2] for k in range(2)] == [FIT, TOU]


def test_settlement_always_leaves_an_interval_for_the_readings() -> None:
    """Attack: with GRACE 0, an interval was 'late' as soon as it ended, when no reading of it
    can be on chain yet (a meter reports an interval once it has ended): anyone settling in the
    first block after it (a proposer puts the call before the readings) billed every member as
    having exported nothing, sellers paying their whole schedule at TOU. Now GRACE is at least
    one interval, during which settlement waits for the readings."""
    b = Billing(BALANCED)
    s2 = b.deploy("schedule_billing", A)
    receipt = b.block([ContractChain.call(s2, A, "setup", b.s1, UTILITY.address, FIT, TOU, 0)])[0]
    assert receipt.status == 1 and "grace is 1..96 intervals" in receipt.reason
    receipt = b.bill(STRANGER, "settle", 0, time_ms=interval_time(FIRST + 1, 0))
    assert "waiting for meter readings" in receipt.reason


def test_a_member_without_readings_after_grace_exported_nothing_and_consumed_its_schedule() -> None:
    b = Billing(BALANCED)
    b.readings(FIRST, {2: (0, 900)}, interval_time(FIRST + 1 + GRACE, 5))  # A and C never report
    b.get("settle", 0)
    assert list(b.get("settlement", 0, A.address)) == [1_000, 0, PRICE, 10_000, -25_000, 0]  # all short at TOU
    assert list(b.get("settlement", 0, C.address)) == [-400, -400, PRICE, -4_000, 0, 0]  # consumed its schedule
    assert list(b.get("settlement", 0, B.address))[1] == -900  # metered: 300 more at TOU
    assert list(b.get("totals", 0))[4] == 2


def test_a_member_whose_meters_stay_silent_past_grace_cannot_escape_its_bill() -> None:
    """Attack: B schedules 600 Wh of import, consumes 5,000, and holds its meter's reading back
    past GRACE: it was settled as having consumed just its schedule, withdrew its credit once the
    schedule was settled, and the reading, sent later, was never billed. Now such a member is
    settled provisionally: it withdraws nothing until its readings come in and `settle_late`
    bills the difference (anyone may call it); only the deployer can make a provisional
    settlement final without them (for meters revoked or replaced)."""
    b = Billing(BALANCED)
    late = interval_time(FIRST + 1 + GRACE, 5)
    b.readings(FIRST, {1: (1_000, 0), 3: (0, 400)}, late)
    b.get("settle", 0)
    assert list(b.get("settlement", 0, B.address)) == [-600, -600, PRICE, -6_000, 0, 0]  # provisional
    b.readings(FIRST + 1, {1: (0, 300), 2: (200, 0), 3: (100, 0)})
    b.get("settle", 1)
    assert "awaits its readings: settle_late it first" in b.bill(B, "withdraw", 1).reason
    assert b.bill(A, "withdraw", 1).status == 0  # the others are not held
    assert "have not all reported" in b.bill(STRANGER, "settle_late", 0, B.address).reason
    assert "no provisional settlement" in b.bill(STRANGER, "settle_late", 0, A.address).reason
    before = b.get("credit", B.address)
    b.readings(FIRST, {2: (0, 5_000)})  # the reading, late
    assert b.get("settle_late", 0, B.address) == -(4_400 * TOU // 1000)
    assert b.get("credit", B.address) == before - 4_400 * TOU // 1000
    assert list(b.get("settlement", 0, B.address)) == [-600, -5_000, PRICE, -6_000, -(4_400 * TOU // 1000), 1]
    assert list(b.get("totals", 0))[2:] == [1_000, 4_400, 0]
    assert b.bill(B, "withdraw", b.get("credit", B.address)).status == 0
    assert b.balance(b.s2) == b.holdings()
    # A member whose readings never come: only the deployer closes its provisional settlement.
    c = Billing(BALANCED)
    c.readings(FIRST, {1: (1_000, 0), 2: (0, 600)}, late)
    c.get("settle", 0)
    c.readings(FIRST + 1, {1: (0, 300), 2: (200, 0), 3: (100, 0)})
    c.get("settle", 1)
    assert "have not all reported" in c.bill(C, "settle_late", 0, C.address).reason
    assert c.run(c.s2, DEPLOYER, "settle_late", 0, C.address) == 0
    assert c.bill(C, "withdraw", c.get("credit", C.address)).status == 0


def test_what_a_member_cannot_pay_is_its_debt_and_what_the_utility_cannot_pay_it_owes() -> None:
    b = Billing(BALANCED, credits={A: CREDIT, B: 1_000, C: CREDIT, UTILITY: 500})
    b.readings(FIRST, {1: (1_000, 0), 2: (0, 600), 3: (0, 400)})
    b.get("settle", 0)
    # Members settle in S1's order: A is paid first, from the utility's 500 (it owes A 9,500);
    # B pays 1,000 of its 6,000 (5,000 is its debt), C its 4,000.
    assert (b.get("credit", A.address), b.get("owed", A.address)) == (CREDIT + 500, 9_500)
    assert (b.get("credit", B.address), b.get("debt", B.address)) == (0, 5_000)
    assert b.get("credit", UTILITY.address) == 5_000
    assert b.balance(b.s2) == b.holdings()
    # Money reaching B pays its debt first; A claims what it is owed once the utility has credit.
    assert b.bill(B, "deposit", value=6_000).status == 0
    assert b.get("debt", B.address) == 0 and b.get("credit", B.address) == 1_000
    # Interval 1 as scheduled: A pays 3,000 from its credit, B and C are paid 2,000 and 1,000.
    b.readings(FIRST + 1, {1: (0, 300), 2: (200, 0), 3: (100, 0)})
    b.get("settle", 1)
    assert b.get("credit", UTILITY.address) == 10_000 and b.get("owed", A.address) == 9_500
    # The utility may take back only the credit beyond what it owes.
    assert "must cover what it owes" in b.bill(UTILITY, "withdraw", 501).reason
    assert b.bill(UTILITY, "withdraw", 500).status == 0
    assert b.bill(A, "claim").status == 0 and b.get("owed", A.address) == 0
    assert b.get("credit", A.address) == CREDIT + 500 - 3_000 + 9_500 and b.get("credit", UTILITY.address) == 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(xs=st.lists(st.integers(-5_000, 5_000), min_size=6, max_size=6),
       readings=st.lists(st.one_of(st.none(), st.tuples(st.integers(0, 6_000), st.integers(0, 6_000))),
                         min_size=6, max_size=6),
       credits=st.lists(st.integers(0, 60_000), min_size=4, max_size=4))
def test_money_is_conserved_and_deposits_come_back_less_the_charges(xs, readings, credits) -> None:
    """Any schedule (balanced or not), readings present or late (settled provisionally, then by
    `settle_late`), any credits: the contract holds exactly the credits, each member ends with
    its deposit plus what its settlement records say it received (debt and what it is owed
    included), the utility with the rest, and after withdrawing everything the contract holds
    nothing."""
    schedule = {A: xs[0:2], B: xs[2:4], C: xs[4:6], UTILITY: [0, 0]}
    keys = (A, B, C, UTILITY)
    b = Billing(schedule, credits=dict(zip(keys, credits)))
    money = b.total_money()
    for k in range(2):
        energy = {i + 1: r for i, r in enumerate(readings[3 * k:3 * k + 3]) if r is not None}
        b.readings(FIRST + k, energy, interval_time(FIRST + k + 1 + GRACE, 5))
        assert b.run(b.s2, STRANGER, "settle", k) is not None
        assert b.balance(b.s2) == b.holdings()
    for k in range(2):
        late = [i for i in range(3) if readings[3 * k + i] is None]
        if late:
            b.readings(FIRST + k, {i + 1: (2_000, 0) for i in late})
            receipts = b.block([ContractChain.call(b.s2, STRANGER, "settle_late", k, keys[i].address) for i in late])
            assert all(r.status == 0 for r in receipts) and b.balance(b.s2) == b.holdings()
    total = 0
    for key, deposit in zip(keys[:3], credits):
        received = sum(b.get("settlement", k, key.address)[3] + b.get("settlement", k, key.address)[4]
                       for k in range(2))
        total += received
        assert b.get("credit", key.address) - b.get("debt", key.address) + b.get("owed", key.address) == \
            deposit + received
    owed = sum(b.get("owed", k.address) for k in keys[:3])
    debts = sum(b.get("debt", k.address) for k in keys[:3])
    assert b.get("credit", UTILITY.address) - owed + debts == credits[3] - total
    # No member is both in debt and owed. What the utility owes is claimed as far as its credit
    # goes (a claim finding it spent is refused); the utility withdraws only beyond what it owes.
    assert all(b.get("debt", k.address) == 0 or b.get("owed", k.address) == 0 for k in keys[:3])
    b.block([ContractChain.call(b.s2, k, "claim") for k in keys[:3] if b.get("owed", k.address) > 0])
    owed = sum(b.get("owed", k.address) for k in keys[:3])
    assert owed == 0 or b.get("credit", UTILITY.address) == 0
    calls = [ContractChain.call(b.s2, k, "withdraw", b.get("credit", k.address)) for k in keys
             if b.get("credit", k.address) > 0]
    assert all(r.status == 0 for r in b.block(calls))
    assert b.balance(b.s2) == 0 and b.total_money() == money


def test_the_largest_schedule_submits_closes_and_settles_within_a_transactions_gas() -> None:
    """64 members (17 of them with meters; the rest never report) and 96 intervals at the bound:
    a submission stays far below the CLI's default gas, the final close (which writes the
    schedule by interval) and a settlement below it."""
    members = list(NET.users) + [PrivateKey.from_label(f"admm-member/{i}") for i in range(64 - len(NET.users))]
    s = Scheduler(members=members, intervals=96, max_rounds=1, first=I0 + 3, max_wh=2**24)
    x = [2**24 - 1 if t % 2 else -(2**24 - 1) for t in range(96)]
    receipts = s.block([s.on(k, "submit", 1, x) for k in NET.users[:16]], interval_time(I0, 100))
    assert all(r.status == 0 for r in receipts) and max(r.gas_used for r in receipts) < 150_000
    close = s.block([s.on(STRANGER, "close")], interval_time(I0 + 2))[0]  # after the deadline
    assert close.status == 0 and close.gas_used < CLI_GAS, close.gas_used
    s2 = s.deploy("schedule_billing", DEPLOYER)
    assert s.block([(NET.operator, CertifyMarket(s2, 1))])[0].status == 0
    assert s.run(s2, DEPLOYER, "setup", s.address, UTILITY.address, FIT, TOU, GRACE) is None
    s.readings(I0 + 3, {i: (100, 50) for i in range(len(NET.users))}, interval_time(I0 + 3 + 1 + GRACE))
    settle = s.block([ContractChain.call(s2, STRANGER, "settle", 0)])[0]
    assert settle.status == 0 and settle.gas_used < CLI_GAS, settle.gas_used
    # The utility is not billed; of the other 63, the 16 with meters are billed on their readings.
    assert s.run(s2, DEPLOYER, "totals", 0)[4] == 63 - 16


def test_the_costliest_close_and_settlement_fit_the_clis_default_gas() -> None:
    """64 members with 16 certified meters each (the utility outside S1, so every member is
    billed and its meters read twice: `owner_reading` and `claim_delivery`), 96 intervals of
    the largest x, every reading at its bound. Attack: settle read each member's whole row of 96
    values from S1 and the utility's credit for each member: 1,136,000 gas, beyond the CLI's
    default 1,000,000, so a plain `pownode call` could not bill such a schedule. Now S1 keeps
    the final schedule by interval (written once, by the final close) and settle holds the
    utility's credit while it works: the final close and a settlement each fit the CLI's gas."""
    per = MAX_METERS_PER_OWNER
    net = metered_devnet("admm-16-meters", 66, [1 + i // per for i in range(64 * per)])
    deployer, members, utility = net.users[0], net.users[1:65], net.users[65]
    chain = DevnetChain(net)
    assert all(r.status == 0 for r in chain.block([(deployer, ContractDeploy(source(name), 1_500_000))
                                                   for name in ("admm_scheduler", "schedule_billing")], I0 - 1))
    s1, s2 = (contract_address(deployer.address, hashlib.sha256(source(name).encode()).digest())
              for name in ("admm_scheduler", "schedule_billing"))

    def call(contract: bytes, key, function: str, *args, value: int = 0):
        return key, ContractCall(contract, function, tuple(args), CLI_GAS, value)

    first = I0 + 3
    setup = call(s1, deployer, "setup", [k.address for k in members], 96, RHO, 0, 0, 1, first, 2, 2**24, PRICE)
    x = [2**24 - 1 if t % 2 else -(2**24 - 1) for t in range(96)]
    receipts = chain.block([setup] + [call(s1, k, "submit", 1, x if i % 2 else [-v for v in x])
                                      for i, k in enumerate(members)], I0)
    closed = chain.block([call(s1, deployer, "close")], I0)[0]
    assert all(r.status == 0 for r in receipts) and closed.status == 0, closed.reason
    assert values.decode(closed.output)[1] == 2  # final (the round bound), unconverged
    receipts = chain.block([call(s2, deployer, "setup", s1, utility.address, FIT, TOU, GRACE),
                            (net.operator, CertifyMarket(s2, 1))], I0 + 1)
    receipts += chain.block([call(s2, k, "deposit", value=CREDIT) for k in members + (utility,)], I0 + 1)
    assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
    # Interval 0 leaves members in debt and owed (the credits are small for these amounts);
    # interval 1, the schedule's other sign, works through both.
    for k in range(2):
        readings = chain.block([(m, MeterReading(first + k, 1000 + i, 500 if i % 3 else 5000))
                                for i, m in enumerate(net.meters)], first + k + 1)
        settled = chain.block([call(s2, deployer, "settle", k)], first + k + 1)[0]
        assert all(r.status == 0 for r in readings) and settled.status == 0, (settled.reason, settled.gas_used)
        assert values.decode(settled.output)[4] == 0  # every member billed on its readings
