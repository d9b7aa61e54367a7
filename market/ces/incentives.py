"""CES-ID (004 eq. 2): the incentives that steer Type 2 crowdsourcees to the equilibrium, one LP
per interval t.

    min  sum_i eta_i (lambda_i u_i + lambda^a_i u_i) + zeta_i |u_i - u^eq_i|    (2a)
    s.t. sum_i (lambda_i + lambda^a_i) u_i <= b                                 (2b)
         sum_i u_i >= d,  u_i in U^a_i,  lambda^a_i > 0                         (2c)

(2) is bilinear in lambda^a_i u_i; 004 IV linearises it with y_i = lambda^a_i u_i, y_i >= 0 (the
reformulation-linearisation technique), which makes it an LP. Two choices close it:

- lambda^a_i > 0 becomes lambda^a_i >= floor_i lambda_i (y_i >= floor_i lambda_i u_i): the LP
  minimises y, so without a floor every incentive would be zero. floor_i is the operator's belief
  of what participant i needs, raised when i refuses (Algorithm 1 line 9, `operator_policy`).
- A shortage the budget cannot buy is met by traditional generation (Algorithm 1 line 10): a slack
  s >= 0 in (2c), sum_i u_i + s >= d, at `supplement_price` per kWh in (2a), so (2) is always
  feasible and the slack says how much the operator supplements.

U^a_i is 0 <= u_i <= u^max_i, the participant's export capability in the interval. Units: Wh and
milli-cents per kWh in and out; the LP itself runs in kWh and dollars (well scaled), with HiGHS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidate:
    """A Type 2 crowdsourcee in one interval: its DLMP, its equilibrium export u^eq and what it
    could export at most (Wh), and the operator's weights for it."""

    participant: int
    dlmp: float  # milli-cents per kWh
    equilibrium_wh: float
    max_wh: float
    eta: float
    zeta: float  # per kWh of deviation, in the same money unit as the DLMP
    floor: float  # the lowest incentive it is offered, as a share of its DLMP


@dataclass(frozen=True)
class Award:
    participant: int
    energy_wh: float  # u^a_i
    incentive: float  # lambda^a_i, milli-cents per kWh (y_i / u_i)


@dataclass(frozen=True)
class IncentiveDesign:
    awards: tuple[Award, ...]  # one per candidate, in order
    supplement_wh: float  # the shortage left to traditional generation
    spent: float  # sum (lambda_i + lambda^a_i) u_i, milli-cents: within the budget


MC_PER_USD = 100_000.0


def design(candidates: list[Candidate], shortage_wh: float, budget: float, supplement_price: float) -> IncentiveDesign:
    """CES-ID at one interval: `shortage_wh` d, `budget` b (milli-cents), `supplement_price` what a
    kWh of traditional generation costs the operator instead (milli-cents per kWh)."""
    import cvxpy as cp

    if shortage_wh < 0 or budget < 0:
        raise ValueError("CES-ID: the shortage and the budget are not negative")
    if not candidates:
        return IncentiveDesign((), shortage_wh, 0.0)
    price_kwh = np.array([c.dlmp for c in candidates]) / MC_PER_USD  # $ per kWh
    u_eq = np.array([c.equilibrium_wh for c in candidates]) / 1000
    u_max = np.array([max(c.max_wh, c.equilibrium_wh) for c in candidates]) / 1000
    eta = np.array([c.eta for c in candidates])
    zeta = np.array([c.zeta for c in candidates]) / MC_PER_USD
    floor = np.array([c.floor for c in candidates])
    u = cp.Variable(len(candidates), nonneg=True)  # kWh
    y = cp.Variable(len(candidates), nonneg=True)  # $: lambda^a_i u_i
    shortfall = cp.Variable(nonneg=True)  # kWh from traditional generation
    payment = cp.multiply(price_kwh, u) + y
    objective = eta @ payment + zeta @ cp.abs(u - u_eq) + supplement_price / MC_PER_USD * shortfall  # (2a)
    constraints = [cp.sum(payment) <= budget / MC_PER_USD,  # (2b)
                   cp.sum(u) + shortfall >= shortage_wh / 1000,  # (2c)
                   u <= u_max,
                   y >= cp.multiply(floor * price_kwh, u)]  # lambda^a >= floor * lambda
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.HIGHS)
    if problem.status != cp.OPTIMAL:
        raise RuntimeError(f"CES-ID: {problem.status}")
    awards = []
    for c, energy, bonus, rate in zip(candidates, u.value, y.value, floor * price_kwh):
        energy = max(0.0, float(energy))
        # y_i / u_i where u_i > 0; the floor where nothing is awarded (no division by zero)
        incentive = max(float(bonus) / energy, float(rate)) if energy > 1e-9 else float(rate)
        awards.append(Award(c.participant, energy * 1000, incentive * MC_PER_USD))
    return IncentiveDesign(tuple(awards), max(0.0, float(shortfall.value)) * 1000,
                           float(np.sum(price_kwh * u.value + y.value)) * MC_PER_USD)
