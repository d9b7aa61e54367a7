"""003's transactive controller (TCR) for a residential prosumer's battery (Siano et al., V.D).

The TCR offers to discharge or bids to charge, sizing the quantity from the battery's state of
charge within its limits, equations (1)-(6):

    SOC_min <= SOC_t <= SOC_max                                                  (1)
    r_t^ch = (SOC_t - SOC_t-1) / eta_ch,   r_t^dis = (SOC_t-1 - SOC_t) * eta_dis  (2), (3)
    0 <= r_t^ch <= r^ch,max,   0 <= r_t^dis <= r^dis,max                          (4), (5)
    SOC_t = SOC_t-1 + eta_ch * E_ch / Cap - E_dis / (eta_dis * Cap)               (6)

so the most it can deliver in an interval grows with the SOC (Fig. 4) and the most it can take
shrinks with it (Fig. 5). Its prices follow the quantities, and an offer never goes below the
degradation cost of the energy discharged, equations (7)-(8):

    Cost_t^Degr = E_t^dis * C_d,    C_d = C_battery / L_ET                        (7), (8)

with L_ET the energy the battery delivers over its life in its cycling regime. Rates are in SOC
per interval (the paper's r is the SOC change in one step). Floats inside, like any agent's
private model; quantities leave as whole Wh and prices as whole milli-cents per kWh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BatterySpec:
    capacity_wh: int  # Cap^B
    soc_min: float
    soc_max: float
    eta_charge: float
    eta_discharge: float
    rate_charge_max: float  # r^ch,max: SOC per interval
    rate_discharge_max: float  # r^dis,max
    capital_mc: int  # C_battery, milli-cents
    lifetime_wh: int  # L_ET: Wh delivered over the battery's life

    def __post_init__(self) -> None:
        if not 0 <= self.soc_min < self.soc_max <= 1:
            raise ValueError(f"need 0 <= soc_min < soc_max <= 1, not {self.soc_min}, {self.soc_max}")
        if not (0 < self.eta_charge <= 1 and 0 < self.eta_discharge <= 1):
            raise ValueError("efficiencies are in (0, 1]")
        if self.capacity_wh <= 0 or self.lifetime_wh <= 0 or self.capital_mc < 0:
            raise ValueError("capacity and lifetime are positive, the capital cost not negative")
        if not (0 < self.rate_charge_max <= 1 and 0 < self.rate_discharge_max <= 1):
            raise ValueError("rate limits are SOC per interval, in (0, 1]")

    @property
    def degradation_mc_per_kwh(self) -> float:
        """C_d, eq. (8), per kWh discharged."""
        return self.capital_mc / self.lifetime_wh * 1000


@dataclass(frozen=True)
class Quote:
    energy_wh: int
    price: int  # milli-cents per kWh


class TransactiveBattery:
    def __init__(self, spec: BatterySpec, soc: float, price_floor: int, price_cap: int) -> None:
        """`price_floor` .. `price_cap`: the market's price band (FIT .. cap) its quotes lie in."""
        if not spec.soc_min <= soc <= spec.soc_max:
            raise ValueError(f"initial SOC {soc} outside [{spec.soc_min}, {spec.soc_max}] (eq. 1)")
        self.spec = spec
        self.soc = soc
        self.floor = price_floor
        self.cap = price_cap
        self.discharged_wh = 0
        self.charged_wh = 0

    def _fullness(self) -> float:
        s = self.spec
        return (self.soc - s.soc_min) / (s.soc_max - s.soc_min)

    def max_discharge_wh(self) -> int:
        """The most it can deliver this interval: (1), (3), (5) through (6)."""
        s = self.spec
        by_rate = s.rate_discharge_max * s.capacity_wh
        by_soc = (self.soc - s.soc_min) * s.eta_discharge * s.capacity_wh
        return max(0, math.floor(min(by_rate, by_soc) + 1e-9))

    def max_charge_wh(self) -> int:
        """The most it can take this interval: (1), (2), (4) through (6)."""
        s = self.spec
        by_rate = s.rate_charge_max * s.capacity_wh / s.eta_charge
        by_soc = (s.soc_max - self.soc) * s.capacity_wh / s.eta_charge
        return max(0, math.floor(min(by_rate, by_soc) + 1e-9))

    def offer(self) -> Quote | None:
        """Discharge for sale: all it can deliver; the fuller, the cheaper, never below the
        degradation cost (7)-(8) nor outside the market's band. None when empty."""
        energy = self.max_discharge_wh()
        if energy == 0:
            return None
        band = self.floor + (self.cap - self.floor) * (1.0 - self._fullness())
        price = max(band, self.spec.degradation_mc_per_kwh, self.floor + 1)
        if price >= self.cap:
            return None  # degradation alone costs more than any buyer may pay
        return Quote(energy, math.ceil(price))

    def bid(self) -> Quote | None:
        """Charge by buying: all it can take; the emptier, the more it will pay."""
        energy = self.max_charge_wh()
        if energy == 0:
            return None
        price = self.floor + (self.cap - self.floor) * (1.0 - self._fullness())
        return Quote(energy, min(self.cap - 1, max(self.floor + 1, math.floor(price))))

    def degradation_mc(self, discharge_wh: int) -> int:
        """Eq. (7): the cost of delivering `discharge_wh`."""
        return math.ceil(discharge_wh * self.spec.degradation_mc_per_kwh / 1000)

    def apply(self, charge_wh: int = 0, discharge_wh: int = 0) -> None:
        """Eq. (6): the SOC after charging `charge_wh` (drawn) or delivering `discharge_wh`."""
        if charge_wh and discharge_wh:
            raise ValueError("an interval charges or discharges, not both")
        if charge_wh > self.max_charge_wh() or discharge_wh > self.max_discharge_wh() or min(charge_wh, discharge_wh) < 0:
            raise ValueError(f"outside the battery's limits this interval: charge {charge_wh}, discharge {discharge_wh}")
        s = self.spec
        self.soc += s.eta_charge * charge_wh / s.capacity_wh - discharge_wh / (s.eta_discharge * s.capacity_wh)
        self.soc = min(s.soc_max, max(s.soc_min, self.soc))  # float rounding only: the limits held above
        self.charged_wh += charge_wh
        self.discharged_wh += discharge_wh

    @property
    def cycles(self) -> float:
        """Equivalent full cycles delivered so far (over the usable SOC window)."""
        s = self.spec
        return self.discharged_wh / (s.capacity_wh * (s.soc_max - s.soc_min) * s.eta_discharge)


