"""Full nodes on a real cluster: four pbft validators and two full-node processes that the
operator admitted on chain. A full node follows the chain to the validators' state, serves the
API, forwards its clients' transactions into blocks and never votes; a key the operator did not
admit gets no link; withdrawing an admission cuts the full node off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import AdmitNode, Transaction, Transfer
from pownode import cluster
from pownode.client import request
from pownode.config import NodeConfig, add_full_homes
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base, _wait

ROOT = Path(__file__).resolve().parents[2]


def _api(home: Path) -> str:
    config = NodeConfig.load(home)
    return f"{config.api_host}:{config.api_port}"


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    home = tmp_path_factory.mktemp("full") / "net"
    procs = []
    try:
        cluster.start(home, 4, "pbft", _free_base(14), procs, client_meters=True)
        cluster.wait_in_step(home, procs=procs, timeout_s=120)
        cluster.add_full_nodes(home, 2, procs)
        cluster.wait_in_step(home, procs=procs, timeout_s=120)
        yield home, procs
    finally:
        cluster.stop(procs)


def _operator_tx(home: Path, body) -> dict:
    api = _api(home / "node0")
    operator = read_key(home / "operator.key")
    genesis = Genesis.from_json(request(api, "/genesis"))
    nonce = request(api, f"/accounts/{operator.address.hex()}")["nonce"]
    tx = Transaction.create(operator, genesis.chain_id, nonce, body)
    return request(api, "/txs?wait=commit", {"txs": [tx.encoded.hex()]}, timeout=60)["results"][0]


def test_a_full_node_follows_serves_and_forwards_but_never_votes(network) -> None:
    home, _ = network
    full, validator = _api(home / "full0"), _api(home / "node0")
    status = request(full, "/status")
    assert status["role"] == "full" and status["view"] is None and len(status["peers"]) == 4
    assert request(full, "/health")["status"] == "ok"
    full_key = read_key(Path(NodeConfig.load(home / "full0").key)).public_key
    listed = request(validator, "/validators")
    assert full_key.hex() in listed["full_nodes"] and full_key.hex() not in {v["public_key"] for v in listed["validators"]}
    # A household's transfer, sent to the full node, commits on the validators' chain.
    client = read_key(home / "clients" / "client0.key")
    chain_id = request(full, "/genesis")["chain_id"]
    nonce = request(full, f"/accounts/{client.address.hex()}")["nonce"]
    tx = Transaction.create(client, chain_id, nonce, Transfer(PrivateKey.from_label("payee").address, 777), fee=1)
    result = request(full, "/txs?wait=commit", {"txs": [tx.encoded.hex()]}, timeout=60)["results"][0]
    assert result["accepted"] and result["durable"], result
    height = request(validator, f"/txs/{tx.hash.hex()}")["height"]
    # Both full nodes hold the very blocks the validators committed, certificates verified.
    for name in ("full0", "full1"):
        api = _api(home / name)
        _wait(lambda: request(api, "/status")["height"] >= height, 60, f"{name} reaches {height}")
        assert request(api, f"/blocks/{height}")["hash"] == request(validator, f"/blocks/{height}")["hash"]
    # No block was proposed by a full node, and no certificate carries its signature.
    block = request(validator, f"/blocks/{height}")
    assert block["proposer"] != full_key.hex()
    signers = block["proof"]["signers"]
    assert len(signers) >= 3 and full_key.hex() not in signers


def _maps(proc: subprocess.Popen) -> str:
    return Path(f"/proc/{proc.pid}/maps").read_text()


def test_a_full_node_executes_blocks_without_loading_numba(network) -> None:
    """A full node clears markets with the plain-Python reference (the market tests replay every
    chain that way); the numba kernels and LLVM stay out of its memory, and a validator's have them."""
    home, procs = network
    by_home = {}
    for proc in (p for p in procs if p.poll() is None):
        words = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0")
        by_home[Path(words[words.index("--home") + 1]).name] = proc
    assert "numba" not in _maps(by_home["full0"]) and "llvmlite" not in _maps(by_home["full0"])
    assert "numba" in _maps(by_home["node0"])


