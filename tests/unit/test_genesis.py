"""Genesis files: integers only, no duplicates, entry order does not change the chain."""

from __future__ import annotations

import json

import pytest

from ledger.devnet import Devnet
from ledger.errors import GenesisError
from ledger.genesis import Genesis


def test_json_roundtrip_and_order_independence(devnet: Devnet, tmp_path) -> None:
    path = tmp_path / "genesis.json"
    devnet.genesis.save(path)
    assert Genesis.load(path) == devnet.genesis
    doc = json.loads(path.read_text())
    doc["validators"].reverse()
    doc["balances"].reverse()
    assert Genesis.from_json(doc).hash == devnet.genesis.hash


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(min_fee=1.5), "floats are not allowed"),
        (lambda d: d["validators"].append(dict(d["validators"][0])), "duplicate validator"),
        (lambda d: d.update(validators=[]), "at least one validator"),
        (lambda d: d["balances"].append({"address": "00" * 20, "amount": 1 << 63}), "total genesis balance"),
        (lambda d: d.update(operator="abcd"), "invalid genesis"),
        (lambda d: d.pop("chain_id"), "invalid genesis"),
    ],
)
def test_bad_genesis_rejected(devnet: Devnet, tmp_path, edit, message: str) -> None:
    doc = devnet.genesis.to_json()
    edit(doc)
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GenesisError, match=message):
        Genesis.load(path)


def test_initial_state(devnet: Devnet) -> None:
    from ledger import accounts

    state = devnet.genesis.initial_state()
    assert accounts.get_account(state, devnet.users[0].address).balance == 10**12
    assert len(accounts.validators(state)) == 4
    assert accounts.get_meter(state, devnet.meters[0].public_key).owner == devnet.users[0].address
