"""Read-only market queries over the API: a P2P market contract's members and credit, windows,
orders, clearing results, trades and real-time settlements, read straight from its storage (no
transaction, no gas, nothing written).

The layout read here is `market/contracts/p2p_market.py`'s: `params`, and bytes keys `M`+member,
`$`/`D`/`O`+member (credit, debt, owed by the utility), `W`+window (totals), `B`+window+seq
(demands), `S`+window+price+seq (offers), `C`+window (a clearing in progress), `R`+window (the
result), `T`+window+k (trades), `N`+window+member (committed energy), `X`+window (settlement
progress) and `Y`+window+member (a member's settlement). Windows are 8-byte big-endian interval
numbers. A `main` contract's address is accepted too and resolved to the P2P market it owns. Reads
see the node's latest executed state, which includes a block being voted on for the few
milliseconds before it commits.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from ledger.state import State
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from pownode.node import Node
from vm import values
from vm.machine import read_storage, scan_storage

MAX_PAGE = 1024
MAX_WINDOW = 1 << 64
PARAM_NAMES = ("mechanism", "fit", "tou", "cap", "p_ser", "lead", "span", "utility", "grace", "grid", "any_zone",
               "first_interval")
MECHANISMS = ("merit", "zone", "double")
RESULT_NAMES = ("price", "volume_wh", "trades", "paid", "service", "to_grid_wh", "from_grid_wh")
# How a member's settlement was metered (p2p_market's METERED, UNMETERED, MISSING).
METERING = {1: "metered", 2: "no-meter", 0: "readings-missing"}


def _market(request: web.Request) -> tuple[Node, State, bytes, dict[str, Any]]:
    node = request.app[NODE]
    state = node.chain.state
    contract = parse_hex(request.match_info["contract"], 20, "contract address")
    owned = read_storage(state, contract, "p2p")  # a main contract: follow it to its market
    if isinstance(owned, bytes) and len(owned) == 20:
        contract = owned
    params = read_storage(state, contract, "params")
    if not (isinstance(params, (list, tuple)) and len(params) == len(PARAM_NAMES)):
        raise client_error(404, f"no set-up P2P market at {contract.hex()}")
    found = dict(zip(PARAM_NAMES, params))  # other shapes fail below and are a 404 (`_shaped`)
    found["mechanism"] = MECHANISMS[found["mechanism"]]
    found["utility"] = found["utility"].hex()
    found["grid"] = found["grid"].hex()
    return node, state, contract, found


def _now(node: Node) -> int:
    return node.genesis.interval_of(node.chain.head.time_ms)


def _scan_all(state: State, contract: bytes, prefix: bytes, offset: int, limit: int) -> list[tuple[Any, Any]]:
    """Entries offset .. offset + limit under `prefix`, reading pages of at most MAX_PAGE."""
    out: list[tuple[Any, Any]] = []
    after = None
    skipped = 0
    while len(out) < limit:
        page = scan_storage(state, contract, prefix, MAX_PAGE, after)
        if not page:
            break
        for key, value in page:
            if skipped < offset:
                skipped += 1
            elif len(out) < limit:
                out.append((key, value))
        after = page[-1][0]
    return out


def _shaped(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Storage a contract other than p2p_market wrote (any member may deploy one that writes
    "params" and the rest) is a 404 saying so, not a server error."""
    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError):
            contract = request.match_info["contract"]
            raise client_error(404, f"{contract} does not hold a P2P market's storage") from None
    return guarded


