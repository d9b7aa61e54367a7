"""numba kernels for the market mechanisms: int64 in, int64 out, equal to `market.reference`.

Each kernel follows its reference step for step; where the reference sorts by (key, position),
the kernel uses a stable merge sort on the key over positions in order, which yields the same
order. No floats, no fastmath, no parallel reductions. Trade lists come back as parallel arrays
cut to the returned count. Importing this module imports numba: `market.clearing` does so only
when a kernel is first needed.
"""

from __future__ import annotations

import numba
import numpy as np

_KW = {"cache": True, "nogil": True}


@numba.njit(**_KW)
def merit_order_price(offer_price: np.ndarray, offer_energy: np.ndarray, total_demand: int, cap: int,
                      fit: int) -> int:
    if total_demand <= 0:
        return 0
    n = offer_price.shape[0]
    idx = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        p = offer_price[i]
        if fit < p < cap:
            idx[m] = i
            m += 1
    idx = idx[:m]
    order = np.argsort(offer_price[idx], kind="mergesort")
    remaining = total_demand
    for k in range(m):
        i = idx[order[k]]
        if remaining <= offer_energy[i]:
            return offer_price[i]
        remaining -= offer_energy[i]
    return cap


@numba.njit(**_KW)
def apportion(values: np.ndarray, target: int) -> np.ndarray:
    n = values.shape[0]
    total = 0
    for i in range(n):
        total += values[i]
    shares = np.zeros(n, dtype=np.int64)
    if total == 0:
        return shares
    neg_rem = np.empty(n, dtype=np.int64)
    assigned = 0
    for i in range(n):
        prod = values[i] * target
        shares[i] = prod // total
        neg_rem[i] = -(prod % total)
        assigned += shares[i]
    left = target - assigned
    if left > 0:
        order = np.argsort(neg_rem, kind="mergesort")
        for k in range(left):
            shares[order[k]] += 1
    return shares


@numba.njit(**_KW)
def pro_rata_assign(demand: np.ndarray, offer_price: np.ndarray, offer_energy: np.ndarray, cap: int, fit: int,
                    price: int):
    n_s = offer_price.shape[0]
    supply = np.zeros(n_s, dtype=np.int64)
    g_total = 0
    for i in range(n_s):
        if fit < offer_price[i] < cap:
            supply[i] = offer_energy[i]
            g_total += offer_energy[i]
    d_total = 0
    for j in range(demand.shape[0]):
        d_total += demand[j]
    volume = min(d_total, g_total)
    want = apportion(demand, volume) if d_total > g_total else demand.copy()
    give = apportion(supply, volume) if g_total >= d_total else supply
    cap_trades = demand.shape[0] + n_s
    seller = np.empty(cap_trades, dtype=np.int64)
    buyer = np.empty(cap_trades, dtype=np.int64)
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
            seller[t], buyer[t], energy[t], pay[t] = i, j, e, e * price // 1000
            t += 1
            need -= e
            give[i] -= e
    return seller[:t], buyer[:t], energy[:t], pay[:t]


@numba.njit(**_KW)
def double_auction(bid_price: np.ndarray, bid_energy: np.ndarray, ask_price: np.ndarray, ask_energy: np.ndarray):
    bids = np.argsort(-bid_price, kind="mergesort")
    asks = np.argsort(ask_price, kind="mergesort")
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
               price: int):
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
    for phase in range(3):
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
                    zone = 0
                while left_b[j] > 0 and 0 <= zone < zones:
                    # Skip exhausted sellers at the head of this zone.
                    while head[zone] < start[zone + 1] and left_s[by_zone[head[zone]]] == 0:
                        head[zone] += 1
                    if head[zone] == start[zone + 1]:
                        if phase == 2:
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
    keys = order_price[idx] if aggregator_buys else -order_price[idx]
    order = np.argsort(keys, kind="mergesort")
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
