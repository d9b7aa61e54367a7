"""The `pownode` command line.

Exit codes: 0 done; 1 an error or a refusal, explained in one line on stderr; 2 a usage error;
130 interrupted (Ctrl-C). `tx send --wait` adds 3 (committed but reverted) and 4 (not committed
in time). `POWNODE_HOME` is the default `--home` of `run`, `reset`, and the default `--home` of
`cluster` commands when set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from ledger.errors import LedgerError
from ledger.keys import PrivateKey
from pownode.client import ApiError
from pownode.cli_format import DefaultsFormatter
from pownode.keyfile import write_key
from pownode.logs import LOG_LEVELS, LogFile


def _demo(args: argparse.Namespace) -> int:
    if args.local:
        from pownode.demo import run_demo

        run_demo(Path(args.home or "demo-local"), intervals=args.intervals, users=args.users)
        return 0
    from pownode.cluster_demo import run_cluster_demo

    report = run_cluster_demo(Path(args.home or "demo-data"), windows=args.windows, base_port=args.base_port)
    wrong = sum(p["proposer"] != p["expected"] for p in report["proposers"])
    return 1 if wrong else 0


def _keygen(args: argparse.Namespace) -> int:
    key = PrivateKey.generate()
    write_key(args.out, key)
    print(f"wrote {args.out}\npublic key {key.public_key.hex()}\naddress    {key.address.hex()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ledger.chain import Chain
    from ledger.database import LevelDB
    from ledger.genesis import Genesis
    from market.precompiles import MARKET_PRECOMPILES
    from vm.machine import VM

    genesis = Genesis.load(args.genesis)
    chain = Chain(LevelDB(args.db), genesis, runtime=VM(MARKET_PRECOMPILES))
    try:
        height = chain.audit()
    finally:
        chain.store.db.close()
    print(f"ok: {height} blocks replay from genesis to the stored state root {chain.state.root().hex()}")
    return 0


def _init(args: argparse.Namespace) -> int:
    from pownode.config import init_network

    hosts = _hosts(args)
    nodes = args.nodes if args.nodes is not None else (len(hosts) or 4)
    homes = init_network(Path(args.out), nodes, args.consensus, base_port=args.base_port, client_meters=True,
                         hosts=hosts, chain_id=args.chain_id)
    print(f"wrote genesis and {len(homes)} node homes under {args.out}")
    if hosts:
        print(f"on host i, put genesis.json and node<i>/ side by side in one folder and run `pownode run --home "
              f"node<i>` there; peers meet on port {args.base_port}, each API is on 127.0.0.1:{args.base_port + 1}; "
              f"the operator and client keys stay with you")
    else:
        print(f"start them all on this machine: pownode cluster up --home {args.out} (or each one: pownode run "
              f"--home {args.out}/node<i>); the operator key is {Path(args.out) / 'operator.key'}")
    return 0


def _add_full(args: argparse.Namespace) -> int:
    from pownode.config import NodeConfig, add_full_homes
    from pownode.keyfile import read_key

    network = Path(args.network)
    if args.count < 1:
        raise ValueError("--count: at least 1")
    for home in add_full_homes(network, args.count):
        key = read_key(Path(NodeConfig.load(home).key)).public_key.hex()
        print(f"{home}: full node {key}")
        print(f"  admit it: pownode tx send --api VALIDATOR_API --key {network / 'operator.key'} --wait "
              f"admit-node --node {key}")
    print("then put genesis.json and the full node's folder side by side on its machine and run "
          "`pownode run --home full<i>` there")
    return 0


def _add_validator(args: argparse.Namespace) -> int:
    from pownode.config import NodeConfig, add_validator_home
    from pownode.keyfile import read_key

    network = Path(args.network)
    if args.power < 1:
        raise ValueError("--power: at least 1 (set-validator with power 0 removes a validator)")
    home = add_validator_home(network, args.host)
    config = NodeConfig.load(home)
    key = read_key(Path(config.key)).public_key.hex()
    print(f"{home}: validator {key}, peers on port {config.listen_port}, API on {config.api_host}:{config.api_port}")
    print(f"  make it a validator: pownode tx send --api VALIDATOR_API --key {network / 'operator.key'} --wait "
          f"set-validator --node {key} --power {args.power}")
    print(f"then start it: pownode run --home {home} (on its own machine: genesis.json beside its folder); it dials "
          "every validator, which accept it once the set-validator commits, so none of them restarts")
    return 0


def _hosts(args: argparse.Namespace) -> list[str]:
    """--hosts H1,H2,... or --hosts-file (one host per line, # comments): one per node."""
    if args.hosts and args.hosts_file:
        raise ValueError("give --hosts or --hosts-file, not both")
    if args.hosts_file:
        try:
            lines = Path(args.hosts_file).read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"--hosts-file {args.hosts_file}: cannot read it ({exc.strerror})") from None
        hosts = [line.split("#")[0].strip() for line in lines]
    else:
        hosts = [h.strip() for h in (args.hosts or "").split(",")] if args.hosts else []
    hosts = [h for h in hosts if h]
    for host in hosts:
        if not re.fullmatch(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]", host):
            raise ValueError(f"--hosts: {host!r} is not a host name or address (no port: all nodes use --base-port)")
    if len(set(hosts)) != len(hosts):
        raise ValueError("--hosts: a host is named twice (one node per host)")
    if hosts and args.nodes is not None and args.nodes != len(hosts):
        raise ValueError(f"--nodes {args.nodes} but {len(hosts)} hosts: give one host per node")
    return hosts


