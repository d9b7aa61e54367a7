"""Runs a scenario's community on a chain, interval by interval, through signed transactions only.

Chain interval 0 sets the market up: the market's operator deploys `p2p_market` (MERIT: 000's
merit order and pro-rata trades; or ZONE: 002's zone matching, with the utility's `grid`
contract pricing residual demand by the hour) and sets it up with the scenario's tariffs, the chain's
operator certifies it, the operator registers every member and the utility and every member
deposit their credit, and the members post orders for the first horizon. Scenario interval s is
chain interval (and market window) s + 1. In chain interval c:

1. every member's meter signs its reading of interval c - 1 (the one that just ended);
2. the market's operator settles window c - 1 against those readings (000, II.C);
3. the operator clears window c + m - 1, which just closed (Algorithms 1 and 2);
4. every member posts its order for window c + m + n - 1, which just entered its horizon
   (unless the scenario's market takes no forward orders and only bills the meters).

With an `[aggregator]` (003), the operator also certifies the aggregator's contract, and in
chain interval c the aggregator settles the round delivered in window c - 1 (before the market
settles the window, so its claims on the metered delivery come first), then opens a round for
window c + 1 when its forecast deviates from its schedule, the batteries' controllers answer it,
and it closes the round; each controller learns what was accepted from the close's output.

Each step is one phase (see `drivers`): at most one transaction per sender, in member order, so
both drivers commit the same transactions in the same order in the same chain interval.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading, Transaction
from market.contracts import source
from pownode.scenario.community import UTILITY_CREDIT, Community
from pownode.scenario.phases import GAS, Phases
from pownode.scenario.spec import ScenarioError
from vm import values
from vm.machine import contract_address

MECHANISMS = {"merit": 0, "zone": 1, "double": 2}  # p2p_market's MERIT, ZONE and DOUBLE
GRACE = 1
CLEAR_STEPS = 4096
SETTLE_STEPS = 256
MAX_CALLS = 64  # clear or settle calls for one window before the run gives up


@dataclass
class WindowResult:
    window: int
    price: int
    volume_wh: int
    trades: int


@dataclass
class RoundResult:
    """An aggregator round as opened and closed (its delivery is read from the contract)."""

    window: int
    buys: bool
    quantity_wh: int
    price: int
    answers: int
    accepted_wh: int


@dataclass
class Trace:
    """What the run sent and what the market answered, for the report."""

    windows: list[WindowResult] = field(default_factory=list)
    rounds: list[RoundResult] = field(default_factory=list)


class Runner(Phases):
    def __init__(self, community: Community, genesis: Genesis, driver, progress: Callable[[int, int], None]) -> None:
        super().__init__(genesis, driver)
        self.community = community
        self.progress = progress
        self.market = contract_address(community.deployer.address,
                                       hashlib.sha256(source("p2p_market").encode()).digest())
        self.grid = contract_address(community.utility.address, hashlib.sha256(source("grid").encode()).digest())
        self.aggregator = contract_address(community.aggregator_key.address,
                                           hashlib.sha256(source("aggregator").encode()).digest())
        self.trace = Trace()

    def _call(self, key: PrivateKey, function: str, *args, value: int = 0) -> Transaction:
        return self._call_to(self.market, key, function, *args, value=value)

    # --- the run --------------------------------------------------------------------------

    def run(self) -> Trace:
        s = self.community.scenario
        last = s.intervals + 1  # window s.intervals is settled in the interval after it
        for c in range(last + 1):
            self.driver.enter(c)
            if c == 0:
                self._setup()
            else:
                self._readings(c - 1)
                self._settle_round(c - 1)
                self._settle(c - 1)
                self._clear(c + s.market.lead - 1)
                self._round(c + 1)
            if s.market.forward_orders:
                self._orders(c)
            self.progress(c, last)
        return self.trace

    def _setup(self) -> None:
        m = self.community.scenario.market
        deployer, utility = self.community.deployer, self.community.utility
        self._phase([self._sign(deployer, ContractDeploy(source("p2p_market"), GAS), self.fee)], "deploy")
        grid = b""
        if m.grid is not None:  # 002's P2G: the utility's grid contract prices residual demand
            grid = self.grid
            g = m.grid
            # The contract's hour is the chain's (UTC); the scenario's tariff is in local hours.
            shift = self.community.utc_offset_hours

            def utc(column: tuple[int, ...]) -> tuple[int, ...]:
                return tuple(column[(u + shift) % 24] for u in range(24))

            self._phase([self._sign(utility, ContractDeploy(source("grid"), GAS), self.fee)], "deploy the grid")
            self._phase([self._sign(utility, ContractCall(grid, "setup", (g.peak_ppm, g.off_peak_ppm, utc(g.hourly),
                                                                         utc(g.peak), utc(g.off_peak)), GAS, 0),
                                    self.fee)], "grid setup")
            self._phase([self._sign(utility, ContractCall(grid, "allow", (self.market,), GAS, 0), self.fee)],
                        "grid allows the market")
        certify = [self._sign(self.community.operator, CertifyMarket(self.market, 1))]
        if self.community.aggregator is not None:  # 003's aggregator settles against meters too
            self._phase([self._sign(self.community.aggregator_key, ContractDeploy(source("aggregator"), GAS), self.fee)],
                        "deploy the aggregator")
            certify.append(self._sign(self.community.operator, CertifyMarket(self.aggregator, 1)))
        self._phase([self._call(deployer, "setup", MECHANISMS[m.mechanism], m.fit, m.tou, m.alpha_ppm, m.service,
                                m.lead, m.span, utility.address, GRACE, grid, 1 if m.any_zone else 0, deployer.address)]
                    + certify, "setup")
        self._phase([self._call(deployer, "register", mem.key.address, mem.zone, 1 if mem.household.prosumer else 0)
                     for mem in self.community.members], "register")
        self._phase([self._call(utility, "deposit", value=UTILITY_CREDIT // 2)]
                    + [self._call(mem.key, "deposit", value=m.credit) for mem in self.community.members], "deposit")

    def _in_scenario(self, window: int) -> bool:
        return 1 <= window <= self.community.scenario.intervals

    def _readings(self, window: int) -> None:
        if not self._in_scenario(window):
            return
        self._phase([self._sign(mem.meter, MeterReading(window, *mem.reading(window - 1)))
                     for mem in self.community.members], f"readings of window {window}")

    def _repeat(self, function: str, window: int, steps: int, finished: Callable[[object], bool]) -> object:
        for _ in range(MAX_CALLS):
            out = values.decode(self._phase([self._call(self.community.deployer, function, window, steps)],
                                            f"{function} window {window}")[0].output)
            if finished(out):
                return out
        raise ScenarioError(f"window {window}: {function} did not finish in {MAX_CALLS} calls")

    def _settle(self, window: int) -> None:
        if self._in_scenario(window):
            self._repeat("settle", window, SETTLE_STEPS, lambda out: out[1] == 1)

    def _clear(self, window: int) -> None:
        if self._in_scenario(window):
            r = self._repeat("clear", window, CLEAR_STEPS, lambda out: out is not None)
            self.trace.windows.append(WindowResult(window, r[0], r[1], r[2]))

    def _aggregator_call(self, function: str, *args, value: int = 0, key: PrivateKey | None = None) -> Transaction:
        return self._sign(key or self.community.aggregator_key,
                          ContractCall(self.aggregator, function, tuple(args), GAS, value), self.fee)

    def _round(self, window: int) -> None:
        """The aggregator's round for `window`, the controllers' answers, and the close."""
        vpp = self.community.aggregator
        if vpp is None or not self._in_scenario(window):
            return
        intent = vpp.round_for(window - 1)
        if intent is None:
            return
        deposit = intent.quantity_wh * intent.price // 1000 if intent.buys else 0
        self._phase([self._aggregator_call("open_round", window, 1 if intent.buys else 0, intent.quantity_wh,
                                           intent.price, window, vpp.spec.min_wh, value=deposit)], f"open round {window}")
        answering, txs = [], []
        for mem in self.community.members:
            quote = mem.flexible.answer(intent, window - 2) if mem.flexible else None
            if quote is not None:  # an offer's deposit is its collateral, a bid's its payment
                answering.append(mem)
                txs.append(self._aggregator_call("answer", window, quote.energy_wh, quote.price,
                                                 value=quote.energy_wh * quote.price // 1000, key=mem.key))
        self._phase(txs, f"answers to round {window}")
        closed = values.decode(self._phase([self._aggregator_call("close", window)], f"close round {window}")[0].output)
        accepted = 0
        for k, energy, _payment in closed[2]:
            answering[k].flexible.accept(window - 1, intent.buys, energy)
            accepted += energy
        self.trace.rounds.append(RoundResult(window, intent.buys, intent.quantity_wh, intent.price, len(answering),
                                             accepted))

    def _settle_round(self, window: int) -> None:
        if any(r.window == window for r in self.trace.rounds):
            self._phase([self._aggregator_call("settle", window)], f"settle round {window}")

    def _orders(self, c: int) -> None:
        m = self.community.scenario.market
        horizon = m.lead + m.span - 1
        first = c + m.lead if c == 0 else c + horizon
        for window in range(first, c + horizon + 1):
            if not self._in_scenario(window):
                continue
            txs = []
            for mem in self.community.members:
                intent = mem.household.order(window - 1, window - c, horizon)
                if intent is not None:
                    txs.append(self._call(mem.key, "post", window, intent.side, intent.energy_wh, intent.price, 0))
            self._phase(txs, f"orders for window {window}")
