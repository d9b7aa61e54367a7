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


def test_a_compressed_clock_keeps_the_calendar_contracts_see() -> None:
    """A scenario's chain may run 6 s intervals that stand for 15 minutes of a given day: blocks
    fall into intervals by the chain's clock, contracts read times from the calendar."""
    from ledger.chain import Chain
    from ledger.database import MemoryDB
    from ledger.devnet import make_devnet

    day = 1_782_000_000_000
    net = make_devnet(validators=1, users=1, meters=0, label="calendar",
                      params={"interval_ms": 6_000, "calendar_origin_ms": day, "calendar_interval_ms": 900_000})
    chain = Chain(MemoryDB(), net.genesis)
    ctx = chain._context(1, net.genesis.genesis_time_ms + 13_000, net.validators[0].public_key, ())
    assert ctx.interval == 2  # the chain's clock: 6 s intervals
    assert ctx.origin_ms + ctx.interval * ctx.interval_ms == day + 2 * 900_000  # the calendar
    plain = make_devnet(validators=1, users=1, meters=0, label="calendar", params={"interval_ms": 6_000})
    ctx = Chain(MemoryDB(), plain.genesis)._context(1, plain.genesis.genesis_time_ms + 13_000,
                                                    plain.validators[0].public_key, ())
    assert ctx.origin_ms == plain.genesis.genesis_time_ms and ctx.interval_ms == 6_000
