"""Market mechanisms in plain Python: the specification the numba kernels must equal exactly.

Units: energy in Wh, prices in milli-cents per kWh, money in milli-cents. Every function takes
orders in their canonical order (as stored on chain); where the papers leave an order open, ties
are broken by that position. Payments are `energy_wh * price // 1000` milli-cents, and the buyer
pays exactly what the seller receives, so money is conserved; energy is conserved exactly
(largest-remainder rounding where the papers scale quantities).

Trades are lists of (seller index, buyer index, energy Wh, payment); for the aggregator auction
one side is the aggregator, so trades are (order index, energy, payment).
"""

from __future__ import annotations

Trade = tuple[int, int, int, int]


def payment(energy_wh: int, price: int) -> int:
    return energy_wh * price // 1000


# --- 000, Algorithm 1: merit-order clearing price ----------------------------------------------


def merit_order_price(offer_price: list[int], offer_energy: list[int], total_demand: int, cap: int, fit: int) -> int:
    """Market clearing price p^c (000, Algorithm 1).

    Offers with FIT < price < cap (cap = alpha * TOU) are walked cheapest first (ties: position)
    until the demand is covered; p^c is the price of the offer that covers it, or `cap` when the
    eligible supply runs out. With no demand nothing clears and the price is 0 (line 1's initial
    value). Whenever demand > 0: FIT < p^c <= cap.
    """
    if total_demand <= 0:
        return 0
    eligible = sorted((p, i) for i, p in enumerate(offer_price) if fit < p < cap)
    remaining = total_demand
    for p, i in eligible:
        if remaining <= offer_energy[i]:
            return p
        remaining -= offer_energy[i]
    return cap


# --- 000, Algorithm 2: pro-rata P2P assignment ---------------------------------------------------


def apportion(values: list[int], target: int) -> list[int]:
    """Scale `values` so they sum to exactly `target` <= sum(values) by cumulative rounding:
    share i = floor(C_i * target / total) - floor(C_(i-1) * target / total) with C_i the running
    sum. Each share is the floor or the ceiling of its exact share (so within 1 Wh, and never
    above its value), and one pass in order computes it: a market can apportion a book page by
    page across transactions, carrying only the running sum."""
    total = sum(values)
    if total == 0:
        return [0] * len(values)
    shares = []
    running = done = 0
    for v in values:
        running += v
        upto = running * target // total
        shares.append(upto - done)
        done = upto
    return shares


def merit_order(offer_price: list[int], fit: int, cap: int) -> list[int]:
    """Indices of the eligible offers (FIT < price < cap), cheapest first, ties by position."""
    return sorted((i for i, p in enumerate(offer_price) if fit < p < cap), key=lambda i: (offer_price[i], i))


def pro_rata_assign(demand: list[int], offer_price: list[int], offer_energy: list[int], cap: int, fit: int,
                    price: int) -> list[Trade]:
    """P2P trades (000, Algorithm 2) at clearing price `price`.

    Eligible offers are those of Algorithm 1 (FIT < price < cap). With total demand D and
    eligible supply G: if D > G each consumer gets gamma = G/D of its demand, else each prosumer
    sells omega = D/G of its offer; the scaled quantities are apportioned so both sides sum to
    min(D, G) exactly. Pairing: consumers in their posting order take from prosumers in merit
    order (cheapest first, ties by posting order), two pointers, so every consumer and prosumer
    with a positive share is matched. Trades name the offer by its index in `offer_price`.
    """
    merit = merit_order(offer_price, fit, cap)
    supply = [offer_energy[i] for i in merit]
    d_total, g_total = sum(demand), sum(supply)
    volume = min(d_total, g_total)
    want = apportion(demand, volume) if d_total > g_total else list(demand)
    give = apportion(supply, volume) if g_total >= d_total else supply
    trades: list[Trade] = []
    i = 0
    for j, need in enumerate(want):
        while need > 0:
            while give[i] == 0:
                i += 1
            e = min(need, give[i])
            trades.append((merit[i], j, e, payment(e, price)))
            need -= e
            give[i] -= e
    return trades


# --- 002: hybrid P2P matching -------------------------------------------------------------------


def lowest_price(sell_price: list[int]) -> int:
    """002's uniform price: the lowest seller's price (0 with no sellers)."""
    return min(sell_price) if sell_price else 0


def double_auction(bid_price: list[int], bid_energy: list[int], ask_price: list[int],
                   ask_energy: list[int]) -> tuple[int, list[int], list[int]]:
    """Uniform-price double auction: (price, accepted Wh per bid, accepted Wh per ask).

    Bids highest first and asks lowest first (ties: position) are matched while the bid price is
    at least the ask price; the price is the midpoint (floor) of the last matched bid and ask.
    """
    bids = sorted(range(len(bid_price)), key=lambda k: (-bid_price[k], k))
    asks = sorted(range(len(ask_price)), key=lambda k: (ask_price[k], k))
    got_b = [0] * len(bid_price)
    got_a = [0] * len(ask_price)
    left_b = [e for e in bid_energy]
    left_a = [e for e in ask_energy]
    x = y = 0
    price = 0
    while x < len(bids) and y < len(asks) and bid_price[bids[x]] >= ask_price[asks[y]]:
        b, a = bids[x], asks[y]
        e = min(left_b[b], left_a[a])
        if e > 0:
            got_b[b] += e
            got_a[a] += e
            left_b[b] -= e
            left_a[a] -= e
            price = (bid_price[b] + ask_price[a]) // 2
        if left_b[b] == 0:
            x += 1
        if left_a[a] == 0:
            y += 1
    return price, got_b, got_a


