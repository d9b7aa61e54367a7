"""A light client against a real four-validator cluster: it follows the headers from the genesis
(through a validator-set change), checks proofs of a transaction with its receipt, an account and
a meter's reading, and refuses every forged answer a relay between it and the node makes up:
a header, a certificate, a left-out validator change, a receipt, a state entry."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from ledger.blocks import Header
from ledger.encoding import pack, unpack
from ledger.errors import InvalidBlock, LedgerError
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.receipts import Receipt
from ledger.transactions import MeterReading, SetValidator, Transaction, Transfer
from pownode import cluster
from pownode.client import request
from pownode.keyfile import read_key
from pownode.light import LightClient, http_fetch
from pownode.node_http import Bound
from tests.cluster.test_local_cluster import _free_base

ROOT = Path(__file__).resolve().parents[2]
PAYEE = PrivateKey.from_label("light-payee").address
EXTRA_VALIDATOR = PrivateKey.from_label("light-extra-validator").public_key


def _send(api: str, key: PrivateKey, body) -> Transaction:
    chain_id = request(api, "/genesis")["chain_id"]
    nonce = request(api, f"/accounts/{key.address.hex()}")["nonce"]
    tx = Transaction.create(key, chain_id, nonce, body, fee=0 if isinstance(body, (MeterReading, SetValidator)) else 1)
    result = request(api, "/txs?wait=commit", {"txs": [tx.encoded.hex()]}, timeout=60)["results"][0]
    assert result["accepted"] and result["durable"], result
    return tx


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A cluster with a transfer, a meter reading and a validator joining (not running: four of
    five still make a quorum) on its chain."""
    home = tmp_path_factory.mktemp("light") / "net"
    procs: list = []
    try:
        cluster.start(home, 4, "pbft", _free_base(8), procs, client_meters=True)
        cluster.wait_in_step(home, procs=procs, timeout_s=120)
        api = cluster.addresses(home)[0][1]
        genesis = Genesis.load(home / "genesis.json")
        household = read_key(home / "clients" / "client0.key")
        transfer = _send(api, household, Transfer(PAYEE, 4321))
        interval = genesis.interval_of(int(time.time() * 1000)) - 1
        meter = read_key(home / "meters" / "client0.key")
        _send(api, meter, MeterReading(interval, 1234, 567))
        joined = _send(api, read_key(home / "operator.key"), SetValidator(EXTRA_VALIDATOR, 1))
        joined_at = request(api, f"/txs/{joined.hash.hex()}")["height"]
        yield {"home": home, "api": api, "genesis": genesis, "transfer": transfer, "household": household,
               "meter": meter, "interval": interval, "joined_at": joined_at}
    finally:
        cluster.stop(procs)


def test_a_light_client_verifies_what_a_node_says(chain) -> None:
    light = LightClient(chain["genesis"], http_fetch(chain["api"]))
    height, tx, receipt = light.transaction(chain["transfer"].hash)
    assert tx == chain["transfer"] and receipt.status == 0
    assert len(light.validators) == 5 and light.head.height >= chain["joined_at"]  # followed the change
    at, account = light.account(chain["household"].address)
    assert at >= height and account.nonce == 1
    _, payee = light.account(PAYEE)
    assert payee.balance == 4321
    _, reading = light.reading(chain["interval"], chain["meter"].public_key)
    assert (reading.produced_wh, reading.consumed_wh) == (1234, 567)
    _, missing = light.reading(chain["interval"] + 10_000, chain["meter"].public_key)
    assert missing is None  # absence is proven too


def _relay(api: str, forge: Callable[[str, Any], Any]) -> Callable[[str, Bound], Any]:
    real = http_fetch(api)
    return lambda path, bound: forge(path, real(path, bound))


def _header_change(index: int, **fields) -> Callable[[str, Any], Any]:
    def forge(path: str, doc: Any) -> Any:
        if path.startswith("/headers") and len(doc["headers"]) > index:
            header = Header.decode(bytes.fromhex(doc["headers"][index]))
            doc["headers"][index] = header.replace(**fields).encoded.hex()
        return doc
    return forge


