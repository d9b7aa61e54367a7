"""Crowdsourcing incentives of a crowdsourced energy system (Wang et al., 004, IV and V.C), paid
on metered delivery.

The CES operator (the crowdsourcer: the deployer) enrols its Type 2 crowdsourcees, who post their
preferences and operational constraints X ahead of the day (Algorithm 1 line 1). Off chain, the
operator solves CES-OPF (1) for the market equilibrium and posts each participant's set-points
u^eq with the sha256 of the solver's inputs (line 2), so anyone can recompute them; it solves
CES-ID (2) for the incentives lambda^a and offers each participant, per settlement interval, to
pay lambda + lambda^a (the DLMP and the incentive) for the energy the equilibrium asks of it
(line 4). Each offer's payment is escrowed from the operator's budget b (2b) when it is made, so
an accepted offer is always covered. The participant accepts (line 6) or refuses; after a refusal
the operator may raise the incentive, at most `max_raises` times and to at most `raise_cap_ppm`
of its first value (line 8, the threshold), or give up and supplement the energy from
traditional generation (line 10: the escrow returns to the budget and the supplement is recorded
against the utility). Payments are reconciled per period (line 12: `period_intervals`, e.g. 168
hourly intervals for a week): each accepted offer is paid (dlmp + incentive) for the energy its
participant's certified meters show delivered (net export) in the offer's interval, claimed on
chain (`claim_delivery`) so that no Wh is paid twice by this or any other market, and the rest
of its escrow returns to the budget. Accepting reserves the offer's energy of the participant's
export in that interval for this contract (`reserve_delivery`), so a market that settles the
interval before the period is reconciled leaves the offer what the participant committed to it.
A participant whose meters have not all reported by GRACE intervals after the period's end
delivered nothing. Nothing is paid without certified readings:
the network operator must certify this contract as a market before it makes or accepts an offer
(uncertified, reconcile could never pay nor release an accepted offer's escrow) and before any
reconciliation; if it withdraws the certification, accepted offers' escrows stay held until it
certifies the contract again.

Units: energy in Wh, prices (dlmp, incentive) in milli-cents per kWh, money in milli-cents;
a payment is Wh * (dlmp + incentive) // 1000. A DLMP below zero is offered as 0 (the contract
pays, it never charges). Days are calendar days of the chain's clock counted from interval 0's
start (`today()`); intervals are the chain's settlement intervals.

Money is conserved: the contract's balance is always `budget()` + `escrowed()` (plus anything
sent to its address in a plain transfer, which no contract can refuse and no function moves), and
every escrow leaves exactly once: back to the budget (supplement, expiry, undelivered energy) or
paid. Only fund() takes value. A participant deposits nothing: the operator alone decides whom it offers
what, so no one can take an offer it was not made (unlike 003's open auction), and one who
accepts and does not deliver is simply not paid; the paper names no penalty, and the operator
weighs the participant's record when it updates (eta_i, zeta_i) (Algorithm 1 line 9).

Offer states: OPEN -> ACCEPTED (participant) -> RECONCILED (paid for metered delivery);
OPEN -> REFUSED (participant) -> OPEN again (raise_offer) or SUPPLEMENTED (operator);
OPEN or REFUSED -> EXPIRED once its interval has started (`expire`, or `reconcile`).
Accept, refuse, raise and supplement happen before the offer's interval starts.

Functions (operator = the deployer; "anyone" = any member):
- setup(period_intervals, max_raises, raise_cap_ppm, utility): operator, once. `utility` is the
  address recorded as the supplier of supplemented energy.
- fund(): operator; the value sent is added to the budget. withdraw(amount): operator; takes
  unescrowed budget back.
- enrol(participant, bus): operator; a Type 2 crowdsourcee at feeder bus `bus`, who must own a
  certified meter and is not the operator. At most MAX_PARTICIPANTS.
- prefer(day, prefs): an enrolled participant, for today or one of the next MAX_DAYS_AHEAD days,
  until the operator posted its equilibrium for that day: 1..MAX_PREFS integers, |x| < 2**31
  (e.g. battery Wh and W, PV peak W, shapable Wh, earliest/latest hour, min/max hours). A later
  call replaces the earlier.
- equilibrium(day, inputs_hash, participant, setpoints): operator, once per (day, participant):
  the 32-byte sha256 of the solver's inputs and 1..MAX_T set-points (net export Wh per interval
  of the day, |u| < 2**24).
- offer(participant, interval, energy_wh, dlmp, incentive) -> offer id: operator, while the
  contract is certified; for an interval that has not started and is at most MAX_AHEAD ahead;
  0 < energy_wh < 2**24, 0 <= dlmp, 0 < incentive (2c: lambda^a > 0), dlmp + incentive < 2**31;
  at most MAX_PER_INTERVAL offers per participant and interval; escrows energy_wh * (dlmp +
  incentive) // 1000 from the budget, which must be at least 1 (an offer that would pay nothing
  is refused).
- accept(offer_id) / refuse(offer_id): the offer's participant, while it is OPEN and its interval
  has not started; accept only while the contract is certified.
- raise_offer(offer_id, incentive): operator, on a REFUSED offer before its interval: a higher
  incentive within the cap and `max_raises`; escrows the difference; the offer is OPEN again.
- supplement(offer_id): operator, on a REFUSED offer before its interval: SUPPLEMENTED, the
  escrow back to the budget, the energy added to `supplemented(interval)`.
- expire(offer_id): anyone, once the interval of an OPEN or REFUSED offer has started: EXPIRED,
  the escrow back to the budget.
- reconcile(participant, period) -> [offers done, Wh delivered, paid, offers left]: anyone, once
  the period has ended and the participant's readings for it are in (or GRACE intervals after the
  period's end have passed): up to RECONCILE_PAGE of the participant's offers in the period whose
  escrow is still held, in interval order: an ACCEPTED one is paid for metered delivery and
  RECONCILED, an OPEN or REFUSED one EXPIRED. Call again while offers are left; a call with
  nothing left is refused.
- views (the offer's view is `offer_of`: `offer` is the operator's entry point): budget(),
  escrowed(), config() -> [operator, period_intervals, max_raises, raise_cap_ppm, utility],
  today(), member(participant) -> [bus, offers made] or None, prefs_of(day, participant),
  equilibrium_of(day, participant) -> [inputs_hash, setpoints] or None, offer_of(offer_id) ->
  [participant, interval, energy_wh, dlmp, incentive, first_incentive, raises, state, escrow
  held, delivered Wh, paid] (the state as the constants below), offers_of(participant, page) ->
  up to PAGE offer ids, newest first, supplemented(interval) -> Wh supplemented,
  reconciled(participant, period) -> [offers reconciled, Wh delivered, paid].

Storage (read by pownode/ces_api.py): "cfg" = config(); "budget", "held" ints; "offer:IIIIIIIIII"
(the id as 5 bytes hex) = offer_of(id); "by:PARTICIPANT:SSSSSSSSSS" = offer id, SSSSSSSSSS the
hex of MAX_SEQ - the participant's sequence number, so the index reads newest first in key order;
"eq:DDDDDDDD:PARTICIPANT" = [inputs_hash, setpoints] (the day as 4 bytes hex); "member:PARTICIPANT"
= [bus, offers made]; "prefs:DDDDDDDD:PARTICIPANT" = prefs; PARTICIPANT is the address in hex.
"""

