"""numba kernels for the market mechanisms: int64 in, int64 out, equal to `market.reference`.

Each kernel follows its reference step for step; where the reference sorts by (key, position),
the kernel uses a stable sort of the key over positions in order (`stable_argsort`, an LSD radix
sort), which yields the same order. No floats, no fastmath, no parallel reductions. Trade lists come back as parallel arrays
cut to the returned count. Importing this module imports numba: `market.clearing` does so only
when a kernel is first needed.
"""

from __future__ import annotations

import numba
import numpy as np

_KW = {"cache": True, "nogil": True}
_RADIX_MIN = 4096  # below this a merge sort beats clearing 65,536 digit counters per pass


@numba.njit(**_KW)
def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """Positions ordered by (key, position) for non-negative int64 keys.

    LSD radix sort with 16-bit digits: each pass is a stable counting sort, so equal keys keep
    their input order, exactly like a stable merge sort, in O(n) per pass. Small inputs use the
    merge sort directly.
    """
    n = keys.shape[0]
    if n < _RADIX_MIN:
        return np.argsort(keys, kind="mergesort")
    order = np.arange(n)
    tmp = np.empty(n, dtype=np.int64)
    counts = np.empty(65537, dtype=np.int64)
    digits = np.empty(n, dtype=np.int64)
    top = keys.max()
    shift = 0
    while shift < 64 and (top >> shift) > 0:
        counts[:] = 0
        for i in range(n):
            d = (keys[order[i]] >> shift) & 0xFFFF
            digits[i] = d
            counts[d + 1] += 1
        for d in range(65536):
            counts[d + 1] += counts[d]
        for i in range(n):
            d = digits[i]
            tmp[counts[d]] = order[i]
            counts[d] += 1
        order, tmp = tmp, order
        shift += 16
    return order


@numba.njit(**_KW)
def merit_order_price(offer_price: np.ndarray, offer_energy: np.ndarray, total_demand: int, cap: int,
                      fit: int) -> int:
    """Algorithm 1 without sorting: walking offers cheapest first stops at the first offer whose
    cumulative energy reaches the demand, so p^c is the least price P whose eligible supply at
    prices <= P covers the demand (offers tied at P share that price, so their order is moot).
    Two sequential histogram passes over the book, on the price's high then low 16 bits, find P.
    """
    if total_demand <= 0:
        return 0
    n = offer_price.shape[0]
    high = np.zeros(1 << 16, dtype=np.int64)
    for i in range(n):
        p = offer_price[i]
        if fit < p < cap:
            high[p >> 16] += offer_energy[i]
    remaining = total_demand
    bucket = -1
    for h in range(1 << 16):
        if remaining <= high[h]:
            bucket = h
            break
        remaining -= high[h]
    if bucket < 0:
        return cap
    low = np.zeros(1 << 16, dtype=np.int64)
    for i in range(n):
        p = offer_price[i]
        if fit < p < cap and (p >> 16) == bucket:
            low[p & 0xFFFF] += offer_energy[i]
    for lo in range(1 << 16):
        if remaining <= low[lo]:
            return (bucket << 16) | lo
        remaining -= low[lo]
    return cap  # unreachable: the bucket's low histogram sums to its high entry


@numba.njit(**_KW)
def apportion(values: np.ndarray, target: int) -> np.ndarray:
    """Cumulative rounding, as the reference: share i is floor(C_i * target / total) minus the
    same for C_(i-1), with C_i the running sum."""
    n = values.shape[0]
    total = 0
    for i in range(n):
        total += values[i]
    shares = np.zeros(n, dtype=np.int64)
    if total == 0:
        return shares
    running = 0
    done = 0
    for i in range(n):
        running += values[i]
        upto = running * target // total
        shares[i] = upto - done
        done = upto
    return shares


@numba.njit(**_KW)
def pro_rata_assign(demand: np.ndarray, offer_price: np.ndarray, offer_energy: np.ndarray, cap: int, fit: int,
                    price: int):
    order = stable_argsort(offer_price)  # cheapest first, ties by position
    n_s = 0
    for i in range(order.shape[0]):
        if fit < offer_price[order[i]] < cap:
            n_s += 1
    merit = np.empty(n_s, dtype=np.int64)
    supply = np.empty(n_s, dtype=np.int64)
    g_total = 0
    m = 0
    for i in range(order.shape[0]):
        k = order[i]
        if fit < offer_price[k] < cap:
            merit[m] = k
            supply[m] = offer_energy[k]
            g_total += offer_energy[k]
            m += 1
    d_total = 0
    for j in range(demand.shape[0]):
        d_total += demand[j]
    volume = min(d_total, g_total)
    want = apportion(demand, volume) if d_total > g_total else demand  # read only
    give = apportion(supply, volume) if g_total >= d_total else supply  # a fresh array either way
    cap_trades = demand.shape[0] + n_s
    # Indices fit int32 (at most 2^22 orders): a quarter less memory to fault in than int64.
    seller = np.empty(cap_trades, dtype=np.int32)
    buyer = np.empty(cap_trades, dtype=np.int32)
    energy = np.empty(cap_trades, dtype=np.int64)
    pay = np.empty(cap_trades, dtype=np.int64)
    t = 0
    i = 0
    for j in range(want.shape[0]):
        need = want[j]
        while need > 0:
            while give[i] == 0:
                i += 1
            e = min(need, give[i])
            seller[t], buyer[t], energy[t], pay[t] = merit[i], j, e, e * price // 1000
            t += 1
            need -= e
            give[i] -= e
    return seller[:t], buyer[:t], energy[:t], pay[:t]