def _log_file(args: argparse.Namespace) -> LogFile | None:
    if args.log_max_mb < 1 or args.log_keep < 1:
        raise ValueError(f"--log-max-mb {args.log_max_mb} --log-keep {args.log_keep}: at least 1 each")
    return LogFile(Path(args.log_file), args.log_max_mb * 1024 * 1024, args.log_keep) if args.log_file else None


def _add_log_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="least severe level logged")
    parser.add_argument("--log-file", help="log to this file (stdout and stderr too), rotated by size "
                        "(default: stderr)")
    parser.add_argument("--log-max-mb", type=int, default=16, help="with --log-file: a file's size before it "
                        "becomes FILE.1 and a new one begins")
    parser.add_argument("--log-keep", type=int, default=3, help="with --log-file: old files kept (FILE.1 ...), "
                        "the oldest deleted past them")


def _run(args: argparse.Namespace) -> int:
    from pownode.serve import run

    run(_home(args), resync=args.resync, log_level=args.log_level, log_json=args.log_json, log_file=_log_file(args))
    return 0


def _home(args: argparse.Namespace) -> Path:
    home = args.home or os.environ.get("POWNODE_HOME")
    if not home:
        raise ValueError("--home is required (or set POWNODE_HOME)")
    return Path(home)


def _reset(args: argparse.Namespace) -> int:
    """Delete a node's chain database, keeping its keys, config, genesis, history record and
    consensus log (its own votes), so it rebuilds the chain from its peers with --resync."""
    from ledger.database import LevelDB
    from ledger.errors import StorageError

    home = _home(args)
    if not (home / "config.json").is_file():
        raise ValueError(f"{home} is not a node home (no config.json)")
    chain_dir = home / "chain"
    if not chain_dir.exists():
        print(f"{home} has no chain database: nothing to delete")
        return 0
    try:
        LevelDB(chain_dir).close()  # refused while a running node holds its lock
    except StorageError as exc:
        raise StorageError(f"cannot reset {home}: {exc}") from None
    shutil.rmtree(chain_dir)
    print(f"deleted {chain_dir}; kept the keys, config, genesis and consensus log.\n"
          f"rebuild the chain from the peers: pownode run --home {home} --resync "
          f"(in a cluster: pownode cluster up --home {home.parent} --resync)")
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from pownode import cluster

    home = Path(args.home or os.environ.get("POWNODE_HOME") or "cluster-data")
    if args.action == "up":
        cluster.refuse_other_shape(home, nodes=args.nodes, consensus=args.consensus, base_port=args.base_port)
        return cluster.up(home, args.nodes or 4, args.consensus or "pbft", args.duration,
                          26600 if args.base_port is None else args.base_port, resync=args.resync, full=args.full,
                          gateways=args.gateways)
    if args.action == "down":
        return cluster.down(home)
    if args.action == "delete":
        return cluster.delete(home)
    if not (home / "genesis.json").exists():
        raise ValueError(f"no cluster in {home} (make one with `pownode cluster up --home {home}`)")
    found = cluster.statuses(home)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for s in found:
            print(f"{s['name']:<6} http://{s['api']:<16} height {s.get('height', '-'):>6} "
                  f"hash {str(s.get('last_block_hash', '-'))[:16]} peers {len(s.get('peers', []))}"
                  + ("  UNREACHABLE" if "error" in s else ""))
    return 1 if any("error" in s for s in found) else 0


