"""A member's private side of 001's scheduling model, and the centralised problem it decomposes.

Salian et al. (001, IV.B, Fig. 3): "P(i): private optimization, compute locally ... send to smart
contract S1", the ADMM aggregator. The day-ahead problem is an exchange (Boyd et al., "Distributed
optimization and statistical learning via ADMM", 2011, Sec. 7.3.2) over T intervals:

    minimise  sum_i f_i(x_i)   subject to   sum_i x_i[t] = 0 for every t,

x_i[t] the net export of member i in Wh (+ export, - import), the utility one of the members
(it supplies at TOU and takes exports at FIT). Exchange ADMM, with the scaled dual u:

    x_i^{k+1} = argmin f_i(x_i) + rho/2 ||x_i - x_i^k + xbar^k + u^k||^2     (each member, here)
    xbar^{k+1} = mean_i x_i^{k+1};  u^{k+1} = u^k + xbar^{k+1}                  (S1, on chain)

and the price of exporting in interval t is -rho * u[t]. S1 keeps w = -u in milli-Wh (so the
price is positive) and publishes xbar in milli-Wh; its price is RHO * w // 1000 milli-cents per
kWh with RHO = 1000 * rho (rho in milli-cents per Wh^2). This module computes a member's
x-update in floats and rounds it once to the integer Wh its transaction carries.

A flexible member's cost is quadratic around its preferred profile (its day-ahead forecast):
f_i(x) = weight/2 * ||x - preferred||^2 milli-cents, within per-interval bounds, and, for a
battery or a shiftable load, with its day's energy kept (sum x = sum preferred): it shifts energy
between intervals, it does not make or destroy it. Its x-update is then closed form up to one
scalar (the multiplier of that sum), found by bisection. The battery's state-of-charge window is
not part of the model (its per-interval rate and the day's balance are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_WH = 1 << 24  # S1's bound on |x_i[t]|
BISECTIONS = 200  # halvings of the multiplier's bracket: far below a Wh before rounding


@dataclass(frozen=True)
class FlexibleCost:
    """f(x) = weight/2 * ||x - preferred||^2 (milli-cents, x in Wh), lo <= x <= hi, and
    sum(x) = sum(preferred) when `neutral`. `weight` is in milli-cents per Wh^2: a member whose
    schedule moves one Wh from its preference values the next Wh at weight * 1000 milli-cents
    per kWh."""

    preferred: tuple[float, ...]
    weight: float
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    neutral: bool

    def __post_init__(self) -> None:
        p, lo, hi = (np.asarray(v, dtype=float) for v in (self.preferred, self.lo, self.hi))
        if not (len(p) == len(lo) == len(hi)) or np.any(lo > p) or np.any(p > hi) or self.weight <= 0:
            raise ValueError("need lo <= preferred <= hi interval by interval and a positive weight")

    def cost_mc(self, x: np.ndarray) -> float:
        return float(self.weight / 2 * np.sum((np.asarray(x, dtype=float) - np.asarray(self.preferred)) ** 2))

    def prox(self, v: np.ndarray, rho: float) -> np.ndarray:
        """argmin f(x) + rho/2 ||x - v||^2: x(mu) = clip((w p + rho v - mu) / (w + rho), lo, hi)
        with mu = 0, or (neutral) the mu at which sum x(mu) = sum p (sum x(mu) falls as mu rises)."""
        p, lo, hi = (np.asarray(a, dtype=float) for a in (self.preferred, self.lo, self.hi))
        a = self.weight * p + rho * np.asarray(v, dtype=float)
        scale = self.weight + rho

        def at(mu: float) -> np.ndarray:
            return np.clip((a - mu) / scale, lo, hi)

        if not self.neutral:
            return at(0.0)
        target = float(p.sum())
        low, high = float(np.min(a - scale * hi)), float(np.max(a - scale * lo))  # x = hi, x = lo everywhere
        for _ in range(BISECTIONS):
            mid = (low + high) / 2
            if at(mid).sum() > target:
                low = mid
            else:
                high = mid
        return at((low + high) / 2)


@dataclass(frozen=True)
class GridCost:
    """The utility as a member: x[t] is its net export into the community (it supplies at TOU
    and takes the community's exports at FIT, milli-cents per kWh), |x[t]| <= limit_wh.
    f(x) = sum_t TOU * max(x,0) / 1000 - FIT * max(-x,0) / 1000 (convex: FIT < TOU)."""

    tou: int
    fit: int
    limit_wh: int
    intervals: int

    def cost_mc(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        return float(np.sum(self.tou / 1000 * np.maximum(x, 0) - self.fit / 1000 * np.maximum(-x, 0)))

    def prox(self, v: np.ndarray, rho: float) -> np.ndarray:
        """Each interval apart: supply at TOU once v exceeds TOU/rho, take exports at FIT once v
        is below FIT/rho, otherwise stay idle."""
        v = np.asarray(v, dtype=float)
        tou, fit = self.tou / 1000, self.fit / 1000
        x = np.where(rho * v > tou, v - tou / rho, np.where(rho * v < fit, v - fit / rho, 0.0))
        return np.clip(x, -self.limit_wh, self.limit_wh)


Cost = FlexibleCost | GridCost


@dataclass
class AdmmMember:
    """A member's agent: its private cost and its last submitted schedule (integer Wh)."""

    cost: Cost
    x: tuple[int, ...]

    @classmethod
    def start(cls, cost: Cost, intervals: int) -> "AdmmMember":
        return cls(cost, (0,) * intervals)  # x^0 = 0, as S1's running sums start

    def update(self, xbar_mwh: tuple[int, ...], w_mwh: tuple[int, ...], rho: int) -> tuple[int, ...]:
        """x^{k+1} from S1's published xbar^k and w^k = -u^k (both milli-Wh) and RHO (milli-cents
        per kWh per Wh): the prox at v = x^k - xbar^k + w^k, rounded to whole Wh within S1's bound."""
        v = np.asarray(self.x, dtype=float) + (np.asarray(w_mwh, dtype=float) - np.asarray(xbar_mwh, dtype=float)) / 1000
        x = self.cost.prox(v, rho / 1000)
        self.x = tuple(int(min(max(round(float(e)), 1 - MAX_WH), MAX_WH - 1)) for e in x)
        return self.x


@dataclass(frozen=True)
class Reference:
    """The centralised optimum: every member's schedule (Wh, floats) and the price of each
    interval (milli-cents per kWh, the balance constraint's multiplier)."""

    schedules: tuple[tuple[float, ...], ...]
    prices: tuple[float, ...]
    cost_mc: float


def centralised(costs: list[Cost]) -> Reference:
    """Solve sum_i f_i(x_i) s.t. sum_i x_i = 0 in one problem with cvxpy (Clarabel): what the
    on-chain integer ADMM must approach."""
    import cvxpy as cp

    intervals = len(costs[0].preferred) if isinstance(costs[0], FlexibleCost) else costs[0].intervals
    xs = [cp.Variable(intervals) for _ in costs]
    objective, constraints = [], []
    for x, c in zip(xs, costs):
        if isinstance(c, FlexibleCost):
            objective.append(c.weight / 2 * cp.sum_squares(x - np.asarray(c.preferred)))
            constraints += [x >= np.asarray(c.lo), x <= np.asarray(c.hi)]
            if c.neutral:
                constraints.append(cp.sum(x) == float(np.sum(c.preferred)))
        else:
            objective.append(cp.sum(c.fit / 1000 * x + (c.tou - c.fit) / 1000 * cp.pos(x)))  # DCP form of f
            constraints += [x >= -c.limit_wh, x <= c.limit_wh]
    balance = sum(xs) == 0
    problem = cp.Problem(cp.Minimize(sum(objective)), constraints + [balance])
    problem.solve(solver=cp.CLARABEL)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"the centralised problem is {problem.status}")
    # The multiplier y of sum x = 0 enters the Lagrangian as + y.x: exporting one Wh earns -y.
    prices = tuple(float(-y * 1000) for y in balance.dual_value)
    return Reference(tuple(tuple(float(e) for e in x.value) for x in xs), prices, float(problem.value))
