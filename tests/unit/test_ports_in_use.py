"""A node whose port another process holds says which port, which config field sets it, and
what to do; and it leaves nothing half-started (its database is closed, so a corrected start
opens it)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ledger.database import LevelDB
from pownode.cli import main
from pownode.config import init_network


@pytest.mark.parametrize("field", ["listen_port", "api_port"])
def test_a_port_in_use_is_named_with_its_config_field(tmp_path: Path, capsys, field: str) -> None:
    home = init_network(tmp_path / "net", 1, "pbft")[0]
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    free = socket.socket()
    free.bind(("127.0.0.1", 0))  # held until the node starts, so nothing else takes it meanwhile
    ports = {"listen_port": free.getsockname()[1], "api_port": free.getsockname()[1]}
    ports[field] = taken.getsockname()[1]
    config = json.loads((home / "config.json").read_text())
    (home / "config.json").write_text(json.dumps({**config, **ports}))
    free.close()
    try:
        assert main(["run", "--home", str(home)]) == 1
    finally:
        taken.close()
    err = capsys.readouterr().err
    assert f"127.0.0.1:{ports[field]} ({field} in {home / 'config.json'}) is in use by another process" in err, err
    assert "Traceback" not in err and "Errno" not in err
    LevelDB(home / "chain").close()  # the refused node closed its database
