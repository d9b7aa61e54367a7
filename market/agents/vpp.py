"""003's VPP aggregator and its prosumers' transactive batteries, as agents (Siano et al., V.C-D).

The aggregator committed a day-ahead schedule of its members' net export to the TSO. An
interval ahead of delivery it forecasts the members' net export again; when the new forecast
falls short of the schedule it opens a round to *buy* the shortfall from its prosumers, when it
exceeds it a round to *sell* the surplus to them. Each prosumer's transactive controller (TCR)
answers from its battery: an offer to discharge when the aggregator buys, a bid to charge when
it sells, sized and priced by `TransactiveBattery` (eqs. 1-8), never at a price the round would
not take. What the round accepts, the battery delivers in the delivery interval, and the meter
that certifies the interval sees it.

Pure decisions and private models, no keys and no I/O: the scenario runner signs the round, the
answers and the close, and tells each controller what the chain accepted. Floats are fine inside
(forecasts, SOC); what leaves is whole Wh and milli-cents per kWh. Forecast errors come from
generators seeded by the scenario's seed and the interval, so every process makes the same run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from market.agents.battery import Dispatch, Quote, TransactiveBattery
from market.agents.households import Household


@dataclass(frozen=True)
class AggregatorSpec:
    buy_price: int  # the most it pays per kWh it is short of (offers must be below it)
    sell_price: int  # the least it takes per kWh it has too much of (bids must be above it)
    min_wh: int  # the smallest round and the smallest answer
    schedule_error: float  # relative error of the day-ahead forecast its schedule rests on
    forecast_error: float  # relative error of its forecast one interval ahead


@dataclass(frozen=True)
class RoundIntent:
    """A round to open for scenario interval `interval`: buy (or sell) `quantity_wh` at `price`."""

    interval: int
    buys: bool
    quantity_wh: int
    price: int


class Aggregator:
    """The VPP's planning: its schedule, and the round each interval's forecast calls for."""

    def __init__(self, spec: AggregatorSpec, net_wh: list[int], seed: int) -> None:
        """`net_wh`: the members' actual net export per scenario interval, batteries idle."""
        self.spec = spec
        self.seed = seed
        self.actual = list(net_wh)
        self.schedule = [self._estimate(k, spec.schedule_error, "day-ahead") for k in range(len(net_wh))]

    def _estimate(self, interval: int, error: float, label: str) -> int:
        actual = self.actual[interval]
        if not error:
            return actual
        draw = random.Random(f"{self.seed}/aggregator/{label}/{interval}").gauss(0.0, error)
        return actual + round(abs(actual) * draw)

    def forecast(self, interval: int) -> int:
        return self._estimate(interval, self.spec.forecast_error, "hour-ahead")

    def round_for(self, interval: int) -> RoundIntent | None:
        """The round for `interval`, forecast one interval ahead; None when the deviation from
        the schedule is below the smallest round."""
        deviation = self.forecast(interval) - self.schedule[interval]
        if abs(deviation) < self.spec.min_wh:
            return None
        if deviation < 0:  # less export than scheduled: buy the shortfall from the batteries
            return RoundIntent(interval, True, -deviation, self.spec.buy_price)
        return RoundIntent(interval, False, deviation, self.spec.sell_price)


@dataclass
class FlexibleProsumer:
    """A prosumer's household with its TCR-run battery, which moves only for accepted rounds.

    The aggregator pays for delivery as the meter shows it: net export for an offer, net import
    for a bid (`market.contracts.aggregator`). So the TCR answers only when its household's own
    forecast net flow does not work against the battery's (an offer when the household expects
    no deficit, a bid when it expects no surplus): then what the battery moves is what the meter
    shows, and what the aggregator buys is what its aggregate gets. `reading(k)` dispatches
    interval k (in order, once): exactly the accepted energy, within eqs. (1)-(6); a forecast
    miss shows in the meter, and the aggregator pays only what the meter shows.
    """

    household: Household
    battery: TransactiveBattery
    min_wh: int
    committed: dict[int, tuple[bool, int]] = field(default_factory=dict)  # interval -> (offer?, Wh)
    produced: list[int] = field(default_factory=list)  # metered, battery included
    consumed: list[int] = field(default_factory=list)
    soc: list[float] = field(default_factory=list)
    wear_mc: int = 0

    def _projected(self) -> TransactiveBattery:
        """The battery as it will be once the interval under way is dispatched as accepted."""
        now = len(self.produced)
        projected = TransactiveBattery(self.battery.spec, self.battery.soc, self.battery.floor, self.battery.cap)
        if now in self.committed:
            projected.apply(*self._flows(projected, *self.committed[now]))
        return projected

    @staticmethod
    def _flows(battery: TransactiveBattery, offer: bool, energy: int) -> tuple[int, int]:
        """(charge, discharge) for an accepted offer or bid of `energy`, within the limits."""
        if offer:
            return 0, min(battery.max_discharge_wh(), energy)
        return min(battery.max_charge_wh(), energy), 0

    def answer(self, round_: RoundIntent, interval_now: int) -> Quote | None:
        """The TCR's answer to a round for the next interval: an offer (the aggregator buys) or
        a bid, sized so the meter can show it, priced by the TCR, or None when it cannot help
        or its price would not be taken."""
        if round_.interval != interval_now + 1:
            raise ValueError("the TCR answers rounds for the next interval only")
        battery = self._projected()
        own = self.household.forecast_net_wh(round_.interval, 1, 1)
        quote = battery.offer() if round_.buys else battery.bid()
        if quote is None:
            return None
        opposite = own < 0 if round_.buys else own > 0
        taken = quote.price < round_.price if round_.buys else quote.price > round_.price
        if opposite or quote.energy_wh < self.min_wh or not taken:
            return None
        return quote

    def accept(self, interval: int, offer: bool, energy_wh: int) -> None:
        """The round closed: the battery is to deliver (offer) or take `energy_wh` in `interval`."""
        self.committed[interval] = (offer, energy_wh)

    def reading(self, interval: int) -> tuple[int, int]:
        """(produced, consumed) Wh the meter certifies for `interval`, the battery dispatched."""
        if interval != len(self.produced):
            raise ValueError(f"interval {interval} dispatched out of order (next is {len(self.produced)})")
        p, c = self.household.reading(interval)
        charge = discharge = 0
        if interval in self.committed:
            charge, discharge = self._flows(self.battery, *self.committed[interval])
        self.battery.apply(charge, discharge)
        self.wear_mc += self.battery.degradation_mc(discharge)
        self.produced.append(p + discharge)
        self.consumed.append(c + charge)
        self.soc.append(self.battery.soc)
        return self.produced[-1], self.consumed[-1]

    def dispatch(self) -> Dispatch:
        return Dispatch(tuple(self.produced), tuple(self.consumed), tuple(self.soc), self.battery.cycles, self.wear_mc)
