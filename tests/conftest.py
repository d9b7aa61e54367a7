"""Shared fixtures: a deterministic devnet and both database backends."""

from __future__ import annotations

import pytest

from ledger.database import Database, LevelDB, MemoryDB
from ledger.devnet import Devnet, make_devnet


@pytest.fixture(scope="session")
def devnet() -> Devnet:
    return make_devnet(validators=4, users=8, meters=3)


@pytest.fixture(params=["memory", "leveldb"])
def db(request: pytest.FixtureRequest, tmp_path) -> Database:
    """Every storage contract test runs against both backends."""
    database: Database = MemoryDB() if request.param == "memory" else LevelDB(tmp_path / "db", create=True)
    yield database
    database.close()
