"""`pownode tx send` and `pownode query`: a small client of the node's HTTP API."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any

from ledger.encoding import Record
from ledger.transactions import ContractCall, MarketOrder, MeterReading, Transaction, Transfer
from pownode.keyfile import read_key


class ApiError(Exception):
    pass


def request(api: str, path: str, body: dict | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{api}{path}", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}") | {"http_status": exc.code}
    except (urllib.error.URLError, OSError) as exc:
        raise ApiError(f"cannot reach the node at {api}: {exc}") from exc


def _body(args: argparse.Namespace) -> Record:
    if args.kind == "transfer":
        return Transfer(bytes.fromhex(args.to), args.amount)
    if args.kind == "reading":
        return MeterReading(args.interval, args.produced, args.consumed)
    if args.kind == "order":
        return MarketOrder(args.window, 1 if args.side == "sell" else 0, args.energy, args.price, args.zone, args.order_id)
    call_args = tuple(_arg(a) for a in json.loads(args.args))
    return ContractCall(bytes.fromhex(args.contract), args.function, call_args, args.gas, args.value)


def _arg(value: Any) -> Any:
    """JSON call arguments: ints and strings as they are, "0x..." strings as bytes."""
    if isinstance(value, str) and value.startswith("0x"):
        return bytes.fromhex(value[2:])
    if isinstance(value, list):
        return tuple(_arg(v) for v in value)
    return value


def send(args: argparse.Namespace) -> dict:
    key = read_key(args.key)
    status = request(args.api, "/status")
    nonce = args.nonce
    if nonce is None:
        nonce = request(args.api, f"/accounts/{key.address.hex()}")["nonce"]
    tx = Transaction.create(key, status["chain_id"], nonce, _body(args), fee=args.fee)
    answer = request(args.api, "/txs", {"txs": [tx.encoded.hex()]})
    return {"hash": tx.hash.hex(), "nonce": nonce, **answer["results"][0]}


def query(args: argparse.Namespace) -> Any:
    market = f"/market/{args.target}" + ("" if args.window is None else f"/windows/{args.window}")
    paths = {"status": "/status", "block": f"/blocks/{args.target}", "tx": f"/txs/{args.target}",
             "account": f"/accounts/{args.target}", "market": market}
    return request(args.api, paths[args.what])


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tx = sub.add_parser("tx", help="sign and send a transaction through a node's API")
    tx_sub = tx.add_subparsers(dest="tx_command", required=True)
    send_p = tx_sub.add_parser("send")
    send_p.add_argument("--api", default="127.0.0.1:26601", help="node API host:port")
    send_p.add_argument("--key", required=True, help="key file signing the transaction")
    send_p.add_argument("--fee", type=int, default=1)
    send_p.add_argument("--nonce", type=int, default=None, help="default: the account's next nonce")
    kinds = send_p.add_subparsers(dest="kind", required=True)
    t = kinds.add_parser("transfer")
    t.add_argument("--to", required=True)
    t.add_argument("--amount", type=int, required=True)
    r = kinds.add_parser("reading")
    r.add_argument("--interval", type=int, required=True)
    r.add_argument("--produced", type=int, required=True)
    r.add_argument("--consumed", type=int, required=True)
    o = kinds.add_parser("order")
    o.add_argument("--window", type=int, required=True)
    o.add_argument("--side", choices=["buy", "sell"], required=True)
    o.add_argument("--energy", type=int, required=True, help="Wh")
    o.add_argument("--price", type=int, required=True, help="milli-cents per kWh")
    o.add_argument("--zone", type=int, default=0)
    o.add_argument("--order-id", type=int, required=True)
    c = kinds.add_parser("call")
    c.add_argument("--contract", required=True)
    c.add_argument("--function", required=True)
    c.add_argument("--args", default="[]", help='JSON list; "0x..." strings are bytes')
    c.add_argument("--gas", type=int, default=1_000_000)
    c.add_argument("--value", type=int, default=0)
    send_p.set_defaults(run=lambda a: print(json.dumps(send(a), indent=2)) or 0)
    q = sub.add_parser("query", help="ask a node for its status, a block, a transaction, an account or a market")
    q.add_argument("what", choices=["status", "block", "tx", "account", "market"])
    q.add_argument("target", nargs="?", default="latest", help="height, tx hash, address or market contract")
    q.add_argument("--window", type=int, default=None, help="with `market`: one window's orders, result and trades")
    q.add_argument("--api", default="127.0.0.1:26601")
    q.set_defaults(run=lambda a: print(json.dumps(query(a), indent=2)) or 0)
