"""Read-only market queries over the API: a P2P market contract's windows, orders, clearing
results and trades, read straight from its storage (no transaction, no gas, nothing written).

The layout read here is `market/contracts/p2p_market.py`'s: `params`, `member:<address>`,
`o:<window>:<owner>:<order id>`, `result:<window>` and `trade:<window>:<k>`. A `main` contract's
address is accepted too and resolved to the P2P market it owns. Reads see the node's latest
executed state, which includes a block being voted on for the few milliseconds before it commits.
"""

from __future__ import annotations

from aiohttp import web

from ledger.state import State
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from pownode.node import Node
from vm import values
from vm.machine import read_storage, scan_storage

MAX_ORDERS = 256  # p2p_market.MAX_ORDERS: a window never holds more
MAX_TRADES_PAGE = 1024
PARAM_NAMES = ("fit", "tou", "alpha_ppm", "cap", "window_ms", "lead", "span")


def _market(request: web.Request) -> tuple[Node, State, bytes, dict[str, int]]:
    node = request.app[NODE]
    state = node.chain.state
    contract = parse_hex(request.match_info["contract"], 20, "contract address")
    owned = read_storage(state, contract, "p2p")  # a main contract: follow it to its market
    if isinstance(owned, bytes) and len(owned) == 20:
        contract = owned
    params = read_storage(state, contract, "params")
    if not (isinstance(params, (list, tuple)) and len(params) == len(PARAM_NAMES)):
        raise client_error(404, f"no set-up P2P market at {contract.hex()}")
    return node, state, contract, dict(zip(PARAM_NAMES, params))


def _now_window(node: Node, params: dict[str, int]) -> int:
    return node.chain.head.time_ms // params["window_ms"]


async def market(request: web.Request) -> web.Response:
    node, state, contract, params = _market(request)
    now = _now_window(node, params)
    members = scan_storage(state, contract, "member:", MAX_TRADES_PAGE)
    return web.json_response({
        "contract": contract.hex(), "operator": values.to_json(read_storage(state, contract, "operator")),
        "params": params, "height": node.chain.height, "current_window": now,
        "open_windows": [now + params["lead"], now + params["lead"] + params["span"]],
        "members": [{"address": str(k).split(":", 1)[1], "zone": v[0], "prosumer": bool(v[1])} for k, v in members],
    })


def _window_status(window: int, now: int, params: dict[str, int], cleared: bool) -> str:
    if cleared:
        return "cleared"
    if window < now + params["lead"]:
        return "closed"  # waiting for someone to call clear
    return "open" if window <= now + params["lead"] + params["span"] else "not-yet-open"


async def window(request: web.Request) -> web.Response:
    node, state, contract, params = _market(request)
    w = parse_uint(request.match_info["window"], "window")
    offset = parse_uint(request.query.get("offset", "0"), "offset")
    limit = parse_uint(request.query.get("limit", str(MAX_TRADES_PAGE)), "limit")
    if not 0 < limit <= MAX_TRADES_PAGE:
        raise client_error(400, f"limit must be 1..{MAX_TRADES_PAGE}")
    orders = []
    for key, (owner, side, energy_wh, price, zone, deposit) in scan_storage(state, contract, f"o:{w}:", MAX_ORDERS):
        orders.append({"owner": owner.hex(), "order_id": int(str(key).rsplit(":", 1)[1]),
                       "side": "offer" if side == 1 else "demand", "energy_wh": energy_wh, "price": price,
                       "zone": zone, "deposit": deposit})
    found = read_storage(state, contract, f"result:{w}")
    result, trades = None, []
    if found is not None:
        price, volume, count, paid = found
        result = {"price": price, "volume_wh": volume, "trades": count, "paid": paid}
        for k in range(offset, min(count, offset + limit)):
            seller, buyer, energy_wh, payment = read_storage(state, contract, f"trade:{w}:{k}")
            trades.append({"k": k, "seller": seller.hex(), "buyer": buyer.hex(), "energy_wh": energy_wh,
                           "payment": payment})
    return web.json_response({
        "contract": contract.hex(), "window": w,
        "status": _window_status(w, _now_window(node, params), params, found is not None),
        "orders": orders, "result": result, "trades": trades,
    })


def add_routes(app: web.Application) -> None:
    app.add_routes([
        web.get("/market/{contract}", market),
        web.get("/market/{contract}/windows/{window}", window),
    ])
