"""A scenario run's figures as PNG (matplotlib, drawn off screen): the papers' figures for our run.

- `member-<name>.png` for the first consumer and the first prosumer: energy per interval and what
  it cost with and without the market (000's Figs. 5 and 6);
- `community-load.png`: the community's net load on the feeder per interval (002's Fig. 2), with
  the lowest bus voltage when a feeder was modelled;
- `costs-by-class.png`: net energy cost per member class with and without the market (002's
  Fig. 3);
- `battery-soc.png`, when members have batteries: their state of charge per interval.
"""

from __future__ import annotations

from pathlib import Path

from pownode.scenario.community import Community
from pownode.scenario.kpis import MemberOutcome, Outcome

CURRENCY = 100_000  # milli-cents per currency unit


def _time_axis(ax, community: Community) -> None:  # noqa: ANN001 - a matplotlib Axes
    """At most about 12 interval start times (HH:MM) under the x axis."""
    labels = [community.timeline.at(k).strftime("%H:%M") for k in range(community.scenario.intervals)]
    step = max(1, len(labels) // 12)
    ax.set_xticks(list(range(len(labels)))[::step], labels[::step])


def _member(path: Path, community: Community, m: MemberOutcome) -> None:
    import matplotlib.pyplot as plt

    member = next(x for x in community.members if x.name == m.name)
    hours = range(community.scenario.intervals)
    fig, (energy, money) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    produced, consumed = member.metered()
    energy.bar(hours, [c / 1000 for c in consumed], label="consumed", color="tab:red", alpha=0.7)
    if member.household.prosumer:
        energy.bar(hours, [-p / 1000 for p in produced], label="produced", color="tab:green", alpha=0.7)
    energy.set_ylabel("kWh")
    energy.legend()
    energy.set_title(f"{m.name}: energy per interval, and its cost with and without the market")
    money.plot(hours, [c / CURRENCY for c in m.interval_baseline_mc], marker="o", label="utility only")
    money.plot(hours, [c / CURRENCY for c in m.interval_cost_mc], marker="s", label="with the P2P market")
    money.axhline(0, color="grey", linewidth=0.5)
    money.set_ylabel("cost (negative: earned)")
    money.legend()
    _time_axis(money, community)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _community(path: Path, community: Community, result: Outcome) -> None:
    import matplotlib.pyplot as plt

    s = community.scenario
    hours = range(s.intervals)
    load = [sum(-m.metered_net_wh(k) for m in community.members) / 1000 for k in hours]
    before = [sum(-m.household.net_wh(k) for m in community.members) / 1000 for k in hours]
    fig, ax = plt.subplots(figsize=(9, 4))
    if before != load:
        ax.plot(hours, before, marker=".", color="grey", label="without the market")
    ax.plot(hours, load, marker="o", label="community net load (kWh per interval)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("kWh")
    _time_axis(ax, community)
    if result.feeder:
        volts = ax.twinx()
        volts.plot(hours, [row[0] for row in result.feeder["per_interval"]], color="tab:purple", linestyle="--",
                   label="lowest bus voltage (pu)")
        volts.axhline(0.95, color="tab:purple", linewidth=0.5)
        volts.set_ylabel("pu")
        volts.legend(loc="lower right")
    ax.legend(loc="upper left")
    ax.set_title(f"{s.name}: load on the feeder")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _classes(path: Path, result: Outcome) -> None:
    import matplotlib.pyplot as plt

    classes = [c for c in result.classes if c.kind != "all"]
    x = range(len(classes))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([i - 0.2 for i in x], [c.baseline_cost_mc / c.members / CURRENCY for c in classes], 0.4,
           label="utility only")
    ax.bar([i + 0.2 for i in x], [c.cost_mc / c.members / CURRENCY for c in classes], 0.4, label="with the P2P market")
    ax.set_xticks(list(x), [c.kind for c in classes])
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_ylabel("net energy cost per member")
    ax.set_title(f"{result.scenario}: cost per member class")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _batteries(path: Path, community: Community) -> None:
    import matplotlib.pyplot as plt

    hours = range(community.scenario.intervals)
    fig, ax = plt.subplots(figsize=(9, 4))
    for m in [m for m in community.members if m.dispatch() is not None][:6]:
        ax.plot(hours, m.dispatch().soc, marker=".", label=m.name)
    _time_axis(ax, community)
    ax.set_ylim(0, 1)
    ax.set_ylabel("state of charge")
    ax.set_title(f"{community.scenario.name}: batteries under 003's transactive controller")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(out: Path, community: Community, result: Outcome) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    written = []
    for kind in ("consumer", "prosumer"):
        first = next((m for m in result.members if m.kind == kind), None)
        if first is not None:
            written.append(out / f"member-{first.name}.png")
            _member(written[-1], community, first)
    written.append(out / "community-load.png")
    _community(written[-1], community, result)
    written.append(out / "costs-by-class.png")
    _classes(written[-1], result)
    if any(m.dispatch() is not None for m in community.members):
        written.append(out / "battery-soc.png")
        _batteries(written[-1], community)
    return written
