"""A scenario's community: its members (households with keys, meters, buses and profiles), the
market's deployer, the utility, the validators, and the genesis they share.

Every key comes from the scenario's name and seed, so the same scenario builds the same community
in every process and in both runner modes. The genesis charges no fees, so nothing the market
settles depends on which validator proposed which block, and a 4-process cluster and a one-process
chain end on the same market state. A block incentive (the scenario's `[chain]`) does depend on
it: it is minted into the proposers' accounts, which the comparison sets aside (`kpis`).

The validators are validators of their own, or (`[chain] validators = GROUP`) the first N members
of a group, whose nodes sign with their member keys: Proof of Energy then ranks them by the CPF
of their own certified meters (003 V.F). With an `[aggregator]`, a group's batteries serve its
rounds through their transactive controllers (`FlexibleProsumer`, a live agent per run) instead of
running for own use.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from market.agents.battery import Dispatch, TransactiveBattery, self_consumption
from market.agents.households import Household
from market.agents.profiles import Site, Timeline, csv_column, household_load, pv_output
from market.agents.vpp import Aggregator, FlexibleProsumer
from pownode.config import CONSENSUS_PARAMS
from pownode.scenario.spec import Group, Scenario, ScenarioError
from vm.compiler import LANGUAGE_VERSION

FUNDING_MARGIN = 10  # each member's balance: its market credit times this
UTILITY_CREDIT = 10**12  # milli-cents the utility deposits to pay for exports
AGGREGATOR_CREDIT = 10**12  # milli-cents the aggregator holds to pay for its rounds


@dataclass(frozen=True)
class Member:
    index: int
    household: Household
    group: Group
    bus: int
    zone: int
    key: PrivateKey
    meter: PrivateKey
    battery: Dispatch | None  # what its battery did for own use, when it has one run so
    flexible: FlexibleProsumer | None  # its battery's controller, when it serves the aggregator

    @property
    def name(self) -> str:
        return self.household.name

    def reading(self, interval: int) -> tuple[int, int]:
        """(produced, consumed) Wh its meter certifies for scenario interval `interval`."""
        return self.flexible.reading(interval) if self.flexible else self.household.reading(interval)

    def metered(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(produced, consumed) Wh per interval as its meter certified them (once the run is over)."""
        if self.flexible:
            return tuple(self.flexible.produced), tuple(self.flexible.consumed)
        return self.household.produced_wh, self.household.consumed_wh

    def metered_net_wh(self, interval: int) -> int:
        produced, consumed = self.metered()
        return produced[interval] - consumed[interval]

    def dispatch(self) -> Dispatch | None:
        """What its battery did, either way; a flexible one's once the run is over."""
        return self.flexible.dispatch() if self.flexible else self.battery


