"""003's transactive battery controller on a hand-worked example (Section V.D, eqs. 1-8)."""

from __future__ import annotations

import pytest

from market.agents.battery import BatterySpec, TransactiveBattery

# 10 kWh, usable SOC 0.1..0.9, 95 % each way, at most 0.3 of capacity per interval; 5,000 EUR
# (5e8 milli-cents) over 32,000 kWh delivered in its life: C_d = 15,625 milli-cents per kWh.
SPEC = BatterySpec(10_000, 0.1, 0.9, 0.95, 0.95, 0.3, 0.3, 500_000_000, 32_000_000)
FIT, CAP = 8_000, 20_800


def test_quantities_follow_the_soc_within_the_rate_limits() -> None:
    half = TransactiveBattery(SPEC, 0.5, FIT, CAP)
    assert half.max_discharge_wh() == 3_000  # the rate limit: 0.3 x 10 kWh (eq. 5)
    assert half.max_charge_wh() == 3_157  # 0.3 x 10 kWh / 0.95 drawn (eqs. 2, 4)
    low = TransactiveBattery(SPEC, 0.2, FIT, CAP)
    assert low.max_discharge_wh() == 950  # (0.2 - 0.1) x 0.95 x 10 kWh (eqs. 1, 6)
    high = TransactiveBattery(SPEC, 0.8, FIT, CAP)
    assert high.max_charge_wh() == 1_052  # (0.9 - 0.8) x 10 kWh / 0.95
    assert TransactiveBattery(SPEC, 0.1, FIT, CAP).offer() is None  # empty: nothing to offer
    assert TransactiveBattery(SPEC, 0.9, FIT, CAP).bid() is None  # full: nothing to take


def test_soc_moves_by_equation_6_and_never_leaves_its_window() -> None:
    b = TransactiveBattery(SPEC, 0.2, FIT, CAP)
    b.apply(discharge_wh=950)
    assert b.soc == pytest.approx(0.1)  # 0.2 - 950 / (0.95 x 10,000)
    b.apply(charge_wh=3_157)
    assert b.soc == pytest.approx(0.1 + 0.95 * 3_157 / 10_000)
    with pytest.raises(ValueError, match="outside the battery's limits"):
        b.apply(discharge_wh=10_000)
    with pytest.raises(ValueError, match="not both"):
        b.apply(charge_wh=1, discharge_wh=1)
    assert b.cycles == pytest.approx(950 / (10_000 * 0.8 * 0.95))


def test_offers_never_go_below_the_degradation_cost() -> None:
    assert SPEC.degradation_mc_per_kwh == pytest.approx(15_625)
    full = TransactiveBattery(SPEC, 0.9, FIT, CAP)
    assert full.offer().price == 15_625  # the band would allow FIT; degradation (eq. 7-8) does not
    assert full.degradation_mc(950) == 14_844  # 950 Wh x 15,625 / 1000, rounded up
    cheap = BatterySpec(10_000, 0.1, 0.9, 0.95, 0.95, 0.3, 0.3, 50_000_000, 32_000_000)  # C_d 1,562.5
    fuller, emptier = TransactiveBattery(cheap, 0.8, FIT, CAP), TransactiveBattery(cheap, 0.3, FIT, CAP)
    assert FIT < fuller.offer().price < emptier.offer().price < CAP  # the fuller sells cheaper
    assert fuller.bid().price < emptier.bid().price  # and the emptier pays more to charge
    dear = BatterySpec(10_000, 0.1, 0.9, 0.95, 0.95, 0.3, 0.3, 5_000_000_000, 32_000_000)  # C_d 156,250
    assert TransactiveBattery(dear, 0.9, FIT, CAP).offer() is None  # no buyer may pay its wear


def test_a_battery_outside_its_window_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        TransactiveBattery(SPEC, 0.95, FIT, CAP)
    with pytest.raises(ValueError, match="soc_min < soc_max"):
        BatterySpec(10_000, 0.9, 0.1, 0.95, 0.95, 0.3, 0.3, 1, 1)


def test_own_use_dispatch_moves_surplus_into_later_deficits_and_keeps_the_books() -> None:
    from market.agents.battery import self_consumption

    pv = [0, 3_000, 4_000, 500, 0, 0]
    load = [800, 500, 500, 900, 2_000, 2_000]
    b = TransactiveBattery(SPEC, 0.5, FIT, CAP)
    d = self_consumption(b, pv, load, 30_000, FIT)  # 30,000 * 0.95^2 - 8,000 > 15,625: worth storing
    charge = [c - l for c, l in zip(d.consumed_wh, load)]
    discharge = [p - v for p, v in zip(d.produced_wh, pv)]
    assert all(x >= 0 for x in charge + discharge)
    assert all(not (c and x) for c, x in zip(charge, discharge))
    assert charge[1] > 0 and charge[2] > 0 and discharge[0] > 0 and discharge[4] > 0  # surplus in, deficit out
    assert all(p <= c for p, c, x in zip(d.produced_wh, d.consumed_wh, discharge) if x)  # never into export
    assert all(p >= c for p, c, x in zip(d.produced_wh, d.consumed_wh, charge) if x)  # never charges from the grid
    assert all(SPEC.soc_min - 1e-9 <= s <= SPEC.soc_max + 1e-9 for s in d.soc)
    # Eq. (6) over the day: the SOC moved by what went in (after losses) less what came out (before).
    assert (d.soc[-1] - 0.5) * SPEC.capacity_wh == pytest.approx(0.95 * sum(charge) - sum(discharge) / 0.95)
    assert d.degradation_mc == sum(b.degradation_mc(x) for x in discharge)
    idle = self_consumption(TransactiveBattery(SPEC, 0.5, FIT, CAP), pv, load, 26_000, FIT)  # 15,465 < 15,625
    assert idle.produced_wh == tuple(pv) and idle.consumed_wh == tuple(load) and idle.cycles == 0
