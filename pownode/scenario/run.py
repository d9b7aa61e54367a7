"""`pownode scenario run|list`: a scenario on a cluster of node processes or in one process, then
its KPIs as a table, JSON and CSV.

The shipped scenarios live in `pownode/scenario/library/`; a NAME is one of them, a FILE any
scenario file. `--cluster N` (the default, N = 4) starts N validators on loopback and drives them
through the HTTP API, with each chain interval `--interval-s` seconds of wall clock; `--local`
runs the same chain in this process. Both end on the same market state root. With `--out`, the
folder gets kpis.json, intervals.csv, the figures (`figures`) and report.md (`report`).
"""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

from pownode.scenario.community import Community
from pownode.scenario.drivers import ClusterDriver, Crash, LocalDriver
from pownode.scenario.kpis import Outcome, outcome
from pownode.scenario import report
from pownode.scenario.runner import Runner
from pownode.scenario.spec import Scenario, ScenarioError, load
from pownode.scenario.systems import SystemOutcome, runner_for

LIBRARY = Path(__file__).with_name("library")
GENESIS_MARGIN_S = 15.0  # the cluster starts inside chain interval 0 (a loaded machine: seconds), before the setup


def library() -> list[tuple[str, str]]:
    """(name, description) of every shipped scenario."""
    out = []
    for path in sorted(LIBRARY.glob("*.toml")):
        out.append((path.stem, load(path).description))
    return out


def locate(name_or_file: str) -> Path:
    """A scenario file's path: `name_or_file` itself, or the shipped scenario of that name."""
    path = Path(name_or_file)
    if not path.is_file():
        path = LIBRARY / f"{name_or_file}.toml"
        if not path.is_file():
            names = ", ".join(n for n, _ in library())
            raise ScenarioError(f"no scenario file or shipped scenario {name_or_file!r} (shipped: {names})")
    return path


def resolve(name_or_file: str) -> Scenario:
    return load(locate(name_or_file))


def run(scenario: Scenario, *, local: bool, validators: int = 4, interval_s: float = 6.0, out: Path | None = None,
        base_port: int = 26900, show: bool = True, crash: str | None = None) -> Outcome | SystemOutcome:
    if not 4 <= validators <= 16 and not local:
        raise ScenarioError("--cluster takes 4 to 16 validators")
    if not 1.0 <= interval_s <= 3600:
        raise ScenarioError("--interval-s must be from 1 to 3600 seconds")
    if crash and local:
        raise ScenarioError("--crash kills a validator process: it needs --cluster")
    started = time.monotonic()
    community = Community(scenario, validators)
    genesis = community.genesis(int((time.time() + GENESIS_MARGIN_S) * 1000), int(interval_s * 1000))
    scratch = None  # the cluster's homes, when no --out keeps them
    if local:
        driver = LocalDriver(genesis, community.validators)
    else:
        if out is None:
            scratch = Path(tempfile.mkdtemp(prefix=f"pownode-scenario-{scenario.name}-"))
        home = (out or scratch) / "cluster"
        if home.exists():
            raise ScenarioError(f"{home} exists: give --out a folder without a previous cluster run")
        driver = ClusterDriver(genesis, community.validators, home, base_port,
                               Crash.parse(crash, validators) if crash else None)
    try:
        if scenario.system != "market":
            return _run_system(scenario, community, genesis, driver, local, out, show, started)
        runner = Runner(community, genesis, driver, _progress(scenario, show))
        trace = runner.run()
        driver.stop()
        result = outcome(community, driver.state(), runner, driver.stats(), "local" if local else "cluster")
    finally:
        driver.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if scenario.feeder != "none":
        result.feeder = _feeder(community)
    result.seconds = round(time.monotonic() - started, 1)
    if out is not None:
        write(out, community, trace, result)
        from pownode.scenario.figures import draw

        report.write(out / "report.md", scenario, result, draw(out, community, result))
    if show:
        print_table(result)
    return result


def _run_system(scenario: Scenario, community: Community, genesis, driver, local: bool, out: Path | None, show: bool,
                started: float) -> SystemOutcome:
    result = runner_for(scenario.system)(community, genesis, driver, _progress(scenario, show))
    driver.stop()
    result.mode = "local" if local else "cluster"
    result.seconds = round(time.monotonic() - started, 1)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "kpis.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
        result.draw(out)
    if show:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{scenario.name} ({result.mode}, {scenario.consensus}, {scenario.system})")
        table.add_column("KPI")
        table.add_column("value", justify="right")
        for name, value in result.rows():
            table.add_row(name, value)
        Console(width=None if Console().is_terminal else 120).print(table)
        print(f"state root {result.state_root.hex()[:16]}..; {result.seconds} s")
    return result


def _progress(scenario: Scenario, show: bool):
    if not show:
        return lambda c, last: None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(f"{scenario.name}: chain intervals", total=scenario.intervals + 2)
    bar.start()

    def step(c: int, last: int) -> None:
        bar.update(task, completed=c + 1)
        if c == last:
            bar.stop()

    return step


