"""004's CES incentives contract (Wang et al., Algorithm 1) on a real chain: every refusal with its
reason, Algorithm 1's walk (offer, refuse, raise, refuse, supplement; offer, accept, deliver,
reconcile), and property tests over random sequences (money conserved, every escrow released
exactly once, nothing paid without certified readings)."""

from __future__ import annotations

import hashlib
import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger import accounts
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, MeterReading, RegisterMeter
from tests.market.helpers import NET, ContractChain, interval_time
from vm import values
from vm.machine import read_storage

OPERATOR, UTILITY, ANYONE = NET.users[0], NET.users[16], NET.users[15]
A, B, C = NET.users[1], NET.users[2], NET.users[3]
PERIOD = 10  # intervals per reconciliation period: period 1 is intervals 10..19
I0 = 10
GRACE = 2
MAX_RAISES, CAP_PPM = 2, 3_000_000  # at most two raises, to at most 3 times the first incentive
BUDGET = 5_000_000
OPEN, ACCEPTED, REFUSED, SUPPLEMENTED, EXPIRED, RECONCILED = range(6)
INPUTS = hashlib.sha256(b"preferences, feeder, prices").digest()


class Ces(ContractChain):
    """A chain at interval I0 with the contract set up by OPERATOR, funded, A, B and C enrolled
    (buses 5, 6, 7) and, unless `certify` is False, certified by the network operator."""

    def __init__(self, certify: bool = True, budget: int = BUDGET, max_raises: int = MAX_RAISES) -> None:
        super().__init__()
        self.block([], interval_time(I0))
        self.address = self.deploy("ces_incentives", OPERATOR)
        calls = [self.on(OPERATOR, "setup", PERIOD, max_raises, CAP_PPM, UTILITY.address)]
        calls += [self.on(OPERATOR, "fund", value=budget)]
        calls += [self.on(OPERATOR, "enrol", k.address, bus) for k, bus in ((A, 5), (B, 6), (C, 7))]
        self.ok(calls)
        if certify:
            assert self.block([(NET.operator, CertifyMarket(self.address, 1))])[0].status == 0

    def on(self, key, function: str, *args, value: int = 0):
        return self.call(self.address, key, function, *args, value=value)

    def ok(self, calls: list, time_ms: int | None = None) -> list:
        receipts = self.block(calls, time_ms)
        assert all(r.status == 0 for r in receipts), [r.reason for r in receipts if r.status]
        return receipts

    def refused(self, key, function: str, *args, value: int = 0, time_ms: int | None = None) -> str:
        receipt = self.block([self.on(key, function, *args, value=value)], time_ms)[0]
        assert receipt.status == 1
        return receipt.reason

    def do(self, key, function: str, *args, value: int = 0):
        return self.run(self.address, key, function, *args, value=value)

    def view(self, function: str, *args):
        return self.do(ANYONE, function, *args)

    def held(self) -> tuple[int, int]:
        """(budget, escrowed): what the contract holds for whom."""
        return self.view("budget"), self.view("escrowed")

    def stored(self, key: str):
        """The contract's storage entry, read without a transaction."""
        return read_storage(self.chain.state, self.address, key)

    def stored_offer(self, offer_id: int) -> tuple:
        return tuple(self.stored("offer:" + offer_id.to_bytes(5, "big").hex()))

    def conserved(self) -> None:
        budget, escrowed = self.held()
        assert self.balance(self.address) == budget + escrowed


