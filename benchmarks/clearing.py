"""Market clearing benchmark: numba kernels against the pure-Python reference and numpy.

    python benchmarks/clearing.py [--sizes 1000 10000 100000 1000000] [--json FILE]

For each mechanism and size (total orders, half offers and half demands, seeded random books),
in one run: the numba kernel's time on int64 arrays after compilation (compile time reported
separately), the pure-Python reference's time (null above --reference-max orders), and a
numpy-only vectorised baseline returning arrays where the mechanism vectorises (null otherwise).
"clear" is the multi-settlement clearing of 000: the merit-order price (Algorithm 1) and the
pro-rata trades (Algorithm 2). Before timing, kernel, reference and numpy results are checked
equal on a seeded book through `market.clearing`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit, median_seconds  # noqa: E402
from market import clearing, kernels, reference  # noqa: E402

FIT, CAP = 5_000, 24_000


# --- numpy baselines ------------------------------------------------------------------------------


def np_merit_order(price: np.ndarray, energy: np.ndarray, demand: int) -> int:
    if demand <= 0:
        return 0
    eligible = np.flatnonzero((price > FIT) & (price < CAP))
    order = eligible[np.argsort(price[eligible], kind="stable")]
    cum = np.cumsum(energy[order])
    k = int(np.searchsorted(cum, demand))
    return int(price[order[k]]) if k < order.size else CAP


def np_apportion(values: np.ndarray, target: int) -> np.ndarray:
    total = int(values.sum())
    if total == 0:
        return np.zeros_like(values)
    upto = np.cumsum(values) * target // total  # cumulative rounding, as the reference
    return np.diff(upto, prepend=0)


def np_pro_rata(demand: np.ndarray, price: np.ndarray, energy: np.ndarray, p_c: int):
    eligible = np.flatnonzero((price > FIT) & (price < CAP))
    merit = eligible[np.argsort(price[eligible], kind="stable")]
    supply = energy[merit]
    d, g = int(demand.sum()), int(supply.sum())
    volume = min(d, g)
    want = np_apportion(demand, volume) if d > g else demand
    give = np_apportion(supply, volume) if g >= d else supply
    # Trades are the pieces between the merged cumulative boundaries of both sides.
    cd, cg = np.cumsum(want), np.cumsum(give)
    points = np.union1d(cd, cg)
    points = points[(points > 0) & (points <= volume)]
    starts = np.concatenate(([0], points[:-1]))
    amounts = points - starts
    buyer = np.searchsorted(cd, starts, side="right")
    seller = merit[np.searchsorted(cg, starts, side="right")]
    return seller, buyer, amounts, amounts * p_c // 1000


def np_aggregator(price: np.ndarray, energy: np.ndarray, quantity: int, limit: int):
    chosen = np.flatnonzero(price < limit)
    chosen = chosen[np.argsort(price[chosen], kind="stable")]
    before = np.cumsum(energy[chosen]) - energy[chosen]
    take = np.clip(quantity - before, 0, energy[chosen])
    keep = take > 0
    k, e = chosen[keep], take[keep]
    return k, e, e * price[k] // 1000


def np_realtime(committed: np.ndarray, metered: np.ndarray, tou: int, fit: int) -> np.ndarray:
    d = metered - committed
    return np.where(d < 0, -((-d) * tou // 1000), d * fit // 1000)


# --- the runs -------------------------------------------------------------------------------------


def book(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    half = max(n // 2, 1)
    return {
        "sell_p": rng.integers(6_000, 26_000, half),
        "sell_e": rng.integers(100, 10_000, half),
        "buy_e": rng.integers(100, 10_000, half),
        "buy_p": rng.integers(6_000, 26_000, half),
        "sell_z": rng.integers(0, 8, half),
        "buy_z": rng.integers(0, 8, half),
        "committed": rng.integers(-10_000, 10_000, half),
        "metered": rng.integers(-10_000, 10_000, half),
    }


def mechanisms(b: dict[str, np.ndarray]):
    """(name, kernel call, reference call, numpy call or None, compare) per mechanism."""
    demand = int(b["buy_e"].sum())
    lists = {k: v.tolist() for k, v in b.items()}

    def k_clear():
        p = clearing.KERNEL.merit_order_price(b["sell_p"], b["sell_e"], demand, CAP, FIT)
        return p, clearing.KERNEL.pro_rata_assign(b["buy_e"], b["sell_p"], b["sell_e"], CAP, FIT, p)

    def r_clear():
        p = reference.merit_order_price(lists["sell_p"], lists["sell_e"], demand, CAP, FIT)
        return p, reference.pro_rata_assign(lists["buy_e"], lists["sell_p"], lists["sell_e"], CAP, FIT, p)

    def n_clear():
        p = np_merit_order(b["sell_p"], b["sell_e"], demand)
        s, by, e, pay = np_pro_rata(b["buy_e"], b["sell_p"], b["sell_e"], p)
        return p, list(zip(s.tolist(), by.tolist(), e.tolist(), pay.tolist()))

    quantity = demand // 3
    return [
        ("clear", k_clear, r_clear, n_clear),
        ("zone_match",
         lambda: clearing.KERNEL.zone_match(b["buy_e"], b["buy_z"], b["sell_e"], b["sell_z"], 9_000),
         lambda: reference.zone_match(lists["buy_e"], lists["buy_z"], lists["sell_e"], lists["sell_z"], 9_000),
         None),
        ("double_auction",
         lambda: clearing.KERNEL.double_auction(b["buy_p"], b["buy_e"], b["sell_p"], b["sell_e"]),
         lambda: reference.double_auction(lists["buy_p"], lists["buy_e"], lists["sell_p"], lists["sell_e"]),
         None),
        ("aggregator",
         lambda: clearing.KERNEL.aggregator_take(b["sell_p"], b["sell_e"], quantity, 15_000, True),
         lambda: reference.aggregator_take(lists["sell_p"], lists["sell_e"], quantity, 15_000, True),
         lambda: list(zip(*[a.tolist() for a in np_aggregator(b["sell_p"], b["sell_e"], quantity, 15_000)]))),
        ("realtime",
         lambda: clearing.KERNEL.realtime_settle(b["committed"], b["metered"], 30_000, FIT),
         lambda: reference.realtime_settle(lists["committed"], lists["metered"], 30_000, FIT),
         lambda: np_realtime(b["committed"], b["metered"], 30_000, FIT).tolist()),
    ]


def raw(b: dict[str, np.ndarray]):
    """What is timed: (name, kernel on arrays, reference on lists, numpy on arrays or None)."""
    demand = int(b["buy_e"].sum())
    lists = {k: v.tolist() for k, v in b.items()}
    quantity = demand // 3

    def k_clear():
        p = kernels.merit_order_price(b["sell_p"], b["sell_e"], demand, CAP, FIT)
        return kernels.pro_rata_assign(b["buy_e"], b["sell_p"], b["sell_e"], CAP, FIT, p)

    def n_clear():
        return np_pro_rata(b["buy_e"], b["sell_p"], b["sell_e"], np_merit_order(b["sell_p"], b["sell_e"], demand))

    def r_clear():
        p = reference.merit_order_price(lists["sell_p"], lists["sell_e"], demand, CAP, FIT)
        return reference.pro_rata_assign(lists["buy_e"], lists["sell_p"], lists["sell_e"], CAP, FIT, p)

    return [
        ("clear", k_clear, r_clear, n_clear),
        ("zone_match", lambda: kernels.zone_match(b["buy_e"], b["buy_z"], b["sell_e"], b["sell_z"], 9_000, True),
         lambda: reference.zone_match(lists["buy_e"], lists["buy_z"], lists["sell_e"], lists["sell_z"], 9_000), None),
        ("double_auction", lambda: kernels.double_auction(b["buy_p"], b["buy_e"], b["sell_p"], b["sell_e"]),
         lambda: reference.double_auction(lists["buy_p"], lists["buy_e"], lists["sell_p"], lists["sell_e"]), None),
        ("aggregator", lambda: kernels.aggregator_take(b["sell_p"], b["sell_e"], quantity, 15_000, True),
         lambda: reference.aggregator_take(lists["sell_p"], lists["sell_e"], quantity, 15_000, True),
         lambda: np_aggregator(b["sell_p"], b["sell_e"], quantity, 15_000)),
        ("realtime", lambda: kernels.realtime_settle(b["committed"], b["metered"], 30_000, FIT),
         lambda: reference.realtime_settle(lists["committed"], lists["metered"], 30_000, FIT),
         lambda: np_realtime(b["committed"], b["metered"], 30_000, FIT)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--reference-max", type=int, default=1_000_000, help="largest size the reference runs at")
    parser.add_argument("--json", help="also write the JSON results to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    for _, kernel, reference_call, numpy_call in mechanisms(book(200, 0)):  # compile (or load) + check
        expected = reference_call()
        assert kernel() == expected
        if numpy_call is not None:
            assert numpy_call() == expected
    compile_s = time.perf_counter() - started

    rows = []
    for n in args.sizes:
        b = book(n, n)
        repeat = 5 if n <= 100_000 else 3
        for name, kernel, reference_call, numpy_call in raw(b):
            kernel_s = median_seconds(kernel, repeat)
            reference_s = median_seconds(reference_call, 1) if n <= args.reference_max else None
            numpy_s = median_seconds(numpy_call, repeat) if numpy_call is not None else None
            rows.append({"mechanism": name, "orders": n, "kernel_s": kernel_s, "reference_s": reference_s,
                         "numpy_s": numpy_s,
                         "speedup_vs_reference": reference_s / kernel_s if reference_s else None,
                         "speedup_vs_numpy": numpy_s / kernel_s if numpy_s else None})

    def fmt(v, unit="s") -> str:
        return "-" if v is None else (f"{v * 1e3:9.2f} ms" if unit == "s" else f"{v:7.1f}x")

    table = [(f"{r['mechanism']:<15} {r['orders']:>8}",
              f"kernel {fmt(r['kernel_s'])}  reference {fmt(r['reference_s'])}  numpy {fmt(r['numpy_s'])}  "
              f"vs ref {fmt(r['speedup_vs_reference'], 'x')}  vs numpy {fmt(r['speedup_vs_numpy'], 'x')}")
             for r in rows]
    table.insert(0, ("compile or cache load (s)", f"{compile_s:.2f}"))
    emit("clearing", {"rows": rows, "compile_s": compile_s}, table, args.json)


if __name__ == "__main__":
    main()
