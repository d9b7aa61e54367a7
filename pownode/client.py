"""`pownode tx send` and `pownode query`: a small client of the node's HTTP API.

Exit codes, for scripts: 0 done; 1 refused, not found, unreachable, or bad input (one line on
stderr names the argument and what it expects); 2 a usage error (argparse); with `tx send
--wait`, 3 committed but reverted (a contract call's fee is still charged) and 4 not committed
within `--timeout`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from typing import Any

from ledger.encoding import Record
from ledger.executor import contract_fee
from ledger.genesis import Genesis
from ledger.transactions import (FEE_EXEMPT_KINDS, AdmitNode, CertifyMarket, ContractCall, ContractDeploy, MarketOrder,
                                 MeterReading, RegisterMeter, RevokeMeter, SetValidator, Transaction, Transfer)
from pownode.cli_format import DefaultsFormatter
from pownode.keyfile import read_key
from pownode.tx_outcome import TxOutcome, TxStatus
from vm import values

DEFAULT_API = "127.0.0.1:26601"
_API = re.compile(r"^(?:https?://)?([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(\d{1,5})/?$")


class ApiError(Exception):
    """The node could not be reached, or answered with an error: the CLI exits 1."""


def api_address(text: str) -> str:
    """HOST:PORT from `HOST:PORT` or `http://HOST:PORT` (as `cluster up` prints it)."""
    found = _API.match(text.strip())
    if not found or not 0 < int(found.group(2)) < 65536:
        raise ValueError(f"--api: expected HOST:PORT or http://HOST:PORT, not {text!r}")
    return f"{found.group(1)}:{found.group(2)}"


def request(api: str, path: str, body: dict | None = None, timeout: float = 10.0) -> Any:
    """The node's JSON answer; an HTTP error status raises ApiError with the node's message."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{api}{path}", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            raw = response.read()
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(f"{path}: the answer from {api} is not JSON (is it a pownode API?)") from None
    except urllib.error.HTTPError as exc:
        try:
            doc = json.loads(exc.read() or b"{}")
        except ValueError:
            doc = {}
        raise ApiError(f"{path}: HTTP {exc.code}: {doc.get('error') or doc.get('status') or exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        said = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise ApiError(f"cannot reach the node at {api} ({said}): is it running, and is {api} its API? "
                       "(`pownode cluster status` lists a local cluster's, and --api chooses one)") from None


def hex_bytes(name: str, text: str, size: int, what: str) -> bytes:
    """`text` (optionally 0x-prefixed) as exactly `size` bytes, or an error naming the argument."""
    digits = text[2:] if text.startswith("0x") else text
    if len(digits) != 2 * size or not re.fullmatch(r"[0-9a-fA-F]*", digits):
        raise ValueError(f"{name}: expected {what} ({2 * size} hex digits), not {text!r}")
    return bytes.fromhex(digits)


def _call_args(text: str) -> tuple:
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, list):
        raise ValueError(f"--args: expected a JSON list such as '[1, \"text\", \"0xab01\"]', not {text!r}")
    return tuple(_arg(v) for v in values)


def _arg(value: Any) -> Any:
    """JSON call arguments: ints and strings as they are, "0x..." strings as bytes."""
    if isinstance(value, str) and value.startswith("0x"):
        digits = value[2:]
        if len(digits) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
            raise ValueError(f"--args: {value!r} starts with 0x but is not whole bytes of hex")
        return bytes.fromhex(digits)
    if isinstance(value, list):
        return tuple(_arg(v) for v in value)
    return value


