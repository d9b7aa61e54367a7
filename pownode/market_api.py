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

Any member may deploy a contract that writes these keys with values of up to 64 KiB, and any
client may send any request, repeatedly, on the loop consensus runs on. So a request's work is
bounded before it is done: each value's size is checked against the largest p2p_market writes
under its key (VALUE_BYTES) before it is decoded; entries skipped for `?offset=` are walked by key
only, never decoded, and the offset is at most MAX_OFFSET (members beyond it are reached with the
`?after=` cursor); a request decodes at most a page per list it returns. Storage shaped otherwise
is a 404.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from ledger.state import State
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from pownode.node import Node
from vm import machine, values

MAX_PAGE = 1024
# Entries a request may skip with `?offset=` (walked by key, not decoded): p2p_market's MAX_PAGED,
# the most orders a window holds, and so the most settlements too. Members have no such bound:
# past it, the `?after=MEMBER` cursor pages them.
MAX_OFFSET = 16384
# The largest value p2p_market writes under each key, by its first character (str keys by name),
# with about twice that as the bound: measured as the canonical encoding of the shape with every
# integer at 9 bytes (int64's extremes) and every address at 22 (tests/market/test_market_api_bounds
# checks each against the contract's shapes). A larger value is refused before it is decoded.
VALUE_BYTES = {
    "params": 256,  # 10 integers and 2 addresses: 135 bytes
    "operator": 64, "p2p": 64,  # an address: 22 bytes
    b"M": 64,  # [zone, prosumer, since]: 28 bytes
    b"$": 16, b"D": 16, b"O": 16,  # an integer: 9 bytes
    b"B": 128, b"S": 128,  # an order, [owner, 5 integers]: 68 bytes
    b"R": 128,  # a result, 7 integers: 64 bytes
    b"T": 128,  # a trade, [seller, buyer, Wh, payment]: 63 bytes
    b"Y": 64, b"W": 64,  # 4 integers: 37 bytes
    b"X": 64,  # settlement progress, [last member key (21 bytes), count, done]: 42 bytes
}
MAX_WINDOW = 1 << 64
PARAM_NAMES = ("mechanism", "fit", "tou", "cap", "p_ser", "lead", "span", "utility", "grace", "grid", "any_zone",
               "first_interval")
MECHANISMS = ("merit", "zone", "double")
RESULT_NAMES = ("price", "volume_wh", "trades", "paid", "service", "to_grid_wh", "from_grid_wh")
# How a member's settlement was metered (p2p_market's METERED, UNMETERED, MISSING).
METERING = {1: "metered", 2: "no-meter", 0: "readings-missing"}


def read_storage(state: State, contract: bytes, key: bytes | str) -> Any:
    """The value under `key`, None if absent; OversizedValue (a 404) if larger than any
    p2p_market writes there."""
    return machine.read_storage(state, contract, key, VALUE_BYTES[key if isinstance(key, str) else key[:1]])


def _page(state: State, contract: bytes, prefix: bytes, offset: int, limit: int,
          after: bytes | None = None) -> list[tuple[Any, Any]]:
    """Entries offset .. offset + limit under `prefix` (above key `after`, if given): the skipped
    ones by key only, at most MAX_OFFSET of them, so a request decodes at most `limit` values."""
    while offset > 0:
        keys = machine.scan_storage_keys(state, contract, prefix, min(offset, MAX_PAGE), after)
        if not keys:
            return []
        offset -= len(keys)
        after = keys[-1]  # type: ignore[assignment]
    return machine.scan_storage(state, contract, prefix, limit, after, VALUE_BYTES[prefix[:1]])


def _offset(request: web.Request) -> int:
    offset = parse_uint(request.query.get("offset", "0"), "offset")
    if offset > MAX_OFFSET:
        raise client_error(400, f"offset must be at most {MAX_OFFSET} (page members on with ?after=)")
    return offset


def _market(request: web.Request) -> tuple[Node, State, bytes, dict[str, Any]]:
    node = request.app[NODE]
    state = node.chain.state
    contract = parse_hex(request.match_info["contract"], 20, "contract address")
    owned = read_storage(state, contract, "p2p")  # a main contract: follow it to its market
    if isinstance(owned, bytes) and len(owned) == 20:
        contract = owned
    params = read_storage(state, contract, "params")
    if not (isinstance(params, (list, tuple)) and len(params) == len(PARAM_NAMES)
            and all(type(v) is int and v >= 0 for k, v in enumerate(params) if PARAM_NAMES[k] not in ("utility", "grid"))
            and params[0] < len(MECHANISMS)):
        raise client_error(404, f"no set-up P2P market at {contract.hex()}")
    found = dict(zip(PARAM_NAMES, params))  # other shapes fail below and are a 404 (`_shaped`)
    found["mechanism"] = MECHANISMS[found["mechanism"]]
    found["utility"] = found["utility"].hex()
    found["grid"] = found["grid"].hex()
    return node, state, contract, found


def _now(node: Node) -> int:
    return node.genesis.interval_of(node.chain.head.time_ms)


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
    offset = _offset(request)
    after = request.query.get("after")
    start = None if after is None else b"M" + parse_hex(after, 20, "after (a member's address)")
    node, state, contract, params = _market(request)
    now = _now(node)
    members = []
    for key, (zone, prosumer, since) in _page(state, contract, b"M", offset, MAX_PAGE, start):
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
        "members": members, "more": len(members) == MAX_PAGE,
    })


def _window_status(state: State, contract: bytes, w: bytes, window: int, now: int, params: dict[str, Any]) -> str:
    progress = read_storage(state, contract, b"X" + w)
    if progress is not None and progress[2] == 1:
        return "settled"
    if read_storage(state, contract, b"R" + w) is not None:
        return "cleared"
    if machine.has_storage(state, contract, b"C" + w):  # a clearing's working state: only its presence matters
        return "clearing"
    if window < now + params["lead"]:
        return "closed"  # waiting for someone to call clear
    return "open" if window <= now + params["lead"] + params["span"] else "not-yet-open"


@_shaped
async def window(request: web.Request) -> web.Response:
    window_n = parse_uint(request.match_info["window"], "window")
    if window_n >= MAX_WINDOW:
        raise client_error(400, "window must be below 2**64")
    offset = _offset(request)
    limit = parse_uint(request.query.get("limit", str(MAX_PAGE)), "limit")
    if not 0 < limit <= MAX_PAGE:
        raise client_error(400, f"limit must be 1..{MAX_PAGE}")
    node, state, contract, params = _market(request)
    w = window_n.to_bytes(8, "big")
    orders = []
    for key, (owner, energy_wh, lock, order_id, price, zone) in _page(state, contract, b"B" + w, offset, limit):
        orders.append({"owner": owner.hex(), "order_id": order_id, "side": "demand", "energy_wh": energy_wh,
                       "price": price, "zone": zone, "lock": lock, "seq": int.from_bytes(key[-4:], "big")})
    for key, (owner, energy_wh, order_id, price, zone, lock) in _page(state, contract, b"S" + w, offset, limit):
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
    for key, (net, metered, amount, how) in _page(state, contract, b"Y" + w, offset, limit):
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