MAX_PARTICIPANTS = 1024
MAX_PREFS = 16
MAX_T = 96  # set-points per day: 15-minute intervals at most
MAX_WH = 16777216  # 2**24 Wh: the kernels' bound on energy
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh: the kernels' bound on prices
MAX_AHEAD = 192  # an offer is for one of the next 192 intervals (two days of 15-minute intervals)
MAX_DAYS_AHEAD = 7
MAX_PER_INTERVAL = 4  # offers per participant and interval
MAX_RAISES = 16
MAX_CAP_PPM = 100000000  # a raised incentive is at most 100 times the first
MAX_PERIOD = 2976  # intervals per reconciliation period: 31 days of 15-minute intervals
MAX_BUS = 1000000
RECONCILE_PAGE = 32  # offers per reconcile call
PAGE = 32  # offer ids per offers_of page
GRACE = 2  # intervals after a period's end to wait for missing readings
DAY_MS = 86400000
MAX_SEQ = 1099511627775  # 2**40 - 1: offer ids and per-participant sequence numbers stay below
OPEN = 0
ACCEPTED = 1
REFUSED = 2
SUPPLEMENTED = 3
EXPIRED = 4
RECONCILED = 5


def _no_value():
    # Only fund() takes value: money sent anywhere else would be held for no one.
    require(value() == 0, "only fund takes value")


