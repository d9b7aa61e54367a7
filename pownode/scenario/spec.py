"""A scenario file: who takes part, where they sit on the feeder, their profiles, the market and
its tariffs, the horizon, and the seed. TOML, validated here with errors that name the field.

    name = "nakayama-ieee33"
    seed = 7
    start = 2026-06-21T03:00:00+09:00     # interval 0, with its UTC offset
    intervals = 84
    interval_minutes = 15
    consensus = "pbft"                    # pbft, pos or poe
    system = "market"                     # market (000/002/003's P2P market), auction or admm (001),
                                          # ces (004); a system's settings are in its own table,
                                          # [auction], [admm] or [ces], read by its module

    [site]                                # for the PV model
    latitude = 34.69
    longitude = 135.50

    [market]
    mechanism = "merit"                   # merit (000), zone (002), or double (a uniform-price double auction)
    lead = 1                              # m: orders for windows t+m ..
    span = 4                              # n: .. t+m+n-1
    fit = 8000                            # milli-cents per kWh the utility pays for exports
    tou = 26000                           # milli-cents per kWh it charges for imports
    alpha = 0.8                           # P2P price cap = alpha * tou
    service = 500                         # milli-cents per kWh bought P2P, to the utility
    credit = 50000000                     # milli-cents each member deposits
    any_zone = false                      # zone: may buyers take from any area after adjacent ones

    [market.grid]                         # zone only: the utility's P2G prices (002)
    price = 24000                         # every hour, or hourly = [24 prices]
    peak_hours = [17, 18, 19, 20]         # local hours
    off_peak_hours = [0, 1, 2, 3, 4, 5]
    peak_factor = 1.2
    off_peak_factor = 0.95

    [feeder]
    model = "case33bw"                    # pandapower's IEEE 33-bus feeder, or "none"
    households_per_member = 20            # each member's net load counts this many times

    [[group]]
    name = "prosumer"
    kind = "prosumer"                     # consumer or prosumer
    buses = [6, 9, 12, 15]                # one member per bus
    zones = [0, 0, 1, 1]                  # each member's market area (default 0)
    annual_kwh = 4000
    profile = "h0"                        # a BDEW profile (demandlib), or load_csv = "file.csv"
    pv_kwp = 4.0                          # prosumers: pvlib clear-sky, or pv_csv = "file.csv"
    battery_kwh = 10                      # a battery per member, run by 003's transactive
    battery_cost = 400                    # controller for own use: cost per kWh of capacity,
    battery_cycles = 4000                 # full cycles in its life (and battery_rate, soc_min,
                                          # soc_max, efficiency)
    tilt = 30
    azimuth = 180
    ask_markup = 0.3                      # asks at fit + markup * (cap - fit)
    bid_markup = 0.7                      # double: demands bid at fit + markup * (cap - fit)
    forecast_error = 0.1                  # relative error of the forecast for the farthest window

    [aggregator]                          # 003's VPP aggregator: rounds for its schedule's deviations,
    buy_price = 24000                     # answered by the batteries' transactive controllers (then
    sell_price = 9000                     # batteries serve the rounds, not own use)
    min_wh = 200                          # smallest round and answer
    schedule_error = 0.2                  # day-ahead forecast error of the members' net export
    forecast_error = 0.05                 # its error one interval ahead

    [chain]
    validators = "prosumer"               # the group whose first N members run the N validators
    incentive = "RE+TE"                   # none, flat, RE, TE or RE+TE (003 V.F)
    block_incentive = 1000                # milli-cents per block (RE/TE: scaled by energy and CPF)
    full_wh = 1000                        # RE/TE: the energy per interval that earns all of it
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from market.agents.battery import BatterySpec
from market.agents.profiles import BDEW_PROFILES
from market.agents.vpp import AggregatorSpec
from pownode.toml_tables import Fields, read_toml

MECHANISMS = ("merit", "zone", "double")
KINDS = ("consumer", "prosumer")
CONSENSUS = ("pbft", "pos", "poe")
FEEDERS = ("case33bw", "none")
# What the community runs: the P2P market of 000/002/003, or one of the other seed systems, each a
# module of `pownode.scenario.systems` with its settings in the table of its name ([auction], ...).
SYSTEMS = ("market", "auction", "admm", "ces")
MAX_MEMBERS = 256
INCENTIVES = ("none", "flat", "RE", "TE", "RE+TE")


class ScenarioError(ValueError):
    """A scenario that cannot run; the message names the file, the field and what it expects."""


@dataclass(frozen=True)
class GridTariff:
    """002's P2G prices (the `grid` contract): a base price per hour of the day, times
    `peak_ppm` in peak hours and `off_peak_ppm` in off-peak hours."""

    hourly: tuple[int, ...]  # 24 milli-cents per kWh
    peak: tuple[int, ...]  # 24 flags
    off_peak: tuple[int, ...]
    peak_ppm: int
    off_peak_ppm: int


@dataclass(frozen=True)
class Market:
    mechanism: str
    lead: int
    span: int
    fit: int
    tou: int
    alpha_ppm: int
    service: int
    credit: int
    any_zone: bool
    grid: GridTariff | None  # ZONE only
    forward_orders: bool  # whether members post forward orders (off: the market only bills the meters)

    @property
    def cap(self) -> int:
        return self.tou * self.alpha_ppm // 1_000_000


@dataclass(frozen=True)
class Group:
    name: str
    kind: str
    buses: tuple[int, ...]
    annual_kwh: float
    profile: str
    load_csv: Path | None
    pv_kwp: float
    pv_csv: Path | None
    tilt: float
    azimuth: float
    ask_markup: float
    bid_markup: float  # double auction: demands bid fit + markup * (cap - fit)
    forecast_error: float
    zones: tuple[int, ...]  # each member's market area (002), in the order of `buses`
    battery: BatterySpec | None  # each member's, run by 003's transactive controller


# What a paper reported that the report sets beside the run: "WHO.KPI" (WHO consumer, prosumer,
# all or a group's name; KPI one of CLASS_KPIS) or one of COMMUNITY_KPIS.
CLASS_KPIS = ("spend_savings_pct", "revenue_gain_pct", "savings_pct", "cost_per_member", "baseline_cost_per_member")
COMMUNITY_KPIS = ("peak_to_average", "baseline_peak_to_average")


@dataclass(frozen=True)
class PaperFigures:
    source: str
    figures: tuple[tuple[str, float], ...]  # (KPI, the paper's value), in the file's order


@dataclass(frozen=True)
class ChainSetup:
    """Who validates and what a block pays its proposer (`ledger.executor`'s incentive)."""

    validator_group: str | None  # None: validators of their own, outside the community
    incentive: str  # one of INCENTIVES
    block_incentive: int  # milli-cents
    full_wh: int
    wh_per_unit: int  # the CPF's exponent unit (003 eq. 9)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    start: datetime
    intervals: int
    interval_minutes: int
    consensus: str
    latitude: float
    longitude: float
    altitude: float
    market: Market
    feeder: str
    households_per_member: float
    groups: tuple[Group, ...]
    paper: PaperFigures | None
    chain: ChainSetup
    aggregator: AggregatorSpec | None
    system: str = "market"  # one of SYSTEMS
    settings: dict[str, Any] = field(default_factory=dict)  # the system's own table, read by its module

    @property
    def members(self) -> int:
        return sum(len(g.buses) for g in self.groups)


def _fields(doc: Any, where: str) -> Fields:
    return Fields(doc, where, ScenarioError)


def _path(fields: Fields, key: str, base: Path) -> Path | None:
    value = fields.get(key, str)
    if value is None:
        return None
    path = (base / value).resolve()
    if not path.is_file():
        raise ScenarioError(f"{fields.where}: {key} {value!r}: no such file (relative to {base})")
    return path


def _battery(f: Fields) -> BatterySpec | None:
    """battery_kwh (0: none), battery_cost (currency units per kWh of capacity), battery_cycles
    (full cycles in its life), battery_rate (SOC per interval), soc_min, soc_max, efficiency."""
    kwh = f.number("battery_kwh", 0, 10_000, 0.0)
    cost = f.number("battery_cost", 0, 100_000, 400.0)
    cycles = f.number("battery_cycles", 1, 100_000, 4000, integer=True)
    rate = f.number("battery_rate", 0.01, 1, 0.5)
    soc_min, soc_max = f.number("soc_min", 0, 1, 0.1), f.number("soc_max", 0, 1, 0.9)
    efficiency = f.number("efficiency", 0.5, 1, 0.95)
    if not kwh:
        return None
    if not soc_min < soc_max:
        raise ScenarioError(f"{f.where}: soc_min must be below soc_max")
    capacity = round(kwh * 1000)
    return BatterySpec(capacity, soc_min, soc_max, efficiency, efficiency, rate, rate, round(cost * kwh * 100_000),
                       round(cycles * capacity * (soc_max - soc_min)))


def _zones(f: Fields, members: int) -> tuple[int, ...]:
    zones = f.get("zones", list, [0] * members)
    if len(zones) != members or not all(isinstance(z, int) and not isinstance(z, bool) and 0 <= z < 65536
                                        for z in zones):
        raise ScenarioError(f"{f.where}: zones must give each of the {members} members (one per bus) an area 0..65535")
    return tuple(zones)


def _group(doc: Any, index: int, base: Path, feeder_buses: int) -> Group:
    f = _fields(doc, f"group[{index}]")
    name = f.get("name", str, required=True)
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ScenarioError(f"{f.where}: name must be letters, digits, - and _, not {name!r}")
    kind = f.choice("kind", KINDS, "consumer")
    buses = f.get("buses", list, required=True)
    if not buses or not all(isinstance(b, int) and not isinstance(b, bool) and 1 <= b < feeder_buses for b in buses):
        raise ScenarioError(f"{f.where}: buses must be a non-empty array of bus numbers 1..{feeder_buses - 1} "
                            f"(bus 0 is the substation)")
    profile = f.choice("profile", BDEW_PROFILES, "h0")
    load_csv = _path(f, "load_csv", base)
    pv_csv = _path(f, "pv_csv", base)
    pv_kwp = f.number("pv_kwp", 0, 10_000, 0.0)
    if kind == "prosumer" and pv_kwp == 0 and pv_csv is None:
        raise ScenarioError(f"{f.where}: a prosumer group needs pv_kwp or pv_csv")
    if kind == "consumer" and (pv_kwp or pv_csv):
        raise ScenarioError(f"{f.where}: consumers have no PV (make the group a prosumer)")
    group = Group(name, kind, tuple(buses), f.number("annual_kwh", 1, 1_000_000, 3500.0), profile, load_csv,
                  pv_kwp, pv_csv, f.number("tilt", 0, 90, 30.0), f.number("azimuth", 0, 360, 180.0),
                  f.number("ask_markup", 0.01, 0.99, 0.3), f.number("bid_markup", 0.01, 0.99, 0.7),
                  f.number("forecast_error", 0, 1, 0.0),
                  _zones(f, len(buses)), _battery(f))
    f.done()
    return group


def parse(doc: dict, name: str, base: Path) -> Scenario:
    f = _fields(doc, name)
    start = f.get("start", datetime, required=True)
    if start.tzinfo is None:
        raise ScenarioError(f"{name}: start needs a UTC offset, e.g. 2026-06-21T03:00:00+09:00")
    minutes = f.number("interval_minutes", 15, 1440, 15, integer=True)
    if minutes % 15:
        raise ScenarioError(f"{name}: interval_minutes must be a multiple of 15 (the BDEW profiles' step)")
    site = _fields(f.get("site", dict, {}), f"{name}: site")
    m = _fields(f.get("market", dict, {}), f"{name}: market")
    fit = m.number("fit", 1, 10**7, 8000, integer=True)
    tou = m.number("tou", 1, 10**7, 26000, integer=True)
    mechanism = m.choice("mechanism", MECHANISMS, "merit")
    market = Market(mechanism, m.number("lead", 1, 96, 1, integer=True), m.number("span", 1, 96, 4, integer=True),
                    fit, tou, round(m.number("alpha", 0.01, 1.0, 0.8) * 1_000_000),
                    m.number("service", 0, 10**6, 500, integer=True), m.number("credit", 1, 10**12, 50_000_000, integer=True),
                    m.get("any_zone", bool, False), _grid(m.get("grid", dict), name, mechanism),
                    m.get("forward_orders", bool, True))
    if not market.fit < market.cap:
        raise ScenarioError(f"{name}: market: the P2P cap alpha * tou ({market.cap}) must be above fit ({fit})")
    feeder_doc = _fields(f.get("feeder", dict, {}), f"{name}: feeder")
    feeder = feeder_doc.choice("model", FEEDERS, "case33bw")
    households = feeder_doc.number("households_per_member", 1, 10_000, 1.0)
    feeder_buses = 33 if feeder == "case33bw" else 1 << 16
    groups_doc = f.get("group", list, required=True)
    groups = tuple(_group(g, i, base, feeder_buses) for i, g in enumerate(groups_doc))
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{name}: group names must differ: {names}")
    scenario = Scenario(
        f.get("name", str, name), f.get("description", str, ""), f.number("seed", 0, 2**32 - 1, 0, integer=True),
        start, f.number("intervals", 1, 96 * 366, 96, integer=True), minutes,
        f.choice("consensus", CONSENSUS, "pbft"), site.number("latitude", -90, 90, 0.0),
        site.number("longitude", -180, 180, 0.0), site.number("altitude", -500, 9000, 0.0), market, feeder, households,
        groups, None, _chain(f.get("chain", dict, {}), name, groups), _aggregator(f.get("aggregator", dict), name, market))
    paper = _paper(f.get("paper", dict), name, {"consumer", "prosumer", "all"} | set(names))
    system = f.choice("system", SYSTEMS, "market")
    settings = f.get(system, dict, {}) if system != "market" else {}
    for fields in (f, site, m, feeder_doc):
        fields.done()
    if not 1 <= scenario.members <= MAX_MEMBERS:
        raise ScenarioError(f"{name}: {scenario.members} members; a scenario has 1..{MAX_MEMBERS}")
    return replace(scenario, paper=paper, system=system, settings=settings)


def _chain(doc: dict, name: str, groups: tuple[Group, ...]) -> ChainSetup:
    """[chain]: validators (a group's name: its first N members run the N validators, each
    with its member key, so PoE ranks them by their own meters' CPF), incentive, block_incentive,
    full_wh and wh_per_unit."""
    f = _fields(doc, f"{name}: chain")
    group = f.get("validators", str)
    if group is not None and group not in {g.name for g in groups}:
        raise ScenarioError(f"{f.where}: validators {group!r} is not a group's name")
    chain = ChainSetup(group, f.choice("incentive", INCENTIVES, "none"),
                       f.number("block_incentive", 0, 10**9, 1000, integer=True),
                       f.number("full_wh", 1, 10**9, 1000, integer=True), f.number("wh_per_unit", 1, 10**9, 1000, integer=True))
    f.done()
    return chain


def _aggregator(doc: dict | None, name: str, market: Market) -> AggregatorSpec | None:
    """[aggregator] (003): buy_price, sell_price, min_wh, schedule_error, forecast_error."""
    if doc is None:
        return None
    f = _fields(doc, f"{name}: aggregator")
    spec = AggregatorSpec(f.number("buy_price", market.fit + 1, 2**31 - 1, market.tou, integer=True),
                          f.number("sell_price", 1, 2**31 - 1, market.fit, integer=True),
                          f.number("min_wh", 1, 2**24 - 1, 200, integer=True),
                          f.number("schedule_error", 0, 1, 0.2), f.number("forecast_error", 0, 1, 0.05))
    f.done()
    return spec


def _hours(f: Fields, key: str) -> tuple[int, ...]:
    hours = f.get(key, list, [])
    if not all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h < 24 for h in hours):
        raise ScenarioError(f"{f.where}: {key} must be an array of hours 0..23")
    return tuple(1 if h in hours else 0 for h in range(24))