_other_tx_root = _header_change(3, tx_root=bytes(32))  # its certificate signed another header
_no_certificate = _header_change(0, proof=b"")


def _hide_validator_change(path: str, doc: Any) -> Any:
    return {"height": doc["height"], "proofs": []} if path.endswith("/validator-changes") else doc


def _failed_receipt(path: str, doc: Any) -> Any:
    if path.startswith("/proofs/tx/"):
        receipt = Receipt.decode(bytes.fromhex(doc["receipt"]))
        doc["receipt"] = receipt.replace(status=1, reason="forged").encoded.hex()
    return doc


def _richer_account(path: str, doc: Any) -> Any:
    if path.startswith("/proofs/state/"):
        proof = doc["proof"]
        balance, nonce = unpack(bytes.fromhex(proof["value"]))
        proof["value"] = pack([balance + 10**9, nonce]).hex()
    return doc


@pytest.mark.parametrize("forge, ask, expected", [
    (_other_tx_root, "tx", InvalidBlock), (_no_certificate, "tx", InvalidBlock),
    (_hide_validator_change, "tx", LedgerError), (_failed_receipt, "tx", LedgerError),
    (_richer_account, "account", LedgerError)])
def test_a_forged_answer_is_refused_and_says_why(chain, forge, ask, expected) -> None:
    light = LightClient(chain["genesis"], _relay(chain["api"], forge))
    with pytest.raises(expected) as refused:
        if ask == "tx":
            light.transaction(chain["transfer"].hash)
        else:
            light.account(PAYEE)
    assert str(refused.value) and refused.value.reason in ("bad-proof", "invalid-proof")


def test_the_light_command_prints_what_it_verified(chain) -> None:
    done = subprocess.run([sys.executable, "-m", "pownode.cli", "light", "tx", chain["transfer"].hash.hex(),
                           "--genesis", str(chain["home"] / "genesis.json"), "--api", chain["api"]],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["verified"] and shown["ok"] and shown["kind"] == "Transfer"
    wrong = subprocess.run([sys.executable, "-m", "pownode.cli", "light", "account", PAYEE.hex(),
                            "--genesis", str(ROOT / "tests" / "vectors" / "nonexistent.json"), "--api", chain["api"]],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert wrong.returncode == 1 and "pownode light:" in wrong.stderr


def test_a_light_client_resumes_from_its_state_file(chain, tmp_path: Path) -> None:
    state = tmp_path / "light.json"
    first = LightClient(chain["genesis"], http_fetch(chain["api"]), state)
    head = first.sync()
    asked: list[str] = []
    real = http_fetch(chain["api"])

    def fetch(path: str, bound: Bound):
        asked.append(path)
        return real(path, bound)

    again = LightClient(chain["genesis"], fetch, state)
    assert again.head == head and len(again.validators) == 5  # the set after the change, kept
    _, reading = again.reading(chain["interval"], chain["meter"].public_key)  # a proof at the node's head
    assert reading is not None and not any(p.startswith("/headers?from=1&limit=256") for p in asked)  # not a sync again
    height, tx, _ = again.transaction(chain["transfer"].hash)  # below its head: linked down by hashes
    assert tx == chain["transfer"] and height < head.height

    def forge_below(path: str, doc):  # headers below the held ones, altered: the hash links break
        if path.startswith("/headers") and "limit=256" not in path and doc["headers"]:
            header = Header.decode(bytes.fromhex(doc["headers"][0]))
            doc["headers"][0] = header.replace(tx_root=bytes(32)).encoded.hex()
        return doc

    with pytest.raises(LedgerError, match="parent"):
        LightClient(chain["genesis"], _relay(chain["api"], forge_below), state).transaction(chain["transfer"].hash)
    doc = json.loads(state.read_text())
    doc["validators"] = doc["validators"][:-1]  # a state file whose set is not the head's
    state.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="validator set"):
        LightClient(chain["genesis"], real, state)