def _cfg():
    c = get("cfg")
    require(c is not None, "not set up")
    return c


def _operator_only():
    c = _cfg()
    require(sender() == c[0], "operator only")
    return c


def _member_key(participant):
    require(len(participant) == 20, "a participant is a 20-byte address")
    return "member:" + participant.hex()


def _enrolled(participant):
    m = get(_member_key(participant))
    require(m is not None, "not an enrolled participant")
    return m


def _day_key(prefix, day, participant):
    require(0 <= day and day < 4294967296, "a day is an integer in [0, 2**32)")
    return prefix + to_bytes(day, 4).hex() + ":" + participant.hex()


def _offer_key(offer_id):
    require(0 <= offer_id and offer_id < MAX_SEQ, "an offer id is an integer in [0, 2**40 - 1)")
    return "offer:" + to_bytes(offer_id, 5).hex()


def _offer(offer_id):
    o = get(_offer_key(offer_id))
    require(o is not None, "no such offer")
    return o


def _pending_prefix(period, participant):
    return "pend:" + to_bytes(period, 5).hex() + ":" + participant.hex() + ":"


def _pending_count_key(period, participant):
    return "npend:" + to_bytes(period, 5).hex() + ":" + participant.hex()


def _pending(period, participant, interval_, offer_id, add):
    """Adds (add=1) or removes (add=0) an offer whose escrow is held to its participant's
    period index, which reconcile pages through in interval order, and keeps its count."""
    key = _pending_prefix(period, participant) + to_bytes(interval_, 5).hex() + to_bytes(offer_id, 5).hex()
    count_key = _pending_count_key(period, participant)
    if add:
        put(key, offer_id)
        put(count_key, get(count_key, 0) + 1)
    else:
        delete(key)
        put(count_key, get(count_key) - 1)