def _e2e(args: argparse.Namespace) -> int:
    from pownode import e2e
    from pownode.e2e_manifest import load

    manifest = load(Path(args.manifest))
    outcome = e2e.run(manifest, Path(args.home) if args.home else None, args.base_port)
    print(e2e.report(outcome))
    if args.json:
        Path(args.json).write_text(e2e.to_json(outcome) + "\n")
    return 0 if outcome.passed else 1


def _scenario(args: argparse.Namespace) -> int:
    from pownode.scenario import run as scenario

    if args.action == "list":
        for name, description in scenario.library():
            print(f"{name:<20} {description}")
        return 0
    if not args.scenario:
        raise ValueError(f"scenario {args.action} needs a scenario NAME or FILE (see `pownode scenario list`)")
    if args.action == "sweep":
        from pownode.scenario.sweep import parse_vary, sweep

        if not args.vary:
            raise ValueError("scenario sweep needs --vary PATH=V1,V2,...")
        variation = parse_vary(args.vary)
        results = sweep(scenario.locate(args.scenario), variation, workers=args.workers, scheduler=args.scheduler,
                        out=Path(args.out) if args.out else None)
        for r in results:
            print(f"{variation.path}={r['value']}: " + ", ".join(f"{k} {v}" for k, v in r.items()
                                                              if k not in ("value", "market_state_root")))
        return 0
    found = scenario.resolve(args.scenario)
    if args.consensus:
        from dataclasses import replace

        found = replace(found, consensus=args.consensus)
    scenario.run(found, local=args.local, validators=args.cluster, interval_s=args.interval_s,
                 out=Path(args.out) if args.out else None, base_port=args.base_port, crash=args.crash)
    return 0


