"""Billing contract S2 of 001's scheduling model (Salian et al., IV.B, Fig. 3): "S2: billing
contract, on blockchain: compare schedule from S1 with meter readings, compute payments and
charges, transfer payments between accounts".

The deployer names the ADMM aggregator S1 (`admm_scheduler`), the utility (S1's grid member; it is
not metered here) and the utility's prices: TOU for energy bought from it, FIT for energy sold to
it (milli-cents per kWh). The schedule's interval k is chain interval first + k (S1's `first`).

Money lives in credit accounts inside the contract: S1's members and the utility `deposit`; a
member's credit pays its charges, and what is left is returned by `withdraw` once every interval
of the schedule is settled (nothing is forfeited beyond the charges below). Every call but
`deposit` refuses money, so the contract's balance is always the sum of the credits. Credit is
taken only while the operator certifies the contract (settlement needs it, see below); if the
operator withdraws the certification, settlement and so the credit wait until it certifies again.

Settlement of interval k (`settle`, anyone, in order, once chain interval first + k has ended and
S1's schedule is final; the contract must be a market the operator certified, since it claims
the metered delivery on chain with `claim_delivery`, so no Wh is paid twice). For each member,
with x its scheduled net export and price the schedule's price of the interval, within FIT..TOU (a
converged schedule's price is, up to its tolerance: the utility is a member; an unconverged one's
need not be, and a member who could push it beyond would profit by scheduling energy it never
delivers or consumes, its deviation settled at TOU or FIT):

- the scheduled energy at price: a seller (x > 0) is paid x * price / 1000, a buyer pays it; the
  members' scheduled trades net to the utility's (the grid's) scheduled trade, so the utility's
  credit is the counterparty of the pool and the pool always balances;
- the deviation d = metered - x: a shortfall (d < 0) is bought from the utility at TOU, a surplus
  (d > 0) sold to it at FIT.

The metered net export is the member's certified meters' net for the interval, as far as no other
market claimed it before or holds it reserved. No settlement without certified readings: while a
member's meters have not all reported, the interval waits, up to GRACE intervals after it ended (at
least one: readings arrive after the interval); then that member is settled as having exported
nothing and consumed what it scheduled (metered = min(x, 0)), provisionally: it withdraws nothing
until its readings come in and `settle_late` (anyone) bills it on them, so silence past GRACE does
not escape a deviation; the deployer alone may make a provisional settlement final (for meters
revoked or replaced, whose readings can no longer come). A member without a certified meter is
settled so for good. A member's net amount is paid by the utility from its credit (what it lacks,
it owes the member, who may `claim` it later) or by the member from its credit (what it lacks
becomes its debt to the utility, paid first from any money that reaches it here); no balance goes
negative, and the utility withdraws only the credit beyond what it owes.

Bounds: S1's (at most 64 members, 96 intervals). settle reads each member's meters twice (its
readings' completeness, then the claim) and S1's interval once, and holds the utility's credit
while it works (`_pool`): the costliest settlement, 64 members of 16 meters, stays under the
CLI's default 1,000,000 gas (about 920,000).
"""

MAX_MEMBERS = 64
MAX_INTERVALS = 96
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh
MAX_GRACE = 96
# Indices into params.
P_S1 = 0
P_UTILITY = 1
P_FIT = 2
P_TOU = 3
P_GRACE = 4
P_T = 5
P_FIRST = 6
METERED = 1
PROVISIONAL = 0  # its meters had not all reported within GRACE: `settle_late` settles it again
NO_METER = 2  # no certified meter: settled as exporting nothing, for good


def _no_value():
    """Money sent with any call but a deposit would sit in the contract, held for no one."""
    require(value() == 0, "this call takes no money")


