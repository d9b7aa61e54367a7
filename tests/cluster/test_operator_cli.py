"""The operator's command line on a real cluster, as scripts use it: `cluster up` run as its own
process, refused a second time, `cluster down` checking PIDs; exit codes for refusals, reverts,
timeouts and 404s; one-line errors naming the argument; `tx send --wait`, computed fees, readings
from the households' meters; `check` with the VM and on a missing path; `reset`; the /health,
/validators and /genesis endpoints; and the runnable embedding example."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

from ledger.keys import PrivateKey
from pownode import cluster
from pownode.keyfile import read_key, write_key
from tests.cluster.test_local_cluster import _free_base

ROOT = Path(__file__).resolve().parents[2]


def pownode(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pownode.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise TimeoutError(what)


def _wait_started(up: subprocess.Popen, timeout_s: float = 120) -> None:
    """Read `up`'s output until it has seen its nodes in step: until then it is still starting
    them, and a node stopped meanwhile is a failed start, not a stopped cluster."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = up.stdout.readline()  # `up` prints a line a second once started, or exits
        if not line or "nodes in step" in line:
            return


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """`pownode cluster up` in a process of its own, as an operator starts it."""
    home = tmp_path_factory.mktemp("operator") / "net"
    base = _free_base(8)
    up = subprocess.Popen([sys.executable, "-m", "pownode.cli", "cluster", "up", "--home", str(home),
                           "--base-port", str(base)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          cwd=ROOT)
    try:
        _wait_for(lambda: (home / "cluster.json").exists() and len(cluster.running(home)) == 4
                  and pownode("cluster", "status", "--home", str(home)).returncode == 0, 120, "cluster up")
        _wait_started(up)
        yield home, f"http://127.0.0.1:{base + 1}", up
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(60)


def test_a_second_up_is_refused_and_leaves_the_running_cluster_alone(running) -> None:
    home, api, _ = running
    before = (home / "cluster.json").read_text()
    again = pownode("cluster", "up", "--home", str(home), "--duration", "1")
    assert again.returncode == 1 and "is running" in again.stderr and "cluster down" in again.stderr
    assert (home / "cluster.json").read_text() == before and len(cluster.running(home)) == 4


def test_exit_codes_and_one_line_errors(running, tmp_path: Path) -> None:
    home, api, _ = running
    stranger = tmp_path / "stranger.key"
    write_key(stranger, PrivateKey.generate())
    client = str(home / "clients" / "client0.key")
    refused = pownode("tx", "send", "--api", api, "--key", str(stranger), "transfer", "--to", "11" * 20, "--amount", "5")
    assert refused.returncode == 1 and json.loads(refused.stdout)["status"] == "refused"
    assert refused.stderr.startswith("pownode tx: refused: insufficient") and refused.stderr.count("\n") == 1
    negative = pownode("tx", "send", "--api", api, "--key", client, "transfer", "--to", "11" * 20, "--amount", "-1")
    assert negative.returncode == 2 and "--amount: expected 0 or more" in negative.stderr
    too_long = pownode("tx", "send", "--api", api, "--key", client, "--wait", "--timeout", "500", "transfer", "--to",
                       "11" * 20, "--amount", "1")
    assert too_long.returncode == 2 and "--timeout: expected 1..120 seconds, not 500" in too_long.stderr
    assert "insufficient" in json.loads(refused.stdout)["reason"]
    missing = pownode("query", "tx", "ab" * 32, "--api", api)
    assert missing.returncode == 1 and "404" in missing.stderr
    for args, named in ((["transfer", "--to", "xyz", "--amount", "1"], "--to: expected an address"),
                        (["call", "--contract", "11" * 20, "--function", "f", "--args", "[1,"], "--args: expected a JSON list"),
                        (["call", "--contract", "11" * 20, "--function", "f", "--args", '["0xabc"]'], "not whole bytes")):
        bad = pownode("tx", "send", "--api", api, "--key", client, *args)
        assert bad.returncode == 1 and named in bad.stderr and bad.stderr.count("\n") == 1, bad.stderr
        assert "Traceback" not in bad.stderr and "fromhex" not in bad.stderr and "Expecting" not in bad.stderr
    wrong_api = pownode("query", "status", "--api", "127.0.0.1")
    assert wrong_api.returncode == 1 and "--api: expected HOST:PORT" in wrong_api.stderr


def test_send_wait_reports_commits_and_reverts_with_their_exit_codes(running) -> None:
    home, api, _ = running  # the http://HOST:PORT form that `cluster up` prints
    client = str(home / "clients" / "client0.key")
    sent = pownode("tx", "send", "--api", api, "--key", client, "--wait", "transfer", "--to", "22" * 20, "--amount", "7")
    done = json.loads(sent.stdout)
    assert sent.returncode == 0 and done["status"] == "committed" and done["height"] >= 1
    # A call with the default fee is admitted (the CLI computes min_fee plus gas); to an address
    # with no contract it reverts, its fee charged: exit 3, with the receipt's reason.
    call = pownode("tx", "send", "--api", api, "--key", client, "--wait", "call", "--contract", "33" * 20,
                   "--function", "f")
    reverted = json.loads(call.stdout)
    assert call.returncode == 3 and reverted["status"] == "reverted" and reverted["reason"] and reverted["fee"] > 1
    # A household's meter sends its reading on a pbft cluster, fee-free by default.
    meter = read_key(home / "meters" / "client0.key")
    status = json.loads(pownode("query", "status", "--api", api).stdout)
    genesis = json.loads(pownode("query", "genesis", "--api", api).stdout)
    # The interval that has just ended: the chain takes no reading of one still being metered.
    interval = (int(time.time() * 1000) - genesis["genesis_time_ms"]) // genesis["params"].get("interval_ms", 900_000) - 1
    reading = pownode("tx", "send", "--api", api, "--key", str(home / "meters" / "client0.key"), "--wait", "reading",
                      "--interval", str(interval), "--produced", "100", "--consumed", "50")
    assert reading.returncode == 0 and json.loads(reading.stdout)["fee"] == 0, reading.stdout + reading.stderr
    assert meter.public_key.hex() in {m["public_key"] for m in genesis["meters"]} and status["height"] >= 1


def test_a_contract_deployed_from_the_cli_is_listed_and_called(running, tmp_path: Path) -> None:
    home, api, _ = running
    client = str(home / "clients" / "client1.key")
    (tmp_path / "hello.py").write_text('def hello(n):\n    return n + 1\n')
    deployed = pownode("tx", "send", "--api", api, "--key", client, "--wait", "deploy", "--source",
                       str(tmp_path / "hello.py"))
    address = json.loads(deployed.stdout)["contract"]
    assert deployed.returncode == 0 and len(address) == 40, deployed.stdout + deployed.stderr
    listed = json.loads(pownode("query", "contracts", "--api", api).stdout)["contracts"]
    mine = next(c for c in listed if c["address"] == address)
    assert mine["deployer"] == read_key(client).address.hex() and mine["certified_market"] is False
    called = pownode("tx", "send", "--api", api, "--key", client, "--wait", "call", "--contract", address,
                     "--function", "hello", "--args", "[41]")
    assert called.returncode == 0 and json.loads(called.stdout)["returned"] == 42, called.stdout
    missing = pownode("tx", "send", "--api", api, "--key", client, "deploy", "--source", str(tmp_path / "no.py"))
    assert missing.returncode == 1 and "--source" in missing.stderr and "Traceback" not in missing.stderr


def test_the_operator_certifies_and_revokes_meters_and_markets_from_the_cli(running, tmp_path: Path) -> None:
    """The operator's registry tasks need no Python: `tx send` signs RegisterMeter, RevokeMeter,
    CertifyMarket and SetValidator with the operator key; anyone else's key is refused."""
    home, api, _ = running
    operator = str(home / "operator.key")

    def send(key: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
        done = pownode("tx", "send", "--api", api, "--key", key, "--wait", *args)
        return done, json.loads(done.stdout) if done.stdout else {}

    meter, owner = PrivateKey.generate().public_key.hex(), PrivateKey.generate().address.hex()
    intruder, shown = send(str(home / "clients" / "client2.key"), "register-meter", "--meter", meter, "--owner", owner,
                           "--serial", "SM-77")
    assert intruder.returncode == 1 and shown["reason"].startswith("not-operator"), intruder.stdout
    registered, shown = send(operator, "register-meter", "--meter", meter, "--owner", owner, "--serial", "SM-77")
    assert registered.returncode == 0 and shown["status"] == "committed" and shown["fee"] == 0, registered.stderr
    meters = {m["public_key"]: m for m in json.loads(urlopen(f"{api}/meters?limit=64").read())["meters"]}
    assert meters[meter]["serial"] == "SM-77" and meters[meter]["owner"] == owner
    revoked, _ = send(operator, "revoke-meter", "--meter", meter)
    assert revoked.returncode == 0
    assert meter in {m["public_key"] for m in json.loads(urlopen(f"{api}/meters/revoked").read())["revoked"]}
    bad = pownode("tx", "send", "--api", api, "--key", operator, "register-meter", "--meter", meter[:10],
                  "--owner", owner, "--serial", "SM-78")
    assert bad.returncode == 1 and "--meter: expected a meter's public key" in bad.stderr

    (tmp_path / "market.py").write_text("def hello(n):\n    return n\n")
    _, deployed = send(str(home / "clients" / "client2.key"), "deploy", "--source", str(tmp_path / "market.py"))
    for flags, certified in (([], True), (["--withdraw"], False)):
        done, _ = send(operator, "certify-market", "--contract", deployed["contract"], *flags)
        account = json.loads(pownode("query", "account", deployed["contract"], "--api", api).stdout)
        assert done.returncode == 0 and account["contract"]["certified_market"] is certified

    validator = json.loads(pownode("query", "validators", "--api", api).stdout)["validators"][0]
    kept, _ = send(operator, "set-validator", "--node", validator["public_key"], "--power", str(validator["power"]))
    assert kept.returncode == 0
    assert json.loads(pownode("query", "validators", "--api", api).stdout)["validators"][0] == validator


def test_health_validators_and_genesis(running) -> None:
    home, api, _ = running
    health = json.loads(pownode("query", "health", "--api", api).stdout)
    assert health["status"] == "ok" and health["voting_power_reached"] >= health["quorum"]
    found = json.loads(pownode("query", "validators", "--api", api).stdout)["validators"]
    assert len(found) == 4 and all(v["connected"] and v["power"] == 1 for v in found)
    assert json.loads(pownode("query", "genesis", "--api", api).stdout) == json.loads((home / "genesis.json").read_text())


def test_check_replays_contracts_and_refuses_a_missing_path(tmp_path: Path) -> None:
    local = pownode("demo", "--local", "--home", str(tmp_path / "demo"), "--intervals", "8", "--users", "4")
    assert local.returncode == 0, local.stderr
    genesis = tmp_path / "demo" / "genesis.json"
    ok = pownode("check", "--db", str(tmp_path / "demo" / "chain"), "--genesis", str(genesis))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: "), ok.stderr
    typo = tmp_path / "chian"
    bad = pownode("check", "--db", str(typo), "--genesis", str(genesis))
    assert bad.returncode == 1 and "no database" in bad.stderr and not typo.exists()
    again = pownode("demo", "--local", "--home", str(tmp_path / "demo"), "--intervals", "4", "--users", "4")
    assert again.returncode == 0 and "replacing the previous demo" in again.stdout
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    refused = pownode("demo", "--local", "--home", str(tmp_path / "mine"), "--intervals", "4")
    assert refused.returncode == 1 and (tmp_path / "mine" / "notes.txt").exists()


def test_the_embedding_example_runs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "embed_gateway.py"), "--home", str(tmp_path / "gw"),
                           "--base-port", str(_free_base(2))], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "committed at height" in done.stdout and "transfer" in done.stdout