@numba.njit(**_KW)
def double_auction(bid_price: np.ndarray, bid_energy: np.ndarray, ask_price: np.ndarray, ask_energy: np.ndarray):
    top = bid_price.max() if bid_price.shape[0] else 0
    bids = stable_argsort(top - bid_price)  # highest bid first, ties by position
    asks = stable_argsort(ask_price)
    got_b = np.zeros(bid_price.shape[0], dtype=np.int64)
    got_a = np.zeros(ask_price.shape[0], dtype=np.int64)
    left_b = bid_energy.copy()
    left_a = ask_energy.copy()
    x = 0
    y = 0
    price = 0
    while x < bids.shape[0] and y < asks.shape[0] and bid_price[bids[x]] >= ask_price[asks[y]]:
        b = bids[x]
        a = asks[y]
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


@numba.njit(**_KW)
def zone_match(buy_energy: np.ndarray, buy_zone: np.ndarray, sell_energy: np.ndarray, sell_zone: np.ndarray,
               price: int, any_zone: bool):
    n_b = buy_energy.shape[0]
    n_s = sell_energy.shape[0]
    left_b = buy_energy.copy()
    left_s = sell_energy.copy()
    # Sellers grouped by zone, each group in seller order: start[z]..start[z+1] in by_zone.
    zones = 1
    for i in range(n_s):
        zones = max(zones, sell_zone[i] + 1)
    for j in range(n_b):
        zones = max(zones, buy_zone[j] + 2)
    counts = np.zeros(zones + 1, dtype=np.int64)
    for i in range(n_s):
        counts[sell_zone[i] + 1] += 1
    start = np.cumsum(counts)
    by_zone = np.empty(n_s, dtype=np.int64)
    fill = start[:-1].copy()
    for i in range(n_s):
        z = sell_zone[i]
        by_zone[fill[z]] = i
        fill[z] += 1
    head = start[:-1].copy()  # first seller of each zone that may have energy left
    cap_trades = 2 * (n_b + n_s) + 1
    seller = np.empty(cap_trades, dtype=np.int64)
    buyer = np.empty(cap_trades, dtype=np.int64)
    energy = np.empty(cap_trades, dtype=np.int64)
    t = 0
    low = 0  # phase 2: every zone below `low` has no seller with energy left (they only run out)
    for phase in range(3 if any_zone else 2):
        for j in range(n_b):
            z = buy_zone[j]
            for option in range(2 if phase == 1 else 1):
                if left_b[j] == 0:
                    break
                if phase == 0:
                    zone = z
                elif option == 0:
                    zone = z - 1
                else:
                    zone = z + 1
                if phase == 2:
                    zone = low
                while left_b[j] > 0 and 0 <= zone < zones:
                    # Skip exhausted sellers at the head of this zone.
                    while head[zone] < start[zone + 1] and left_s[by_zone[head[zone]]] == 0:
                        head[zone] += 1
                    if head[zone] == start[zone + 1]:
                        if phase == 2:
                            if zone == low:
                                low += 1
                            zone += 1
                            continue
                        break
                    i = by_zone[head[zone]]
                    e = min(left_b[j], left_s[i])
                    seller[t], buyer[t], energy[t] = i, j, e
                    t += 1
                    left_b[j] -= e
                    left_s[i] -= e
    pay = np.empty(t, dtype=np.int64)
    for k in range(t):
        pay[k] = energy[k] * price // 1000
    return seller[:t], buyer[:t], energy[:t], pay


@numba.njit(**_KW)
def aggregator_take(order_price: np.ndarray, order_energy: np.ndarray, quantity: int, limit: int,
                    aggregator_buys: bool):
    n = order_price.shape[0]
    idx = np.empty(n, dtype=np.int64)
    m = 0
    for k in range(n):
        if (order_price[k] < limit) if aggregator_buys else (order_price[k] > limit):
            idx[m] = k
            m += 1
    idx = idx[:m]
    keys = order_price[idx]
    if not aggregator_buys and m:
        keys = keys.max() - keys  # highest bid first, ties by position
    order = stable_argsort(keys)
    out_k = np.empty(m, dtype=np.int64)
    out_e = np.empty(m, dtype=np.int64)
    out_p = np.empty(m, dtype=np.int64)
    t = 0
    left = quantity
    for r in range(m):
        if left <= 0:
            break
        k = idx[order[r]]
        e = min(left, order_energy[k])
        if e > 0:
            out_k[t], out_e[t], out_p[t] = k, e, e * order_price[k] // 1000
            t += 1
            left -= e
    return out_k[:t], out_e[:t], out_p[:t]


@numba.njit(**_KW)
def grid_settle(residual_wh: np.ndarray, surplus_wh: np.ndarray, price: int, sell_back: int):
    n = residual_wh.shape[0]
    cost = np.empty(n, dtype=np.int64)
    revenue = np.empty(n, dtype=np.int64)
    for i in range(n):
        cost[i] = residual_wh[i] * price // 1000
        revenue[i] = surplus_wh[i] * sell_back // 1000
    return cost, revenue


@numba.njit(**_KW)
def realtime_settle(committed_net_wh: np.ndarray, metered_net_wh: np.ndarray, tou: int, fit: int) -> np.ndarray:
    n = committed_net_wh.shape[0]
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        d = metered_net_wh[i] - committed_net_wh[i]
        out[i] = -((-d) * tou // 1000) if d < 0 else d * fit // 1000
    return out
