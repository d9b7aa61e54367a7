"""SIGKILL one of four validators under load, restart it: it catches up to the others' height
and state root, and no transaction accepted before the kill is lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger.genesis import Genesis
from ledger.transactions import Transaction, Transfer
from pownode import cluster
from pownode.keyfile import read_key
from tests.cluster.test_local_cluster import _free_base, _post, _wait


def test_killed_validator_catches_up_and_nothing_accepted_is_lost(tmp_path: Path) -> None:
    home = tmp_path / "net"
    procs = cluster.start(home, 4, "pbft", _free_base(8))
    try:
        cluster.wait_in_step(home, min_height=1, timeout_s=60)
        apis = [addr for _, addr in cluster.addresses(home)]
        genesis = Genesis.load(home / "genesis.json")
        clients = [read_key(home / "clients" / f"client{i}.key") for i in range(4)]
        receiver = clients[0].address
        accepted: list[str] = []
        nonce = {c.address: 0 for c in clients}

        def send(rounds: int, api: str) -> None:
            for _ in range(rounds):
                batch = []
                for c in clients[1:]:
                    batch.append(Transaction.create(c, genesis.chain_id, nonce[c.address], Transfer(receiver, 7), fee=1))
                    nonce[c.address] += 1
                answer = _post(api, "/txs", {"txs": [tx.encoded.hex() for tx in batch]})
                accepted.extend(r["hash"] for r in answer["results"] if r["accepted"])
                time.sleep(0.02)

        send(20, apis[0])
        victim = procs[3]
        victim.send_signal(signal.SIGKILL)  # mid-stream, no chance to flush anything
        victim.wait()
        send(20, apis[1])
        before = cluster.api_get(apis[0], "/status")["height"]
        node3 = sorted(home.glob("node*"))[3]
        procs[3] = subprocess.Popen([sys.executable, "-m", "pownode.cli", "run", "--home", str(node3)],
                                    stdout=open(node3 / "node.log", "ab"), stderr=subprocess.STDOUT,
                                    start_new_session=True)
        send(10, apis[2])
        assert len(accepted) == 50 * 3

        def committed_everywhere() -> bool:
            return all((cluster.api_get(apis[0], f"/txs/{h}") or {}).get("status") == "committed" for h in accepted)

        _wait(committed_everywhere, 60, "an accepted transaction was never committed")
        _wait(lambda: (cluster.api_get(apis[3], "/status") or {}).get("height", 0) > before, 60,
              "the restarted node did not catch up")
        common = min(cluster.api_get(a, "/status")["height"] for a in apis)
        blocks = [cluster.api_get(a, f"/blocks/{common}") for a in apis]
        assert len({b["hash"] for b in blocks}) == 1 and len({b["state_root"] for b in blocks}) == 1
        balances = {cluster.api_get(a, f"/accounts/{receiver.hex()}")["balance"] for a in apis[:3]}
        assert balances == {10**15 + 7 * len(accepted)}
    finally:
        cluster.stop(procs)
