"""P2P forward market: registration, credit accounts, orders for forward windows, clearing by one
of three mechanisms chosen at setup, and real-time settlement against certified meter readings.

Mechanisms:
- MERIT (Nakayama et al., 000): Algorithm 1's merit-order price and Algorithm 2's pro-rata trades,
  cleared page by page across transactions, so a window holds up to 16,384 orders.
- ZONE (Khalid et al., 002, Algorithm 2): the lowest seller's price is the uniform price; buyers
  take from sellers of their own area, then an adjacent one, then (if configured) any. What is
  left goes to the grid contract (002, Algorithm 3): residual demand is bought at the hour's grid
  price, surplus sold back at the market price. Up to 256 orders, cleared in one transaction.
- DOUBLE: a uniform-price double auction over bids and asks. Up to 256 orders.

Window w is the chain's settlement interval w (`interval()`), so the meter readings of interval w
are the delivery of window w. At interval t, orders may be posted for t + lead .. t + lead + span
(000's T_f = {t+m .. t+m+n}); a window closes when it is less than `lead` intervals ahead, and
anyone may then clear it. Every price lies strictly between FIT and cap = alpha * TOU (000, 1c):
an order at either bound could never trade, so it is refused at posting.

Money lives in credit accounts inside the contract (`deposit`, `withdraw`); the utility has one
too, and money reaching a member in debt pays the debt first. A demand locks its worst case from
its owner's credit: energy * (cap, the bid, or the grid price if higher, + p_ser) / 1000; an
offer locks energy * TOU / 1000, what failing to deliver would cost. Clearing charges each buyer
energy * price / 1000 plus the service charge p_ser per kWh (000, eq. 1a), which goes to the
utility, and unlocks the rest; each seller's proceeds are held, with its collateral, until the
window is settled against its meters (an offer that sold nothing gets its collateral back at
clearing). So the contract's balance is always the credits plus the locks plus the held money.

Real-time settlement (000, II.C), once window w's interval has ended, in a certified market:
each member's committed net export (sold - bought, grid trades included) is compared with its
certified meters' net export for interval w, less what other markets already claimed or hold
reserved of it (the chain's `claim_delivery`, so no Wh is paid for twice and a Wh its owner
committed to another market before the interval goes there); a shortfall is bought from the
utility at TOU, a surplus sold to it at FIT, netted with the held money. A member whose meters have not all
reported holds the walk up to `grace` intervals; after that it is settled provisionally as having
exported nothing it committed, and may neither post nor withdraw until its readings come in and
`settle_late` settles the difference. A member without meters is settled as exporting nothing it
committed (only members with a certified meter may offer at all). Real-time settlement claims all
of a member's metered net, so no other market can count it again. What a
member cannot pay becomes a debt to the utility (no posting meanwhile); what the utility cannot
pay is owed to the member, who may `claim` it later. Windows from before the market was set up,
and members registered after a window opened, are not settled.
"""

MERIT = 0
ZONE = 1
DOUBLE = 2
MAX_PAGED = 16384  # orders per window, MERIT
MAX_ONE_SHOT = 256  # orders per window, ZONE and DOUBLE
# Orders one member may have in one window: no member can fill a window and shut the others out.
MAX_MEMBER_PAGED = 64
MAX_MEMBER_ONE_SHOT = 16
MAX_STEPS = 4096  # clearing or settlement steps one call may take
MAX_WH = 16777216  # 2**24 Wh per order: the kernels' int64 arithmetic stays exact
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh
HOUR_MS = 3600000
MONTH_MS = 2592000000  # 30 days
# Indices into params, the clearing cursor and a member's committed energy.
P_MECH = 0
P_FIT = 1
P_TOU = 2
P_CAP = 3
P_SER = 4
P_LEAD = 5
P_SPAN = 6
P_UTILITY = 7
P_GRACE = 8
P_GRID = 9
P_ANY = 10
P_FIRST = 11  # the interval the market was set up in
SOLD = 0
BOUGHT = 1
GRID_SOLD = 2
GRID_BOUGHT = 3
HELD = 4  # money held for the member until the window is settled


