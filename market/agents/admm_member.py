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
f_i(x) = weight/2 * ||x - preferred||^2 milli-cents, within per-interval bounds, and with its
day's energy kept (sum x = sum preferred): a shiftable load or a battery moves energy between
intervals, it does not make or destroy it. A shiftable load's x-update is closed form up to one
scalar (the multiplier of that sum), found by bisection; a battery's also keeps its state of
charge in its window, a small QP solved with cvxpy (OSQP), built once per battery. Losses in
the battery are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

MAX_WH = 1 << 24  # S1's bound on |x_i[t]|
BISECTIONS = 200  # halvings of the multiplier's bracket: far below a Wh before rounding


@dataclass(frozen=True)
class Quadratic:
    """f(x) = weight/2 * ||x - preferred||^2 (milli-cents, x in Wh). `weight` is in milli-cents
    per Wh^2: a member whose schedule moves one Wh from its preference values the next Wh at
    weight * 1000 milli-cents per kWh."""

    preferred: tuple[float, ...]
    weight: float

    @property
    def intervals(self) -> int:
        return len(self.preferred)

    def cvx_cost(self, x: Any) -> Any:
        import cvxpy as cp

        return self.weight / 2 * cp.sum_squares(x - np.asarray(self.preferred))


@dataclass(frozen=True)
class FlexibleCost(Quadratic):
    """A shiftable load (or a fixed profile, lo = hi): lo <= x <= hi, and sum(x) = sum(preferred)
    when `neutral`."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    neutral: bool

    def __post_init__(self) -> None:
        p, lo, hi = (np.asarray(v, dtype=float) for v in (self.preferred, self.lo, self.hi))
        if not (len(p) == len(lo) == len(hi)) or np.any(lo > p) or np.any(p > hi) or self.weight <= 0:
            raise ValueError("need lo <= preferred <= hi interval by interval and a positive weight")


    def cvx_constraints(self, x: Any) -> list:
        import cvxpy as cp

        out = [x >= np.asarray(self.lo), x <= np.asarray(self.hi)]
        return out + [cp.sum(x) == float(np.sum(self.preferred))] if self.neutral else out

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
class BatteryCost(Quadratic):
    """A prosumer whose battery moves its net export from the preferred profile: x - preferred is
    the battery's discharge (negative: charge), at most rate_wh an interval; its state of charge
    soc0_wh - cumsum(x - preferred) stays in [soc_min_wh, soc_max_wh] and ends where it started
    (the day's energy kept). f(x) = weight/2 * ||x - preferred||^2 milli-cents: its wear."""

    rate_wh: float
    soc0_wh: float
    soc_min_wh: float
    soc_max_wh: float

    def __post_init__(self) -> None:
        if not (self.weight > 0 and self.rate_wh >= 0 and self.soc_min_wh <= self.soc0_wh <= self.soc_max_wh):
            raise ValueError("need a positive weight, a rate >= 0 and soc_min <= soc0 <= soc_max")


    def cvx_constraints(self, x: Any) -> list:
        import cvxpy as cp

        p = np.asarray(self.preferred)
        soc = self.soc0_wh - cp.cumsum(x - p)
        return [x >= p - self.rate_wh, x <= p + self.rate_wh, soc >= self.soc_min_wh, soc <= self.soc_max_wh,
                cp.sum(x) == float(p.sum())]

    @cached_property
    def _prox_problem(self) -> tuple[Any, Any, Any, Any]:
        """The x-update's QP, built once and solved every round. rho/2 ||x - v||^2 is written
        rho/2 ||x||^2 - (rho v).x (plus a constant), with rho and q = rho v as parameters, so
        cvxpy can reuse its canonical form (DPP)."""
        import cvxpy as cp

        x = cp.Variable(len(self.preferred))
        q, rho = cp.Parameter(len(self.preferred)), cp.Parameter(nonneg=True)
        problem = cp.Problem(cp.Minimize(self.cvx_cost(x) + rho / 2 * cp.sum_squares(x) - q @ x),
                             self.cvx_constraints(x))
        return problem, x, q, rho

    def prox(self, v: np.ndarray, rho: float) -> np.ndarray:
        import cvxpy as cp

        problem, x, q, rho_param = self._prox_problem
        q.value, rho_param.value = rho * np.asarray(v, dtype=float), rho
        problem.solve(solver=cp.OSQP, eps_abs=1e-7, eps_rel=1e-7, max_iter=100_000)
        if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            raise RuntimeError(f"a battery's x-update is {problem.status}")
        return np.asarray(x.value)


@dataclass(frozen=True)
class GridCost:
    """The utility as a member: x[t] is its net export into the community (it supplies at TOU
    and takes the community's exports at FIT, milli-cents per kWh), |x[t]| <= limit_wh.
    f(x) = sum_t TOU * max(x,0) / 1000 - FIT * max(-x,0) / 1000 (convex: FIT < TOU)."""

    tou: int
    fit: int
    limit_wh: int
    intervals: int

    def cvx_cost(self, x: Any) -> Any:
        import cvxpy as cp

        return cp.sum(self.fit / 1000 * x + (self.tou - self.fit) / 1000 * cp.pos(x))  # f in DCP form

    def cvx_constraints(self, x: Any) -> list:
        return [x >= -self.limit_wh, x <= self.limit_wh]

    def prox(self, v: np.ndarray, rho: float) -> np.ndarray:
        """Each interval apart: supply at TOU once v exceeds TOU/rho, take exports at FIT once v
        is below FIT/rho, otherwise stay idle."""
        v = np.asarray(v, dtype=float)
        tou, fit = self.tou / 1000, self.fit / 1000
        x = np.where(rho * v > tou, v - tou / rho, np.where(rho * v < fit, v - fit / rho, 0.0))
        return np.clip(x, -self.limit_wh, self.limit_wh)


Cost = FlexibleCost | BatteryCost | GridCost


@dataclass
class AdmmMember:
    """A member's agent: its private cost and its last submitted schedule (integer Wh)."""

    cost: Cost
    x: tuple[int, ...]

    @classmethod
    def start(cls, cost: Cost) -> "AdmmMember":
        return cls(cost, (0,) * cost.intervals)  # x^0 = 0, as S1's running sums start

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


def centralised(costs: list[Cost]) -> Reference:
    """Solve sum_i f_i(x_i) s.t. sum_i x_i = 0 in one problem with cvxpy (Clarabel): what the
    on-chain integer ADMM must approach."""
    import cvxpy as cp

    xs = [cp.Variable(costs[0].intervals) for _ in costs]
    objective = [c.cvx_cost(x) for x, c in zip(xs, costs)]
    constraints = [k for x, c in zip(xs, costs) for k in c.cvx_constraints(x)]
    balance = sum(xs) == 0
    problem = cp.Problem(cp.Minimize(sum(objective)), constraints + [balance])
    problem.solve(solver=cp.CLARABEL)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"the centralised problem is {problem.status}")
    # The multiplier y of sum x = 0 enters the Lagrangian as + y.x: exporting one Wh earns -y.
    prices = tuple(float(-y * 1000) for y in balance.dual_value)
    return Reference(tuple(tuple(float(e) for e in x.value) for x in xs), prices)