def _feeder(community: Community) -> dict:
    from market.agents.profiles import household_load
    from market.feeder import power_flow

    s = community.scenario
    by_bus: dict[int, list[int]] = {}
    for m in community.members:
        row = by_bus.setdefault(m.bus, [0] * s.intervals)
        for k in range(s.intervals):
            row[k] -= m.metered_net_wh(k)
    shape = household_load(community.timeline, 1000.0)
    peak = max(shape) or 1
    flows = power_flow(by_bus, [x / peak for x in shape], s.interval_minutes, s.households_per_member)
    return {
        "households_per_member": s.households_per_member,
        "v_min_pu": round(min(f.v_min_pu for f in flows), 4), "v_max_pu": round(max(f.v_max_pu for f in flows), 4),
        "max_line_current_a": round(max(f.max_line_current_a for f in flows), 1),
        "losses_kwh": round(sum(f.losses_kw for f in flows) * s.interval_minutes / 60, 1),
        "intervals_outside_voltage_band": sum(f.voltage_violation for f in flows),
        "per_interval": [[round(f.v_min_pu, 4), round(f.v_max_pu, 4), round(f.max_line_current_a, 1),
                          round(f.losses_kw, 2)] for f in flows],
    }


def write(out: Path, community: Community, trace, result: Outcome) -> None:
    """kpis.json and intervals.csv (one row per member and interval) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "kpis.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    prices = {w.window: w for w in trace.windows}
    s = community.scenario
    with open(out / "intervals.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["interval", "start", "member", "group", "bus", "produced_wh", "consumed_wh", "net_wh",
                         "window_price_mc_per_kwh", "window_volume_wh", "cost_with_market_mc", "cost_without_mc"])
        for k in range(s.intervals):
            w = prices.get(k + 1)
            for m, o in zip(community.members, result.members):
                p, c = (series[k] for series in m.metered())
                writer.writerow([k, community.timeline.at(k).isoformat(), m.name, m.group.name, m.bus, p, c, p - c,
                                 w.price if w else "", w.volume_wh if w else "", o.interval_cost_mc[k],
                                 o.interval_baseline_mc[k]])


def print_table(result: Outcome) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.scenario} ({result.mode}, {result.consensus}, {result.validators} validators)")
    for column in ("class", "n", "net cost (without)", "paid (without)", "paid less", "earned (without)",
                   "earned more", "sold kWh", "bought kWh", "self-cons.", "self-suff."):
        table.add_column(column, justify="right")

    def money(value: int, base: int) -> str:
        return f"{value / 100_000:.2f} ({base / 100_000:.2f})"

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} %"

    for c in result.classes:
        table.add_row(c.kind, str(c.members), money(c.cost_mc, c.baseline_cost_mc), money(c.spend_mc, c.baseline_spend_mc),
                      pct(c.spend_savings_pct), money(c.revenue_mc, c.baseline_revenue_mc), pct(c.revenue_gain_pct),
                      f"{c.sold_wh / 1000:.2f}", f"{c.bought_wh / 1000:.2f}", pct(c.self_consumption_pct),
                      pct(c.self_sufficiency_pct))
    console = Console(width=None if Console().is_terminal else 120)
    console.print(table)
    console.print("costs in currency units (100,000 milli-cents)")
    price = "-" if result.average_price is None else f"{result.average_price:.0f} milli-cents/kWh"
    console.print(f"traded {result.traded_wh / 1000:.2f} kWh P2P in {result.windows_with_trades} windows at {price}; "
                  f"grid imports {result.imports_wh / 1000:.2f} kWh, exports {result.exports_wh / 1000:.2f} kWh; "
                  f"peak-to-average of the community's imports {report.or_dash(result.peak_to_average)} "
                  f"(without the market {report.or_dash(result.baseline_peak_to_average)})")
    everyone = next(c for c in result.classes if c.kind == "all")
    if everyone.battery_cycles:
        use = "the aggregator's rounds" if result.aggregator else "own use"
        console.print(f"batteries (003's transactive controller, {use}): {everyone.battery_cycles:.2f} full cycles, "
                      f"degradation {everyone.degradation_mc / 100_000:.2f} (eq. 7)")
    if result.aggregator:
        a = result.aggregator
        console.print(f"aggregator (003): {a.rounds} rounds ({a.buying_rounds} buying) for {a.asked_wh / 1000:.2f} kWh, "
                      f"{a.accepted_wh / 1000:.2f} kWh accepted, {a.delivered_wh / 1000:.2f} kWh delivered as metered, "
                      f"net paid {a.paid_mc / 100_000:.2f}; deviation from its schedule {a.deviation_wh / 1000:.2f} kWh "
                      f"with the batteries idle, {a.deviation_after_wh / 1000:.2f} kWh with them "
                      f"({'-' if a.deviation_reduction_pct is None else a.deviation_reduction_pct} % less)")
    if result.feeder:
        f = result.feeder
        console.print(f"feeder (IEEE 33-bus, {f['households_per_member']} households per member): voltage "
                      f"{f['v_min_pu']}..{f['v_max_pu']} pu, {f['intervals_outside_voltage_band']} intervals outside "
                      f"0.95..1.05 pu, losses {f['losses_kwh']} kWh, max line current {f['max_line_current_a']} A")
    console.print(f"chain: {result.blocks} blocks, {result.transactions} transactions, {result.cpu_s} CPU s; "
                  f"market state root {result.market_state_root[:16]}..; {result.seconds} s")
    proposers = Table(title="proposers")
    for column in ("validator", "member", "blocks", "mean CPF", "incentive"):
        proposers.add_column(column, justify="right")
    for v in result.proposers:
        proposers.add_row(v.name, v.member or "-", str(v.blocks), "-" if v.mean_cpf is None else f"{v.mean_cpf:.3f}",
                          f"{v.incentive_mc / 100_000:.2f}")
    console.print(proposers)
    if result.best_cpf_pct is not None:
        console.print(f"Proof of Energy: {result.best_cpf_pct} % of the blocks proposed by a validator of the best CPF")