def test_down_stops_only_its_nodes_clears_the_record_and_up_notices(running) -> None:
    home, api, up = running
    pids = [pid for pid, _ in cluster.running(home)]
    record = json.loads((home / "cluster.json").read_text())
    # A recorded PID that is no longer a node of this home (here: a sleeping process) is not hit;
    # a process serving one of its homes that `up` did not start (its command line is a node's) is
    # named and left running.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    by_hand = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "pownode.cli", "run",
                                "--home", str(home / "node3")])
    try:
        (home / "cluster.json").write_text(json.dumps({"pids": record["pids"] + [sleeper.pid]}))
        reset_running = pownode("reset", "--home", str(home / "node0"))
        assert reset_running.returncode == 1 and "running" in reset_running.stderr
        down = pownode("cluster", "down", "--home", str(home))
        assert down.returncode == 0 and down.stdout.count("stopped node") == 4, down.stdout
        assert f"node3 still runs (PID {by_hand.pid})" in down.stdout and by_hand.poll() is None
        assert sleeper.poll() is None and not (home / "cluster.json").exists()
        assert all(not os.path.exists(f"/proc/{pid}/cmdline") or cluster._home_of(pid) is None for pid in pids)
    finally:
        for proc in (sleeper, by_hand):
            proc.kill()
            proc.wait()
    up.wait(60)  # the foreground `cluster up` saw its nodes stop and exited
    assert "the nodes stopped" in up.stdout.read() and up.returncode == 0
    assert pownode("cluster", "down", "--home", str(home)).returncode == 1  # nothing recorded now
    reset = pownode("reset", "--home", str(home / "node0"))
    assert reset.returncode == 0 and not (home / "node0" / "chain").exists() and (home / "node0" / "node.key").exists()
    assert "--resync" in reset.stdout
    # Up again without --resync: the reset node refuses to start a new chain, and up says why at
    # once instead of waiting for a height; with --resync it rebuilds the chain from the others.
    refused = pownode("cluster", "up", "--home", str(home), "--duration", "1")
    assert refused.returncode == 1 and "node0 exited" in refused.stderr and "--resync" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    again = pownode("cluster", "up", "--home", str(home), "--duration", "2", "--resync")
    assert again.returncode == 0 and "nodes in step" in again.stdout and "(pbft)" in again.stdout, again.stderr
    assert (home / "node0" / "chain").exists()
    deleted = pownode("cluster", "delete", "--home", str(home))
    assert deleted.returncode == 0 and not home.exists()