def setup(mechanism, fit, tou, alpha_ppm, p_ser, lead, span, utility, grace, grid, any_zone, operator):
    """The deployer sets the market up once; `operator` registers members and may route orders
    for them (the deployer itself, or 002's main contract)."""
    _no_value()
    require(sender() == deployer(), "only the deployer sets the market up")
    require(get("params") is None, "already set up")
    require(len(operator) == 20, "the operator is a 20-byte address")
    require(mechanism == MERIT or mechanism == ZONE or mechanism == DOUBLE, "mechanism is 0 (merit), 1 (zone) or 2 (double)")
    require(0 < fit and 0 < alpha_ppm and alpha_ppm <= 1000000 and 0 <= p_ser and p_ser < MAX_PRICE, "bad prices")
    require(tou < MAX_PRICE, "TOU must be below 2**31")
    require(lead >= 1 and span >= 0 and 0 <= grace and grace <= 96, "bad window parameters")
    require(len(utility) == 20, "the utility is a 20-byte address")
    require(mechanism != ZONE or len(grid) == 20, "the zone market routes to a grid contract (b'' for none)")
    cap = tou * alpha_ppm // 1000000
    require(fit + 1 < cap, "alpha * TOU must exceed FIT by more than 1")
    put("operator", operator)
    put("params", [mechanism, fit, tou, cap, p_ser, lead, span, utility, grace, grid, 1 if any_zone else 0,
                   interval()])
    return cap


def _params():
    p = get("params")
    require(p is not None, "market not set up")
    return p


def params():
    _no_value()
    return get("params")


def _w(window):
    require(0 <= window and window < 18446744073709551616, "a window is an interval number")
    return to_bytes(window, 8)


# --- members and credit ----------------------------------------------------------------------


def register(participant, zone, prosumer):
    _no_value()
    require(sender() == get("operator"), "operator only")
    require(len(participant) == 20, "a participant is a 20-byte address")
    require(0 <= zone and zone < 65536, "a zone is 0..65535")
    require(get(b"M" + participant) is None, "already registered")
    put(b"M" + participant, [zone, 1 if prosumer else 0, interval()])  # zone, prosumer, member since
    emit("registered", participant, zone, prosumer)


def member(participant):
    _no_value()
    return get(b"M" + participant)


def credit(who):
    _no_value()
    return get(b"$" + who, 0)


def debt(who):
    _no_value()
    return get(b"D" + who, 0)


def owed(who):
    _no_value()
    return get(b"O" + who, 0)


def _add_credit(who, amount):
    """Money reaching a member pays its debt to the utility first, whatever its source."""
    d = get(b"D" + who, 0)
    if d > 0 and amount > 0:
        paid = min(d, amount)
        put(b"D" + who, d - paid)
        _add_raw(_params()[P_UTILITY], paid)
        amount -= paid
    _add_raw(who, amount)


def _add_raw(who, amount):
    if amount != 0:
        put(b"$" + who, get(b"$" + who, 0) + amount)


def _take_credit(who, amount):
    have = get(b"$" + who, 0)
    require(have >= amount, "credit " + str(have) + " does not cover " + str(amount))
    put(b"$" + who, have - amount)


def _no_value():
    require(value() == 0, "only deposit and orders take value: send none with this call")


def deposit():
    require(value() > 0, "send the amount to deposit")
    _add_credit(sender(), value())
    return get(b"$" + sender(), 0)


def withdraw(amount):
    _no_value()
    me = sender()
    require(amount > 0, "amount must be positive")
    require(get(b"g" + me, 0) == 0, "a window of yours awaits its meter readings: they must come in first")
    _take_credit(me, amount)
    transfer(me, amount)


def claim():
    """Take what the utility owes this member from the utility's credit, as far as it goes."""
    _no_value()
    me = sender()
    utility = _params()[P_UTILITY]
    amount = min(get(b"O" + me, 0), get(b"$" + utility, 0))
    require(amount > 0, "nothing to claim now")
    put(b"O" + me, get(b"O" + me, 0) - amount)
    _take_credit(utility, amount)
    _add_credit(me, amount)
    return amount


# --- windows and orders ------------------------------------------------------------------------


def current_window():
    _no_value()
    return interval()