def zone_match(buy_energy: list[int], buy_zone: list[int], sell_energy: list[int], sell_zone: list[int],
               price: int, any_zone: bool = True) -> list[Trade]:
    """002's matching by area tag: first every buyer with sellers of its own zone, then of an
    adjacent zone (zone - 1 before zone + 1), then, with `any_zone`, of any zone (lowest zone
    first); buyers and sellers in their order within each pass. Each zone's sellers form a queue
    consumed from the front, and the last pass starts at the lowest zone with energy left, so a
    pass costs the trades it makes, not a rescan of spent sellers or zones (a full node clears
    with this code: its cost must stay linear whatever book a member builds)."""
    left_b = list(buy_energy)
    left_s = list(sell_energy)
    queues: dict[int, list[int]] = {}
    for i, z in enumerate(sell_zone):
        queues.setdefault(z, []).append(i)
    head = {z: 0 for z in queues}
    trades: list[Trade] = []

    def take(j: int, zones: list[int]) -> None:
        for z in zones:
            queue = queues.get(z, [])
            while left_b[j] > 0 and head.get(z, 0) < len(queue):
                i = queue[head[z]]
                e = min(left_b[j], left_s[i])
                if e > 0:
                    trades.append((i, j, e, payment(e, price)))
                    left_b[j] -= e
                    left_s[i] -= e
                if left_s[i] == 0:
                    head[z] += 1

    for j, z in enumerate(buy_zone):
        take(j, [z])
    for j, z in enumerate(buy_zone):
        take(j, [z - 1, z + 1])
    if any_zone:
        ordered = sorted(queues)
        low = 0  # zones before ordered[low] have no seller with energy left (sellers only run out)
        for j in range(len(buy_zone)):
            while left_b[j] > 0 and low < len(ordered):
                take(j, [ordered[low]])
                if head[ordered[low]] == len(queues[ordered[low]]):
                    low += 1  # exhausted: no later buyer looks at it again, so the pass stays linear
    return trades


# --- 003, V.C: aggregator auction -----------------------------------------------------------------


def aggregator_take(order_price: list[int], order_energy: list[int], quantity: int, limit: int,
                    aggregator_buys: bool) -> list[tuple[int, int, int]]:
    """The aggregator's bid (buys) takes prosumer offers priced below `limit`, cheapest first,
    until `quantity` is met; its offer (sells) takes prosumer bids priced above `limit`, highest
    first. Each accepted order trades at its own price: (order index, energy, payment)."""
    if aggregator_buys:
        chosen = sorted((p, k) for k, p in enumerate(order_price) if p < limit)
    else:
        chosen = sorted((-p, k) for k, p in enumerate(order_price) if p > limit)
    trades = []
    left = quantity
    for _, k in chosen:
        if left <= 0:
            break
        e = min(left, order_energy[k])
        if e > 0:
            trades.append((k, e, payment(e, order_price[k])))
            left -= e
    return trades


# --- 002, Algorithm 3: prosumer-to-grid settlement --------------------------------------------------


def grid_price(hour: int, hourly_price: list[int], peak: list[int], off_peak: list[int], peak_ppm: int,
               off_peak_ppm: int) -> int:
    """The grid's price this hour: the base hourly price times the peak or off-peak factor (ppm).

    002 says +20% at peak and -5% off-peak in its text (its pseudo-code's 0.8 and 0.05 contradict
    the text); the factors are configuration, defaulting to the text's 1,200,000 and 950,000.
    """
    base = hourly_price[hour % 24]
    if peak[hour % 24]:
        return base * peak_ppm // 1_000_000
    if off_peak[hour % 24]:
        return base * off_peak_ppm // 1_000_000
    return base


def grid_settle(residual_wh: list[int], surplus_wh: list[int], price: int, sell_back: int) -> list[tuple[int, int]]:
    """After P2P clearing: each participant buys its residual demand at the grid price and sells
    its surplus back at the sell-back price: (cost, revenue) in milli-cents."""
    return [(payment(r, price), payment(s, sell_back)) for r, s in zip(residual_wh, surplus_wh)]


# --- 000, II.C: real-time deviation settlement ------------------------------------------------------


def realtime_settle(committed_net_wh: list[int], metered_net_wh: list[int], tou: int, fit: int) -> list[int]:
    """Deviation from committed trades, settled with the utility (000, II.C).

    Net export = production - consumption (committed: what P2P trades promised; metered: what the
    meter saw). A shortfall (metered below committed) is bought at TOU, a surplus sold at FIT.
    Returns the signed amount per participant: negative pays the utility, positive receives.
    """
    out = []
    for c, m in zip(committed_net_wh, metered_net_wh):
        d = m - c
        out.append(-payment(-d, tou) if d < 0 else payment(d, fit))
    return out
