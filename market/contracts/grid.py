"""Prosumer-to-grid contract (Khalid et al., 002, Algorithm 3) with the real-time settlement of
Nakayama et al. (000, II.C).

Participants keep a credit in the contract and the utility keeps funds for sell-backs; the
contract's balance is always the sum of the credits plus the utility's funds. Every grid
purchase, sell-back and deviation settlement moves credit; what the utility earns net is paid
out to it at once, what it owes comes from its funds. The grid price of an hour is the base hourly price times the peak or off-peak factor (parts
per million). Bills accumulate per participant and per 30-day month.
"""

MONTH_MS = 2592000000  # 30 days


def setup(utility, sell_back, peak_ppm, off_peak_ppm, hourly, peak, off_peak):
    require(get("params") is None, "already set up")
    require(len(utility) == 20, "the utility is a 20-byte address")
    require(len(hourly) == 24 and len(peak) == 24 and len(off_peak) == 24, "24 hourly entries each")
    put("operator", sender())
    put("params", [utility, sell_back, peak_ppm, off_peak_ppm, list(hourly), list(peak), list(off_peak)])


def _params():
    p = get("params")
    require(p is not None, "grid contract not set up")
    return p


def price(hour):
    p = _params()
    h = hour % 24
    base = p[4][h]
    if p[5][h]:
        return base * p[2] // 1000000
    if p[6][h]:
        return base * p[3] // 1000000
    return base


def deposit():
    require(value() > 0, "send the credit to deposit")
    put("credit:" + sender().hex(), get("credit:" + sender().hex(), 0) + value())
    return get("credit:" + sender().hex())


def withdraw(amount):
    have = get("credit:" + sender().hex(), 0)
    require(0 < amount and amount <= have, "not enough credit")
    put("credit:" + sender().hex(), have - amount)
    transfer(sender(), amount)


def fund():
    require(sender() == _params()[0], "only the utility funds sell-backs")
    put("utility_funds", get("utility_funds", 0) + value())
    return get("utility_funds")


def _bill(who, bought, cost, sold, revenue):
    month = block_time() // MONTH_MS
    for key in ["bill:" + who.hex(), "month:" + str(month) + ":" + who.hex()]:
        b = get(key, [0, 0, 0, 0])
        put(key, [b[0] + bought, b[1] + cost, b[2] + sold, b[3] + revenue])


def _debit(who, amount):
    have = get("credit:" + who.hex(), 0)
    require(amount <= have, "credit does not cover " + str(amount))
    put("credit:" + who.hex(), have - amount)


def _credit(who, amount):
    put("credit:" + who.hex(), get("credit:" + who.hex(), 0) + amount)


def settle_hour(hour, participants, residual_wh, surplus_wh):
    """After P2P clearing (utility only): each participant buys its residual demand at this
    hour's grid price and sells its surplus back, in one batch through the grid_settle kernel."""
    p = _params()
    require(sender() == p[0], "utility only")
    require(len(participants) == len(residual_wh) and len(participants) == len(surplus_wh), "lengths differ")
    bills = precompile("grid_settle", residual_wh, surplus_wh, price(hour), p[1])
    to_utility = 0
    from_utility = 0
    for i in range(len(participants)):
        cost, revenue = bills[i]
        who = participants[i]
        _debit(who, cost)
        _credit(who, revenue)
        _bill(who, residual_wh[i], cost, surplus_wh[i], revenue)
        to_utility += cost
        from_utility += revenue
    _pay_utility(p[0], to_utility, from_utility)
    emit("grid", hour, to_utility, from_utility)
    return [to_utility, from_utility]


def settle_realtime(participants, committed_wh, metered_wh, tou, fit):
    """Deviations from committed P2P trades (utility only, 000 II.C): net export shortfalls are
    bought from the utility at TOU, surpluses sold to it at FIT."""
    p = _params()
    require(sender() == p[0], "utility only")
    amounts = precompile("realtime_settle", committed_wh, metered_wh, tou, fit)
    to_utility = 0
    from_utility = 0
    for i in range(len(participants)):
        a = amounts[i]
        if a < 0:
            _debit(participants[i], -a)
            to_utility += -a
        else:
            _credit(participants[i], a)
            from_utility += a
    _pay_utility(p[0], to_utility, from_utility)
    emit("realtime", to_utility, from_utility)
    return amounts


def _pay_utility(utility, to_utility, from_utility):
    net = to_utility - from_utility
    if net > 0:
        transfer(utility, net)
    elif net < 0:
        funds = get("utility_funds", 0)
        require(funds >= -net, "utility funds do not cover the sell-backs")
        put("utility_funds", funds + net)


def credit(who):
    return get("credit:" + who.hex(), 0)


def bill(who):
    return get("bill:" + who.hex(), [0, 0, 0, 0])


def monthly_bill(who, month):
    return get("month:" + str(month) + ":" + who.hex(), [0, 0, 0, 0])