def _open(p, window):
    now = interval()
    return now + p[P_LEAD] <= window and window <= now + p[P_LEAD] + p[P_SPAN]


def _grid_price(p, window):
    hour = interval_start(window) // HOUR_MS % 24
    return call(p[P_GRID], "price", hour)


def post(window, side, energy_wh, price, order_id):
    return _post(sender(), window, side, energy_wh, price, order_id)


def post_for(owner, window, side, energy_wh, price, order_id):
    """An order routed by the operator (the main contract) on behalf of a member; value sent
    with it is credited to the member."""
    require(sender() == get("operator"), "operator only")
    return _post(owner, window, side, energy_wh, price, order_id)


def _post(me, window, side, energy_wh, price, order_id):
    p = _params()
    w = _w(window)
    info = get(b"M" + me)
    require(info is not None, "unknown participant")
    _add_credit(me, value())
    require(get(b"D" + me, 0) == 0, "settle your debt to the utility first")
    require(get(b"g" + me, 0) == 0, "a window of yours awaits its meter readings: they must come in first")
    require(side == 0 or side == 1, "side is 0 (demand) or 1 (offer)")
    require(0 < energy_wh and energy_wh < MAX_WH, "energy must be positive and below 2**24 Wh")
    require(0 <= order_id and order_id < 18446744073709551616, "an order id is a uint64")
    if side == 1:
        require(owner_reading(me, window)[3] > 0, "an offer needs a certified meter to prove its delivery")
    if side == 1 or p[P_MECH] == DOUBLE:
        require(p[P_FIT] < price and price < p[P_CAP],
                "price must lie strictly between FIT and alpha*TOU: an order at either bound never trades")
    else:
        price = 0  # a MERIT or ZONE demand takes the market's price
    require(_open(p, window), "window is not open")
    id_key = b"I" + w + me + to_bytes(order_id, 8)
    require(get(id_key) is None, "duplicate order id")
    t = list(get(b"W" + w, [0, 0, 0, 0]))  # next sequence number, live orders, demand, supply
    limit = MAX_ONE_SHOT
    mine = MAX_MEMBER_ONE_SHOT
    if p[P_MECH] == MERIT:
        limit = MAX_PAGED
        mine = MAX_MEMBER_PAGED
    require(t[1] < limit, "window is full")
    count = get(b"K" + w + me, 0)
    require(count < mine, "at most " + str(mine) + " orders per member and window")
    put(b"K" + w + me, count + 1)
    seq = to_bytes(t[0], 4)
    if side == 0:
        unit = p[P_CAP]
        if p[P_MECH] == DOUBLE:
            unit = price
        elif p[P_MECH] == ZONE:
            unit = max(unit, _grid_price(p, window))
        lock = energy_wh * (unit + p[P_SER]) // 1000
        _take_credit(me, lock)
        key = b"B" + w + seq
        put(key, [me, energy_wh, lock, order_id, price, info[0]])
        t[2] = t[2] + energy_wh
    else:
        # The seller's collateral: what failing to deliver would cost at TOU. It is held, with
        # the sale's proceeds, until the window is settled against the meters.
        lock = energy_wh * p[P_TOU] // 1000
        _take_credit(me, lock)
        key = b"S" + w + to_bytes(price, 4) + seq
        put(key, [me, energy_wh, order_id, price, info[0], lock])
        t[3] = t[3] + energy_wh
    put(id_key, key)
    put(b"W" + w, [t[0] + 1, t[1] + 1, t[2], t[3]])
    emit("order", window, me, side, energy_wh, price, order_id)
    return lock


def cancel(window, order_id):
    """Withdraw an order while its window is open; its lock returns to credit."""
    _no_value()
    p = _params()
    me = sender()
    w = _w(window)
    require(_open(p, window), "window is not open")
    id_key = b"I" + w + me + to_bytes(order_id, 8)
    key = get(id_key)
    require(key is not None, "no such order")
    order = get(key)
    t = list(get(b"W" + w))
    if key[0:1] == b"B":
        _add_credit(me, order[2])
        t[2] = t[2] - order[1]
    else:
        _add_credit(me, order[5])
        t[3] = t[3] - order[1]
    delete(key)
    delete(id_key)
    put(b"K" + w + me, get(b"K" + w + me) - 1)
    put(b"W" + w, [t[0], t[1] - 1, t[2], t[3]])
    emit("cancelled", window, me, order_id)