def test_algorithm_1_refuse_raise_refuse_supplement_then_accept_deliver_reconcile() -> None:
    c = Ces()
    # Line 1: preferences X (battery Wh, W, PV peak W, shapable Wh, earliest, latest, min, max hours).
    prefs = [4_000, 1_000, 1_500, 5_000, 9, 24, 4, 10]
    c.do(A, "prefer", 0, prefs)
    assert c.view("prefs_of", 0, A.address) == tuple(prefs)
    # Line 2: the equilibrium's set-points with the hash of the solver's inputs.
    setpoints = [0] * 9 + [800, 1_200, 600] + [-400] * 12
    c.do(OPERATOR, "equilibrium", 0, INPUTS, A.address, setpoints)
    assert c.view("equilibrium_of", 0, A.address) == (INPUTS, tuple(setpoints))
    assert "already solved" in c.refused(A, "prefer", 0, prefs)
    # Line 4: offers for intervals 12 and 13 at DLMP 10,000 + incentive 2,000 (milli-cents/kWh).
    first = c.do(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    second = c.do(OPERATOR, "offer", A.address, 13, 1_500, 11_000, 3_000)
    assert (first, second) == (0, 1)
    assert c.held() == (BUDGET - 12_000 - 21_000, 33_000)
    c.conserved()
    # Lines 7-10 on the first: refused, raised to 4,000 (escrow 14,000), refused, supplemented.
    c.do(A, "refuse", first)
    assert c.view("offer_of", first)[7] == REFUSED
    c.do(OPERATOR, "raise_offer", first, 4_000)
    assert c.view("offer_of", first) == (A.address, 12, 1_000, 10_000, 4_000, 2_000, 1, OPEN, 14_000, 0, 0)
    assert c.held() == (BUDGET - 14_000 - 21_000, 35_000)
    c.do(A, "refuse", first)
    c.do(OPERATOR, "supplement", first)
    assert c.view("offer_of", first)[7:] == (SUPPLEMENTED, 0, 0, 0)
    assert c.view("supplemented", 12) == 1_000
    assert c.held() == (BUDGET - 21_000, 21_000)
    # Lines 5-6 on the second: accepted; A exports 1,200 of its 1,500 Wh in interval 13.
    c.do(A, "accept", second)
    c.readings(13, {1: (2_000, 800)})
    c.conserved()
    c.block([], interval_time(2 * PERIOD, 1))  # period 1 has ended; A's readings are in
    before = c.balance(A.address)
    assert c.do(ANYONE, "reconcile", A.address, 1) == (1, 1_200, 1_200 * 14_000 // 1000, 0)
    # Line 12: paid (dlmp + incentive) for the metered 1,200 Wh only; the rest back to the budget.
    assert c.balance(A.address) - before == 16_800
    assert c.view("offer_of", second) == (A.address, 13, 1_500, 11_000, 3_000, 3_000, 0, RECONCILED, 0, 1_200,
                                          16_800)
    assert c.held() == (BUDGET - 16_800, 0)
    assert c.view("reconciled", A.address, 1) == (1, 1_200, 16_800)
    c.conserved()
    assert "nothing left to reconcile" in c.refused(ANYONE, "reconcile", A.address, 1)
    # The operator takes its unspent budget back.
    c.do(OPERATOR, "withdraw", BUDGET - 16_800)
    assert c.balance(c.address) == 0


def test_every_refusal_says_why() -> None:
    c = Ces(certify=False)
    assert "only the deployer" in c.refused(A, "setup", PERIOD, 1, CAP_PPM, UTILITY.address)
    assert "already set up" in c.refused(OPERATOR, "setup", PERIOD, 1, CAP_PPM, UTILITY.address)
    assert "operator only" in c.refused(A, "fund", value=1_000)
    assert "operator only" in c.refused(A, "enrol", A.address, 1)
    assert "already enrolled" in c.refused(OPERATOR, "enrol", A.address, 1)
    assert "operator only" in c.refused(A, "offer", A.address, 12, 1_000, 10_000, 2_000)
    assert "operator only" in c.refused(A, "equilibrium", 0, INPUTS, A.address, [1])
    assert "not an enrolled participant" in c.refused(OPERATOR, "offer", ANYONE.address, 12, 1_000, 10_000, 2_000)
    assert "not an enrolled participant" in c.refused(ANYONE, "prefer", 0, [1])
    assert "operator must certify" in c.refused(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    assert c.block([(NET.operator, CertifyMarket(c.address, 1))])[0].status == 0
    assert "next 192 intervals" in c.refused(OPERATOR, "offer", A.address, 400, 1_000, 10_000, 2_000)
    assert "incentive > 0" in c.refused(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 0)
    assert "incentive > 0" in c.refused(OPERATOR, "offer", A.address, 12, 1_000, 2**31 - 1, 1)
    assert "2**24" in c.refused(OPERATOR, "offer", A.address, 12, 2**24, 10_000, 1)
    assert "does not cover" in c.refused(OPERATOR, "offer", A.address, 12, 2**24 - 1, 10_000, 2**30)
    assert "1..16 preferences" in c.refused(A, "prefer", 0, list(range(17)))
    assert "|x| < 2**31" in c.refused(A, "prefer", 0, [2**31])
    assert "today or the next 7 days" in c.refused(A, "prefer", 8, [1])
    assert "1..96 set-points" in c.refused(OPERATOR, "equilibrium", 0, INPUTS, A.address, [0] * 97)
    assert "32 bytes" in c.refused(OPERATOR, "equilibrium", 0, INPUTS[:31], A.address, [0])
    offer = c.do(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    for _ in range(3):
        c.do(OPERATOR, "offer", A.address, 12, 10, 10_000, 2_000)
    assert "at most 4 offers" in c.refused(OPERATOR, "offer", A.address, 12, 10, 10_000, 2_000)
    assert "only the offer's participant" in c.refused(B, "accept", offer)
    assert "only the offer's participant" in c.refused(OPERATOR, "refuse", offer)
    assert "no such offer" in c.refused(A, "accept", 99)
    assert "only a refused offer" in c.refused(OPERATOR, "raise_offer", offer, 3_000)
    assert "only a refused offer" in c.refused(OPERATOR, "supplement", offer)
    c.do(A, "refuse", offer)
    assert "not open" in c.refused(A, "accept", offer)
    assert "operator only" in c.refused(A, "raise_offer", offer, 3_000)
    assert "higher than the present" in c.refused(OPERATOR, "raise_offer", offer, 2_000)
    assert "beyond the cap" in c.refused(OPERATOR, "raise_offer", offer, 6_001)
    c.do(OPERATOR, "raise_offer", offer, 3_000)
    c.do(A, "refuse", offer)
    c.do(OPERATOR, "raise_offer", offer, 6_000)  # exactly the cap: 3,000,000 ppm of 2,000
    c.do(A, "refuse", offer)
    assert "raised 2 times already" in c.refused(OPERATOR, "raise_offer", offer, 6_000)
    assert "operator only" in c.refused(A, "supplement", offer)
    accepted = c.do(OPERATOR, "offer", B.address, 12, 1_000, 10_000, 2_000)
    c.do(B, "accept", accepted)
    assert "only a refused offer" in c.refused(OPERATOR, "raise_offer", accepted, 3_000)
    assert "only a refused offer" in c.refused(OPERATOR, "supplement", accepted)
    assert "not open" in c.refused(B, "refuse", accepted)
    late = c.do(OPERATOR, "offer", C.address, 12, 1_000, 10_000, 2_000)
    c.block([], interval_time(12, 1))  # interval 12 has started
    assert "has started" in c.refused(C, "accept", late)
    assert "has started" in c.refused(OPERATOR, "supplement", offer)
    assert "next 192 intervals" in c.refused(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    assert "only an open or refused offer" in c.refused(ANYONE, "expire", accepted)
    assert "at most the budget" in c.refused(OPERATOR, "withdraw", BUDGET)
    assert "only fund takes value" in c.refused(C, "accept", late, value=1_000)
    assert "only fund takes value" in c.refused(OPERATOR, "offer", A.address, 13, 1, 1, 1, value=1_000)
    assert "only fund takes value" in c.refused(ANYONE, "budget", value=1)
    # Reconciliation: not without certification, not before the period ends, not before readings.
    assert c.block([(NET.operator, CertifyMarket(c.address, 0))])[0].status == 0
    assert "operator must certify" in c.refused(ANYONE, "reconcile", B.address, 1)
    assert c.block([(NET.operator, CertifyMarket(c.address, 1))])[0].status == 0
    assert "has not ended" in c.refused(ANYONE, "reconcile", B.address, 1)
    c.block([], interval_time(2 * PERIOD, 1))
    assert "waiting for meter readings" in c.refused(ANYONE, "reconcile", B.address, 1)
    c.conserved()


def test_offers_are_made_and_accepted_only_while_certified_so_no_accepted_escrow_is_stranded() -> None:
    """Without the network operator's certification reconcile can neither pay nor release an
    accepted offer: an operator could offer, the participant accept and deliver, and the escrow
    stayed held for ever, never paid. Now an uncertified contract makes and accepts no offer; if
    the certification is withdrawn after an acceptance, the escrow waits for it to return."""
    c = Ces(certify=False)
    assert "operator must certify" in c.refused(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    assert c.held() == (BUDGET, 0)
    assert c.block([(NET.operator, CertifyMarket(c.address, 1))])[0].status == 0
    first, second = (c.do(OPERATOR, "offer", A.address, 12 + k, 1_000, 10_000, 2_000) for k in range(2))
    c.do(A, "accept", first)
    assert c.block([(NET.operator, CertifyMarket(c.address, 0))])[0].status == 0
    assert "operator must certify" in c.refused(A, "accept", second)
    c.readings(12, {1: (1_000, 0)})
    c.block([], interval_time(2 * PERIOD + GRACE, 1))
    assert "operator must certify" in c.refused(ANYONE, "reconcile", A.address, 1)
    assert c.held() == (BUDGET - 24_000, 24_000)
    assert c.block([(NET.operator, CertifyMarket(c.address, 1))])[0].status == 0
    assert c.do(ANYONE, "reconcile", A.address, 1) == (2, 1_000, 12_000, 0)
    assert c.held() == (BUDGET - 12_000, 0)
    c.conserved()


def test_an_offer_that_would_pay_nothing_is_refused() -> None:
    """energy_wh * (dlmp + incentive) below 1000 escrows 0 (the payment rounds down): such an
    offer, made even with no budget at all, claimed the participant's metered export on
    acceptance and paid nothing for it, so that no other market could pay for that energy."""
    c = Ces(budget=1)
    assert "pays nothing" in c.refused(OPERATOR, "offer", A.address, 12, 999, 0, 1)
    assert "pays nothing" in c.refused(OPERATOR, "offer", A.address, 12, 1, 998, 1)
    assert c.do(OPERATOR, "offer", A.address, 12, 1_000, 0, 1) == 0  # escrows 1
    assert c.held() == (0, 1)
    c.conserved()


def test_the_operator_does_not_enrol_itself() -> None:
    """Attack (self-dealing): the operator, owner of a certified meter, enrolled itself and paid
    itself from its own budget for its own export; the claim counted that export as energy
    settled by a market (PoS's E, PoE's TE) with no one on the other side, as a coalition
    seller bidding for its own pledge would. Now the operator is not a participant."""
    c = Ces()
    assert "does not enrol itself" in c.refused(OPERATOR, "enrol", OPERATOR.address, 1)
    assert c.view("member", OPERATOR.address) is None
    c.conserved()


def test_an_offer_left_open_expires_and_an_expired_one_cannot_be_answered() -> None:
    c = Ces()
    offer = c.do(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    assert "has not started" in c.refused(ANYONE, "expire", offer)
    c.block([], interval_time(12, 1))
    c.do(ANYONE, "expire", offer)
    assert c.view("offer_of", offer)[7:] == (EXPIRED, 0, 0, 0)
    assert c.held() == (BUDGET, 0)
    assert "only an open or refused offer" in c.refused(ANYONE, "expire", offer)
    assert "not open" in c.refused(A, "accept", offer)
    c.conserved()


def test_missing_readings_past_grace_are_nothing_delivered_and_open_offers_expire_in_reconcile() -> None:
    c = Ces()
    accepted = c.do(OPERATOR, "offer", A.address, 12, 1_000, 10_000, 2_000)
    left_open = c.do(OPERATOR, "offer", A.address, 14, 500, 10_000, 2_000)
    c.do(A, "accept", accepted)
    c.block([], interval_time(2 * PERIOD - 1 + GRACE, 1))  # the last interval of GRACE
    assert "waiting for meter readings" in c.refused(ANYONE, "reconcile", A.address, 1)
    c.block([], interval_time(2 * PERIOD + GRACE, 1))
    before = c.balance(A.address)
    assert c.do(ANYONE, "reconcile", A.address, 1) == (2, 0, 0, 0)
    assert c.balance(A.address) == before
    assert c.view("offer_of", accepted)[7:] == (RECONCILED, 0, 0, 0)
    assert c.view("offer_of", left_open)[7] == EXPIRED
    assert c.held() == (BUDGET, 0)
    c.conserved()


def test_two_offers_in_one_interval_share_one_metered_export_so_no_wh_is_paid_twice() -> None:
    c = Ces()
    ids = [c.do(OPERATOR, "offer", B.address, 15, 1_000, 10_000, 2_000 + k) for k in range(2)]
    c.ok([c.on(B, "accept", i) for i in ids])
    c.readings(15, {2: (1_500, 0)})  # 1,500 Wh exported against 2,000 offered
    c.block([], interval_time(2 * PERIOD, 1))
    before = c.balance(B.address)
    assert c.do(ANYONE, "reconcile", B.address, 1) == (2, 1_500, 12_000 + 500 * 12_001 // 1000, 0)
    assert c.balance(B.address) - before == 12_000 + 6_000
    assert [c.view("offer_of", i)[9] for i in ids] == [1_000, 500]
    c.conserved()


def test_reconcile_pages_through_a_long_period_and_the_index_reads_newest_first() -> None:
    c = Ces()
    calls = [c.on(OPERATOR, "offer", C.address, i, 100, 10_000, 1_000) for i in range(11, 20) for _ in range(4)]
    c.ok(calls)
    assert c.view("member", C.address) == (7, 36)
    assert c.view("offers_of", C.address, 0) == tuple(range(35, 3, -1))
    assert c.view("offers_of", C.address, 1) == (3, 2, 1, 0)
    assert c.view("offers_of", C.address, 2) == ()
    c.ok([c.on(C, "accept", i) for i in range(36)])
    for interval in range(11, 20):
        c.readings(interval, {3: (500, 0)})  # C delivers every offer in full
    before = c.balance(C.address)
    # The worst page, 32 offers each claimed and paid, fits the CLI's default gas of 1,000,000.
    page = c.block([c.on(ANYONE, "reconcile", C.address, 1)], interval_time(2 * PERIOD, 1))[0]
    assert page.status == 0 and page.gas_used < 1_000_000, page.gas_used
    assert values.decode(page.output) == (32, 3_200, 32 * 1_100, 4)
    assert c.do(ANYONE, "reconcile", C.address, 1) == (4, 400, 4 * 1_100, 0)
    assert c.view("reconciled", C.address, 1) == (36, 3_600, 36 * 1_100)
    assert c.balance(C.address) - before == 36 * 1_100
    c.conserved()


def test_the_worst_reconcile_page_an_owner_with_sixteen_meters_fits_the_clis_default_gas() -> None:
    """Each offer of a page reads all of its participant's meters twice (owner_reading and
    claim_delivery), so the worst page is 32 accepted offers of an owner with the chain's
    maximum of 16 meters (MAX_METERS_PER_OWNER), all reported and delivered."""
    c = Ces()
    extra = [PrivateKey.from_label(f"ces-extra-meter-{k}") for k in range(accounts.MAX_METERS_PER_OWNER - 1)]
    c.ok([(NET.operator, RegisterMeter(m.public_key, "smart", f"extra-{k}", C.address)) for k, m in enumerate(extra)])
    c.ok([c.on(OPERATOR, "offer", C.address, i, 100, 10_000, 1_000) for i in range(12, 20) for _ in range(4)])
    c.ok([c.on(C, "accept", i) for i in range(32)])
    for interval in range(12, 20):
        c.block([(NET.meters[3], MeterReading(interval, 500, 0))] + [(m, MeterReading(interval, 50, 0)) for m in extra],
                NET.genesis.interval_start_ms(interval + 1))
    page = c.block([c.on(ANYONE, "reconcile", C.address, 1)], interval_time(2 * PERIOD, 1))[0]
    assert page.status == 0 and page.gas_used < 1_000_000, (page.reason, page.gas_used)
    assert values.decode(page.output) == (32, 3_200, 32 * 1_100, 0)
    c.conserved()


ACTIONS = ("offer", "offer", "accept", "accept", "refuse", "raise", "supplement", "expire", "advance", "advance",
           "reconcile", "stray value", "usurp", "certification")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(5, 60), certify=st.booleans())
def test_random_sequences_conserve_money_and_release_every_escrow_exactly_once(seed, length, certify) -> None:
    """Any member calls anything in any order: the contract's balance stays budget + escrows after
    every block; at the end every escrow has been released once (nothing held), each offer paid
    (dlmp + incentive) for what it delivered, the delivered Wh of a participant's offers in an
    interval at most its certified net export, each participant's balance up by exactly what its
    offers were paid. The network operator certifies the contract (or not) at the start and
    withdraws or restores the certification now and then: while it is withdrawn no offer is made
    or paid, and once it is restored every escrow held is released."""
    rng = random.Random(seed)
    steps = [(rng.choice(ACTIONS), rng.randint(0, 2), rng.randint(0, 2**16)) for _ in range(length)]
    c = Ces(certify=certify, budget=2_000_000)
    people = (A, B, C)
    start = {k.address: c.balance(k.address) + c.fees.get(k.address, 0) for k in people}
    exported: dict[tuple[bytes, int], int] = {}
    certified = certify

    def advance(now: int, intervals: int, who: int, n: int) -> int:
        """Certified readings of the next intervals, `who`'s missing if n is even."""
        for interval in range(now, now + intervals):
            energy = {NET.users.index(p): ((n * (interval + j + 1)) % 3_000, (n // 7 + 300 * j) % 2_000)
                      for j, p in enumerate(people) if j != who or n % 2}
            c.readings(interval, energy)
            exported.update({(NET.users[i].address, interval): max(0, e[0] - e[1]) for i, e in energy.items()})
        return now + intervals

    now = I0
    for action, who, n in steps:
        k = people[who]
        offers = c.stored("next")
        # Mostly one of the four newest offers; the third time any id, now and then one not made.
        target = offers - 1 - n % min(offers, 4) if offers and who < 2 else n % (offers + 1)
        if action == "offer":  # half the time the participant accepts it at once
            made = c.block([c.on(OPERATOR, "offer", k.address, now + 1 + n % 4, 1 + n % 3_000, n % 20_000,
                                 1 + n % 5_000)])[0]
            assert made.status == 1 or certified
            if made.status == 0 and n % 4 < 2:
                assert c.block([c.on(k, "accept", offers)])[0].status == 0
        elif action in ("accept", "refuse", "expire"):
            # Mostly the offer's own participant answers; the third time, whoever `who` is.
            owner = c.stored_offer(target)[0] if target < offers and who < 2 else k.address
            c.block([c.on(next(p for p in people if p.address == owner), action, target)])
        elif action == "raise":
            c.block([c.on(OPERATOR, "raise_offer", target, 1 + n % 9_000)])
        elif action == "supplement":
            c.block([c.on(OPERATOR, "supplement", target)])
        elif action == "advance":
            now = advance(now, 1 + n % 3, who, n)
        elif action == "reconcile":
            done = c.block([c.on(k, "reconcile", k.address, max(0, now // PERIOD - 1))])[0]
            assert done.status == 1 or certified
        elif action == "certification":
            certified = not certified
            assert c.block([(NET.operator, CertifyMarket(c.address, int(certified)))])[0].status == 0
        elif action == "usurp":  # a participant calls what only the operator may: refused, nothing moves
            call = (("offer", k.address, now + 1, 1 + n % 3_000, 1, 1), ("raise_offer", target, 1 + n),
                    ("supplement", target), ("withdraw", 1 + n), ("enrol", k.address, 1),
                    ("equilibrium", 0, INPUTS, k.address, [n]))[n % 6]
            assert c.block([c.on(k, *call)])[0].status == 1
        elif action == "stray value":  # money sent with a call that takes none
            call = (("accept", target), ("expire", target), ("reconcile", k.address, 1), ("budget",))[n % 4]
            c.block([c.on(k, *call, value=1 + n)])
        assert c.balance(c.address) == c.stored("budget") + c.stored("held")
    # Readings of the intervals offered, then past every period and its grace: reconcile each
    # participant's periods to the end.
    now = advance(now, 5, rng.randint(0, 2), rng.randint(0, 2**16)) + 2 * PERIOD + GRACE
    c.block([], interval_time(now, 1))
    if not certified:
        assert c.block([(NET.operator, CertifyMarket(c.address, 1))])[0].status == 0
    for k in people:
        for period in range(1, now // PERIOD):
            while c.block([c.on(k, "reconcile", k.address, period)])[0].status == 0:
                pass
    assert c.balance(c.address) == c.stored("budget") + c.stored("held")
    delivered_in: dict[tuple[bytes, int], int] = {}
    paid_to = {k.address: 0 for k in people}
    for i in range(c.stored("next")):
        participant, interval, energy, dlmp, incentive, _, _, state, escrow, delivered, paid = c.stored_offer(i)
        assert state in (SUPPLEMENTED, EXPIRED, RECONCILED) and escrow == 0
        assert paid == delivered * (dlmp + incentive) // 1000 and delivered <= energy
        delivered_in[(participant, interval)] = delivered_in.get((participant, interval), 0) + delivered
        paid_to[participant] += paid
    assert all(wh <= exported.get(key, 0) for key, wh in delivered_in.items())
    event(f"certified: {certify}, some offer paid: {sum(paid_to.values()) > 0}")
    for k in people:
        assert c.balance(k.address) + c.fees.get(k.address, 0) - start[k.address] == paid_to[k.address]
    assert sum(paid_to.values()) == 2_000_000 - c.stored("budget") - c.stored("held")
    assert c.stored("held") == 0
