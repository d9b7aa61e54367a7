"""CES-OPF (004 eq. 1): the market equilibrium over T intervals, from every bus's assets.

    minimise   sum_t C_t(x1_t, x2_t)                  (1a)  substation energy + battery wear
    subject to x1_t in X                               (1b)  batteries, solar, shapable loads
               BranchFlowModel(x2_t)                   (1c)  DistFlow, SOCP-relaxed

(1c) is Baran and Wu's branch flow model (004 ref. [11]) with Farivar and Low's relaxation (ref.
[12]): per line i -> j (j's parent i), sending-end flows P_j, Q_j, squared current l_j and squared
voltages v,

    P_j - r_j l_j - sum_{k child of j} P_k = p_j      (active balance at j; its dual is j's DLMP)
    Q_j - x_j l_j - sum_{k child of j} Q_k = q_j
    v_j = v_i - 2 (r_j P_j + x_j Q_j) + (r_j^2 + x_j^2) l_j
    l_j v_i >= P_j^2 + Q_j^2                           (the cone; equality is the power flow)

with p_j, q_j the bus's net consumption: uncontrollable load + shapable load + battery charge -
battery discharge - solar used. The substation (bus 0, v = 1 pu) buys or sells at its price plus a
quadratic term (004 III.A.4: traditional generation with a quadratic cost). The relaxation is
exact when the cone is tight at the optimum; `relaxation_gap` reports max |l v - P^2 - Q^2|.

The DLMP lambda_{j,t} (004 IV) is the dual of bus j's active balance at t, per unit of energy
(milli-cents per kWh). Centralised, as 004 III.A.6 allows for small feeders; solved by Clarabel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from market.ces.assets import BusAssets
from market.ces.feeder import RadialFeeder

CHARGE_EFFICIENCY = 0.95
DISCHARGE_EFFICIENCY = 0.95
SOC_MIN = 0.1  # of the battery's energy; it starts and ends the horizon half full
SUBSTATION_MW = 10.0  # pandapower's ext_grid limit for case33bw
# $ per MWh is the solver's unit of price (well scaled); a milli-cent per kWh is 1/100 of it
MC_PER_KWH_PER_USD_PER_MWH = 100.0


@dataclass(frozen=True)
class Tariff:
    """What traditional generation at the substation costs (004 III.A.4's quadratic cost): an
    import of p MW for an interval costs (price + quadratic * p) milli-cents per kWh, so its
    marginal price is price + 2 * quadratic * p; `price` per interval. `battery_wear`: milli-cents
    per kWh a battery moves either way (a user-defined cost on the battery's operation, 004 III.A.6)."""

    price: tuple[float, ...]
    quadratic: float
    battery_wear: float


@dataclass(frozen=True)
class BusSchedule:
    """One bus's set-points per interval (kW) and its battery's energy at each interval's end."""

    uncontrollable_kw: tuple[float, ...]
    shapable_kw: tuple[float, ...]
    charge_kw: tuple[float, ...]
    discharge_kw: tuple[float, ...]
    solar_kw: tuple[float, ...]
    soc_kwh: tuple[float, ...]

    def der_wh(self, t: int, interval_minutes: int) -> tuple[int, int]:
        """(produced, consumed) Wh of the bus's crowdsourced assets in interval t (004 IV: the
        Type 2 decision variables p^r and p^b): solar and battery discharge, battery charge, each
        rounded once. Their difference is the set-point u^eq, what its DER meter should show."""
        wh = interval_minutes / 60 * 1000
        return round((self.solar_kw[t] + self.discharge_kw[t]) * wh), round(self.charge_kw[t] * wh)

    @property
    def der_export_kw(self) -> tuple[float, ...]:
        return tuple(s + d - c for s, d, c in zip(self.solar_kw, self.discharge_kw, self.charge_kw))

    @property
    def net_export_kw(self) -> tuple[float, ...]:
        return tuple(s + d - u - h - c for s, d, u, h, c in zip(self.solar_kw, self.discharge_kw, self.uncontrollable_kw,
                                                                  self.shapable_kw, self.charge_kw))


@dataclass(frozen=True)
class OpfResult:
    cost_usd: float  # (1a) at the optimum
    dlmp: tuple[tuple[float, ...], ...]  # [bus][interval], milli-cents per kWh
    buses: tuple[BusSchedule, ...]  # [bus]; the substation's is all zero
    substation_kw: tuple[float, ...]  # import (negative: export upstream)
    losses_kw: tuple[float, ...]
    v_min_pu: float
    v_max_pu: float
    relaxation_gap: float  # max |l v - P^2 - Q^2|, pu^2
    balance_error_kw: float  # max |power balance residual| over buses and intervals
    seconds: float


class OpfError(RuntimeError):
    """CES-OPF has no solution (infeasible preferences or feeder limits)."""


def _incidence(feeder: RadialFeeder) -> tuple[np.ndarray, np.ndarray]:
    """into[j, k] = 1 when line k (into bus k + 1) ends at j; out_of[j, k] = 1 when it starts at j."""
    n = feeder.buses
    into, out_of = np.zeros((n, n - 1)), np.zeros((n, n - 1))
    for k in range(n - 1):
        into[k + 1, k] = 1.0
        out_of[feeder.parent[k + 1], k] = 1.0
    return into, out_of


def solve(feeder: RadialFeeder, buses: list[BusAssets], tariff: Tariff, interval_minutes: int = 60) -> OpfResult:
    """CES-OPF over `len(tariff.price)` intervals; `buses[j]` the assets at bus j (the
    substation's all zero)."""
    import cvxpy as cp

    started = time.perf_counter()
    n, m, steps = feeder.buses, feeder.buses - 1, len(tariff.price)
    if len(buses) != n or any(b.intervals != steps for b in buses):
        raise ValueError(f"one BusAssets per bus ({n}), each over {steps} intervals")
    dt = interval_minutes / 60
    kw = 1.0 / (1000 * feeder.base_mva)  # kW -> pu
    load = np.array([b.uncontrollable_kw for b in buses]) * kw
    pv = np.array([b.pv_kw for b in buses]) * kw
    window = np.array([b.shapable_window for b in buses], dtype=float)
    battery_kw, battery_kwh = np.array([b.battery_kw for b in buses]), np.array([b.battery_kwh for b in buses])
    shapable_kwh, shapable_kw = np.array([b.shapable_kwh for b in buses]), np.array([b.shapable_kw for b in buses])
    q_load = load * np.array([b.q_ratio for b in buses])[:, None]
    r, x = np.array(feeder.r[1:])[:, None], np.array(feeder.x[1:])[:, None]
    into, out_of = _incidence(feeder)
    upstream = out_of.T  # line k's sending bus, as a row selector

    shapable = cp.Variable((n, steps), nonneg=True)  # pu
    charge = cp.Variable((n, steps), nonneg=True)
    discharge = cp.Variable((n, steps), nonneg=True)
    solar = cp.Variable((n, steps), nonneg=True)
    soc = cp.Variable((n, steps + 1))  # kWh
    p_flow, q_flow = cp.Variable((m, steps)), cp.Variable((m, steps))
    current = cp.Variable((m, steps), nonneg=True)  # l, pu^2
    v = cp.Variable((n, steps))  # squared voltage, pu^2
    grid_p, grid_q = cp.Variable(steps), cp.Variable(steps)
    substation = np.zeros((n, 1))
    substation[0, 0] = 1.0

    net_p = load + shapable + charge - discharge - solar
    balance_p = substation @ cp.reshape(grid_p, (1, steps), order="C") + into @ (p_flow - cp.multiply(r, current)) \
        - out_of @ p_flow - net_p == 0
    balance_q = substation @ cp.reshape(grid_q, (1, steps), order="C") + into @ (q_flow - cp.multiply(x, current)) \
        - out_of @ q_flow - q_load == 0
    v_sending = upstream @ v
    cone_x = cp.vstack([cp.vec(2 * p_flow, order="C"), cp.vec(2 * q_flow, order="C"),
                        cp.vec(current - v_sending, order="C")])
    constraints = [
        balance_p, balance_q,
        into.T @ v == v_sending - 2 * (cp.multiply(r, p_flow) + cp.multiply(x, q_flow)) + cp.multiply(r**2 + x**2, current),
        cp.SOC(cp.vec(current + v_sending, order="C"), cone_x, axis=0),
        v[0, :] == 1.0, v[1:, :] >= feeder.v_min**2, v[1:, :] <= feeder.v_max**2,
        cp.abs(grid_p) <= SUBSTATION_MW / feeder.base_mva,
        # (1b): solar up to what the panels give; batteries within power and energy, half full at
        # both ends of the horizon; shapable loads within their window, power and energy
        solar <= pv,
        charge <= (battery_kw * kw)[:, None], discharge <= (battery_kw * kw)[:, None],
        soc[:, 1:] == soc[:, :-1] + (CHARGE_EFFICIENCY * charge - discharge / DISCHARGE_EFFICIENCY) * dt / kw,
        soc[:, 0] == battery_kwh / 2, soc[:, steps] == battery_kwh / 2,
        soc >= (SOC_MIN * battery_kwh)[:, None], soc <= battery_kwh[:, None],
        shapable <= (shapable_kw * kw)[:, None] * window,
        cp.sum(shapable, axis=1) * dt == shapable_kwh * kw,
    ]
    i_limit = np.array(feeder.i_max[1:])
    if np.isfinite(i_limit).any():
        limited = np.flatnonzero(np.isfinite(i_limit))
        constraints.append(current[limited, :] <= (i_limit[limited] ** 2)[:, None])
    price = np.array(tariff.price) / MC_PER_KWH_PER_USD_PER_MWH  # $/MWh
    quadratic = tariff.quadratic / MC_PER_KWH_PER_USD_PER_MWH / feeder.base_mva  # $/MWh per pu
    mwh = dt * feeder.base_mva  # MWh per pu-interval
    cost = mwh * (price @ grid_p + quadratic * cp.sum_squares(grid_p)) \
        + mwh * tariff.battery_wear / MC_PER_KWH_PER_USD_PER_MWH * cp.sum(charge + discharge)
    problem = cp.Problem(cp.Minimize(cost), constraints)
    problem.solve(solver=cp.CLARABEL)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise OpfError(f"CES-OPF: {problem.status}")

    def to_kw(values: np.ndarray) -> tuple[float, ...]:
        return tuple(float(value) / kw for value in values)

    # The balance is written supply - demand == 0; cvxpy's dual of it is minus the marginal cost
    # of one more pu of demand at the bus over the interval: $ per pu -> $/MWh -> milli-cents/kWh.
    dlmp = -np.asarray(balance_p.dual_value) / mwh * MC_PER_KWH_PER_USD_PER_MWH
    v_send = upstream @ v.value
    gap = np.abs(current.value * v_send - p_flow.value**2 - q_flow.value**2)
    residual = substation @ grid_p.value[None, :] + into @ (p_flow.value - r * current.value) - out_of @ p_flow.value \
        - (load + shapable.value + charge.value - discharge.value - solar.value)
    schedules = tuple(BusSchedule(buses[j].uncontrollable_kw, *(to_kw(a.value[j]) for a in
                                                                (shapable, charge, discharge, solar)),
                                  tuple(float(e) for e in soc.value[j, 1:])) for j in range(n))
    return OpfResult(float(problem.value), tuple(tuple(float(p) for p in row) for row in dlmp), schedules,
                     to_kw(grid_p.value), to_kw((r * current.value).sum(axis=0)), float(np.sqrt(v.value[1:].min())),
                     float(np.sqrt(v.value[1:].max())), float(gap.max()), float(np.abs(residual).max()) / kw,
                     time.perf_counter() - started)


def inputs_digest(feeder: RadialFeeder, buses: list[BusAssets], tariff: Tariff, interval_minutes: int) -> bytes:
    """The sha256 of everything CES-OPF solved from (the feeder, every bus's assets, the tariff),
    as canonical JSON (sorted keys, floats in Python's shortest round-trip form), so anyone with
    the posted preferences and the public shapes can recompute it and check the set-points."""
    import hashlib
    import json
    from dataclasses import asdict

    doc = {"feeder": asdict(feeder), "buses": [asdict(b) for b in buses], "tariff": asdict(tariff),
           "interval_minutes": interval_minutes}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, allow_nan=True).encode()).digest()