@_shaped
async def market(request: web.Request) -> web.Response:
    node, state, contract, params = _market(request)
    now = _now(node)
    offset = parse_uint(request.query.get("offset", "0"), "offset")
    members = []
    for key, (zone, prosumer, since) in _scan_all(state, contract, b"M", offset, MAX_PAGE):
        who = key[1:]
        members.append({"address": who.hex(), "zone": zone, "prosumer": bool(prosumer), "since": since,
                        "credit": read_storage(state, contract, b"$" + who) or 0,
                        "debt": read_storage(state, contract, b"D" + who) or 0,
                        "owed": read_storage(state, contract, b"O" + who) or 0})
    return web.json_response({
        "contract": contract.hex(), "operator": values.to_json(read_storage(state, contract, "operator")),
        "params": params, "height": node.chain.height, "current_window": now,
        "open_windows": [now + params["lead"], now + params["lead"] + params["span"]],
        "utility_credit": read_storage(state, contract, b"$" + bytes.fromhex(params["utility"])) or 0,
        "members": members,
    })


def _window_status(state: State, contract: bytes, w: bytes, window: int, now: int, params: dict[str, Any]) -> str:
    progress = read_storage(state, contract, b"X" + w)
    if progress is not None and progress[2] == 1:
        return "settled"
    if read_storage(state, contract, b"R" + w) is not None:
        return "cleared"
    if read_storage(state, contract, b"C" + w) is not None:
        return "clearing"
    if window < now + params["lead"]:
        return "closed"  # waiting for someone to call clear
    return "open" if window <= now + params["lead"] + params["span"] else "not-yet-open"


@_shaped
async def window(request: web.Request) -> web.Response:
    node, state, contract, params = _market(request)
    window_n = parse_uint(request.match_info["window"], "window")
    if window_n >= MAX_WINDOW:
        raise client_error(400, "window must be below 2**64")
    offset = parse_uint(request.query.get("offset", "0"), "offset")
    limit = parse_uint(request.query.get("limit", str(MAX_PAGE)), "limit")
    if not 0 < limit <= MAX_PAGE:
        raise client_error(400, f"limit must be 1..{MAX_PAGE}")
    w = window_n.to_bytes(8, "big")
    orders = []
    for key, (owner, energy_wh, lock, order_id, price, zone) in _scan_all(state, contract, b"B" + w, offset, limit):
        orders.append({"owner": owner.hex(), "order_id": order_id, "side": "demand", "energy_wh": energy_wh,
                       "price": price, "zone": zone, "lock": lock, "seq": int.from_bytes(key[-4:], "big")})
    for key, (owner, energy_wh, order_id, price, zone, lock) in _scan_all(state, contract, b"S" + w, offset, limit):
        orders.append({"owner": owner.hex(), "order_id": order_id, "side": "offer", "energy_wh": energy_wh,
                       "price": price, "zone": zone, "lock": lock, "seq": int.from_bytes(key[-4:], "big")})
    found = read_storage(state, contract, b"R" + w)
    result, trades = None, []
    if found is not None:
        result = dict(zip(RESULT_NAMES, found))
        for k in range(offset, min(result["trades"], offset + limit)):
            seller, buyer, energy_wh, payment = read_storage(state, contract, b"T" + w + k.to_bytes(4, "big"))
            trades.append({"k": k, "seller": seller.hex(), "buyer": buyer.hex(), "energy_wh": energy_wh,
                           "payment": payment})
    settlements = []
    for key, (net, metered, amount, how) in _scan_all(state, contract, b"Y" + w, offset, limit):
        settlements.append({"member": key[9:].hex(), "committed_net_wh": net, "metered_net_wh": metered,
                            "amount": amount, "metering": METERING[how]})
    totals = read_storage(state, contract, b"W" + w) or (0, 0, 0, 0)
    return web.json_response({
        "contract": contract.hex(), "window": window_n,
        "status": _window_status(state, contract, w, window_n, _now(node), params),
        "totals": {"posted": totals[0], "live": totals[1], "demand_wh": totals[2], "supply_wh": totals[3]},
        "orders": orders, "result": result, "trades": trades, "settlements": settlements,
    })


def add_routes(app: web.Application) -> None:
    app.add_routes([
        web.get("/market/{contract}", market),
        web.get("/market/{contract}/windows/{window}", window),
    ])
