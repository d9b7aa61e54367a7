"""The seed systems a scenario can run besides the P2P market: 001's auction (`auction`) and
ADMM scheduling (`admm`), 004's crowdsourced energy system (`ces`).

Each is a module of this package with a `run(community, genesis, driver, progress)` that drives
the community's members (keys, certified meters, profiles, buses) through signed transactions
only, one phase at a time (see `drivers`), and returns a `SystemOutcome`. The same module runs on
a cluster and in one process; both must end on the same `state_root`. The system reads its
settings from `community.scenario.settings` (the scenario's table named after the system) with
`pownode.toml_tables.Fields`, so a typo there is an error that names the field.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable, Protocol

from ledger.genesis import Genesis
from ledger.state import State
from ledger.transactions import Transaction
from pownode.scenario.community import Community
from pownode.scenario.drivers import ChainStats, Committed

Progress = Callable[[int, int], None]  # (chain interval done, last chain interval)

MODULES = {"auction": "pownode.scenario.auction", "admm": "pownode.scenario.admm", "ces": "pownode.scenario.ces"}


class Driver(Protocol):
    def enter(self, interval: int) -> None: ...
    def submit(self, txs: list[Transaction]) -> list[Committed]: ...
    def state(self) -> State: ...
    def stats(self) -> ChainStats: ...
    def stop(self) -> None: ...


class SystemOutcome(Protocol):
    """What a system's run reports: KPI rows for the terminal, JSON for kpis.json, its figures."""

    state_root: bytes  # `kpis.market_state_root` of the final state: equal on a cluster and locally
    seconds: float
    mode: str  # "local" or "cluster"

    def rows(self) -> list[tuple[str, str]]: ...
    def to_json(self) -> dict: ...
    def draw(self, out: Path) -> list[Path]: ...


SystemRun = Callable[[Community, Genesis, Driver, Progress], SystemOutcome]


def runner_for(system: str) -> SystemRun:
    """The `run` of a system's module; a system without one is not built yet."""
    name = MODULES[system]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise NotImplementedError(f"scenario system {system!r} is not built yet ({name})") from None
    return module.run
