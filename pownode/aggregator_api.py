"""Read-only aggregator queries over the API: what a household's accepted orders in a VPP
aggregator's auction rounds oblige it to deliver, per delivery interval (its battery's
set-points), read straight from the contract's storage (no transaction, no gas).

The layout read here is `market/contracts/aggregator.py`'s: str keys `round:ID` = [aggregator,
buys, quantity, price, held, status, delivery] and `acc:ID:KKKK` = [owner, accepted Wh, price,
deposit, ...] for the round's accepted orders (KKKK the order's index, 2 bytes hex). A round in
which the aggregator buys obliges its accepted offers to export; one in which it sells, its
accepted bids to import. Rounds are keyed by arbitrary integer ids, so there is no index by
delivery: a request scans one page of rounds in key order (at most MAX_ROUNDS, each with at most
aggregator.MAX_ORDERS accepted orders) and says where the next page starts, so its cost is
bounded before any work is done.

Any member may deploy a contract that writes these keys with values of up to 64 KiB (one round of
256 such accepted orders took 2.7-3 s of the node's event loop to read, per request). So each
value's size is checked against the largest the aggregator contract writes (VALUE_BYTES) before
it is decoded, and a page ends early, at a round boundary with `more`, once scanning the next
binding round could take it past MAX_ACCEPTED accepted orders: a request decodes at most
MAX_ROUNDS rounds and MAX_ACCEPTED accepted orders of at most VALUE_BYTES each.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ledger.state import State
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from vm import machine

MAX_ROUNDS = 64  # rounds scanned per request
MAX_ORDERS = 256  # market/contracts/aggregator.py's MAX_ORDERS: accepted orders per round
# Accepted orders decoded per request: four full rounds. A household's gateway follows `more`, so
# a smaller page costs it a request, not an obligation; at most 64 x 256 before, about 45 ms of
# decoding on the loop consensus runs on, per request.
MAX_ACCEPTED = 4 * MAX_ORDERS
# The largest value the aggregator contract writes under `round:` or `acc:`: a round, [aggregator,
# buys, quantity, price, held, status, delivery], is 77 bytes with every integer at int64's
# extremes (9 bytes); a settled accepted order, [owner, accepted, price, deposit, delivered, pay],
# 68 bytes. About twice that; a larger value is refused before it is decoded.
VALUE_BYTES = 128
MAX_ROUND_ID = 10**12  # the contract's bound on round ids
STATUSES = ("open", "closed", "settled", "cancelled")  # the contract's OPEN, CLOSED, SETTLED, CANCELLED
BINDING = ("closed", "settled")  # rounds whose accepted orders oblige their owners
ROUND = "round:"


class NotAnAggregator(ValueError):
    """Storage under `round:` that the aggregator contract did not write."""


def _scan(state: State, contract: bytes, prefix: str, limit: int, after: str | None = None) -> list[tuple[Any, Any]]:
    try:
        return machine.scan_storage(state, contract, prefix, limit, after, VALUE_BYTES)
    except machine.OversizedValue as exc:
        raise NotAnAggregator(f"a value under {prefix!r} is {exc}") from None


def _round_id(key: Any) -> int:
    suffix = key[len(ROUND):] if isinstance(key, str) else ""
    if not (suffix.isascii() and suffix.isdigit() and int(suffix) < MAX_ROUND_ID):
        raise NotAnAggregator(f"storage key {key!r} is not an aggregator round's")
    return int(suffix)


def _round(round_id: int, value: Any) -> tuple[bool, str, int]:
    """(the aggregator buys, status, delivery interval) of a stored round."""
    if not (isinstance(value, (list, tuple)) and len(value) == 7 and value[1] in (0, 1)
            and value[5] in range(len(STATUSES)) and type(value[6]) is int and value[6] >= 0):
        raise NotAnAggregator(f"round {round_id} is not shaped as an aggregator round")
    return value[1] == 1, STATUSES[value[5]], value[6]


def obligations(state: State, contract: bytes, owner: bytes, first: int, after: int | None,
                limit: int) -> dict[str, Any]:
    """`owner`'s obligations in the binding rounds delivering in `first` or later, among the
    `limit` rounds after round `after` in key order (fewer, with `more`, where the next binding
    round could take the page past MAX_ACCEPTED accepted orders); NotAnAggregator when the
    contract's storage is not an aggregator's."""
    rounds = _scan(state, contract, ROUND, limit, None if after is None else ROUND + str(after))
    intervals: dict[int, dict[str, Any]] = {}
    last = None
    more = len(rounds) == limit
    budget = MAX_ACCEPTED  # at least MAX_ORDERS: a page always takes its first round
    for key, value in rounds:
        round_id = _round_id(key)
        buys, status, delivery = _round(round_id, value)
        if status in BINDING and delivery >= first:
            if budget < MAX_ORDERS:
                more = True
                break
            accepted = _scan(state, contract, f"acc:{round_id}:", MAX_ORDERS)
            budget -= len(accepted)
            for acc_key, acc in accepted:
                order = acc_key[len(f"acc:{round_id}:"):] if isinstance(acc_key, str) else ""
                if not (len(order) == 4 and all(c in "0123456789abcdef" for c in order)
                        and isinstance(acc, (list, tuple)) and len(acc) >= 4 and type(acc[1]) is int and acc[1] >= 0
                        and type(acc[2]) is int and acc[2] >= 0):
                    raise NotAnAggregator(f"{acc_key!r} is not shaped as an accepted order")
                if acc[0] != owner:
                    continue
                entry = intervals.setdefault(delivery, {"interval": delivery, "export_wh": 0, "import_wh": 0,
                                                        "rounds": []})
                entry["export_wh" if buys else "import_wh"] += acc[1]
                entry["rounds"].append({"round": round_id, "order": int(order, 16),
                                        "side": "export" if buys else "import", "accepted_wh": acc[1],
                                        "price": acc[2], "status": status})
        last = round_id
    return {"contract": contract.hex(), "owner": owner.hex(), "from": first,
            "intervals": [intervals[i] for i in sorted(intervals)],
            "last_round": last, "more": more}


async def owner_obligations(request: web.Request) -> web.Response:
    """GET /aggregator/{contract}/obligations/{owner}?from=INTERVAL&after=ROUND&limit=N."""
    state = request.app[NODE].chain.state
    contract = parse_hex(request.match_info["contract"], 20, "contract address")
    owner = parse_hex(request.match_info["owner"], 20, "owner address")
    first = parse_uint(request.query.get("from", "0"), "from")
    after = request.query.get("after")
    after_id = None if after is None else parse_uint(after, "after (a round id)")
    if after_id is not None and after_id >= MAX_ROUND_ID:
        raise client_error(400, f"after must be a round id below {MAX_ROUND_ID}")
    limit = parse_uint(request.query.get("limit", str(MAX_ROUNDS)), "limit")
    if not 1 <= limit <= MAX_ROUNDS:
        raise client_error(400, f"limit must be 1..{MAX_ROUNDS}")
    try:
        return web.json_response(obligations(state, contract, owner, first, after_id, limit))
    except NotAnAggregator as exc:
        raise client_error(404, f"no aggregator at {contract.hex()}: {exc}") from None


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/aggregator/{contract}/obligations/{owner}", owner_obligations)])
