"""P2P forward market of Nakayama et al. (000): registration, forward windows, offers and
demands, clearing (Algorithms 1 and 2 through the market precompiles) and payment.

Windows are numbered by block time: window w covers [w * window_ms, (w + 1) * window_ms). At
window t, orders may be posted for t + lead .. t + lead + span (000's T_f = {t+m .. t+m+n}); a
window closes once it is less than `lead` windows ahead, and anyone may then clear it. A demand
deposits energy * alpha*TOU / 1000 with its order; clearing pays every seller its trades from
those deposits and refunds the rest, so each balance changes by exactly its trade payments.
"""

MAX_ORDERS = 256
# 2**24 Wh (16.7 MWh) per order and prices below 2**31: pro-rata apportionment multiplies a
# window's total by one order's energy, which must stay inside int64 for every book of
# MAX_ORDERS orders, or clearing would fail and lock the window's deposits.
MAX_WH = 16777216
MAX_PRICE = 2147483648


def setup(fit, tou, alpha_ppm, window_ms, lead, span):
    require(get("params") is None, "already set up")
    require(0 < fit and 0 < alpha_ppm <= 1000000 and window_ms > 0 and lead >= 1 and span >= 0, "bad parameters")
    require(tou < MAX_PRICE, "TOU must be below 2**31")
    cap = tou * alpha_ppm // 1000000
    require(fit < cap, "alpha * TOU must exceed FIT")
    put("operator", sender())
    put("params", [fit, tou, alpha_ppm, cap, window_ms, lead, span])
    return cap


def _params():
    p = get("params")
    require(p is not None, "market not set up")
    return p


def register(participant, zone, prosumer):
    require(sender() == get("operator"), "operator only")
    require(len(participant) == 20, "a participant is a 20-byte address")
    require(get("member:" + participant.hex()) is None, "already registered")
    put("member:" + participant.hex(), [zone, prosumer])
    emit("registered", participant, zone, prosumer)


def member(participant):
    return get("member:" + participant.hex())


def current_window():
    return block_time() // _params()[4]


def _window_open(p, window):
    now = block_time() // p[4]
    return now + p[5] <= window and window <= now + p[5] + p[6]


def _order_key(window, owner, order_id):
    return "o:" + str(window) + ":" + owner.hex() + ":" + str(order_id)


def post(window, side, energy_wh, price, order_id):
    return _post(sender(), window, side, energy_wh, price, order_id)


def post_for(owner, window, side, energy_wh, price, order_id):
    """An order routed by the operator (the main contract) on behalf of a participant."""
    require(sender() == get("operator"), "operator only")
    return _post(owner, window, side, energy_wh, price, order_id)


def cap():
    return _params()[3]


def _post(me, window, side, energy_wh, price, order_id):
    p = _params()
    info = get("member:" + me.hex())
    require(info is not None, "unknown participant")
    require(side == 0 or side == 1, "side is 0 (demand) or 1 (offer)")
    require(0 < energy_wh and energy_wh < MAX_WH, "energy must be positive and below 2**24 Wh")
    require(p[0] <= price and price <= p[3], "price outside [FIT, alpha*TOU]")
    require(_window_open(p, window), "window is not open")
    key = _order_key(window, me, order_id)
    require(get(key) is None, "duplicate order id")
    count = get("count:" + str(window), 0)
    require(count < MAX_ORDERS, "window is full")
    deposit = 0
    if side == 0:
        deposit = energy_wh * p[3] // 1000
    require(value() == deposit, "send exactly the deposit: " + str(deposit))
    put(key, [me, side, energy_wh, price, info[0], deposit])
    put("count:" + str(window), count + 1)
    emit("order", window, me, side, energy_wh, price, order_id)
    return deposit


def modify(window, order_id, energy_wh, price):
    p = _params()
    me = sender()
    key = _order_key(window, me, order_id)
    order = get(key)
    require(order is not None, "no such order")
    require(_window_open(p, window), "window is not open")
    require(0 < energy_wh and energy_wh < MAX_WH, "energy must be positive and below 2**24 Wh")
    require(p[0] <= price and price <= p[3], "price outside [FIT, alpha*TOU]")
    deposit = 0
    if order[1] == 0:
        deposit = energy_wh * p[3] // 1000
    extra = deposit - order[5]
    if extra > 0:
        require(value() == extra, "send the extra deposit: " + str(extra))
    else:
        require(value() == 0, "nothing to deposit")
        if extra < 0:
            transfer(me, -extra)
    put(key, [me, order[1], energy_wh, price, order[4], deposit])
    emit("modified", window, me, order_id, energy_wh, price)


def clear(window):
    p = _params()
    require(window < block_time() // p[4] + p[5], "window still open")
    require(get("result:" + str(window)) is None, "already cleared")
    orders = scan("o:" + str(window) + ":", MAX_ORDERS)
    sellers = []
    sell_price = []
    sell_energy = []
    buyers = []
    demand = []
    deposits = []
    total = 0
    for key, order in orders:
        if order[1] == 1:
            sellers.append(order[0])
            sell_price.append(order[3])
            sell_energy.append(order[2])
        else:
            buyers.append(order[0])
            demand.append(order[2])
            deposits.append(order[5])
            total += order[2]
    price = precompile("merit_order_price", sell_price, sell_energy, total, p[3], p[0])
    trades = precompile("pro_rata_assign", demand, sell_price, sell_energy, p[3], p[0], price)
    spent = [0] * len(buyers)
    volume = 0
    paid = 0
    k = 0
    for seller, buyer, energy, payment in trades:
        if payment > 0:
            transfer(sellers[seller], payment)
        spent[buyer] = spent[buyer] + payment
        volume += energy
        paid += payment
        put("trade:" + str(window) + ":" + str(k), [sellers[seller], buyers[buyer], energy, payment])
        k += 1
    for i in range(len(buyers)):
        refund = deposits[i] - spent[i]
        if refund > 0:
            transfer(buyers[i], refund)
    put("result:" + str(window), [price, volume, k, paid])
    emit("cleared", window, price, volume, k, paid)
    return [price, volume, k, paid]


def result(window):
    return get("result:" + str(window))


def trade(window, k):
    return get("trade:" + str(window) + ":" + str(k))