def test_ctrl_c_while_the_cluster_starts_stops_it_without_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "early"
    up = subprocess.Popen([sys.executable, "-m", "pownode.cli", "cluster", "up", "--home", str(home), "--base-port",
                           str(_free_base(8))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        _wait_for(lambda: len(cluster.running(home)) >= 1, 60, "the first node process")
        started = [pid for pid, _ in cluster.running(home)]
        up.send_signal(signal.SIGINT)  # while the nodes are still starting
        out, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert "Traceback" not in out and up.returncode in (0, 130), out
    assert all(cluster._home_of(pid) is None for pid in started) and not (home / "cluster.json").exists()
    # Nor a node spawned as the Ctrl-C came, before it was recorded: none of this home runs.
    left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and cluster._home_of(int(p.name)) is not None
            and home.resolve() in cluster._home_of(int(p.name)).parents]
    assert not left, left


def test_a_node_killed_under_up_is_named_with_how_to_restart_it(tmp_path: Path) -> None:
    """A node that dies while `cluster up` watches is named with how it ended and how to restart
    it, and the status line marks it, instead of showing an unknown height for good."""
    home = tmp_path / "killed"
    up = subprocess.Popen([sys.executable, "-m", "pownode.cli", "cluster", "up", "--home", str(home), "--base-port",
                           str(_free_base(8))], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        _wait_for(lambda: len(cluster.running(home)) == 4, 120, "cluster up")
        _wait_started(up)
        pid, victim = max(cluster.running(home), key=lambda found: found[1].name)
        os.kill(pid, signal.SIGKILL)
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(f"{victim.name} EXITED" in line for line in seen):
            seen.append(up.stdout.readline())  # `up` prints a status line every second
        said = "".join(seen)
        assert f"{victim.name} exited (killed by SIGKILL)" in said and f"cluster up --home {home}" in said, said
        assert f"{victim.name} EXITED" in said and "Traceback" not in said
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            up.wait(60)
    assert not cluster.running(home)
