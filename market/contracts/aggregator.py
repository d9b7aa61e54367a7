"""Aggregator auction (Siano et al., 003, V.C), paid on metered delivery.

When a VPP aggregator must buy (or sell) energy in a future settlement interval to follow its
schedule, it opens a round with a quantity, a price and that delivery interval; prosumers answer
with offers (or bids). Closing the round, before delivery, takes the cheapest offers below the
aggregator's price (or the highest bids above it) until the quantity is met, through the
aggregator_take kernel, and returns the deposits of the orders not taken. "After that the
transactions are completed and verified by the smart meters of the prosumers the cryptocurrencies
exchanges are authorized": once the delivery interval has ended, `settle` pays each accepted
order, at its own price, only for the energy its owner's certified meters show delivered (net
export for an offer, net import for a bid; an owner's several orders draw on one metered amount in
acceptance order). Delivery is claimed on chain (`claim_delivery`), so energy another round or
market already settled is not paid again, and the aggregator must be a market the operator
certified. An answer reserves its energy of the answerer's export (offer) or import (bid) in the
delivery interval for the round (`reserve_delivery`, while the operator certifies it), so a market
that settles that interval first leaves the round what the answerer committed to it; closing
lowers each reservation to what was accepted, cancelling releases them, settling releases what it
claims. Undelivered energy is not paid and its deposit goes back. A prosumer whose meters have not
all reported within GRACE intervals after delivery counts as having exported nothing (an offer is
not paid) and as having consumed all it bid for (a bid is charged in full). The paper names no
penalty beyond non-payment; an offer's collateral (its own value) is forfeited to the aggregator
for what it does not deliver, because without it a free offer at price 1 could take the whole
round and deliver nothing. Only members with a certified meter may answer.

Answers close when the delivery interval starts; a round its aggregator never closed can then be
cancelled by anyone, returning every deposit. Each answerer has at most MAX_ANSWERS answers in a
round, of at least the round's minimum energy, so no one can fill a round for free.
"""

MAX_ORDERS = 256
MAX_WH = 16777216  # 2**24 Wh per order: the kernels' int64 arithmetic stays exact
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh, the kernels' bound
GRACE = 2  # intervals after delivery to wait for missing readings
MAX_AHEAD = 96  # a round's delivery is at most this many intervals ahead
MAX_ANSWERS = 4  # per answerer and round
OPEN = 0
CLOSED = 1
SETTLED = 2
CANCELLED = 3


def _key(round_id):
    # An integer id: a str id such as "1:00" would make its orders match round 1's key prefix.
    require(0 <= round_id and round_id < 1000000000000, "a round id is an integer below 10**12")
    return "round:" + str(round_id)


def _round(round_id):
    r = get(_key(round_id))
    require(r is not None, "no such round")
    return r


def _no_value():
    require(value() == 0, "only open_round and answer take value: send none with this call")


def open_round(round_id, buys, quantity, price, delivery, min_wh):
    """The aggregator (sender) wants to buy (buys=1) or sell (buys=0) `quantity` Wh at `price`,
    delivered in settlement interval `delivery`, in answers of at least `min_wh` each."""
    require(get(_key(round_id)) is None, "round id already used")
    require(0 < quantity and quantity < MAX_WH * MAX_ORDERS and 0 < price and price < MAX_PRICE,
            "quantity and price must be positive and within the kernels' bounds")
    require(interval() < delivery and delivery <= interval() + MAX_AHEAD,
            "delivery must be in one of the next " + str(MAX_AHEAD) + " intervals")
    require(0 < min_wh and min_wh < MAX_WH, "the minimum answer is 1 Wh .. 2**24 Wh")
    put("min:" + str(round_id), min_wh)
    deposit = 0
    if buys:
        deposit = quantity * price // 1000
    require(value() == deposit, "send exactly the deposit: " + str(deposit))
    put(_key(round_id), [sender(), 1 if buys else 0, quantity, price, deposit, OPEN, delivery])
    emit("round", round_id, buys, quantity, price, delivery)


def answer(round_id, energy_wh, price):
    """A prosumer's offer (to a buying aggregator) or bid (to a selling one)."""
    r = _round(round_id)
    require(r[5] == OPEN, "round closed")
    require(interval() < r[6], "answers close when the delivery interval starts")
    require(0 < energy_wh and energy_wh < MAX_WH and 0 < price and price < MAX_PRICE,
            "energy and price must be positive and within the kernels' bounds")
    require(energy_wh >= get("min:" + str(round_id)), "below the round's minimum answer")
    require(owner_reading(sender(), r[6])[3] > 0, "answers need a certified meter to prove delivery")
    mine = "by:" + str(round_id) + ":" + sender().hex()
    require(get(mine, 0) < MAX_ANSWERS, "at most " + str(MAX_ANSWERS) + " answers per answerer")
    put(mine, get(mine, 0) + 1)
    count = get("count:" + str(round_id), 0)
    require(count < MAX_ORDERS, "round is full")
    # A bid deposits its payment; an offer the same amount as collateral, forfeited to the
    # aggregator for what it does not deliver (a free offer at price 1 could otherwise take the
    # whole round and deliver nothing).
    deposit = energy_wh * price // 1000
    require(value() == deposit, "send exactly the deposit: " + str(deposit))
    if certified():  # uncertified, the round cannot settle against meters: nothing to hold
        if r[1] == 1:
            reserve_delivery(sender(), r[6], energy_wh, 0)
        else:
            reserve_delivery(sender(), r[6], 0, energy_wh)
    put("order:" + str(round_id) + ":" + to_bytes(count, 2).hex(), [sender(), energy_wh, price, deposit])
    put("count:" + str(round_id), count + 1)