def setup(scheduler, utility, fit, tou, grace):
    _no_value()
    require(sender() == deployer(), "only the deployer sets billing up")
    require(get("params") is None, "already set up")
    require(len(scheduler) == 20 and len(utility) == 20, "the scheduler and the utility are 20-byte addresses")
    require(0 < fit and fit < tou and tou < MAX_PRICE, "need 0 < FIT < TOU < 2**31")
    # A meter reports an interval once it has ended: with no grace, settlement could run before
    # any reading can be on chain and bill every member as if its meters were silent.
    require(0 < grace and grace <= MAX_GRACE, "grace is 1.." + str(MAX_GRACE) + " intervals")
    sp = call(scheduler, "params")
    require(sp is not None, "the scheduler is not set up")
    require(0 < sp[1] and sp[1] <= MAX_INTERVALS and 0 <= sp[6], "the scheduler's intervals are out of range")
    found = call(scheduler, "members")
    require(len(found) <= MAX_MEMBERS, "at most " + str(MAX_MEMBERS) + " members")
    for m in found:
        require(len(m) == 20, "a member is a 20-byte address")
        if m != utility:
            put(b"M" + m, 1)
    put("params", [scheduler, utility, fit, tou, grace, sp[1], sp[6]])
    put("next", 0)


def _params():
    p = get("params")
    require(p is not None, "billing not set up")
    return p


def params():
    """[S1, utility, FIT, TOU, grace, T, first]."""
    _no_value()
    return get("params")


# --- credit ----------------------------------------------------------------------------------


def credit(who):
    _no_value()
    return get(b"$" + who, 0)


def debt(who):
    _no_value()
    return get(b"D" + who, 0)


def owed(who):
    _no_value()
    return get(b"O" + who, 0)


def _pool(p):
    """[the utility's credit, what it owes members in all]: read once by a call that moves money
    between the utility and members, changed in place, and written back once by `_keep` (a
    settlement of 63 members would otherwise read and write them for each)."""
    return [get(b"$" + p[P_UTILITY], 0), get("owed", 0)]


def _keep(p, pool):
    put(b"$" + p[P_UTILITY], pool[0])
    put("owed", pool[1])


def _add_credit(pool, who, amount):
    """Money reaching a member pays its debt to the utility first."""
    d = get(b"D" + who, 0)
    if d > 0 and amount > 0:
        paid = min(d, amount)
        put(b"D" + who, d - paid)
        pool[0] = pool[0] + paid
        amount -= paid
    if amount > 0:
        put(b"$" + who, get(b"$" + who, 0) + amount)


def deposit():
    p = _params()
    # Uncertified, settle could never run, so withdraw (after every interval is settled) could
    # never return the credit: take none.
    require(certified(), "the operator must certify billing before it takes credit")
    me = sender()
    require(get(b"M" + me) is not None or me == p[P_UTILITY], "only the schedule's members and the utility deposit")
    require(value() > 0, "send the amount to deposit")
    pool = _pool(p)
    if me == p[P_UTILITY]:
        pool[0] = pool[0] + value()
    else:
        _add_credit(pool, me, value())
    _keep(p, pool)
    return get(b"$" + me, 0)


def withdraw(amount):
    _no_value()
    p = _params()
    me = sender()
    require(get("next") == p[P_T], "credit is returned once every interval of the schedule is settled")
    require(0 < amount, "amount must be positive")
    have = get(b"$" + me, 0)
    require(have >= amount, "credit " + str(have) + " does not cover " + str(amount))
    require(get(b"g" + me, 0) == 0, "an interval of yours awaits its readings: settle_late it first")
    if me == p[P_UTILITY]:
        require(have - amount >= get("owed", 0), "the utility's credit must cover what it owes members")
    put(b"$" + me, have - amount)
    transfer(me, amount)


def claim():
    """Take what the utility owes the sender from the utility's credit, as far as it goes."""
    _no_value()
    p = _params()
    me = sender()
    pool = _pool(p)
    amount = min(get(b"O" + me, 0), pool[0])
    require(amount > 0, "nothing to claim now")
    put(b"O" + me, get(b"O" + me, 0) - amount)
    pool[1] = pool[1] - amount
    pool[0] = pool[0] - amount
    _add_credit(pool, me, amount)
    _keep(p, pool)
    return amount


