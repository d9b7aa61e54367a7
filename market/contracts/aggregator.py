"""Aggregator auction (Siano et al., 003, V.C): when a VPP aggregator must buy (or sell) energy to
follow its schedule, it opens a round with a quantity and a price; prosumers answer with offers
(or bids); closing the round takes the cheapest offers below the aggregator's price (or the
highest bids above it) until the quantity is met, through the aggregator_take kernel. Every side
deposits its worst-case payment; closing pays the accepted orders at their own prices and
refunds the rest.
"""

MAX_ORDERS = 256
MAX_WH = 16777216  # 2**24 Wh per order: the kernels' int64 arithmetic stays exact
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh, the kernels' bound


def _round_key(round_id):
    # An integer id: a str id such as "1:00" would make its orders match round 1's key prefix.
    require(0 <= round_id and round_id < 1000000000000, "a round id is an integer below 10**12")
    return "round:" + str(round_id)


def open_round(round_id, buys, quantity, price):
    """The aggregator (sender) wants to buy (buys=1) or sell (buys=0) `quantity` Wh at `price`."""
    require(get(_round_key(round_id)) is None, "round id already used")
    require(0 < quantity and quantity < MAX_WH * MAX_ORDERS and 0 < price and price < MAX_PRICE,
            "quantity and price must be positive and within the kernels' bounds")
    deposit = 0
    if buys:
        deposit = quantity * price // 1000
    require(value() == deposit, "send exactly the deposit: " + str(deposit))
    put("round:" + str(round_id), [sender(), buys, quantity, price, deposit, 0])
    emit("round", round_id, buys, quantity, price)


def answer(round_id, energy_wh, price):
    """A prosumer's offer (to a buying aggregator) or bid (to a selling one)."""
    r = get(_round_key(round_id))
    require(r is not None, "no such round")
    require(r[5] == 0, "round closed")
    require(0 < energy_wh and energy_wh < MAX_WH and 0 < price and price < MAX_PRICE,
            "energy and price must be positive and within the kernels' bounds")
    count = get("count:" + str(round_id), 0)
    require(count < MAX_ORDERS, "round is full")
    deposit = 0
    if r[1] == 0:
        deposit = energy_wh * price // 1000
    require(value() == deposit, "send exactly the deposit: " + str(deposit))
    put("order:" + str(round_id) + ":" + to_bytes(count, 2).hex(), [sender(), energy_wh, price, deposit])
    put("count:" + str(round_id), count + 1)


def close(round_id):
    r = get(_round_key(round_id))
    require(r is not None, "no such round")
    require(sender() == r[0], "only the aggregator closes its round")
    require(r[5] == 0, "round closed")
    orders = scan("order:" + str(round_id) + ":", MAX_ORDERS)
    owners = []
    prices = []
    energies = []
    deposits = []
    for key, o in orders:
        owners.append(o[0])
        energies.append(o[1])
        prices.append(o[2])
        deposits.append(o[3])
    taken = precompile("aggregator_take", prices, energies, r[2], r[3], r[1] == 1)
    paid = [0] * len(owners)
    volume = 0
    total = 0
    for k, energy, payment in taken:
        paid[k] = payment
        volume += energy
        total += payment
        if r[1] == 1 and payment > 0:
            transfer(owners[k], payment)
    if r[1] == 1:
        if r[4] > total:
            transfer(r[0], r[4] - total)
    else:
        if total > 0:
            transfer(r[0], total)
        for i in range(len(owners)):
            if deposits[i] > paid[i]:
                transfer(owners[i], deposits[i] - paid[i])
    put("round:" + str(round_id), [r[0], r[1], r[2], r[3], r[4], 1])
    put("result:" + str(round_id), [volume, total, len(taken)])
    emit("closed", round_id, volume, total)
    return [volume, total, taken]


def result(round_id):
    _round_key(round_id)
    return get("result:" + str(round_id))