def totals(window):
    """[orders posted, live orders, demand Wh, supply Wh] of a window."""
    _no_value()
    return get(b"W" + _w(window), [0, 0, 0, 0])


def order(window, owner, order_id):
    _no_value()
    key = get(b"I" + _w(window) + owner + to_bytes(order_id, 8))
    if key is None:
        return None
    return get(key)


# --- clearing ----------------------------------------------------------------------------------


def clear(window, steps):
    """Clear a closed window, at most `steps` steps (orders read or trades made) in this call;
    call again until it returns the result. Anyone may call."""
    _no_value()
    p = _params()
    w = _w(window)
    require(window < interval() + p[P_LEAD], "window still open")
    require(window >= p[P_FIRST] + p[P_LEAD], "the market did not exist while this window was open")
    require(0 < steps and steps <= MAX_STEPS, "steps must be 1.." + str(MAX_STEPS))
    require(get(b"R" + w) is None, "already cleared")
    t = get(b"W" + w, [0, 0, 0, 0])
    if p[P_MECH] == MERIT:
        return _clear_merit(p, window, w, t, steps)
    return _clear_one_shot(p, window, w)


# The MERIT cursor: phase, price, then the current buyer and seller and the running totals.
C_PHASE = 0
C_PRICE = 1
C_B_AFTER = 2
C_B_RUN = 3
C_B_DONE = 4
C_B_LEFT = 5
C_B = 6
C_S_AFTER = 7
C_S_RUN = 8
C_S_DONE = 9
C_S_LEFT = 10
C_S = 11
C_K = 12
C_VOLUME = 13
C_PAID = 14
C_SERVICE = 15
PRICING = 0
PAIRING = 1
RELEASING = 2  # the offers left unpaired sold nothing: their collateral goes back
DONE = 3


def _clear_merit(p, window, w, t, steps):
    """000's Algorithms 1 and 2, paged. The price walk reads offers in merit order (their keys
    sort by price, then posting order) until the demand is covered. Pairing then walks buyers in
    posting order and sellers in merit order with two pointers; the scaled side's shares come
    from cumulative rounding, which needs only the running sum carried in the cursor. The result
    equals `market.reference.pro_rata_assign` on the whole book."""
    c = get(b"C" + w)
    if c is None:
        c = [PRICING, 0, b"", 0, 0, 0, (), b"", 0, 0, 0, (), 0, 0, 0, 0]  # b"": from the first key
    else:
        c = list(c)
    demand = t[2]
    supply = t[3]
    if c[C_PHASE] == PRICING:
        if demand == 0:
            c[C_PHASE] = PAIRING
        elif demand > supply:
            c[C_PRICE] = p[P_CAP]
            c[C_PHASE] = PAIRING
        while c[C_PHASE] == PRICING and steps > 0:
            page = scan(b"S" + w, min(steps, 256), c[C_S_AFTER])
            require(len(page) > 0, "offers do not add up to the window's supply")
            for key, o in page:
                steps -= 1
                c[C_S_AFTER] = key
                c[C_S_RUN] = c[C_S_RUN] + o[1]
                if c[C_S_RUN] >= demand:
                    c[C_PRICE] = o[3]
                    c[C_PHASE] = PAIRING
                    c[C_S_AFTER] = b""
                    c[C_S_RUN] = 0
                    break
    if c[C_PHASE] == PAIRING:
        steps = _pair(p, window, w, c, min(demand, supply), demand, supply, steps)
    while c[C_PHASE] == RELEASING and steps > 0:
        page = scan(b"S" + w, min(steps, 256), c[C_S_AFTER])
        if len(page) == 0:
            c[C_PHASE] = DONE
        for key, o in page:
            steps -= 1
            c[C_S_AFTER] = key
            _add_credit(o[0], o[5])
    if c[C_PHASE] == DONE:
        return _finish(p, window, w, c)
    put(b"C" + w, c)
    return None


