"""What a `ces` scenario reports: CES-OPF's equilibrium (cost, relaxation gap, losses, voltages),
Algorithm 1 as the contract recorded it (offers accepted, refused, raised, supplemented; what was
paid for metered delivery against the set-points accepted), the chain's figures, and 004's Fig. 3
analogues as PNG:

- `ces-bus-<b>.png` (Fig. 3 left): load and generation at one bus after CES-OPF: uncontrollable and
  shapable load and battery charge up, solar, battery discharge and import from the feeder down;
- `ces-incentives.png` (Fig. 3 right): the incentive each member was last offered per interval, on
  top of its DLMP: accepted (o) or refused at the threshold and supplemented (x).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ledger.state import State
from market.ces.opf import OpfResult
from pownode.ces_api import Offer
from pownode.scenario.drivers import ChainStats
from vm.machine import read_storage

if TYPE_CHECKING:
    from pownode.scenario.ces import CesSettings
    from pownode.scenario.community import Community
    from pownode.scenario.spec import Scenario

CURRENCY = 100_000  # milli-cents per currency unit


def chain_offers(state: State, contract: bytes) -> list[Offer]:
    """Every offer as the contract holds it at the end, read as the participants' API reads it."""
    return [Offer.read(state, contract, offer_id) for offer_id in range(read_storage(state, contract, "next") or 0)]


