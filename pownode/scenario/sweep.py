"""`pownode scenario sweep`: one scenario, one field varied, a KPI plotted against it.

`--vary PATH=V1,V2,...` names any field of the scenario file by its path: `seed`,
`market.tou`, `feeder.households_per_member`, or a group's field as `group.NAME.FIELD`
(`group.prosumer.pv_kwp=2,4,6`). Each value is read as TOML (so `0.3` is a number and `"h0"` a
string). Every variant is a whole `--local` run of the scenario with that value, checked like
any scenario file.

Variants run in parallel local processes by default (`--workers`, one per core). With
`--scheduler ADDRESS` they run on an existing Dask distributed cluster instead (`pip install
'pownode[sweep]'`; start one with `dask scheduler` and `dask worker ADDRESS` on as many machines
as the study needs, each with pownode installed): no home-made scheduler.
"""

from __future__ import annotations

import copy
import json
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pownode.scenario.spec import ScenarioError, parse
from pownode.toml_tables import read_toml

# What the sweep reports per variant: (label, class, ClassOutcome field).
KPIS = (("consumers pay less (%)", "consumer", "spend_savings_pct"),
        ("prosumers earn more (%)", "prosumer", "revenue_gain_pct"),
        ("all members save (%)", "all", "savings_pct"))


@dataclass(frozen=True)
class Variation:
    path: str
    values: tuple[Any, ...]


def parse_vary(text: str) -> Variation:
    path, sep, raw = text.partition("=")
    if not sep or not path or not raw:
        raise ScenarioError(f"--vary takes PATH=V1,V2,..., not {text!r}")
    values = []
    for item in raw.split(","):
        try:
            values.append(tomllib.loads(f"v = {item.strip()}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(item.strip())  # a bare word: a string
    return Variation(path.strip(), tuple(values))


def with_value(doc: dict, path: str, value: Any) -> dict:
    """A copy of the scenario document with the field at `path` set to `value`."""
    out = copy.deepcopy(doc)
    parts = path.split(".")
    table: Any = out
    if parts[0] == "group":
        if len(parts) != 3:
            raise ScenarioError(f"--vary {path}: a group's field is group.NAME.FIELD")
        table = next((g for g in out.get("group", []) if g.get("name") == parts[1]), None)
        if table is None:
            raise ScenarioError(f"--vary {path}: no group named {parts[1]!r}")
        parts = parts[2:]
    for part in parts[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise ScenarioError(f"--vary {path}: {part} is not a table")
    table[parts[-1]] = value
    return out


def _run_variant(doc: dict, name: str, base: str, path: str, value: Any) -> dict:
    """One variant, in whatever process runs it: parse, run in-process, return its KPIs."""
    from pownode.scenario.run import run

    scenario = parse(with_value(doc, path, value), name, Path(base))
    result = run(scenario, local=True, show=False)
    classes = {c.kind: c for c in result.classes}
    agg = result.aggregator
    return {"value": value, "traded_kwh": result.traded_wh / 1000, "average_price": result.average_price,
            "market_state_root": result.market_state_root,
            "incentives_cents": sum(v.incentive_mc for v in result.proposers) / 1000,
            "deviation_cut_pct": agg.deviation_reduction_pct if agg is not None else None,
            **{label: getattr(classes[kind], field) if kind in classes else None for label, kind, field in KPIS}}


def sweep(file: Path, variation: Variation, *, workers: int | None = None, scheduler: str | None = None,
          out: Path | None = None) -> list[dict]:
    doc = read_toml(file, ScenarioError)
    for value in variation.values:  # every variant is a valid scenario before any runs
        found = parse(with_value(doc, variation.path, value), file.stem, file.parent)
        if found.system != "market":
            raise NotImplementedError(f"{file.stem}: sweeps compare the P2P market's KPIs; a {found.system!r} "
                                      f"scenario is not swept yet (run its variants with `scenario run`)")
    jobs = [(doc, file.stem, str(file.parent), variation.path, v) for v in variation.values]
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError("--scheduler needs Dask distributed: pip install 'pownode[sweep]'") from None
        with Client(scheduler) as client:
            results = client.gather(client.map(_run_variant, *zip(*jobs), pure=False))
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run_variant, *zip(*jobs)))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps({"path": variation.path, "variants": results}, indent=2) + "\n")
        _plot(out / "sweep.png", file.stem, variation.path, results)
    return results


def _plot(path: Path, name: str, varied: str, results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["value"]) for r in results]
    fig, ax = plt.subplots(figsize=(7, 4))
    series = [label for label, _, _ in KPIS] + (["deviation_cut_pct"] if results[0]["deviation_cut_pct"] is not None
                                                 else [])
    for label in series:
        ax.plot(labels, [r[label] if r[label] is not None else float("nan") for r in results], marker="o", label=label)
    ax.set_xlabel(varied)
    ax.set_ylabel("%")
    traded = ax.twinx()
    traded.bar(labels, [r["traded_kwh"] for r in results], alpha=0.2, color="grey", label="P2P kWh")
    traded.set_ylabel("P2P kWh")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"{name}: KPIs against {varied}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