class Community:
    def __init__(self, scenario: Scenario, validators: int) -> None:
        self.scenario = scenario
        self.timeline = Timeline(scenario.start, scenario.intervals, scenario.interval_minutes)
        label = f"pownode-scenario/{scenario.name}/{scenario.seed}"
        self.operator = PrivateKey.from_label(f"{label}/operator")  # the chain's: certifies markets
        self.deployer = PrivateKey.from_label(f"{label}/market")  # deploys and runs the market contract
        self.utility = PrivateKey.from_label(f"{label}/utility")
        self.aggregator_key = PrivateKey.from_label(f"{label}/aggregator")
        self.members = tuple(self._members(label))
        self.validators = self._validators(label, validators)
        self.aggregator = None
        if scenario.aggregator is not None:
            nets = [sum(m.household.net_wh(k) for m in self.members) for k in range(scenario.intervals)]
            self.aggregator = Aggregator(scenario.aggregator, nets, scenario.seed)

    def _validators(self, label: str, count: int) -> tuple[PrivateKey, ...]:
        group = self.scenario.chain.validator_group
        if group is None:
            return tuple(PrivateKey.from_label(f"{label}/validator/{i}") for i in range(count))
        keys = tuple(m.key for m in self.members if m.group.name == group)
        if len(keys) < count:
            raise ScenarioError(f"{self.scenario.name}: chain.validators is group {group!r} of {len(keys)} members; "
                                f"{count} validators need as many")
        return keys[:count]

    def _members(self, label: str):
        s = self.scenario
        site = Site(s.latitude, s.longitude, s.altitude)
        market = s.market
        index = 0
        for group in s.groups:
            load = household_load(self.timeline, group.annual_kwh, group.profile) if group.load_csv is None else None
            pv = None
            if group.kind == "prosumer" and group.pv_csv is None:
                pv = pv_output(self.timeline, site, group.pv_kwp, group.tilt, group.azimuth)
            for i, bus in enumerate(group.buses):
                name = f"{group.name}-{i}"
                consumed = load if load is not None else csv_column(group.load_csv, name, s.intervals)
                produced = [0] * s.intervals
                if group.kind == "prosumer":
                    produced = pv if pv is not None else csv_column(group.pv_csv, name, s.intervals)
                ask, bid = (min(max(market.fit + round(markup * (market.cap - market.fit)), market.fit + 1),
                                market.cap - 1) for markup in (group.ask_markup, group.bid_markup))
                dispatch = flexible = None
                tcr = None
                if group.battery is not None:
                    tcr = TransactiveBattery(group.battery, (group.battery.soc_min + group.battery.soc_max) / 2,
                                             market.fit, market.cap)
                if tcr is not None and s.aggregator is None:  # own use: the meter sees the battery's flows too
                    dispatch = self_consumption(tcr, list(produced), list(consumed), market.tou, market.fit)
                    produced, consumed = dispatch.produced_wh, dispatch.consumed_wh
                household = Household(name, group.kind == "prosumer", tuple(produced), tuple(consumed), ask,
                                      group.forecast_error, s.seed, bid if market.mechanism == "double" else 0)
                if tcr is not None and s.aggregator is not None:
                    flexible = FlexibleProsumer(household, tcr, s.aggregator.min_wh)
                yield Member(index, household, group, bus, group.zones[i],
                             PrivateKey.from_label(f"{label}/member/{index}"), PrivateKey.from_label(f"{label}/meter/{index}"),
                             dispatch, flexible)
                index += 1

    @property
    def utc_offset_hours(self) -> int:
        offset = self.scenario.start.utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            raise ScenarioError(f"{self.scenario.name}: the grid's hourly prices need a whole-hour UTC offset")
        return int(offset.total_seconds() // 3600)

    def grid_price(self, interval: int) -> int:
        """The grid contract's price (milli-cents per kWh) for scenario interval `interval`."""
        g = self.scenario.market.grid
        assert g is not None, "a ZONE market's grid"
        hour = self.timeline.at(interval).hour
        factor = g.peak_ppm if g.peak[hour] else g.off_peak_ppm if g.off_peak[hour] else 1_000_000
        return g.hourly[hour] * factor // 1_000_000

    def _incentive_params(self) -> dict:
        c = self.scenario.chain
        if c.incentive == "none":
            return {"block_incentive": 0}
        return {"block_incentive": c.block_incentive, "poe_incentive": c.incentive, "poe_full_wh": c.full_wh,
                "poe_wh_per_unit": c.wh_per_unit}

    def genesis_balance(self, address: bytes) -> int:
        if address == self.aggregator_key.address:
            return AGGREGATOR_CREDIT
        return self.scenario.market.credit * FUNDING_MARGIN

    def genesis(self, genesis_time_ms: int, interval_ms: int) -> Genesis:
        """The chain both modes run: chain interval k is scenario interval k - 1 (interval 0
        sets the market up), each `interval_ms` long on the chain's clock and standing for the
        scenario's calendar (`calendar_*` params: the grid's hour, a bill's month)."""
        s = self.scenario
        calendar_ms = s.interval_minutes * 60_000
        params = {**CONSENSUS_PARAMS[s.consensus], "vm_language": LANGUAGE_VERSION, "interval_ms": interval_ms,
                  "gas_price": 0, "calendar_interval_ms": calendar_ms,
                  "calendar_origin_ms": int(s.start.timestamp() * 1000) - calendar_ms, **self._incentive_params()}
        if s.chain.incentive == "none":
            params.pop("poe_incentive", None)
        balances = [{"address": m.key.address.hex(), "amount": s.market.credit * FUNDING_MARGIN} for m in self.members]
        balances += [{"address": self.utility.address.hex(), "amount": UTILITY_CREDIT},
                     {"address": self.deployer.address.hex(), "amount": 10**9}]
        if self.aggregator is not None:
            balances.append({"address": self.aggregator_key.address.hex(), "amount": AGGREGATOR_CREDIT})
        return Genesis.from_json({
            "chain_id": f"scenario-{s.name}"[:64],
            "genesis_time_ms": genesis_time_ms,
            "operator": self.operator.public_key.hex(),
            "min_fee": 0,
            "validators": [{"name": f"node{i}", "public_key": v.public_key.hex(), "power": 1}
                           for i, v in enumerate(self.validators)],
            "balances": balances,
            "meters": [{"public_key": m.meter.public_key.hex(), "meter_type": "smart-meter",
                        "serial": f"{s.name}-{m.name}"[:64], "owner": m.key.address.hex()} for m in self.members],
            "consensus": s.consensus,
            "params": params,
        })