def build_parser() -> argparse.ArgumentParser:
    fmt = DefaultsFormatter
    parser = argparse.ArgumentParser(prog="pownode", description="Permissioned blockchain node for local energy markets",
                                     epilog="exit codes: 0 done, 1 error or refusal, 2 usage, 130 interrupted "
                                            "(tx send --wait: 3 reverted, 4 timed out)")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", formatter_class=fmt,
                          help="a 4-node Proof-of-Energy cluster running a P2P market, then a report")
    demo.add_argument("--home", default=None, help="folder for the demo's data, replaced on the next run "
                      "(default: demo-data, or demo-local with --local); a folder no demo made is refused")
    demo.add_argument("--windows", type=int, default=4, help="market windows to trade and clear (cluster demo)")
    demo.add_argument("--base-port", type=int, default=26600, help="ports from here: node i listens on BASE + 2i, its API on BASE + 2i + 1")
    demo.add_argument("--local", action="store_true",
                      help="instead: one validator in this process, a full day of 15-minute intervals")
    demo.add_argument("--intervals", type=int, default=96, help="15-minute settlement intervals (--local)")
    demo.add_argument("--users", type=int, default=8, help="households in the community (--local)")
    demo.set_defaults(run=_demo)
    keygen = sub.add_parser("keygen", formatter_class=fmt, help="generate an Ed25519 key file")
    keygen.add_argument("--out", required=True, help="key file to create (refuses to overwrite)")
    keygen.set_defaults(run=_keygen)
    check = sub.add_parser("check", formatter_class=fmt,
                           help="replay a stored chain from genesis (contracts included) and verify its state")
    check.add_argument("--db", required=True, help="the node's LevelDB folder")
    check.add_argument("--genesis", required=True, help="the network's genesis.json")
    check.set_defaults(run=_check)
    init = sub.add_parser("init", formatter_class=fmt, help="keys, genesis and one home folder per node")
    init.add_argument("--nodes", type=int, default=None, help="validators (default: 4, or one per host)")
    init.add_argument("--consensus", choices=["pbft", "pos", "poe"], default="pbft", help="consensus module")
    init.add_argument("--out", required=True, help="an empty folder for the network")
    init.add_argument("--base-port", type=int, default=26600, help="ports from here: on loopback node i listens on "
                      "BASE + 2i, its API on BASE + 2i + 1; with --hosts every node uses BASE and BASE + 1")
    init.add_argument("--chain-id", help="the network's name, covered by every signature "
                      "(default: pownode-<consensus>-<8 random hex digits>, unique to this network)")
    init.add_argument("--hosts", help="HOST1,HOST2,...: one node per machine, the homes written for those hosts")
    init.add_argument("--hosts-file", help="the hosts, one per line (# comments)")
    init.set_defaults(run=_init)
    add_full = sub.add_parser("add-full", formatter_class=fmt, help="a full node's home beside a network's "
                              "validators (it follows and verifies the chain and serves the API, never votes)")
    add_full.add_argument("--network", required=True, help="the folder `pownode init` made")
    add_full.add_argument("--count", type=int, default=1, help="full nodes to add")
    add_full.set_defaults(run=_add_full)
    add_validator = sub.add_parser("add-validator", formatter_class=fmt, help="a new validator's home beside a "
                                   "running network's, which no other node needs to restart for")
    add_validator.add_argument("--network", required=True, help="the folder `pownode init` made")
    add_validator.add_argument("--power", type=int, default=1, help="voting power in the printed set-validator command")
    add_validator.add_argument("--host", default="", help="the new validator's machine address, for a network made "
                               "with `init --hosts` (nodes added later dial it there)")
    add_validator.set_defaults(run=_add_validator)
    run = sub.add_parser("run", formatter_class=fmt, help="run one node from its home folder")
    run.add_argument("--home", default=None, help="the node's home (default: $POWNODE_HOME)")
    run.add_argument("--resync", action="store_true",
                     help="rebuild this home's lost chain database from the peers (it is never recreated silently)")
    _add_log_args(run)
    run.add_argument("--log-json", action="store_true", help="one JSON object per log line")
    run.set_defaults(run=_run)
    reset = sub.add_parser("reset", formatter_class=fmt, help="delete a stopped node's chain database, keeping its "
                           "keys, config and consensus log; then `run --resync` rebuilds it from the peers")
    reset.add_argument("--home", default=None, help="the node's home (default: $POWNODE_HOME)")
    reset.set_defaults(run=_reset)
    clus = sub.add_parser("cluster", help="a local cluster of node processes on loopback")
    clus_sub = clus.add_subparsers(dest="action", required=True)
    for action, text in (("up", "start the cluster (making it if the home is new) and watch it until Ctrl-C"),
                         ("status", "each node's API, height, head and peers; exit 1 if any is unreachable"),
                         ("down", "stop the nodes `cluster up` started in this home, and only those"),
                         ("delete", "delete a stopped cluster's home (keys and chains)")):
        a = clus_sub.add_parser(action, formatter_class=fmt, help=text, description=text)
        a.add_argument("--home", default=None, help="the cluster's folder (default: $POWNODE_HOME or cluster-data)")
        if action == "up":
            a.add_argument("--nodes", type=int, default=None, help="validators (a new home only) (default: 4)")
            a.add_argument("--full", type=int, default=0, help="full nodes: they follow and verify the chain and "
                           "serve the API, never vote; missing ones are made and admitted by the operator key")
            a.add_argument("--gateways", type=int, default=0, help="light gateways, one per household with a "
                           "meter of its own (made and certified by the operator key when missing), fed by simulated "
                           "meters through a local MQTT broker (mosquitto, else amqtt)")
            a.add_argument("--consensus", choices=["pbft", "pos", "poe"], default=None,
                           help="consensus module (a new home only) (default: pbft)")
            a.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
            a.add_argument("--resync", action="store_true", help="a node whose chain was deleted (`pownode reset`) "
                           "rebuilds it from the others")
            a.add_argument("--base-port", type=int, default=None, help="a new home's first port: node i "
                           "listens on BASE + 2i, its API on BASE + 2i + 1 (default: 26600)")
        if action == "status":
            a.add_argument("--json", action="store_true", help="print JSON")
        a.set_defaults(run=_cluster)
    scen = sub.add_parser("scenario", formatter_class=fmt, help="run one of the papers' experiments (or your own) on a chain")
    scen.add_argument("action", choices=["run", "list", "sweep"])
    scen.add_argument("scenario", nargs="?", help="a shipped scenario's NAME or a scenario FILE (TOML)")
    where = scen.add_mutually_exclusive_group()
    where.add_argument("--cluster", type=int, default=4, metavar="N", help="N validator processes (default 4)")
    where.add_argument("--local", action="store_true", help="the same chain in this process")
    scen.add_argument("--consensus", choices=["pbft", "pos", "poe"], help="instead of the scenario's")
    scen.add_argument("--interval-s", type=float, default=6.0,
                      help="wall-clock seconds per chain interval on a cluster (default 6)")
    scen.add_argument("--out", help="folder for kpis.json and intervals.csv (and the cluster's homes)")
    scen.add_argument("--base-port", type=int, default=26900, help="ports from here: node i listens on BASE + 2i, its API on BASE + 2i + 1")
    scen.add_argument("--crash", metavar="NODE@C[-BACK]",
                      help="kill validator NODE (SIGKILL) on entering chain interval C, restart it at BACK")
    scen.add_argument("--vary", metavar="PATH=V1,V2,...", help="sweep: the field to vary, e.g. group.prosumer.pv_kwp=2,4,6")
    scen.add_argument("--workers", type=int, help="sweep: local processes (default: one per core)")
    scen.add_argument("--scheduler", metavar="ADDRESS", help="sweep: a Dask distributed scheduler to run the variants on")
    scen.set_defaults(run=_scenario)
    e2e = sub.add_parser("e2e", formatter_class=fmt, help="a cluster under load and timed faults, then a check of what it committed")
    e2e.add_argument("manifest", help="a TOML manifest (see e2e/ and the README)")
    e2e.add_argument("--home", help="an empty folder to keep the network in (default: a temporary one, removed)")
    e2e.add_argument("--base-port", type=int, default=26700, help="ports from here: node i listens on BASE + 2i, its API on BASE + 2i + 1")
    e2e.add_argument("--json", help="also write the outcome as JSON to this file")
    e2e.set_defaults(run=_e2e)
    gw = sub.add_parser("gateway", formatter_class=fmt, help="a smart meter's MQTT bridge: signs its readings, "
                        "submits them to a node, publishes their receipts",
                        description="Subscribes to TOPIC/reading (JSON, QoS 1), keeps each reading in an outbox "
                                    "before acknowledging it, signs it with the meter's key, submits it and publishes "
                                    "the outcome on TOPIC/receipt; bad messages are answered on TOPIC/error.")
    gw.add_argument("--mqtt", required=True, help="the broker, mqtt://[USER@]HOST[:PORT] (the password in "
                    "POWNODE_MQTT_PASSWORD)")
    gw.add_argument("--meter-key", required=True, help="the certified meter's key file")
    gw.add_argument("--api", default="127.0.0.1:26601", help="a node's API, HOST:PORT or http://HOST:PORT")
    gw.add_argument("--topic", help="topic prefix (default: pownode/meters/<the meter's address>)")
    gw.add_argument("--home", help="folder for the outbox (default: ~/.pownode/gateway-<address prefix>)")
    _add_log_args(gw)
    role = gw.add_mutually_exclusive_group()
    role.add_argument("--light", action="store_true", help="trust the node for nothing: prove every receipt "
                      "with a light client from --genesis")
    role.add_argument("--full", metavar="HOME", help="run this home's node (a full node the operator admitted, "
                      "`pownode add-full`) in the gateway's process, and talk to it instead of --api")
    gw.add_argument("--genesis", help="with --light: the chain's genesis.json, what the light client trusts")
    gw.add_argument("--market", help="a market contract's address: publish the household's view of each window "
                    "on TOPIC/window (needs --owner)")
    gw.add_argument("--aggregator", help="a VPP aggregator contract's address: publish the battery's set-point for "
                    "each upcoming delivery interval on TOPIC/setpoint (needs --owner)")
    gw.add_argument("--owner", help="with --market or --aggregator: the household's address, whose orders, trades, "
                    "settlement and set-points are reported")
    gw.set_defaults(run=_gateway)
    light = sub.add_parser("light", formatter_class=fmt, help="ask a node and verify its answer as a light client: "
                           "headers and certificates from the genesis, then a proof",
                           description="Follows the chain's headers from the genesis, checking every commit "
                                       "certificate and validator-set change, then checks the node's proof of a "
                                       "committed transaction and its receipt, an account, or a meter's reading "
                                       "against them. Prints JSON; exit 1 when the node's answer does not verify.")
    light.add_argument("what", choices=["tx", "account", "reading"])
    light.add_argument("target", help="tx: its hash; account: an address; reading: the meter's public key")
    light.add_argument("--interval", type=int, default=None, help="reading: the interval")
    light.add_argument("--genesis", required=True, help="the chain's genesis.json (what the light client trusts)")
    light.add_argument("--api", default="127.0.0.1:26601", help="a node's API, HOST:PORT or http://HOST:PORT")
    light.set_defaults(run=_light)
    completion = sub.add_parser("completion", formatter_class=fmt, help="print a shell completion script",
                                description="Load it in your shell, e.g. `source <(pownode completion bash)`, or "
                                            "save it where your shell looks for completions.")
    completion.add_argument("shell", choices=["bash", "zsh", "tcsh"])
    completion.set_defaults(run=_completion)
    from pownode.client import add_parsers

    add_parsers(sub)
    bench = sub.add_parser("bench", formatter_class=fmt,
                           help="throughput and latency of a fresh local cluster, from the clients' side")
    bench.add_argument("--nodes", type=_bench_sizes, default=None,
                       help="validators, or sizes to compare: 4,7,10,16 (default 4; with --matrix 4,7,16)")
    bench.add_argument("--consensus", choices=["pbft", "pos", "poe"], default="pbft", help="consensus module")
    bench.add_argument("--duration", type=float, default=20.0, help="seconds of submission")
    load = bench.add_mutually_exclusive_group()
    load.add_argument("--rate", type=int, default=1500, help="transactions per second (default 1500)")
    load.add_argument("--open-loop", action="store_true", help="as fast as the cluster accepts")
    bench.add_argument("--tx-kind", choices=("transfer", "order", "meter"), default="transfer",
                       help="what the clients send")
    bench.add_argument("--matrix", action="store_true", help="pbft, pos and poe at each size, one comparison table")
    bench.add_argument("--json", help="write the result (a list, for several runs) to this file")
    bench.add_argument("--png", help="write throughput, CPU per tx and p99 latency against N to this PNG file")
    bench.add_argument("--home", help="keep the cluster's folders and logs here (default: a temporary folder)")
    bench.add_argument("--base-port", type=int, default=27600,
                       help="ports from here: node i listens on BASE + 2i, its API on BASE + 2i + 1")
    bench.add_argument("--block-interval-ms", type=int, default=100, help="the nodes' pause before proposing a block")
    bench.set_defaults(run=_bench)
    return parser