def _release(r, owner, energy_wh):
    """Lower the round's reservation of `owner`'s export (a buying round) or import by energy_wh."""
    if r[1] == 1:
        reserve_delivery(owner, r[6], -energy_wh, 0)
    else:
        reserve_delivery(owner, r[6], 0, -energy_wh)


def close(round_id):
    _no_value()
    r = _round(round_id)
    require(sender() == r[0], "only the aggregator closes its round")
    require(r[5] == OPEN, "round closed")
    require(interval() < r[6], "close before the delivery interval starts")
    orders = scan("order:" + str(round_id) + ":", MAX_ORDERS)
    prices = []
    energies = []
    for key, o in orders:
        energies.append(o[1])
        prices.append(o[2])
    taken = precompile("aggregator_take", prices, energies, r[2], r[3], r[1] == 1)
    accepted = [0] * len(orders)
    volume = 0
    total = 0
    for k, energy, payment in taken:
        accepted[k] = energy
        volume += energy
        total += payment
    held = 0  # deposits kept until delivery is verified
    for i in range(len(orders)):
        o = orders[i][1]
        keep = 0
        if accepted[i] > 0:
            keep = accepted[i] * o[2] // 1000
        if o[3] > keep:
            transfer(o[0], o[3] - keep)
        held += keep
        if o[1] > accepted[i]:
            _release(r, o[0], o[1] - accepted[i])
        if accepted[i] > 0:
            put("acc:" + str(round_id) + ":" + to_bytes(i, 2).hex(), [o[0], accepted[i], o[2], keep])
    if r[1] == 1 and r[4] > total:
        transfer(r[0], r[4] - total)  # the aggregator keeps back what the accepted offers can earn
    if r[1] == 1:
        held += total  # the aggregator's payments, besides the accepted offers' collateral
    put(_key(round_id), [r[0], r[1], r[2], r[3], held, CLOSED, r[6]])
    put("result:" + str(round_id), [volume, total, len(taken), 0, 0])
    emit("closed", round_id, volume, total)
    return [volume, total, taken]


def cancel_round(round_id):
    """Anyone, once delivery has started on a round its aggregator never closed: every deposit
    goes back."""
    _no_value()
    r = _round(round_id)
    require(r[5] == OPEN, "only an open round is cancelled")
    require(interval() >= r[6], "the aggregator may still close the round")
    for key, o in scan("order:" + str(round_id) + ":", MAX_ORDERS):
        _release(r, o[0], o[1])
        if o[3] > 0:
            transfer(o[0], o[3])
    if r[4] > 0:
        transfer(r[0], r[4])
    put(_key(round_id), [r[0], r[1], r[2], r[3], 0, CANCELLED, r[6]])
    emit("cancelled", round_id)


def settle(round_id):
    """Pay the accepted orders for metered delivery, once the delivery interval has ended and
    every owner's readings are in (or GRACE intervals have passed). Anyone may call."""
    _no_value()
    r = _round(round_id)
    require(r[5] == CLOSED, "round not closed, or already settled")
    require(certified(), "the operator must certify this aggregator before it settles against meters")
    now = interval()
    require(now > r[6], "the delivery interval has not ended")
    accepted = scan("acc:" + str(round_id) + ":", MAX_ORDERS)
    complete = {}
    for key, a in accepted:
        e = owner_reading(a[0], r[6])
        full = e[3] > 0 and e[2] == e[3]
        require(full or now > r[6] + GRACE, "waiting for meter readings")
        complete[a[0]] = full
    delivered_total = 0
    paid_total = 0
    returned = 0
    for key, a in accepted:
        owner = a[0]
        delivered = 0
        if r[1] == 1:  # the aggregator buys: the prosumer's export, as far as it is unclaimed
            if complete[owner]:
                delivered = claim_delivery(owner, r[6], a[1], 0)[0]
        elif complete[owner]:  # it sells: the prosumer's import
            delivered = claim_delivery(owner, r[6], 0, a[1])[1]
        else:
            delivered = a[1]  # no proof it consumed less than it bid for
        pay = delivered * a[2] // 1000
        if r[1] == 1:
            if pay > 0:
                transfer(owner, pay + pay)  # the payment, and the collateral of what it delivered
            returned += pay + pay
        else:
            if pay > 0:
                transfer(r[0], pay)
            if a[3] > pay:
                transfer(owner, a[3] - pay)
        put(key, [a[0], a[1], a[2], a[3], delivered, pay])
        delivered_total += delivered
        paid_total += pay
    if r[1] == 1 and r[4] > returned:
        transfer(r[0], r[4] - returned)  # unspent payments and forfeited collateral
    res = get("result:" + str(round_id))
    put("result:" + str(round_id), [res[0], res[1], res[2], delivered_total, paid_total])
    put(_key(round_id), [r[0], r[1], r[2], r[3], 0, SETTLED, r[6]])
    emit("settled", round_id, delivered_total, paid_total)
    return [delivered_total, paid_total]


def result(round_id):
    """[volume accepted Wh, value accepted, orders taken, Wh delivered, paid for delivery]."""
    _no_value()
    _key(round_id)
    return get("result:" + str(round_id))


def accepted(round_id, k):
    """An accepted order: [owner, accepted Wh, price, deposit held, delivered Wh, paid]."""
    _no_value()
    _key(round_id)
    return get("acc:" + str(round_id) + ":" + to_bytes(k, 2).hex())