def _share(run, done, amount, target, total):
    """Cumulative rounding of one share: (new running sum, new rounded sum, share)."""
    run = run + amount
    if total == 0:
        return [run, 0, 0]
    upto = run * target // total
    return [run, upto, upto - done]


def _pair(p, window, w, c, volume, demand, supply, steps):
    price = c[C_PRICE]
    while steps > 0:
        steps -= 1
        if len(c[C_B]) == 0 or c[C_B_LEFT] == 0:
            if len(c[C_B]) > 0:
                _finish_buyer(w, c[C_B])
            found = scan(b"B" + w, 1, c[C_B_AFTER])
            if len(found) == 0:
                c[C_B] = ()
                if len(c[C_S]) > 0:
                    _finish_seller(w, c[C_S])
                    c[C_S] = ()
                c[C_PHASE] = RELEASING
                return steps
            key, o = found[0]
            c[C_B_AFTER] = key
            left = o[1]
            if demand > supply:
                r = _share(c[C_B_RUN], c[C_B_DONE], o[1], volume, demand)
                c[C_B_RUN] = r[0]
                c[C_B_DONE] = r[1]
                left = r[2]
            c[C_B_LEFT] = left
            c[C_B] = [o[0], o[2], 0, 0]  # owner, lock, spent, bought
            continue
        if len(c[C_S]) == 0 or c[C_S_LEFT] == 0:
            if len(c[C_S]) > 0:
                _finish_seller(w, c[C_S])
            key, o = scan(b"S" + w, 1, c[C_S_AFTER])[0]  # buyers still need energy: sellers remain
            c[C_S_AFTER] = key
            left = o[1]
            if supply >= demand:
                r = _share(c[C_S_RUN], c[C_S_DONE], o[1], volume, supply)
                c[C_S_RUN] = r[0]
                c[C_S_DONE] = r[1]
                left = r[2]
            c[C_S_LEFT] = left
            c[C_S] = [o[0], 0, 0, o[5]]  # owner, sold, paid, collateral
            continue
        e = min(c[C_B_LEFT], c[C_S_LEFT])
        pay = e * price // 1000
        service = e * p[P_SER] // 1000
        b = c[C_B]
        s = c[C_S]
        put(b"T" + w + to_bytes(c[C_K], 4), [s[0], b[0], e, pay])
        c[C_B] = [b[0], b[1], b[2] + pay + service, b[3] + e]
        c[C_S] = [s[0], s[1] + e, s[2] + pay, s[3]]
        c[C_B_LEFT] = c[C_B_LEFT] - e
        c[C_S_LEFT] = c[C_S_LEFT] - e
        c[C_K] = c[C_K] + 1
        c[C_VOLUME] = c[C_VOLUME] + e
        c[C_PAID] = c[C_PAID] + pay
        c[C_SERVICE] = c[C_SERVICE] + service
    return steps


def _commit_energy(w, who, sold, bought, grid_sold, grid_bought, held):
    """Add to a member's commitments in a window, and to the money held for it until the
    window is settled against its meters."""
    if sold == 0 and bought == 0 and grid_sold == 0 and grid_bought == 0 and held == 0:
        return
    n = get(b"N" + w + who, [0, 0, 0, 0, 0])
    put(b"N" + w + who, [n[0] + sold, n[1] + bought, n[2] + grid_sold, n[3] + grid_bought, n[4] + held])


def _finish_buyer(w, b):
    _add_credit(b[0], b[1] - b[2])
    _commit_energy(w, b[0], 0, b[3], 0, 0, 0)


def _finish_seller(w, s):
    """A seller's proceeds and collateral are held until settlement; one that sold nothing has
    nothing to deliver and gets its collateral back."""
    if s[1] > 0:
        _commit_energy(w, s[0], s[1], 0, 0, 0, s[2] + s[3])
    else:
        _add_credit(s[0], s[3])


def _finish(p, window, w, c):
    _add_credit(p[P_UTILITY], c[C_SERVICE])
    delete(b"C" + w)
    return _result(window, w, [c[C_PRICE], c[C_VOLUME], c[C_K], c[C_PAID], c[C_SERVICE], 0, 0])