def test_a_key_the_operator_did_not_admit_gets_no_link(network) -> None:
    home, procs = network
    [stranger] = add_full_homes(home, 1)  # configured like a full node, never admitted
    cluster._spawn_recorded(home, stranger, procs)
    api = _api(stranger)
    _wait(lambda: cluster.api_get(api, "/status"), 60, "the stranger's API")
    time.sleep(3)  # its dials are refused in the handshake, again and again
    status = request(api, "/status")
    assert status["peers"] == [] and status["height"] == 0
    assert cluster.api_get(api, "/health") is None  # 503: it reaches no validator
    refused = sum(int(line.split()[-1]) for line in _metrics(home / "node0")
                  if line.startswith("pownode_refused_connections_total"))
    assert refused > 0


def _metrics(home: Path) -> list[str]:
    with urllib.request.urlopen(f"http://{_api(home)}/metrics", timeout=10) as response:
        return response.read().decode().splitlines()


def test_withdrawing_an_admission_cuts_the_full_node_off(network) -> None:
    home, _ = network
    key = read_key(Path(NodeConfig.load(home / "full1").key)).public_key
    assert _operator_tx(home, AdmitNode(key, 0))["durable"]
    api = _api(home / "full1")
    _wait(lambda: request(api, "/status")["peers"] == [], 60, "the validators drop full1")
    assert key.hex() not in request(_api(home / "node0"), "/validators")["full_nodes"]
    height = request(api, "/status")["height"]
    time.sleep(3)
    assert request(api, "/status")["height"] == height  # no validator feeds it any more
    assert request(_api(home / "full0"), "/status")["height"] > height  # while full0 follows on


def test_a_gateway_runs_a_full_node_of_its_own(network, tmp_path: Path) -> None:
    """`pownode gateway --full HOME`: the household's gateway holds an admitted full node in its
    own process; a reading published on MQTT reaches the validators through it and commits."""
    from pownode import mqtt_broker as brokers
    from tests.gateway.test_mqtt_bridge import Meter

    home, procs = network
    [own] = add_full_homes(home, 1)
    key = read_key(Path(NodeConfig.load(own).key)).public_key
    assert _operator_tx(home, AdmitNode(key, 1))["durable"]
    kind = brokers.best_available()
    port = _free_base(1)
    broker = brokers.start(kind, port)
    gateway = subprocess.Popen(
        [sys.executable, "-m", "pownode.cli", "gateway", "--mqtt", f"mqtt://{brokers.USER}@127.0.0.1:{port}",
         "--meter-key", str(home / "meters" / "client2.key"), "--full", str(own), "--home", str(tmp_path / "gw"),
         "--topic", "test/own-full"], stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gw.log", "ab"),
        env={**os.environ, "POWNODE_MQTT_PASSWORD": brokers.PASSWORD}, cwd=ROOT)
    try:
        _wait(lambda: b"subscribed to" in (tmp_path / "gw.log").read_bytes(), 120, "the gateway subscribes")
        api = _api(own)
        assert request(api, "/status")["role"] == "full"
        genesis = Genesis.from_json(request(api, "/genesis"))
        interval = genesis.interval_of(int(time.time() * 1000)) - 1
        meter = Meter(port, "test/own-full")
        asyncio.run(meter.listen(lambda: True))  # the listener's session exists before anything is sent
        asyncio.run(meter.publish({"interval": interval, "produced_wh": 321, "consumed_wh": 123}))
        asyncio.run(meter.listen(lambda: interval in meter.receipts))
        assert meter.receipts[interval]["status"] == "committed", meter.receipts[interval]
        meter_address = read_key(home / "meters" / "client2.key").address.hex()
        assert request(_api(home / "node0"), f"/accounts/{meter_address}")["nonce"] == 1
    finally:
        gateway.terminate()
        gateway.wait(30)
        brokers.stop(broker)
