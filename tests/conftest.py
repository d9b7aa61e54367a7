"""Shared fixtures: a deterministic devnet and both database backends; and how pytest-xdist
(`make test` runs two workers) splits the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.database import Database, LevelDB, MemoryDB
from ledger.devnet import Devnet, make_devnet

TESTS = Path(__file__).resolve().parent
# Suites whose every test starts node processes, a broker or a browser and waits on wall-clock
# deadlines; elsewhere such a test carries the `processes` mark.
PROCESS_SUITES = ("browser", "cluster", "crash", "gateway")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "processes: starts node processes on loopback and waits on the wall clock; "
                                       "pytest-xdist runs all of these on one worker, one at a time")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the groups into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup`, one group holds every test that starts processes: they run one
    after another on one worker, as they would without xdist, so no two clusters compete for
    the two cores and their deadlines are as generous as before, while the other worker runs
    the in-process tests beside them. Each other module is a group of its own, so a module's
    fixtures are built once."""
    if config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        relative = Path(str(item.fspath)).resolve().relative_to(TESTS)
        if relative.parts[0] in PROCESS_SUITES or item.get_closest_marker("processes"):
            item.add_marker(pytest.mark.xdist_group("processes"))
        else:
            item.add_marker(pytest.mark.xdist_group(relative.as_posix()))


@pytest.fixture(scope="session")
def devnet() -> Devnet:
    return make_devnet(validators=4, users=8, meters=3)


@pytest.fixture(params=["memory", "leveldb"])
def db(request: pytest.FixtureRequest, tmp_path) -> Database:
    """Every storage contract test runs against both backends."""
    database: Database = MemoryDB() if request.param == "memory" else LevelDB(tmp_path / "db", create=True)
    yield database
    database.close()