def _result(window, w, r):
    put(b"R" + w, r)
    emit("cleared", window, r[0], r[1], r[2], r[3])
    return r


def _book(w):
    """A one-shot window's orders: buyers in posting order, sellers in merit order."""
    return [scan(b"B" + w, MAX_ONE_SHOT), scan(b"S" + w, MAX_ONE_SHOT)]


def _clear_one_shot(p, window, w):
    book = _book(w)
    buyers = book[0]
    sellers = book[1]
    bought = [0] * len(buyers)
    spent = [0] * len(buyers)
    sold = [0] * len(sellers)
    paid = [0] * len(sellers)
    trades = []
    if p[P_MECH] == ZONE:
        price = _zone_trades(p, buyers, sellers, trades)
    else:
        price = _double_trades(buyers, sellers, trades)
    k = 0
    volume = 0
    total = 0
    service = 0
    for i, j, e, pay in trades:
        put(b"T" + w + to_bytes(k, 4), [sellers[i][1][0], buyers[j][1][0], e, pay])
        k += 1
        fee = e * p[P_SER] // 1000
        bought[j] = bought[j] + e
        spent[j] = spent[j] + pay + fee
        sold[i] = sold[i] + e
        paid[i] = paid[i] + pay
        volume += e
        total += pay
        service += fee
    grid = [0, 0]
    if p[P_MECH] == ZONE:
        grid = _route_to_grid(p, window, w, price, buyers, sellers, bought, spent, sold)
    for j in range(len(buyers)):
        o = buyers[j][1]
        _add_credit(o[0], o[2] - spent[j])
        _commit_energy(w, o[0], 0, bought[j], 0, 0, 0)
    for i in range(len(sellers)):
        o = sellers[i][1]
        if sold[i] > 0 or p[P_MECH] == ZONE:  # in ZONE what is not sold P2P is sold to the grid
            _commit_energy(w, o[0], sold[i], 0, 0, 0, paid[i] + o[5])
        else:
            _add_credit(o[0], o[5])
    _add_credit(p[P_UTILITY], service)
    return _result(window, w, [price, volume, k, total, service, grid[0], grid[1]])


def _zone_trades(p, buyers, sellers, trades):
    """002: the lowest seller's price for everyone; sellers queue in posting order per zone."""
    by_post = []
    for i in range(len(sellers)):
        key = sellers[i][0]
        by_post.append((key[len(key) - 4:len(key)], i))
    by_post = sorted(by_post)
    ordered = []
    for seq, i in by_post:
        ordered.append(sellers[i])
    price = precompile("lowest_price", _column(ordered, 3))
    matched = precompile("zone_match", _column(buyers, 1), _column(buyers, 5), _column(ordered, 1),
                         _column(ordered, 4), price, p[P_ANY])
    for i, j, e, pay in matched:
        trades.append((by_post[i][1], j, e, pay))
    return price


def _column(entries, field):
    """One field of every order in a list of (key, order) entries."""
    out = []
    for key, o in entries:
        out.append(o[field])
    return out


