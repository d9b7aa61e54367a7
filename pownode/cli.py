"""The `pownode` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from pownode.client import ApiError
from pownode.keyfile import write_key


def _demo(args: argparse.Namespace) -> int:
    if args.local:
        from pownode.demo import run_demo

        run_demo(Path(args.home), intervals=args.intervals, users=args.users)
        return 0
    from pownode.cluster_demo import run_cluster_demo

    report = run_cluster_demo(Path(args.home), windows=args.windows, base_port=args.base_port)
    wrong = sum(p["proposer"] != p["expected"] for p in report["proposers"])
    return 1 if wrong else 0


def _keygen(args: argparse.Namespace) -> int:
    key = PrivateKey.generate()
    write_key(args.out, key)
    print(f"wrote {args.out}\npublic key {key.public_key.hex()}\naddress    {key.address.hex()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    genesis = Genesis.load(args.genesis)
    chain = Chain(LevelDB(args.db), genesis)
    try:
        height = chain.audit()
    finally:
        chain.store.db.close()
    print(f"ok: {height} blocks replay from genesis to the stored state root {chain.state.root().hex()}")
    return 0


def _init(args: argparse.Namespace) -> int:
    from pownode.config import init_network

    homes = init_network(Path(args.out), args.nodes, args.consensus, base_port=args.base_port)
    print(f"wrote genesis and {len(homes)} node homes under {args.out}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pownode.serve import run

    run(Path(args.home), resync=args.resync)
    return 0


def _cluster(args: argparse.Namespace) -> int:
    from pownode import cluster

    home = Path(args.home)
    if args.action == "up":
        return cluster.up(home, args.nodes, args.consensus, args.duration, args.base_port)
    if args.action == "down":
        return cluster.down(home)
    found = cluster.statuses(home)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for s in found:
            print(f"{s['name']:<6} http://{s['api']:<16} height {s.get('height', '-'):>6} "
                  f"hash {str(s.get('last_block_hash', '-'))[:16]} peers {len(s.get('peers', []))}")
    return 0


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
                 out=Path(args.out) if args.out else None, base_port=args.base_port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pownode", description="Permissioned blockchain node for local energy markets")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="a 4-node Proof-of-Energy cluster running a P2P market, then a report")
    demo.add_argument("--home", default="demo-data", help="folder for the demo's network (wiped first)")
    demo.add_argument("--windows", type=int, default=4, help="market windows to trade and clear (cluster demo)")
    demo.add_argument("--base-port", type=int, default=26600)
    demo.add_argument("--local", action="store_true",
                      help="instead: one validator in this process, a full day of 15-minute intervals")
    demo.add_argument("--intervals", type=int, default=96, help="15-minute settlement intervals (--local)")
    demo.add_argument("--users", type=int, default=8, help="households in the community (--local)")
    demo.set_defaults(run=_demo)
    keygen = sub.add_parser("keygen", help="generate an Ed25519 key file")
    keygen.add_argument("--out", required=True, help="key file to create (refuses to overwrite)")
    keygen.set_defaults(run=_keygen)
    check = sub.add_parser("check", help="replay a stored chain from genesis and verify its state")
    check.add_argument("--db", required=True, help="the node's LevelDB folder")
    check.add_argument("--genesis", required=True, help="the network's genesis.json")
    check.set_defaults(run=_check)
    init = sub.add_parser("init", help="keys, genesis and one home folder per node")
    init.add_argument("--nodes", type=int, default=4)
    init.add_argument("--consensus", choices=["pbft", "pos", "poe"], default="pbft")
    init.add_argument("--out", required=True)
    init.add_argument("--base-port", type=int, default=26600)
    init.set_defaults(run=_init)
    run = sub.add_parser("run", help="run one node from its home folder")
    run.add_argument("--home", required=True)
    run.add_argument("--resync", action="store_true",
                     help="rebuild this home's lost chain database from the peers (it is never recreated silently)")
    run.set_defaults(run=_run)
    clus = sub.add_parser("cluster", help="a local cluster of node processes on loopback")
    clus.add_argument("action", choices=["up", "status", "down"])
    clus.add_argument("--nodes", type=int, default=4)
    clus.add_argument("--consensus", choices=["pbft", "pos", "poe"], default="pbft")
    clus.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    clus.add_argument("--home", default="cluster-data")
    clus.add_argument("--base-port", type=int, default=26600)
    clus.add_argument("--json", action="store_true")
    clus.set_defaults(run=_cluster)
    scen = sub.add_parser("scenario", help="run one of the papers' experiments (or your own) on a chain")
    scen.add_argument("action", choices=["run", "list", "sweep"])
    scen.add_argument("scenario", nargs="?", help="a shipped scenario's NAME or a scenario FILE (TOML)")
    where = scen.add_mutually_exclusive_group()
    where.add_argument("--cluster", type=int, default=4, metavar="N", help="N validator processes (default 4)")
    where.add_argument("--local", action="store_true", help="the same chain in this process")
    scen.add_argument("--consensus", choices=["pbft", "pos", "poe"], help="instead of the scenario's")
    scen.add_argument("--interval-s", type=float, default=6.0,
                      help="wall-clock seconds per chain interval on a cluster (default 6)")
    scen.add_argument("--out", help="folder for kpis.json and intervals.csv (and the cluster's homes)")
    scen.add_argument("--base-port", type=int, default=26900)
    scen.add_argument("--vary", metavar="PATH=V1,V2,...", help="sweep: the field to vary, e.g. group.prosumer.pv_kwp=2,4,6")
    scen.add_argument("--workers", type=int, help="sweep: local processes (default: one per core)")
    scen.add_argument("--scheduler", metavar="ADDRESS", help="sweep: a Dask distributed scheduler to run the variants on")
    scen.set_defaults(run=_scenario)
    e2e = sub.add_parser("e2e", help="a cluster under load and timed faults, then a check of what it committed")
    e2e.add_argument("manifest", help="a TOML manifest (see e2e/ and the README)")
    e2e.add_argument("--home", help="an empty folder to keep the network in (default: a temporary one, removed)")
    e2e.add_argument("--base-port", type=int, default=26700)
    e2e.add_argument("--json", help="also write the outcome as JSON to this file")
    e2e.set_defaults(run=_e2e)
    from pownode import bench
    from pownode.client import add_parsers

    add_parsers(sub)
    bench.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (LedgerError, OSError, ValueError, ApiError, NotImplementedError) as exc:
        print(f"pownode {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