def _bench_sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for part in text.split(","):
        if not part.strip().isdigit() or not 1 <= int(part) <= 32:
            raise argparse.ArgumentTypeError(f"--nodes takes N or N1,N2,... (each 1..32), not {text!r}")
        sizes.append(int(part))
    if len(set(sizes)) != len(sizes):
        raise argparse.ArgumentTypeError(f"--nodes: each size once, not {text!r}")
    return tuple(sizes)


def _bench(args: argparse.Namespace) -> int:
    from pownode.bench import main  # aiohttp, uvloop and the cluster tools: loaded by this command only

    return main(args)


def _light(args: argparse.Namespace) -> int:
    from ledger.genesis import Genesis
    from pownode import answer_bounds
    from pownode.client import api_address, hex_bytes
    from pownode.light import LightClient, http_fetch, require_same_chain

    api = api_address(args.api)
    genesis, fetch = Genesis.load(args.genesis), http_fetch(api)
    require_same_chain(genesis, Genesis.from_json(fetch("/genesis", answer_bounds.GENESIS)), args.genesis, api)
    client = LightClient(genesis, fetch)
    if args.what == "tx":
        height, tx, receipt = client.transaction(hex_bytes("target", args.target, 32, "a transaction hash"))
        shown = {"height": height, "kind": tx.kind, "sender": tx.sender_address.hex(), "nonce": tx.nonce,
                 "ok": receipt.status == 0, "reason": receipt.reason, "gas_used": receipt.gas_used}
    elif args.what == "account":
        height, account = client.account(hex_bytes("target", args.target, 20, "an address"))
        shown = {"height": height, "balance": account.balance, "nonce": account.nonce}
    else:
        if args.interval is None or args.interval < 0:
            raise ValueError("reading: --interval is required, a non-negative integer")
        height, reading = client.reading(args.interval, hex_bytes("target", args.target, 32, "a meter's public key"))
        shown = {"height": height, "interval": args.interval, "reported": reading is not None,
                 **({"produced_wh": reading.produced_wh, "consumed_wh": reading.consumed_wh,
                     "owner": reading.owner.hex()} if reading is not None else {})}
    print(json.dumps({"verified": True, "head": client.head.height, **shown}, indent=2))
    return 0


