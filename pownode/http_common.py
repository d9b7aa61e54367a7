"""What the API's handler modules share: the app key of the node and client-error helpers.

A client error is raised as an HTTP exception with a JSON body `{"error": reason}`, so the
handler stops where the input is bad and the response says why.
"""

from __future__ import annotations

import ipaddress
import json

from aiohttp import web

from pownode.node import Node

NODE = web.AppKey("node", Node)
_STATUS = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 408: web.HTTPRequestTimeout, 411: web.HTTPLengthRequired,
           429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable}


def client_error(status: int, reason: str, *, headers: dict[str, str] | None = None,
                 **extra: object) -> web.HTTPException:
    if status in (408, 411, 413, 503):  # the body may be unread: close rather than read it
        headers = {**(headers or {}), "Connection": "close"}
    body = {"text": json.dumps({"error": reason, **extra}), "content_type": "application/json", "headers": headers}
    if status == 413:  # aiohttp's class also wants the sizes, which only its own reader knows
        return web.HTTPRequestEntityTooLarge(max_size=0, actual_size=0, **body)  # type: ignore[arg-type]
    return _STATUS[status](**body)  # type: ignore[arg-type]


def parse_hex(value: str, size: int | None, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise client_error(400, f"{what} is not hex") from None
    if size is not None and len(raw) != size:
        raise client_error(400, f"{what} must be {size} bytes")
    return raw


def parse_uint(text: str, what: str) -> int:
    """A decimal non-negative integer. (`"²".isdigit()` is true but int() refuses it.)"""
    if not (text.isascii() and text.isdigit() and len(text) < 20):
        raise client_error(400, f"{what} must be a non-negative integer")
    return int(text)


def client_of(remote: str | None) -> str:
    """The client a connection or request is counted as by every per-client bound (connections,
    submissions, transaction rate, admission, pacing): its IPv4 address, or its IPv6 /64, which
    one household can rotate through."""
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return remote or ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