# --- settlement --------------------------------------------------------------------------------


def _value(wh, price):
    """Money for `wh` at `price`, rounded toward zero the same way for payer and payee."""
    if wh >= 0:
        return wh * price // 1000
    return -((-wh) * price // 1000)


def _claimed_net(who, chain_interval, r):
    """The member's metered net export for this contract: it prices all of it (scheduled and
    deviation), so it claims all of it on chain; what the claim grants is this contract's (what
    another market claimed before or holds reserved is not)."""
    metered = r[0] - r[1]
    c = claim_delivery(who, chain_interval, max(metered, 0), max(-metered, 0))
    return c[0] - c[1]


def _pay(pool, who, amount):
    """Settle a member's net amount with the utility's credit (`_pool`): + the utility pays (what
    it lacks it owes), - the member pays (what it lacks is its debt). A member's debt and what it
    is owed cancel out as far as they go: both are between it and the utility."""
    if amount > 0:
        paid = min(pool[0], amount)
        if paid > 0:
            pool[0] = pool[0] - paid
            _add_credit(pool, who, paid)
        unpaid = amount - paid
        d = get(b"D" + who, 0)
        if d > 0 and unpaid > 0:
            put(b"D" + who, d - min(d, unpaid))
            unpaid -= min(d, unpaid)
        if unpaid > 0:
            put(b"O" + who, get(b"O" + who, 0) + unpaid)
            pool[1] = pool[1] + unpaid
    elif amount < 0:
        have = get(b"$" + who, 0)
        paid = min(have, -amount)
        if paid > 0:
            put(b"$" + who, have - paid)
            pool[0] = pool[0] + paid
        unpaid = -amount - paid
        o = get(b"O" + who, 0)
        if o > 0 and unpaid > 0:
            put(b"O" + who, o - min(o, unpaid))
            pool[1] = pool[1] - min(o, unpaid)
            unpaid -= min(o, unpaid)
        if unpaid > 0:
            put(b"D" + who, get(b"D" + who, 0) + unpaid)


def _deviation(d, p):
    """A shortfall (d < 0) is bought from the utility at TOU, a surplus sold to it at FIT."""
    if d > 0:
        return _value(d, p[P_FIT])
    return _value(d, p[P_TOU])


def settle(k):
    """Settle schedule interval k against the meters (anyone, intervals in order). Returns
    [scheduled export Wh, scheduled import Wh, metered export Wh, |metered - scheduled| Wh,
    members settled without complete readings]."""
    _no_value()
    p = _params()
    require(certified(), "the operator must certify billing before it settles against meters")
    nxt = get("next")
    require(nxt < p[P_T], "every interval of the schedule is settled")
    require(k == nxt, "intervals settle in order: next is " + str(nxt))
    chain_interval = p[P_FIRST] + k
    now = interval()
    require(now > chain_interval, "the delivery interval has not ended")
    sched = call(p[P_S1], "interval_schedule", k)
    require(sched is not None, "the schedule is not final")
    xs = sched[1]
    found = sched[2]
    require(len(xs) == len(found) and len(found) <= MAX_MEMBERS and 0 <= sched[0] and sched[0] < MAX_PRICE,
            "the scheduler's answer is out of range")
    # Within FIT..TOU: a shortfall is bought at TOU and a surplus sold at FIT, so scheduling what
    # one does not deliver (or consume) pays only at a price beyond them, which an unconverged
    # schedule can have and a member can steer it to.
    price = min(max(sched[0], p[P_FIT]), p[P_TOU])
    utility = p[P_UTILITY]
    late = now > chain_interval + p[P_GRACE]
    readings = []
    for i in range(len(found)):
        r = None
        if found[i] != utility:
            r = owner_reading(found[i], chain_interval)
            require((r[3] > 0 and r[2] == r[3]) or late, "waiting for meter readings")
        readings.append(r)
    kb = to_bytes(k, 2)
    exported = 0
    imported = 0
    metered_export = 0
    error = 0
    missing = 0
    pool = _pool(p)
    for i in range(len(found)):
        who = found[i]
        if who == utility:
            continue
        x = xs[i]
        require(-16777216 < x and x < 16777216, "the scheduler's answer is out of range")
        r = readings[i]
        status = METERED
        if r[3] > 0 and r[2] == r[3]:
            m = _claimed_net(who, chain_interval, r)
        else:
            m = min(x, 0)  # no proof of delivery: nothing exported, the scheduled import consumed
            missing += 1
            status = NO_METER
            if r[3] > 0:
                status = PROVISIONAL
                put(b"G" + kb + who, 1)
                put(b"g" + who, get(b"g" + who, 0) + 1)
        scheduled = _value(x, price)
        d = m - x
        deviation = _deviation(d, p)
        _pay(pool, who, scheduled + deviation)
        put(b"Y" + kb + who, [x, m, price, scheduled, deviation, status])
        exported += max(x, 0)
        imported += max(-x, 0)
        metered_export += max(m, 0)
        error += abs(d)
    _keep(p, pool)
    out = [exported, imported, metered_export, error, missing]
    put(b"T" + kb, out)
    put("next", k + 1)
    emit("settled", k, exported, imported, error, missing)
    return out


def settle_late(k, who):
    """Settle again a member settled provisionally in schedule interval k, now that all its
    meters have reported: its deviation from the metered net replaces the provisional one, the
    difference paid either way, and its credit may be withdrawn again once no interval of its
    is provisional. The deployer alone may instead make the provisional settlement final, for a
    member whose readings can no longer come (its meters revoked or replaced). Returns the
    difference (+ the member received, - it paid)."""
    _no_value()
    p = _params()
    require(0 <= k and k < p[P_T], "no such interval in the schedule")
    kb = to_bytes(k, 2)
    require(get(b"G" + kb + who) is not None, "no provisional settlement of this member and interval")
    chain_interval = p[P_FIRST] + k
    r = owner_reading(who, chain_interval)
    y = get(b"Y" + kb + who)  # [x, m, price, scheduled, deviation, status]
    t = get(b"T" + kb)  # [exported, imported, metered export, error, members without readings]
    m = y[1]
    diff = 0
    if r[3] > 0 and r[2] == r[3]:
        require(certified(), "the operator must certify billing before it settles against meters")
        m = _claimed_net(who, chain_interval, r)
        deviation = _deviation(m - y[0], p)
        diff = deviation - y[4]
        pool = _pool(p)
        _pay(pool, who, diff)
        _keep(p, pool)
        put(b"Y" + kb + who, [y[0], m, y[2], y[3], deviation, METERED])
        put(b"T" + kb, [t[0], t[1], t[2] + max(m, 0) - max(y[1], 0), t[3] + abs(m - y[0]) - abs(y[1] - y[0]),
                        t[4] - 1])
    else:
        require(sender() == deployer(), "the member's meters have not all reported")
    delete(b"G" + kb + who)
    put(b"g" + who, get(b"g" + who) - 1)
    emit("settled_late", k, who, diff)
    return diff


# --- views -------------------------------------------------------------------------------------


def next_interval():
    """The next schedule interval to settle (T once all are)."""
    _no_value()
    return get("next")


def settlement(k, who):
    """[scheduled Wh, metered Wh used, price billed (within FIT..TOU), scheduled amount, deviation
    amount, 1 metered, 0 provisional (its readings missing: `settle_late`) or 2 without a
    certified meter] of a member in schedule interval k (amounts: + received, - paid)."""
    _no_value()
    return get(b"Y" + to_bytes(k, 2) + who)


def totals(k):
    """settle's result for schedule interval k."""
    _no_value()
    return get(b"T" + to_bytes(k, 2))