def _double_trades(buyers, sellers, trades):
    """Uniform-price double auction; accepted bids (posting order) meet accepted asks (merit
    order) with two pointers at the auction's price."""
    bid_p = _column(buyers, 4)
    bid_e = _column(buyers, 1)
    ask_p = _column(sellers, 3)
    ask_e = _column(sellers, 1)
    result = precompile("double_auction", bid_p, bid_e, ask_p, ask_e)
    price = result[0]
    give = list(result[2])
    i = 0
    for j in range(len(buyers)):
        need = result[1][j]
        while need > 0:
            while give[i] == 0:
                i += 1
            e = min(need, give[i])
            trades.append((i, j, e, e * price // 1000))
            need -= e
            give[i] = give[i] - e
    return price


def _route_to_grid(p, window, w, price, buyers, sellers, bought, spent, sold):
    """002, Algorithm 1 line 8: residual demand is bought from the grid at the hour's price,
    paid to the utility from the buyer's lock; surplus is sold back at the market price, paid
    from the utility's credit into what is held for the seller until settlement (what the
    utility cannot pay it owes). Bills go to the grid contract."""
    utility = p[P_UTILITY]
    month = interval_start(window) // MONTH_MS
    who = []
    residual = []
    surplus = []
    for j in range(len(buyers)):
        o = buyers[j][1]
        who.append(o[0])
        residual.append(o[1] - bought[j])
        surplus.append(0)
    for i in range(len(sellers)):
        o = sellers[i][1]
        who.append(o[0])
        residual.append(0)
        surplus.append(o[1] - sold[i])
    bills = precompile("grid_settle", residual, surplus, _grid_price(p, window), price)
    to_grid = 0
    from_grid = 0
    for k in range(len(who)):
        cost, revenue = bills[k]
        if residual[k] == 0 and surplus[k] == 0:
            continue
        held = 0
        if k < len(buyers):
            spent[k] = spent[k] + cost
            _add_credit(utility, cost)
        else:
            held = _from_utility(utility, who[k], revenue)
        _commit_energy(w, who[k], 0, 0, surplus[k], residual[k], held)
        # Bills are a record, not a condition: a grid contract that refuses them (the utility
        # has not allowed this market) must not leave the window uncleared.
        try_call(p[P_GRID], "bill", who[k], month, residual[k], cost, surplus[k], revenue)
        to_grid += residual[k]
        from_grid += surplus[k]
    return [to_grid, from_grid]


def _from_utility(utility, who, amount):
    """Take `amount` owed to `who` from the utility's credit, as far as it goes; the rest is
    owed. Returns what was taken."""
    have = get(b"$" + utility, 0)
    paid = min(have, amount)
    if paid > 0:
        put(b"$" + utility, have - paid)
    if amount > paid:
        put(b"O" + who, get(b"O" + who, 0) + amount - paid)
    return paid


def result(window):
    """[price, volume Wh, trades, paid to sellers, service charge, Wh bought from the grid,
    Wh sold to the grid], or None before clearing."""
    _no_value()
    return get(b"R" + _w(window))


def trade(window, k):
    _no_value()
    return get(b"T" + _w(window) + to_bytes(k, 4))


def committed(window, who):
    """[sold, bought, sold to the grid, bought from the grid] in Wh, and the money held for the
    member until settlement, for a member and window."""
    _no_value()
    return get(b"N" + _w(window) + who, [0, 0, 0, 0, 0])


# --- real-time settlement ----------------------------------------------------------------------


def settle(window, steps):
    """Settle up to `steps` members' deviations for a cleared window whose interval has ended,
    in member order; returns [members settled so far, done]. Anyone may call.

    Settling against meters claims the delivered energy on chain (`claim_delivery`), so the
    market must be certified: a Wh another market already settled is not this one's to count."""
    _no_value()
    p = _params()
    w = _w(window)
    require(get(b"R" + w) is not None, "window not cleared")
    require(certified(), "the operator must certify this market before it settles against meters")
    now = interval()
    require(window < now, "the delivery interval has not ended")
    require(0 < steps and steps <= 256, "steps must be 1..256")
    x = list(get(b"X" + w, [b"", 0, 0]))  # last member settled, members settled, done
    if x[2] == 1:
        return [x[1], 1]
    late = now > window + p[P_GRACE]
    page = scan(b"M", steps, x[0])
    members = []
    nets = []
    metered = []
    status = []
    for key, info in page:
        who = key[1:21]
        if info[2] + p[P_LEAD] > window:
            x[0] = key  # not a member while the window was open: nothing to settle
            continue
        r = owner_reading(who, window)
        full = r[3] > 0 and r[2] == r[3]
        if r[3] > 0 and not full and not late:
            break  # wait for this member's readings until the grace period is over
        n = get(b"N" + w + who, [0, 0, 0, 0, 0])
        net = n[SOLD] + n[GRID_SOLD] - n[BOUGHT] - n[GRID_BOUGHT]
        members.append(who)
        nets.append(net)
        if full:
            metered.append(_claimed_net(who, window, r))
            status.append(METERED)
        elif r[3] == 0:
            # No meter proves an export: a member without one (never had one, or its meters
            # were revoked) is settled as exporting nothing it committed, and is not held back.
            metered.append(min(net, 0))
            status.append(UNMETERED)
        else:
            metered.append(min(net, 0))  # no proof of delivery: nothing it committed was exported
            status.append(MISSING)
        x[0] = key
    if len(members) > 0:
        amounts = precompile("realtime_settle", nets, metered, p[P_TOU], p[P_FIT])
        for i in range(len(members)):
            who = members[i]
            n = get(b"N" + w + who, [0, 0, 0, 0, 0])
            _settle_position(p, who, n[HELD], amounts[i])
            if n[HELD] != 0:
                put(b"N" + w + who, [n[0], n[1], n[2], n[3], 0])
            if status[i] == MISSING:
                put(b"G" + who + w, 1)
                put(b"g" + who, get(b"g" + who, 0) + 1)
            put(b"Y" + w + who, [nets[i], metered[i], amounts[i], status[i]])
    x[1] = x[1] + len(members)
    if len(page) < steps and (len(page) == 0 or x[0] == page[len(page) - 1][0]):
        x[2] = 1
    put(b"X" + w, x)
    return [x[1], x[2]]


METERED = 1
UNMETERED = 2
MISSING = 0


def _claimed_net(who, window, r):
    """The member's metered net export for this market: real-time settlement prices all of it
    (deviations included), so it claims all of it on chain; what the claim grants is this
    market's (what other markets claimed before or hold reserved is theirs), and no market after
    this one can count it again."""
    metered = r[0] - r[1]
    c = claim_delivery(who, window, max(metered, 0), max(-metered, 0))
    return c[0] - c[1]


def _settle_position(p, who, held, amount):
    """Release what was held for a member (its sales' proceeds and collateral) and settle its
    deviation: the utility pays a positive amount (FIT) from its credit, what it cannot pay is
    owed; a negative amount (TOU) comes from the held money first, then the member's credit,
    and what is still missing becomes the member's debt."""
    utility = p[P_UTILITY]
    if amount >= 0:
        _add_credit(who, held + _from_utility(utility, who, amount))
        return
    from_held = min(held, -amount)
    _add_credit(utility, from_held)
    _add_credit(who, held - from_held)
    _charge(utility, who, -amount - from_held)


def _charge(utility, who, amount):
    """Take `amount` from a member's credit for the utility; what it lacks is its debt."""
    have = get(b"$" + who, 0)
    paid = min(have, amount)
    if paid > 0:
        put(b"$" + who, have - paid)
        _add_credit(utility, paid)
    if amount > paid:
        put(b"D" + who, get(b"D" + who, 0) + amount - paid)


def settle_late(window, who):
    """Re-settle a member whose meters had not reported when the window was settled, now that
    they have: the difference from the provisional settlement is paid either way, and the
    member may post again once no window of its is missing readings."""
    _no_value()
    p = _params()
    w = _w(window)
    require(get(b"G" + who + w) is not None, "no provisional settlement of this member and window")
    r = owner_reading(who, window)
    if r[3] == 0:
        # Its meters were revoked: nothing more can be measured. The operator may make the
        # provisional settlement final, so the member is not barred forever.
        require(sender() == get("operator"), "the member has no meter left: only the operator closes this")
        delete(b"G" + who + w)
        put(b"g" + who, get(b"g" + who) - 1)
        return 0
    require(r[2] == r[3], "the member's meters have still not all reported")
    y = get(b"Y" + w + who)
    actual = _claimed_net(who, window, r)
    amounts = precompile("realtime_settle", [y[0]], [actual], p[P_TOU], p[P_FIT])
    diff = amounts[0] - y[2]
    if diff > 0:
        _add_credit(who, _from_utility(p[P_UTILITY], who, diff))
    else:
        _charge(p[P_UTILITY], who, -diff)
    delete(b"G" + who + w)
    put(b"g" + who, get(b"g" + who) - 1)
    put(b"Y" + w + who, [y[0], actual, amounts[0], METERED])
    return diff


def settlement(window, who):
    """[committed net Wh, metered net Wh used, amount (+ received, - paid), how it was metered
    (1 metered, 2 a member without meters, 0 readings missing: provisional)] for a settled
    member, or None."""
    _no_value()
    return get(b"Y" + _w(window) + who)