def _release(offer_id, o, state, delivered, paid):
    """The offer's escrow leaves: `paid` to its participant, the rest back to the budget."""
    c = _cfg()
    escrow = o[8]
    if paid > 0:
        transfer(o[0], paid)
    put("budget", get("budget") + escrow - paid)
    put("held", get("held") - escrow)
    _pending(o[1] // c[1], o[0], o[1], offer_id, 0)
    put(_offer_key(offer_id), [o[0], o[1], o[2], o[3], o[4], o[5], o[6], state, 0, delivered, paid])


def _escrow(energy_wh, dlmp, incentive):
    return energy_wh * (dlmp + incentive) // 1000


def setup(period_intervals, max_raises, raise_cap_ppm, utility):
    """The deployer, the CES operator, sets the reconciliation period and Algorithm 1's raise
    threshold (line 8)."""
    _no_value()
    require(sender() == deployer(), "only the deployer (the CES operator) sets the contract up")
    require(get("cfg") is None, "already set up")
    require(0 < period_intervals and period_intervals <= MAX_PERIOD,
            "the period is 1.." + str(MAX_PERIOD) + " intervals")
    require(0 <= max_raises and max_raises <= MAX_RAISES, "max_raises is 0.." + str(MAX_RAISES))
    require(1000000 <= raise_cap_ppm and raise_cap_ppm <= MAX_CAP_PPM,
            "the raise cap is 1,000,000..100,000,000 ppm of the first incentive")
    require(len(utility) == 20 and utility.hex() != "", "the utility is a 20-byte address")  # hex: bytes only
    put("cfg", [sender(), period_intervals, max_raises, raise_cap_ppm, utility])
    put("budget", 0)
    put("held", 0)
    put("members", 0)
    put("next", 0)


def fund():
    """The operator adds the value sent to the incentive budget b (2b)."""
    _operator_only()
    require(value() > 0, "send the budget to add")
    put("budget", get("budget") + value())
    emit("funded", value())


def withdraw(amount):
    """The operator takes back budget no offer holds."""
    _no_value()
    c = _operator_only()
    require(0 < amount and amount <= get("budget"), "at most the budget no offer holds")
    put("budget", get("budget") - amount)
    transfer(c[0], amount)


def enrol(participant, bus):
    """A Type 2 crowdsourcee at feeder bus `bus`; it must own a certified meter. The operator is
    not one: paying itself from its own budget for its own export would count that export as
    energy settled by a market (PoS's E, PoE's TE) with no one on the other side."""
    _no_value()
    c = _operator_only()
    require(participant != c[0], "the operator does not enrol itself")
    key = _member_key(participant)
    require(get(key) is None, "already enrolled")
    require(0 <= bus and bus < MAX_BUS, "a bus is an integer in [0, " + str(MAX_BUS) + ")")
    require(owner_reading(participant, interval())[3] > 0, "a participant needs a certified meter")
    n = get("members")
    require(n < MAX_PARTICIPANTS, "at most " + str(MAX_PARTICIPANTS) + " participants")
    put("members", n + 1)
    put(key, [bus, 0])
    emit("enrolled", participant, bus)


def today():
    """The current calendar day of the chain's clock, counted from interval 0's start."""
    _no_value()
    return (interval_start(interval()) - interval_start(0)) // DAY_MS


def prefer(day, prefs):
    """Algorithm 1 line 1: a participant's preferences and operational constraints X."""
    _no_value()
    _cfg()
    _enrolled(sender())
    now = today()
    require(now <= day and day <= now + MAX_DAYS_AHEAD, "preferences are for today or the next "
            + str(MAX_DAYS_AHEAD) + " days")
    require(get(_day_key("eq:", day, sender())) is None, "the operator already solved this day")
    require(0 < len(prefs) and len(prefs) <= MAX_PREFS, "1.." + str(MAX_PREFS) + " preferences")
    kept = []
    for x in prefs:
        require(-MAX_PRICE < x and x < MAX_PRICE, "preferences are integers with |x| < 2**31")
        kept.append(x + 0)
    put(_day_key("prefs:", day, sender()), kept)
    emit("preferences", sender(), day)


def equilibrium(day, inputs_hash, participant, setpoints):
    """Algorithm 1 line 2: the CES-OPF set-points u^eq of one participant for a day (net export Wh
    per interval), with the sha256 of the solver's inputs."""
    _no_value()
    _operator_only()
    _enrolled(participant)
    require(day <= today() + MAX_DAYS_AHEAD, "at most " + str(MAX_DAYS_AHEAD) + " days ahead")
    key = _day_key("eq:", day, participant)
    require(get(key) is None, "the equilibrium of this day and participant is posted")
    require(len(inputs_hash) == 32 and inputs_hash.hex() != "", "the inputs hash is 32 bytes (sha256)")  # bytes only
    require(0 < len(setpoints) and len(setpoints) <= MAX_T, "1.." + str(MAX_T) + " set-points")
    kept = []
    for u in setpoints:
        require(-MAX_WH < u and u < MAX_WH, "set-points are Wh with |u| < 2**24")
        kept.append(u + 0)
    put(key, [inputs_hash, kept])
    emit("equilibrium", participant, day, inputs_hash)


def offer(participant, interval_, energy_wh, dlmp, incentive):
    """Algorithm 1 line 4: offer a participant dlmp + incentive for `energy_wh` of net export in
    settlement interval `interval_`; the payment is escrowed from the budget."""
    _no_value()
    c = _operator_only()
    m = _enrolled(participant)
    require(certified(), "the network operator must certify this contract before it offers: it pays only against meters")
    now = interval()
    require(now < interval_ and interval_ <= now + MAX_AHEAD,
            "an offer is for one of the next " + str(MAX_AHEAD) + " intervals")
    require(0 < energy_wh and energy_wh < MAX_WH, "energy is 1 Wh .. 2**24 Wh")
    require(0 <= dlmp and 0 < incentive and dlmp + incentive < MAX_PRICE,
            "dlmp >= 0, incentive > 0 (2c), dlmp + incentive < 2**31")
    require(owner_reading(participant, interval_)[3] > 0, "the participant has no certified meter")
    count_key = "n:" + participant.hex() + ":" + to_bytes(interval_, 5).hex()
    count = get(count_key, 0)
    require(count < MAX_PER_INTERVAL, "at most " + str(MAX_PER_INTERVAL) + " offers per participant and interval")
    escrow = _escrow(energy_wh, dlmp, incentive)
    # A payment that rounds to 0 would claim the participant's export for nothing (and cost no budget).
    require(escrow > 0, "the offer pays nothing: energy_wh * (dlmp + incentive) must reach 1000")
    budget = get("budget")
    require(escrow <= budget, "the budget does not cover the offer (2b)")
    offer_id = get("next")
    require(offer_id < MAX_SEQ, "offer ids exhausted")
    put("next", offer_id + 1)
    put(count_key, count + 1)
    put("budget", budget - escrow)
    put("held", get("held") + escrow)
    put(_offer_key(offer_id), [participant, interval_, energy_wh, dlmp, incentive, incentive, 0, OPEN, escrow, 0, 0])
    put("by:" + participant.hex() + ":" + to_bytes(MAX_SEQ - m[1], 5).hex(), offer_id)
    put(_member_key(participant), [m[0], m[1] + 1])
    _pending(interval_ // c[1], participant, interval_, offer_id, 1)
    emit("offer", offer_id, participant, interval_, energy_wh, dlmp, incentive)
    return offer_id


def _answerable(offer_id):
    o = _offer(offer_id)
    require(sender() == o[0], "only the offer's participant answers it")
    require(o[7] == OPEN, "the offer is not open")
    require(interval() < o[1], "the offer's interval has started")
    return o


def accept(offer_id):
    """Algorithm 1 lines 5-6: the participant takes the offer; it is paid on metered delivery."""
    _no_value()
    o = _answerable(offer_id)
    require(certified(), "the network operator must certify this contract before an offer is accepted")
    reserve_delivery(o[0], o[1], o[2], 0)
    put(_offer_key(offer_id), [o[0], o[1], o[2], o[3], o[4], o[5], o[6], ACCEPTED, o[8], 0, 0])
    emit("accepted", offer_id, o[0])


def refuse(offer_id):
    """Algorithm 1 line 7: the participant declines; the operator raises or supplements."""
    _no_value()
    o = _answerable(offer_id)
    put(_offer_key(offer_id), [o[0], o[1], o[2], o[3], o[4], o[5], o[6], REFUSED, o[8], 0, 0])
    emit("refused", offer_id, o[0])


def _refused_before_interval(offer_id):
    o = _offer(offer_id)
    require(o[7] == REFUSED, "only a refused offer is raised or supplemented")
    require(interval() < o[1], "the offer's interval has started")
    return o


def raise_offer(offer_id, incentive):
    """Algorithm 1 line 8: a higher incentive after a refusal, up to the threshold."""
    _no_value()
    c = _operator_only()
    o = _refused_before_interval(offer_id)
    require(o[6] < c[2], "the incentive was raised " + str(c[2]) + " times already (max_raises)")
    require(o[4] < incentive, "a raise is higher than the present incentive")
    require(incentive * 1000000 <= o[5] * c[3], "beyond the cap of " + str(c[3]) + " ppm of the first incentive")
    require(o[3] + incentive < MAX_PRICE, "dlmp + incentive < 2**31")
    escrow = _escrow(o[2], o[3], incentive)
    more = escrow - o[8]
    budget = get("budget")
    require(more <= budget, "the budget does not cover the raise (2b)")
    put("budget", budget - more)
    put("held", get("held") + more)
    put(_offer_key(offer_id), [o[0], o[1], o[2], o[3], incentive, o[5], o[6] + 1, OPEN, escrow, 0, 0])
    emit("raised", offer_id, o[0], incentive)


def supplement(offer_id):
    """Algorithm 1 line 10: after a refusal it will not raise, the operator takes the energy from
    traditional generation; the escrow returns to the budget."""
    _no_value()
    c = _operator_only()
    o = _refused_before_interval(offer_id)
    _release(offer_id, o, SUPPLEMENTED, 0, 0)
    key = "supp:" + to_bytes(o[1], 5).hex()
    put(key, get(key, 0) + o[2])
    emit("supplemented", offer_id, o[0], o[1], o[2], c[4])


def expire(offer_id):
    """Anyone: an offer still open (or refused and left) when its interval starts lapses."""
    _no_value()
    _cfg()
    o = _offer(offer_id)
    require(o[7] == OPEN or o[7] == REFUSED, "only an open or refused offer expires")
    require(interval() >= o[1], "the offer's interval has not started")
    _release(offer_id, o, EXPIRED, 0, 0)
    emit("expired", offer_id, o[0])


def reconcile(participant, period):
    """Algorithm 1 line 12: pay the participant's accepted offers of a period for metered
    delivery, a page at a time."""
    _no_value()
    c = _cfg()
    require(certified(), "the network operator must certify this contract before it pays against meters")
    require(0 <= period and period < MAX_SEQ // c[1], "a period is a non-negative integer")
    require(len(participant) == 20, "a participant is a 20-byte address")
    now = interval()
    end = (period + 1) * c[1]  # the first interval after the period
    require(now >= end, "the period has not ended")
    page = scan(_pending_prefix(period, participant), RECONCILE_PAGE)
    require(len(page) > 0, "nothing left to reconcile for this participant and period")
    done = 0
    delivered_total = 0
    paid_total = 0
    for key, offer_id in page:
        o = get(_offer_key(offer_id))
        if o[7] == ACCEPTED:
            e = owner_reading(participant, o[1])
            full = e[3] > 0 and e[2] == e[3]
            require(full or now >= end + GRACE, "waiting for meter readings")
            delivered = 0
            if full:
                delivered = claim_delivery(participant, o[1], o[2], 0)[0]
            paid = _escrow(delivered, o[3], o[4])
            _release(offer_id, o, RECONCILED, delivered, paid)
            delivered_total += delivered
            paid_total += paid
        else:
            _release(offer_id, o, EXPIRED, 0, 0)
        done += 1
    total_key = "rec:" + to_bytes(period, 5).hex() + ":" + participant.hex()
    t = get(total_key, [0, 0, 0])
    put(total_key, [t[0] + done, t[1] + delivered_total, t[2] + paid_total])
    left = get(_pending_count_key(period, participant))
    emit("reconciled", participant, period, done, delivered_total, paid_total, left)
    return [done, delivered_total, paid_total, left]


def budget():
    _no_value()
    return get("budget", 0)


def escrowed():
    _no_value()
    return get("held", 0)


def config():
    _no_value()
    return _cfg()


def member(participant):
    _no_value()
    return get(_member_key(participant))


def prefs_of(day, participant):
    _no_value()
    return get(_day_key("prefs:", day, participant))


def equilibrium_of(day, participant):
    _no_value()
    return get(_day_key("eq:", day, participant))


def offer_of(offer_id):
    _no_value()
    return get(_offer_key(offer_id))


def offers_of(participant, page):
    """Up to PAGE of the participant's offer ids, newest first; page 0 is the newest."""
    _no_value()
    require(0 <= page and page < MAX_SEQ // PAGE, "a page is a non-negative integer")
    prefix = "by:" + participant.hex() + ":"
    after = None
    if page > 0:
        newest = _enrolled(participant)[1] - page * PAGE  # the sequence number above the page
        if newest <= 0:
            return []
        after = prefix + to_bytes(MAX_SEQ - newest, 5).hex()
    ids = []
    for key, offer_id in scan(prefix, PAGE, after):
        ids.append(offer_id)
    return ids


def supplemented(interval_):
    """Wh taken from traditional generation for settlement interval `interval_` (line 10)."""
    _no_value()
    require(0 <= interval_ and interval_ < MAX_SEQ, "an interval is an integer in [0, 2**40 - 1)")
    return get("supp:" + to_bytes(interval_, 5).hex(), 0)


def reconciled(participant, period):
    """[offers reconciled, Wh delivered, paid] of a participant in a period."""
    _no_value()
    require(len(participant) == 20, "a participant is a 20-byte address")
    require(0 <= period and period < MAX_SEQ, "a period is an integer in [0, 2**40 - 1)")
    return get("rec:" + to_bytes(period, 5).hex() + ":" + participant.hex(), [0, 0, 0])
