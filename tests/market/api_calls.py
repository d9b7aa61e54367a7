"""Calling an API handler directly on a contract test's chain: the readers' bounds are checked
without a server, so a test can count what one request decodes."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from pownode.http_common import NODE
from tests.market.helpers import NET, ContractChain


async def call_handler(c: ContractChain, handler, path: str, query: str = "", **match) -> tuple[int, dict]:
    """(status, JSON body) of `handler` for a GET of `path?query` with route `match`."""
    app = web.Application()
    app[NODE] = type("Node", (), {"chain": c.chain, "genesis": NET.genesis})()
    request = make_mocked_request("GET", path + (f"?{query}" if query else ""), match_info=match, app=app)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        return exc.status, json.loads(exc.text)
    return response.status, json.loads(response.body)
