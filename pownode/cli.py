"""The `pownode` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from pownode.keyfile import write_key


def _demo(args: argparse.Namespace) -> int:
    from pownode.demo import run_demo

    run_demo(Path(args.home), intervals=args.intervals, users=args.users)
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pownode", description="Permissioned blockchain node for local energy markets")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a day of a small energy community on a local chain, then report")
    demo.add_argument("--home", default="demo-data", help="folder for the demo's LevelDB (wiped first)")
    demo.add_argument("--intervals", type=int, default=96, help="15-minute settlement intervals (96 = one day)")
    demo.add_argument("--users", type=int, default=8, help="households in the community")
    demo.set_defaults(run=_demo)
    keygen = sub.add_parser("keygen", help="generate an Ed25519 key file")
    keygen.add_argument("--out", required=True, help="key file to create (refuses to overwrite)")
    keygen.set_defaults(run=_keygen)
    check = sub.add_parser("check", help="replay a stored chain from genesis and verify its state")
    check.add_argument("--db", required=True, help="the node's LevelDB folder")
    check.add_argument("--genesis", required=True, help="the network's genesis.json")
    check.set_defaults(run=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (LedgerError, OSError, ValueError) as exc:
        print(f"pownode {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
