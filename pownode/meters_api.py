"""Read-only queries of the meter registry and of an interval's readings, a bounded page at a
time (the dashboard's meters page, an operator's audit):

- `GET /meters?after=KEY&limit=N`: certified meters in public-key order, each with its type,
  serial, owner and the first interval it may report;
- `GET /meters/revoked?after=KEY&limit=N`: withdrawn meter keys and the height they were
  withdrawn at (kept apart: their readings no longer count, and the key can never return);
- `GET /readings/{interval}?after=KEY&limit=N`: the certified readings of one settlement
  interval, by meter key.

Each page reads at most MAX_PAGE entries from the state, whatever the registry holds, and says
whether more follow.
"""

from __future__ import annotations

from aiohttp import web

from ledger import accounts, schema
from pownode.http_common import NODE, client_error, parse_hex, parse_uint

MAX_PAGE = 64
KEY_BYTES = 32


def _page(request: web.Request, prefix: bytes) -> tuple[int, bytes]:
    """The page's size and the state key it starts at (just after `after`, when given)."""
    limit = parse_uint(request.query.get("limit", str(MAX_PAGE)), "limit")
    if not 1 <= limit <= MAX_PAGE:
        raise client_error(400, f"limit must be 1..{MAX_PAGE}")
    after = request.query.get("after")
    return limit, prefix + parse_hex(after, KEY_BYTES, "after (a meter's public key)") + b"\x00" if after else b""


async def meters(request: web.Request) -> web.Response:
    state = request.app[NODE].chain.state
    limit, start = _page(request, schema.METER)
    found = []
    for key, raw in state.scan(schema.METER, limit, start):
        meter = accounts.Meter.decode(raw)
        found.append({"public_key": key[len(schema.METER):].hex(), "meter_type": meter.meter_type,
                      "serial": meter.serial, "owner": meter.owner.hex(), "since_interval": meter.since})
    return web.json_response({"meters": found, "more": len(found) == limit})


async def revoked(request: web.Request) -> web.Response:
    state = request.app[NODE].chain.state
    limit, start = _page(request, schema.REVOKED)
    found = [{"public_key": key[len(schema.REVOKED):].hex(), "revoked_at_height": accounts.Amount.decode(raw).value}
             for key, raw in state.scan(schema.REVOKED, limit, start)]
    return web.json_response({"revoked": found, "more": len(found) == limit})


async def readings(request: web.Request) -> web.Response:
    interval = parse_uint(request.match_info["interval"], "interval")
    if interval >= 1 << 64:
        raise client_error(400, "interval must be below 2**64")
    state = request.app[NODE].chain.state
    prefix = schema.reading_prefix(interval)
    limit, start = _page(request, prefix)
    found = []
    for key, raw in state.scan(prefix, limit, start):
        reading = accounts.Reading.decode(raw)
        found.append({"meter": key[len(prefix):].hex(), "owner": reading.owner.hex(),
                      "produced_wh": reading.produced_wh, "consumed_wh": reading.consumed_wh})
    return web.json_response({"interval": interval, "readings": found, "more": len(found) == limit})


def add_routes(app: web.Application) -> None:
    app.add_routes([
        web.get("/meters", meters),
        web.get("/meters/revoked", revoked),
        web.get("/readings/{interval}", readings),
    ])