def _body(args: argparse.Namespace) -> Record:
    if args.kind == "transfer":
        return Transfer(hex_bytes("--to", args.to, 20, "an address"), args.amount)
    if args.kind == "reading":
        return MeterReading(args.interval, args.produced, args.consumed)
    if args.kind == "order":
        return MarketOrder(args.window, 1 if args.side == "sell" else 0, args.energy, args.price, args.zone, args.order_id)
    if args.kind == "deploy":
        try:
            source = open(args.source, encoding="utf-8").read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"--source {args.source}: cannot read it ({exc.__class__.__name__})") from None
        return ContractDeploy(source, args.gas)
    if args.kind == "admit-node":
        return AdmitNode(hex_bytes("--node", args.node, 32, "a node's public key"), 0 if args.withdraw else 1)
    if args.kind == "register-meter":
        return RegisterMeter(hex_bytes("--meter", args.meter, 32, "a meter's public key"), args.type, args.serial,
                             hex_bytes("--owner", args.owner, 20, "an address"))
    if args.kind == "revoke-meter":
        return RevokeMeter(hex_bytes("--meter", args.meter, 32, "a meter's public key"))
    if args.kind == "certify-market":
        contract = hex_bytes("--contract", args.contract, 20, "a contract address")
        return CertifyMarket(contract, 0 if args.withdraw else 1)
    if args.kind == "set-validator":
        return SetValidator(hex_bytes("--node", args.node, 32, "a node's public key"), args.power)
    return ContractCall(hex_bytes("--contract", args.contract, 20, "a contract address"), args.function,
                        _call_args(args.args), args.gas, args.value)


def least_fee(genesis: Genesis, body: Record) -> int:
    """The fee the chain asks of this body: none for meter and operator records, `min_fee` plus
    the gas limit's price for a contract call, `min_fee` otherwise."""
    if isinstance(body, FEE_EXEMPT_KINDS):
        return 0
    if isinstance(body, (ContractCall, ContractDeploy)):
        return contract_fee(genesis, body.gas_limit)
    return genesis.min_fee


def send_as_operator(api: str, operator_key: str, bodies: list[Record], what: str) -> None:
    """Sign `bodies` (operator transactions, fee-exempt) with the key in file `operator_key`,
    submit them through `api` and wait for their commit; RuntimeError naming `what` otherwise."""
    operator = read_key(operator_key)
    genesis = Genesis.from_json(request(api, "/genesis"))
    nonce = request(api, f"/accounts/{operator.address.hex()}")["nonce"]
    txs = [Transaction.create(operator, genesis.chain_id, nonce + i, body) for i, body in enumerate(bodies)]
    results = request(api, "/txs?wait=commit", {"txs": [tx.encoded.hex() for tx in txs]}, timeout=60)["results"]
    refused = [r for r in results if not r["accepted"] or not r.get("durable")]
    if refused:
        raise RuntimeError(f"{what} failed: {refused[0].get('reason') or 'not committed in time'}")


def send(args: argparse.Namespace) -> tuple[dict, int]:
    """Sign and submit; with --wait, follow it into a block. (What to print, the exit code.)"""
    api = api_address(args.api)
    key = read_key(args.key)
    body = _body(args)
    genesis = Genesis.from_json(request(api, "/genesis"))
    nonce = args.nonce if args.nonce is not None else request(api, f"/accounts/{key.address.hex()}")["nonce"]
    fee = args.fee if args.fee is not None else least_fee(genesis, body)
    tx = Transaction.create(key, genesis.chain_id, nonce, body, fee=fee)
    path = "/txs" + (f"?wait=commit&timeout_s={args.timeout}" if args.wait else "")
    result = request(api, path, {"txs": [tx.encoded.hex()]}, timeout=args.timeout + 10)["results"][0]
    if not result["accepted"]:
        outcome = TxOutcome(tx.hash, TxStatus.REFUSED, f"{result['reason']}: {result['detail']}")
    elif not args.wait:
        return {"hash": tx.hash.hex(), "nonce": nonce, "fee": fee, "accepted": True, "durable": False}, 0
    elif not result.get("durable"):
        outcome = TxOutcome(tx.hash, TxStatus.TIMEOUT, f"not committed within {args.timeout} s")
    else:
        found = request(api, f"/txs/{tx.hash.hex()}")
        r = found["receipt"]
        outcome = TxOutcome(tx.hash, TxStatus.COMMITTED if r["ok"] else TxStatus.REVERTED, r["reason"],
                            found["height"], r["gas_used"], bytes.fromhex(r["output"]))
    shown = {**outcome.to_json(), "nonce": nonce, "fee": fee}
    if outcome.status is TxStatus.COMMITTED and isinstance(body, ContractDeploy):
        shown["contract"] = outcome.output.hex()  # a deploy's output is the new contract's address
    elif outcome.status is TxStatus.COMMITTED and isinstance(body, ContractCall) and outcome.output:
        try:
            shown["returned"] = _readable(values.decode(outcome.output))  # what the function returned
        except TypeError:
            shown["returned_hex"] = outcome.output.hex()  # not a value this client reads: shown raw
    return shown, outcome.status.exit_code


