"""A node home's record of the chain it has run, kept apart from the chain data.

A LevelDB that is created whenever it is missing lets a node whose database was lost start a new
chain at height 0 in a home that has history, and nodes that lost theirs together can then form
a quorum on a different block 1. So the first start of a home writes `history.json` (the chain id
and genesis hash); from then on a missing database is an error that names the way out
(`pownode run --resync`: rebuild it from the peers), and a damaged one is refused by `LevelDB`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ledger.database import LevelDB
from ledger.encoding import sha256
from ledger.errors import StorageError
from ledger.genesis import Genesis

RECORD = "history.json"


def open_chain_db(home: Path, genesis: Genesis, *, resync: bool = False) -> LevelDB:
    """The home's chain database: created on the home's first start, or with `resync`."""
    chain_dir = home / "chain"
    record = home / RECORD
    genesis_hash = sha256(genesis.encoded).hex()
    create = True
    if record.exists():
        ran = json.loads(record.read_text())
        if ran.get("genesis") != genesis_hash:
            raise StorageError(f"{home} ran chain {ran.get('chain_id')!r} with another genesis: refusing to mix chains")
        present = chain_dir.is_dir() and any(chain_dir.iterdir())
        if not present and not resync:
            raise StorageError(
                f"{home} has run chain {genesis.chain_id!r}, but its database {chain_dir} is missing. A node never "
                f"starts a new chain in a home with history: to rebuild it from the peers, run "
                f"`pownode run --home {home} --resync`")
        create = resync
    db = LevelDB(chain_dir, create=create)
    if not record.exists():
        _write_synced(record, json.dumps({"chain_id": genesis.chain_id, "genesis": genesis_hash}))
    return db


def _write_synced(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
