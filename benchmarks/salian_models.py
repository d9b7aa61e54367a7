"""001's Table 2 measured on pownode: the auction model (IV.A, `salian-auction`) and the
scheduling model (IV.B, `salian-admm`'s S1 and S2) run by one community.

    python benchmarks/salian_models.py [--cluster] [--interval-s 8] [--json FILE]

The community, tariffs, profiles and seed are `salian-auction`'s; the scheduling run takes the
same file with `system = "admm"` and `salian-admm`'s `[admm]` settings (its batteries and
flexible loads). Both run in one process; with `--cluster`, each also runs on a 4-validator
cluster whose first PBFT primary is killed (SIGKILL) in the middle of the trading and restarted
later (`--crash`), and must end on the one-process state root. Reported per model, under the
paper's row names:

- throughput: chain intervals from a trade's first transaction until it is final
  (`intervals_to_allocation`), until it is paid (`intervals_to_settlement`), transactions per
  kWh traded, and the chain's CPU seconds;
- idle time: the chain intervals in which the energy of a delivery interval is not yet allocated;
- impact of power failure: whether the crashed cluster ended on the fault-free state;
- interaction: what buyers pay against the tariff (competition) and the community's cost against
  no scheduling (cooperation);
- margin of error: |allocated - metered delivery| / allocated.

Adding nodes is a property of the contracts, tested in `tests/market/test_salian_models.py`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from pownode.scenario import run as scenario  # noqa: E402
from pownode.scenario.spec import Scenario, ScenarioError, load, parse  # noqa: E402
from pownode.toml_tables import read_toml  # noqa: E402
from tests.cluster.test_local_cluster import _free_base  # noqa: E402

CRASH = {"auction": "0@4-9", "admm": "0@3-6"}  # mid-trading: sealed bids pending / ADMM rounds running


def models() -> dict[str, Scenario]:
    """The two models for one community: salian-auction's, and the same with ADMM scheduling."""
    auction_path = scenario.locate("salian-auction")
    doc = read_toml(auction_path, ScenarioError)
    admm = load(scenario.locate("salian-admm"))
    scheduled = {k: v for k, v in doc.items() if k != "auction"}
    scheduled.update(name="salian-models-admm", system="admm", admm=dict(admm.settings))
    return {"auction": load(auction_path), "admm": parse(scheduled, "salian-models-admm", auction_path.parent)}


def _figures(result) -> dict:
    j = result.to_json()
    traded, delivered = j["traded_wh"], j["delivered_wh"]
    return {
        "transactions": j["transactions"], "intervals_to_allocation": j["intervals_to_allocation"],
        "intervals_to_settlement": j["intervals_to_settlement"], "traded_wh": traded, "delivered_wh": delivered,
        "error_wh": j["error_wh"], "error_pct": round(100 * abs(j["error_wh"]) / traded, 2) if traded else None,
        "transactions_per_kwh": round(j["transactions"] * 1000 / traded, 2) if traded else None,
        "average_price": None if j["average_price"] is None else round(j["average_price"]), "seconds": j["seconds"], "state_root": j["state_root"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", action="store_true", help="also run each model on a 4-node cluster with a crash")
    parser.add_argument("--interval-s", type=float, default=8.0, help="wall-clock seconds per chain interval on a cluster")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    results = {}
    for name, found in models().items():
        local = scenario.run(found, local=True, show=False)
        results[name] = _figures(local)
        results[name]["interaction"] = _interaction(name, local.to_json())
        if args.cluster:
            with tempfile.TemporaryDirectory(prefix=f"salian-{name}-") as out:
                crashed = scenario.run(found, local=False, validators=4, interval_s=args.interval_s,
                                       out=Path(out), show=False, base_port=_free_base(8), crash=CRASH[name])
            results[name]["crash"] = CRASH[name]
            results[name]["crash_same_state"] = crashed.state_root == local.state_root
            results[name]["cluster_seconds"] = crashed.seconds
    rows = []
    for key in ("transactions", "transactions_per_kwh", "intervals_to_allocation", "intervals_to_settlement",
                "traded_wh", "delivered_wh", "error_wh", "error_pct", "average_price", "interaction",
                "crash_same_state", "seconds", "cluster_seconds"):
        rows.append((key, " | ".join(f"{name}: {results[name].get(key, '-')}" for name in results)))
    emit("001 Table 2 on pownode: auction vs ADMM scheduling, one community", results, rows, args.json)


def _interaction(name: str, j: dict) -> str:
    if name == "auction":
        return f"buyers pay {j['buyers_savings_pct']} % less than TOU, sellers earn {j['sellers_gain_pct']} % more than FIT"
    cost, base = sum(j["cost_mc"].values()), sum(j["baseline_cost_mc"].values())
    return f"community cost {cost / 100_000:.2f} against {base / 100_000:.2f} without scheduling"


if __name__ == "__main__":
    main()