def _gateway(args: argparse.Namespace) -> int:
    from pownode.client import api_address, hex_bytes
    from pownode.gateway import GatewayConfig, broker_address, serve
    from pownode.keyfile import read_key
    from pownode.logs import setup_logging

    api = api_address(args.api)
    node_home = None
    if args.full:
        from pownode.config import NodeConfig

        node_home = Path(args.full).resolve()
        node = NodeConfig.load(node_home)
        api = f"{node.api_host}:{node.api_port}"
    if args.light and not args.genesis:
        raise ValueError("--light needs --genesis, the chain's genesis.json (the light client's trust anchor)")
    if bool(args.market or args.aggregator) != bool(args.owner):
        raise ValueError("--market or --aggregator goes with --owner: the contract, and the household whose view is "
                         "reported")
    market = hex_bytes("--market", args.market, 20, "a contract address") if args.market else None
    aggregator = hex_bytes("--aggregator", args.aggregator, 20, "a contract address") if args.aggregator else None
    owner = hex_bytes("--owner", args.owner, 20, "an address") if args.owner else None
    broker = broker_address(args.mqtt, os.environ.get("POWNODE_MQTT_PASSWORD"))
    meter = read_key(args.meter_key)
    topic = args.topic or f"pownode/meters/{meter.address.hex()}"
    home = Path(args.home or Path.home() / ".pownode" / f"gateway-{meter.address.hex()[:12]}").resolve()
    setup_logging(args.log_level, file=_log_file(args))
    return serve(GatewayConfig(broker.host, broker.port, api, meter, home, topic, broker.username,
                               broker.password, Path(args.genesis).resolve() if args.light else None, market, owner,
                               aggregator, node_home))


def _completion(args: argparse.Namespace) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0


class _Version(argparse.Action):
    """`--version`, read from the installed package's metadata only when asked: importlib.metadata
    (email, zipfile, csv) would otherwise load with every command, a light gateway's too."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("pownode")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"pownode {found}")
        parser.exit()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"pownode {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`pownode ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LedgerError, OSError, ValueError, ApiError, NotImplementedError) as exc:
        print(f"pownode {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