def _grid(doc: dict | None, name: str, mechanism: str) -> GridTariff | None:
    """[market.grid] (ZONE): hourly = 24 prices, or price = one for every hour; peak_hours and
    off_peak_hours; peak_factor (1.2) and off_peak_factor (0.95), 002's +20 % and -5 %."""
    if mechanism != "zone":
        if doc is not None:
            raise ScenarioError(f"{name}: market.grid is for the zone mechanism (002's P2G)")
        return None
    f = _fields(doc if doc is not None else {}, f"{name}: market.grid")
    hourly = f.get("hourly", list)
    if hourly is None:
        hourly = [f.number("price", 1, 10**7, 26000, integer=True)] * 24
    if len(hourly) != 24 or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 10**7 for p in hourly):
        raise ScenarioError(f"{f.where}: hourly must be 24 prices in milli-cents per kWh")
    peak, off_peak = _hours(f, "peak_hours"), _hours(f, "off_peak_hours")
    if any(a and b for a, b in zip(peak, off_peak)):
        raise ScenarioError(f"{f.where}: an hour cannot be both peak and off-peak")
    tariff = GridTariff(tuple(hourly), peak, off_peak, round(f.number("peak_factor", 0.1, 10, 1.2) * 1_000_000),
                        round(f.number("off_peak_factor", 0.1, 10, 0.95) * 1_000_000))
    f.done()
    return tariff


def _paper(doc: dict | None, name: str, who: set[str]) -> PaperFigures | None:
    """[paper]: source = "...", then "WHO.KPI" = the paper's number, e.g. "consumer.spend_savings_pct" = 6.0."""
    if doc is None:
        return None
    f = _fields(doc, f"{name}: paper")
    source = f.get("source", str, required=True)
    figures = []
    for key in doc:
        if key == "source":
            continue
        subject, _, kpi = key.rpartition(".")
        if not (key in COMMUNITY_KPIS or (subject in who and kpi in CLASS_KPIS)):
            raise ScenarioError(f"{name}: paper: {key!r} is not WHO.KPI (WHO one of {', '.join(sorted(who))}; KPI "
                                f"one of {', '.join(CLASS_KPIS)}) or one of {', '.join(COMMUNITY_KPIS)}")
        figures.append((key, float(f.number(key, -1e12, 1e12))))
    f.done()
    return PaperFigures(source, tuple(figures))


def load(path: Path) -> Scenario:
    return parse(read_toml(path, ScenarioError), path.stem, path.parent)