@dataclass(frozen=True)
class Dispatch:
    """What a household's meter sees once its battery ran, and what the battery went through."""

    produced_wh: tuple[int, ...]  # PV plus battery discharge
    consumed_wh: tuple[int, ...]  # load plus battery charge
    soc: tuple[float, ...]  # at the end of each interval
    cycles: float
    degradation_mc: int


def self_consumption(battery: TransactiveBattery, produced: list[int], consumed: list[int], tou: int,
                     fit: int) -> Dispatch:
    """The TCR's own-use dispatch: store a PV surplus and deliver it into a later deficit, within
    the limits of eqs. (1)-(6), when a stored Wh is worth its wear: buying it back at TOU after
    the round trip saves more than exporting it at FIT earns plus the degradation cost (7)-(8)."""
    s = battery.spec
    worth = tou * s.eta_charge * s.eta_discharge - fit > s.degradation_mc_per_kwh
    out_p, out_c, soc, wear = [], [], [], 0
    for p, c in zip(produced, consumed):
        charge = discharge = 0
        if worth and p > c:
            charge = min(p - c, battery.max_charge_wh())
        elif worth and c > p:
            discharge = min(c - p, battery.max_discharge_wh())
        battery.apply(charge, discharge)
        wear += battery.degradation_mc(discharge)
        out_p.append(p + discharge)
        out_c.append(c + charge)
        soc.append(battery.soc)
    return Dispatch(tuple(out_p), tuple(out_c), tuple(soc), battery.cycles, wear)
