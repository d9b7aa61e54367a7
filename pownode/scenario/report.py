"""`report.md`: a scenario run's numbers beside the paper's, with its figures.

For every figure the scenario's `[paper]` table quotes, the report shows the paper's number,
ours, and whether they point the same way (the same sign for a saving or gain, or for a
before/after pair the same direction of change). The issue asks for direction and order of
magnitude; where they differ, the scenario file's comments and the README say why.
"""

from __future__ import annotations

from pathlib import Path

from pownode.scenario.kpis import ClassOutcome, Outcome
from pownode.scenario.spec import Scenario

CURRENCY = 100_000  # milli-cents per currency unit


def ours(result: Outcome, key: str) -> float | None:
    """The run's value of a `[paper]` KPI key."""
    if key in ("peak_to_average", "baseline_peak_to_average"):
        return getattr(result, key)
    who, _, kpi = key.rpartition(".")
    found: ClassOutcome | None = next((c for c in result.classes if c.kind == who), None)
    if found is None:
        return None
    if kpi == "cost_per_member":
        return found.cost_mc / found.members / CURRENCY
    if kpi == "baseline_cost_per_member":
        return found.baseline_cost_mc / found.members / CURRENCY
    return getattr(found, kpi)


def _same_direction(key: str, paper: float, value: float | None, figures: dict[str, float], result: Outcome) -> str:
    if value is None:
        return "-"
    if key.endswith("_pct"):
        return "yes" if (paper > 0) == (value > 0) or paper == value == 0 else "no"
    baseline_key = key.replace("cost_per_member", "baseline_cost_per_member").replace(
        "peak_to_average", "baseline_peak_to_average")
    if baseline_key != key and baseline_key in figures:
        base_ours = ours(result, baseline_key)
        if base_ours is None:
            return "-"
        paper_change, our_change = paper - figures[baseline_key], value - base_ours
        return "yes" if (paper_change < 0) == (our_change < 0) and (paper_change == 0) == (our_change == 0) else "no"
    return "-"


def or_dash(value: float | None) -> str:
    """A KPI for people: "-" where it is undefined (a peak-to-average ratio with no imports)."""
    return "-" if value is None else f"{value:g}"


def write(path: Path, scenario: Scenario, result: Outcome, figures: list[Path]) -> None:
    lines = [f"# {scenario.name}: {result.mode} run, {result.consensus}, {result.validators} validators", "",
             scenario.description, ""]
    if scenario.paper is not None:
        quoted = dict(scenario.paper.figures)
        lines += [f"## Beside the paper ({scenario.paper.source})", "",
                  "| KPI | paper | pownode | same direction |", "| --- | --- | --- | --- |"]
        for key, paper in scenario.paper.figures:
            value = ours(result, key)
            shown = "-" if value is None else f"{value:.4g}"
            lines.append(f"| `{key}` | {paper:g} | {shown} | {_same_direction(key, paper, value, quoted, result)} |")
        lines.append("")
    lines += ["## Per member class", "", "| class | members | net cost (without) | paid less | earned more | "
              "sold kWh | bought kWh |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in result.classes:
        pct = ["-" if v is None else f"{v:.1f} %" for v in (c.spend_savings_pct, c.revenue_gain_pct)]
        lines.append(f"| {c.kind} | {c.members} | {c.cost_mc / CURRENCY:.2f} ({c.baseline_cost_mc / CURRENCY:.2f}) | "
                     f"{pct[0]} | {pct[1]} | {c.sold_wh / 1000:.2f} | {c.bought_wh / 1000:.2f} |")
    lines += ["", f"P2P: {result.traded_wh / 1000:.2f} kWh in {result.windows_with_trades} windows; "
              f"peak-to-average ratio of the community's imports {or_dash(result.peak_to_average)} (without the "
              f"market {or_dash(result.baseline_peak_to_average)}). Chain: {result.blocks} blocks, {result.transactions} "
              f"transactions, {result.cpu_s} CPU s; market state root `{result.market_state_root}`.", ""]
    if result.aggregator is not None:
        a = result.aggregator
        lines += ["## The aggregator's rounds (003)", "", "| rounds (buying) | asked kWh | accepted kWh | delivered kWh "
                  "| deviation kWh, batteries idle | with the batteries | less |", "| --- | --- | --- | --- | --- | --- | --- |",
                  f"| {a.rounds} ({a.buying_rounds}) | {a.asked_wh / 1000:.2f} | {a.accepted_wh / 1000:.2f} | "
                  f"{a.delivered_wh / 1000:.2f} | {a.deviation_wh / 1000:.2f} | {a.deviation_after_wh / 1000:.2f} | "
                  f"{'-' if a.deviation_reduction_pct is None else f'{a.deviation_reduction_pct:.1f} %'} |", ""]
    lines += ["## Proposers", "", "| validator | member | blocks | mean CPF | incentive |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {v.name} | {v.member or '-'} | {v.blocks} | {'-' if v.mean_cpf is None else f'{v.mean_cpf:.3f}'} | "
              f"{v.incentive_mc / CURRENCY:.2f} |" for v in result.proposers]
    if result.best_cpf_pct is not None:
        lines += ["", f"Proof of Energy: {result.best_cpf_pct} % of the blocks were proposed by a validator of the best CPF."]
    lines.append("")
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    path.write_text("\n".join(lines) + "\n")
