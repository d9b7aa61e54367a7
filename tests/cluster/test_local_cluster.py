"""Real node processes on loopback: a transaction sent to one node commits on all four, with
identical block hashes and state roots, for every consensus module; strangers and garbage are
refused while the cluster keeps committing."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import Transaction, Transfer
from pownode import cluster
from pownode.keyfile import read_key
from pownode.transport import initiate


def _free_base(count: int) -> int:
    """A base port with `count` consecutive free ports on loopback, below Linux's ephemeral
    range (32768+), where outgoing connections would collide or even connect to themselves."""
    for _ in range(50):
        base = random.randrange(20_000, 32_000 - count)
        try:
            socks = []
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)  # closed below, also when its bind fails
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no free ports")


def _post(address: str, path: str, doc: dict) -> dict:
    request = urllib.request.Request(f"http://{address}{path}", data=json.dumps(doc).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _wait(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
def test_four_node_cluster_commits_everywhere(consensus: str, tmp_path: Path) -> None:
    home = tmp_path / consensus
    base = _free_base(8)
    procs = cluster.start(home, 4, consensus, base)
    try:
        cluster.wait_in_step(home, min_height=1, timeout_s=60)
        apis = [addr for _, addr in cluster.addresses(home)]
        genesis = Genesis.load(home / "genesis.json")
        sender, receiver = read_key(home / "clients" / "client0.key"), read_key(home / "clients" / "client1.key")
        txs = [Transaction.create(sender, genesis.chain_id, n, Transfer(receiver.address, 1_000 + n), fee=1)
               for n in range(5)]
        answer = _post(apis[0], "/txs", {"txs": [tx.encoded.hex() for tx in txs] + ["zz", "00"]})
        assert answer["accepted"] == 5 and [r["accepted"] for r in answer["results"][5:]] == [False, False]

        def committed_everywhere():
            found = [cluster.api_get(a, f"/txs/{txs[-1].hash.hex()}") for a in apis]
            return found if all(f and f["status"] == "committed" for f in found) else None

        found = _wait(committed_everywhere, 30, "transactions not committed on every node")
        height = max(f["height"] for f in found)
        _wait(lambda: all((cluster.api_get(a, "/status") or {}).get("height", 0) >= height for a in apis), 30,
              "nodes did not all reach the height")
        blocks = [cluster.api_get(a, f"/blocks/{height}") for a in apis]
        assert len({b["hash"] for b in blocks}) == 1 and len({b["state_root"] for b in blocks}) == 1
        balances = [cluster.api_get(a, f"/accounts/{receiver.address.hex()}")["balance"] for a in apis]
        assert len(set(balances)) == 1 and balances[0] == 10**15 + sum(1_000 + n for n in range(5))

        # The command-line client signs, sends and finds a transaction through the API.
        if consensus == "pbft":
            import subprocess
            import sys

            sent = subprocess.run([sys.executable, "-m", "pownode.cli", "tx", "send", "--api", apis[1], "--key",
                                   str(home / "clients" / "client2.key"), "transfer", "--to", receiver.address.hex(),
                                   "--amount", "42"], capture_output=True, text=True, timeout=30, check=True)
            tx_hash = json.loads(sent.stdout)["hash"]
            _wait(lambda: (cluster.api_get(apis[2], f"/txs/{tx_hash}") or {}).get("status") == "committed", 30,
                  "CLI transaction not committed")
            queried = subprocess.run([sys.executable, "-m", "pownode.cli", "query", "account", receiver.address.hex(),
                                      "--api", apis[3]], capture_output=True, text=True, timeout=30, check=True)
            assert json.loads(queried.stdout)["balance"] >= 10**15 + 42
            queried = subprocess.run([sys.executable, "-m", "pownode.cli", "query", "market", "ab" * 20, "--window", "3",
                                      "--api", apis[0]], capture_output=True, text=True, timeout=30)
            assert queried.returncode == 1 and f"HTTP 404: no set-up P2P market at {'ab' * 20}" in queried.stderr

        # A stranger cannot connect, and garbage on the P2P port does not stop the chain.
        p2p_port = base

        async def stranger() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", p2p_port)
            with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
                await initiate(reader, writer, genesis.chain_id, PrivateKey.generate(), lambda k: True)
            reader, writer = await asyncio.open_connection("127.0.0.1", p2p_port)
            writer.write(b"\xff" * 4096)
            await writer.drain()
            writer.close()

        asyncio.run(stranger())
        before = cluster.api_get(apis[0], "/status")["height"]
        _wait(lambda: cluster.api_get(apis[0], "/status")["height"] >= before + 3, 30, "the cluster stopped committing")
        assert cluster.api_get(apis[0], "/status")["peers"] and len(cluster.api_get(apis[0], "/status")["peers"]) == 3
    finally:
        cluster.stop(procs)
    for p in procs:
        assert p.returncode == 0
