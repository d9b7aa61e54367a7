"""A household's market agent: its meter's readings and its forward orders (Nakayama et al., 000).

Pure decisions, no keys and no I/O: the scenario runner signs what these return. A household
knows its own profile (Wh produced and consumed per interval). Its meter reports the interval
just ended. Its trader forecasts its net export for each forward window once, when the window
enters its horizon t+m .. t+m+n-1, and posts it: a surplus as an offer at its ask, a deficit as
a demand at any price up to the market's cap (000's consumers take the merit-order price), or in
a double auction at its bid. The
forecast's relative error grows with how far ahead it is made, up to `forecast_error` for the
farthest window, drawn from a generator seeded by the scenario's seed, the household and the
interval, so a run is the same every time and in every process.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

BUY = 0
SELL = 1
MAX_ORDER_WH = 1 << 24  # p2p_market's MAX_WH


@dataclass(frozen=True)
class OrderIntent:
    """An order to post for scenario interval `interval` (the runner maps it to a window)."""

    interval: int
    side: int
    energy_wh: int
    price: int  # milli-cents per kWh; 0 on a demand: any price up to the cap (MERIT, ZONE)


@dataclass(frozen=True)
class Household:
    name: str
    prosumer: bool
    produced_wh: tuple[int, ...]
    consumed_wh: tuple[int, ...]
    ask: int  # milli-cents per kWh, strictly between the market's FIT and cap
    forecast_error: float
    seed: int
    bid: int = 0  # what its demands offer to pay; 0 takes the market's price (MERIT, ZONE)

    def reading(self, interval: int) -> tuple[int, int]:
        """(produced, consumed) Wh its meter certifies for `interval`."""
        return self.produced_wh[interval], self.consumed_wh[interval]

    def net_wh(self, interval: int) -> int:
        return self.produced_wh[interval] - self.consumed_wh[interval]

    def forecast_net_wh(self, interval: int, ahead: int, horizon: int) -> int:
        """Net export of `interval` as forecast `ahead` intervals before it (of at most `horizon`)."""
        actual = self.net_wh(interval)
        if not self.forecast_error or not actual:
            return actual
        spread = self.forecast_error * min(ahead, horizon) / horizon
        error = random.Random(f"{self.seed}/{self.name}/{interval}").gauss(0.0, spread)
        return round(actual * (1.0 + max(-1.0, error)))

    def order(self, interval: int, ahead: int, horizon: int) -> OrderIntent | None:
        """What to post for `interval`, forecast `ahead` intervals early; None when it expects
        to balance. Only a prosumer offers (the market takes offers from metered producers)."""
        net = self.forecast_net_wh(interval, ahead, horizon)
        if net > 0 and self.prosumer:
            return OrderIntent(interval, SELL, min(net, MAX_ORDER_WH), self.ask)
        if net < 0:
            return OrderIntent(interval, BUY, min(-net, MAX_ORDER_WH), self.bid)
        return None