def _readable(value: Any) -> Any:
    """A contract value as JSON: bytes as hex strings."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_readable(v) for v in value]
    if isinstance(value, dict):
        return {str(_readable(k)): _readable(v) for k, v in value.items()}
    return value


def query(args: argparse.Namespace) -> Any:
    market = f"/market/{args.target}" + ("" if args.window is None else f"/windows/{args.window}")
    paths = {"status": "/status", "health": "/health", "validators": "/validators", "genesis": "/genesis",
             "contracts": "/contracts" + ("" if args.target == "latest" else f"?after={args.target}"),
             "block": f"/blocks/{args.target}", "tx": f"/txs/{args.target}", "account": f"/accounts/{args.target}",
             "market": market}
    return request(api_address(args.api), paths[args.what])


def _print_send(args: argparse.Namespace) -> int:
    shown, code = send(args)
    print(json.dumps(shown, indent=2))
    if code:  # the JSON above has the details; scripts reading stderr get the one line
        print(f"pownode tx: {shown['status']}: {shown['reason']}", file=sys.stderr)
    return code


def uint(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {text}")
    return value


def _wait_seconds(text: str) -> int:
    """An argparse type: `--timeout`, the seconds the node may hold a `?wait=commit` request."""
    value = uint(text)
    if not 1 <= value <= 120:
        raise argparse.ArgumentTypeError(f"expected 1..120 seconds, not {value}")
    return value


def add_parsers(sub: argparse._SubParsersAction) -> None:
    fmt = DefaultsFormatter
    tx = sub.add_parser("tx", help="sign and send a transaction through a node's API")
    tx_sub = tx.add_subparsers(dest="tx_command", required=True)
    send_p = tx_sub.add_parser("send", formatter_class=fmt, help="sign a transaction and submit it", description=(
        "Sign a transaction with --key and submit it. Exit codes: 0 accepted (with --wait: committed), "
        "1 refused or an error, 3 committed but reverted, 4 not committed within --timeout."))
    send_p.add_argument("--api", default=DEFAULT_API, help="node API, HOST:PORT or http://HOST:PORT")
    send_p.add_argument("--key", required=True, help="key file signing the transaction")
    send_p.add_argument("--fee", type=uint, default=None,
                        help="default: the least the chain asks (0 for a reading, min_fee plus gas for a call)")
    send_p.add_argument("--nonce", type=uint, default=None, help="default: the account's next nonce")
    send_p.add_argument("--wait", action="store_true", help="wait until committed and print the receipt")
    send_p.add_argument("--timeout", type=_wait_seconds, default=30, help="with --wait: seconds, 1..120")
    kinds = send_p.add_subparsers(dest="kind", required=True)
    t = kinds.add_parser("transfer", formatter_class=fmt, help="move currency to an address")
    t.add_argument("--to", required=True, help="address, 40 hex digits")
    t.add_argument("--amount", type=uint, required=True)
    r = kinds.add_parser("reading", formatter_class=fmt, help="a certified meter's reading (--key: the meter's key)")
    r.add_argument("--interval", type=uint, required=True)
    r.add_argument("--produced", type=uint, required=True, help="Wh")
    r.add_argument("--consumed", type=uint, required=True, help="Wh")
    o = kinds.add_parser("order", formatter_class=fmt, help="a signed bid or offer for a forward window")
    o.add_argument("--window", type=uint, required=True)
    o.add_argument("--side", choices=["buy", "sell"], required=True)
    o.add_argument("--energy", type=uint, required=True, help="Wh")
    o.add_argument("--price", type=uint, required=True, help="milli-cents per kWh")
    o.add_argument("--zone", type=uint, default=0, help="market area (002)")
    o.add_argument("--order-id", type=uint, required=True)
    c = kinds.add_parser("call", formatter_class=fmt, help="call a contract's function")
    c.add_argument("--contract", required=True, help="contract address, 40 hex digits")
    c.add_argument("--function", required=True)
    c.add_argument("--args", default="[]", help='JSON list; "0x..." strings are bytes')
    c.add_argument("--gas", type=uint, default=1_000_000, help="gas limit")
    c.add_argument("--value", type=uint, default=0, help="currency sent with the call")
    d = kinds.add_parser("deploy", formatter_class=fmt, help="deploy a contract; its address is in the output "
                         "with --wait (and in `query contracts`)")
    d.add_argument("--source", required=True, help="the contract's Python source file")
    d.add_argument("--gas", type=uint, default=4_000_000, help="gas limit")
    a = kinds.add_parser("admit-node", formatter_class=fmt, help="operator only: admit a full node's key to the "
                         "validators' network (--key: the operator key)")
    a.add_argument("--node", required=True, help="the full node's public key, 64 hex digits")
    a.add_argument("--withdraw", action="store_true", help="withdraw the admission instead")
    m = kinds.add_parser("register-meter", formatter_class=fmt, help="operator only: certify a smart meter, whose "
                         "readings then count for its owner (--key: the operator key)")
    m.add_argument("--meter", required=True, help="the meter's public key, 64 hex digits (`pownode keygen` prints it)")
    m.add_argument("--owner", required=True, help="the household's address, 40 hex digits")
    m.add_argument("--serial", required=True, help="the meter's serial number (1 to 64 characters)")
    m.add_argument("--type", default="smart-meter", help="the meter's type (1 to 32 characters)")
    rm = kinds.add_parser("revoke-meter", formatter_class=fmt, help="operator only: revoke a meter for good; its "
                          "readings stop counting (--key: the operator key)")
    rm.add_argument("--meter", required=True, help="the meter's public key, 64 hex digits")
    cm = kinds.add_parser("certify-market", formatter_class=fmt, help="operator only: certify a market contract, "
                          "so it may report settled energy (--key: the operator key)")
    cm.add_argument("--contract", required=True, help="the market contract's address, 40 hex digits")
    cm.add_argument("--withdraw", action="store_true", help="withdraw the certification instead")
    sv = kinds.add_parser("set-validator", formatter_class=fmt, help="operator only: add a validator, change its "
                          "voting power, or remove it with --power 0 (--key: the operator key)")
    sv.add_argument("--node", required=True, help="the validator's node public key, 64 hex digits")
    sv.add_argument("--power", type=uint, required=True, help="voting power (0: remove it from the set)")
    send_p.set_defaults(run=_print_send)
    q = sub.add_parser("query", formatter_class=fmt, help="ask a node for its status, health, validators, genesis, "
                       "contracts, a block, a transaction, an account or a market",
                       description="Exit code 1 when the node answers with an error (say, 404: not found).")
    q.add_argument("what", choices=["status", "health", "validators", "genesis", "contracts", "block", "tx", "account",
                                           "market"])
    q.add_argument("target", nargs="?", default="latest",
                   help="height, tx hash, address or market contract (contracts: list after this address)")
    q.add_argument("--window", type=uint, default=None, help="with `market`: one window's orders, result and trades")
    q.add_argument("--api", default=DEFAULT_API, help="node API, HOST:PORT or http://HOST:PORT")
    q.set_defaults(run=lambda a: print(json.dumps(query(a), indent=2)) or 0)