@dataclass
class CesOutcome:
    scenario: str
    state_root: bytes
    seconds: float
    mode: str
    opf: OpfResult
    interval_minutes: int
    labels: list[str]  # each scenario interval's local start, HH:MM
    figure_bus: int
    members: list[tuple[str, bytes, int]]  # (name, address, bus)
    setpoints: dict[int, list[int]]  # member index -> u^eq per interval (Wh)
    offers: list[Offer]
    budget_funded: int
    budget_left: int
    escrowed: int
    ces_id_supplement_wh: list[float]
    refusals: int
    raises: int
    ces_id_seconds: float
    transactions: int
    blocks: int
    cpu_s: float
    run_s: float

    @classmethod
    def build(cls, scenario: Scenario, community: Community, settings: CesSettings, opf: OpfResult,
              setpoints: dict[int, list[int]], offers: list[Offer], budget_left: int, escrowed: int,
              supplement_wh: list[float], refusals: int, raises: int, ces_id_seconds: float, transactions: int,
              stats: ChainStats, state_root: bytes, run_s: float) -> "CesOutcome":
        labels = [community.timeline.at(k).strftime("%H:%M") for k in range(scenario.intervals)]
        return cls(scenario.name, state_root, 0.0, "", opf, scenario.interval_minutes, labels, settings.figure_bus,
                   [(m.name, m.key.address, m.bus) for m in community.members], setpoints, offers, settings.budget,
                   budget_left, escrowed, supplement_wh, refusals, raises, ces_id_seconds, transactions, stats.blocks,
                   round(stats.cpu_s, 2), round(run_s, 2))

    # --- KPIs -------------------------------------------------------------------------------

    def kpis(self) -> dict:
        o, hours = self.opf, self.interval_minutes / 60
        paid = [x for x in self.offers if x.state == "reconciled"]
        accepted_wh = sum(x.energy_wh for x in paid)
        delivered_wh = sum(x.delivered_wh for x in paid)
        dlmp_part = sum(x.delivered_wh * x.dlmp // 1000 for x in paid)
        export_wh = sum(max(0, u) for us in self.setpoints.values() for u in us)
        return {
            "opf_cost_usd": round(o.cost_usd, 2),
            "relaxation_gap_pu2": o.relaxation_gap,
            "balance_error_kw": o.balance_error_kw,
            "losses_kwh": round(sum(o.losses_kw) * hours, 2),
            "v_min_pu": round(o.v_min_pu, 4),
            "v_max_pu": round(o.v_max_pu, 4),
            "substation_import_kwh": round(sum(max(0.0, p) for p in o.substation_kw) * hours, 1),
            "opf_seconds": round(o.seconds, 3),
            "ces_id_seconds": round(self.ces_id_seconds, 3),
            "offers": len(self.offers),
            "offers_accepted": len(paid),
            "refusals": self.refusals,
            "raises": self.raises,
            "offers_supplemented": sum(x.state == "supplemented" for x in self.offers),
            "offers_open_at_end": sum(x.state not in ("reconciled", "supplemented") for x in self.offers),
            "equilibrium_export_wh": export_wh,
            "accepted_wh": accepted_wh,
            "delivered_wh": delivered_wh,
            "delivered_pct": round(100 * delivered_wh / accepted_wh, 2) if accepted_wh else None,
            "supplemented_wh": sum(x.energy_wh for x in self.offers if x.state == "supplemented"),
            "ces_id_shortfall_wh": round(sum(self.ces_id_supplement_wh)),
            "paid_mc": sum(x.paid for x in paid),
            "incentives_paid_mc": sum(x.paid for x in paid) - dlmp_part,
            "budget_funded_mc": self.budget_funded,
            "budget_used_mc": self.budget_funded - self.budget_left - self.escrowed,
            "escrowed_at_end_mc": self.escrowed,
            "transactions": self.transactions,
            "blocks": self.blocks,
            "cpu_s": self.cpu_s,
            "run_s": self.run_s,
        }

    def rows(self) -> list[tuple[str, str]]:
        k = self.kpis()

        def money(mc: int) -> str:
            return f"{mc / CURRENCY:,.2f}"

        return [
            ("CES-OPF cost (1a)", f"{k['opf_cost_usd']:,.2f}"),
            ("relaxation gap max |l v - P^2 - Q^2| (pu^2)", f"{k['relaxation_gap_pu2']:.2e}"),
            ("losses (kWh)", f"{k['losses_kwh']:,.2f}"),
            ("voltage (pu)", f"{k['v_min_pu']} .. {k['v_max_pu']}"),
            ("CES-OPF / CES-ID solve (s)", f"{k['opf_seconds']} / {k['ces_id_seconds']}"),
            ("offers (accepted)", f"{k['offers']} ({k['offers_accepted']})"),
            ("refusals / raises / supplemented", f"{k['refusals']} / {k['raises']} / {k['offers_supplemented']}"),
            ("set-points accepted / delivered (kWh)",
             f"{k['accepted_wh'] / 1000:,.1f} / {k['delivered_wh'] / 1000:,.1f} ({k['delivered_pct']} %)"),
            ("supplemented from traditional generation (kWh)", f"{k['supplemented_wh'] / 1000:,.1f}"),
            ("paid (of which incentives)", f"{money(k['paid_mc'])} ({money(k['incentives_paid_mc'])})"),
            ("budget funded / used", f"{money(k['budget_funded_mc'])} / {money(k['budget_used_mc'])}"),
            ("chain blocks / transactions", f"{k['blocks']} / {k['transactions']}"),
            ("run (s)", f"{k['run_s']}"),
        ]

    def to_json(self) -> dict:
        o = self.opf
        return {
            "scenario": self.scenario, "mode": self.mode, "seconds": self.seconds, "state_root": self.state_root.hex(),
            "kpis": self.kpis(),
            "dlmp_mc_per_kwh": {str(b): [round(p, 1) for p in o.dlmp[b]] for _, _, b in self.members},
            "setpoints_wh": {name: self.setpoints[i] for i, (name, _, _) in enumerate(self.members)},
            "offers": [[x.offer_id, x.participant.hex(), x.interval, x.energy_wh, x.dlmp, x.incentive,
                        x.first_incentive, x.raises, x.state, x.delivered_wh, x.paid] for x in self.offers],
        }

    # --- figures (004's Fig. 3) ----------------------------------------------------------------

    def incentives(self) -> dict[int, list[float | None]]:
        """bus -> the incentive of its offer per scenario interval (None: no offer)."""
        by_address = {a: b for _, a, b in self.members}
        out = {b: [None] * len(self.labels) for _, _, b in self.members}
        for x in self.offers:
            out[by_address[x.participant]][x.interval - 1] = float(x.incentive)
        return out

    def draw(self, out: Path) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out.mkdir(parents=True, exist_ok=True)
        steps = list(range(len(self.labels)))
        ticks = steps[::max(1, len(steps) // 12)]
        b = self.opf.buses[self.figure_bus]
        imports = [max(0.0, -e) for e in b.net_export_kw]
        fig, ax = plt.subplots(figsize=(9, 5))
        bottom = [0.0] * len(steps)
        for series, label, color in ((b.uncontrollable_kw, "uncontrollable load", "tab:gray"),
                                     (b.shapable_kw, "shapable load", "tab:purple"),
                                     (b.charge_kw, "battery charge", "tab:blue")):
            ax.bar(steps, series, bottom=bottom, label=label, color=color)
            bottom = [x + y for x, y in zip(bottom, series)]
        bottom = [0.0] * len(steps)
        for series, label, color in ((b.solar_kw, "solar", "gold"), (b.discharge_kw, "battery discharge", "tab:cyan"),
                                     (imports, "import from the feeder", "tab:red")):
            ax.bar(steps, [-x for x in series], bottom=bottom, label=label, color=color)
            bottom = [x - y for x, y in zip(bottom, series)]
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(ticks, [self.labels[k] for k in ticks])
        ax.set_ylabel("kW (loads up, supply down)")
        ax.set_title(f"{self.scenario}: bus {self.figure_bus} after CES-OPF (004 Fig. 3, left)")
        ax.legend(fontsize=8, ncol=2)
        left = out / f"ces-bus-{self.figure_bus}.png"
        fig.tight_layout()
        fig.savefig(left, dpi=110)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(9, 5))
        by_address = {a: b for _, a, b in self.members}
        for bus, series in sorted(self.incentives().items()):
            line = ax.plot(steps, [None if x is None else x / 1000 for x in series], marker="o", label=f"bus {bus}")[0]
            given_up = [x for x in self.offers if x.state == "supplemented" and by_address[x.participant] == bus]
            ax.scatter([x.interval - 1 for x in given_up], [x.incentive / 1000 for x in given_up], marker="x", s=90,
                       color=line.get_color(), zorder=3)
        ax.set_xticks(ticks, [self.labels[k] for k in ticks])
        ax.set_ylabel("incentive lambda^a (cents per kWh; x: refused, supplemented)")
        ax.set_title(f"{self.scenario}: incentives offered to Type 2 crowdsourcees (004 Fig. 3, right)")
        ax.legend(fontsize=8)
        right = out / "ces-incentives.png"
        fig.tight_layout()
        fig.savefig(right, dpi=110)
        plt.close(fig)
        return [left, right]
