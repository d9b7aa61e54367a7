"""A home with history never starts a new chain: a lost or damaged database is a clear error
with the way to recover, never a silent height 0 (which let nodes that lost their data together
commit a different block 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.devnet import make_devnet
from ledger.errors import StorageError
from pownode.cli import main
from pownode.config import init_network
from pownode.embed import EmbeddedNode

NET = make_devnet(label="history")


def _chain_with_blocks(path: Path, blocks: int) -> None:
    chain = Chain(LevelDB(path, create=True), NET.genesis)
    for _ in range(blocks):
        block, _ = chain.build_block([], NET.validators[0].public_key, chain.head.time_ms + 1)
        chain.commit_block(NET.seal(block))
    chain.store.db.close()


def test_a_database_without_its_current_file_is_refused(tmp_path: Path) -> None:
    _chain_with_blocks(tmp_path / "db", 3)
    (tmp_path / "db" / "CURRENT").unlink()
    for create in (False, True):
        with pytest.raises(StorageError, match="damaged"):
            LevelDB(tmp_path / "db", create=create)
    assert not (tmp_path / "db" / "CURRENT").exists()  # nothing was written over it


def test_a_database_another_process_holds_is_in_use_not_damaged(tmp_path: Path, capsys) -> None:
    """A second `pownode run` (or `reset`) on a running node's home meets LevelDB's lock: the
    error says the home is in use, not that a healthy chain is damaged and should be moved aside."""
    init_network(tmp_path / "net", 1, "pbft")
    home = tmp_path / "net" / "node0"
    held = LevelDB(home / "chain", create=True)
    try:
        with pytest.raises(StorageError, match="in use by another process") as refused:
            LevelDB(home / "chain")
        assert "damaged" not in str(refused.value)
        assert main(["reset", "--home", str(home)]) == 1
    finally:
        held.close()
    err = capsys.readouterr().err
    assert "in use by another process" in err and "damaged" not in err and (home / "chain").is_dir()


def test_a_missing_database_is_created_only_when_asked(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no database"):
        LevelDB(tmp_path / "absent")
    assert not (tmp_path / "absent").exists()
    LevelDB(tmp_path / "absent", create=True).close()
    assert (tmp_path / "absent" / "CURRENT").exists()


def test_check_of_a_missing_database_fails_and_creates_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "genesis.json").write_text(json.dumps(NET.genesis.to_json()))
    assert main(["check", "--db", str(tmp_path / "nowhere"), "--genesis", str(tmp_path / "genesis.json")]) == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


async def test_a_node_never_starts_a_new_chain_in_a_home_with_history(tmp_path: Path) -> None:
    home = init_network(tmp_path / "net", 1, "pbft", base_port=0)[0]
    async with EmbeddedNode(home, api=False) as node:
        assert node.node.chain.height == 0
    assert (home / "history.json").exists()
    shutil.rmtree(home / "chain")
    with pytest.raises(StorageError, match="--resync"):
        EmbeddedNode(home, api=False)
    assert not (home / "chain").exists()
    async with EmbeddedNode(home, api=False, resync=True) as node:  # the operator said so
        assert node.node.chain.height == 0
