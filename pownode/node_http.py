"""One HTTP request to a node's API, as a light client or a gateway makes it: the node is trusted
for nothing, its time included, so the whole exchange (connecting, the status line and headers,
the body) ends within a deadline and the body is read up to a size bound.

A socket timeout alone bounds each read, not the exchange: a node dripping one byte of its
headers or body every few seconds held a light client (and the gateway's one request at a time)
for as long as it liked. Here a timer shuts the socket down at the deadline, which ends whatever
read is waiting. Plain http.client, no proxy from the environment (the node is addressed
directly) and no HTTP library, so a household's gateway stays small.

An answer is parsed as JSON only within its request's `Bound`: a body of `[{},{},...]` is some
20 Python objects to a byte (1.7 GB for 64 MB), so the byte bound alone does not bound the
memory. `parse_json` counts the body's containers and values first (a byte scan, no objects)
and refuses one with more than an honest answer to that request can hold.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any


class NoAnswer(OSError):
    """The node did not answer in time, answered more than the bound, or could not be reached."""


class OverBound(NoAnswer):
    """The node's answer holds more bytes, containers or values than an honest one can."""


@dataclass(frozen=True)
class Bound:
    """What an honest answer to one request can hold: its body's bytes, its JSON containers
    (objects and arrays: a Python dict or list each, the costliest objects) and its values (of
    any kind). Each request's bound is derived from the protocol's limits on what it returns."""

    max_bytes: int
    max_containers: int
    max_values: int


def parse_json(body: bytes, bound: Bound, what: str) -> Any:
    """`body` as JSON, or OverBound if it could hold more containers or values than `bound`, or
    ValueError if it is not JSON. The counts are upper bounds taken by a byte scan (a bracket,
    comma or colon inside a string counts too, so an honest answer is never under-counted):
    every value but a container's first follows a comma or a colon."""
    if len(body) > bound.max_bytes:
        raise OverBound(f"{what}: an answer of {len(body)} bytes, over {bound.max_bytes}")
    containers = body.count(b"[") + body.count(b"{")
    values = containers + body.count(b",") + body.count(b":") + 1
    if containers > bound.max_containers or values > bound.max_values:
        raise OverBound(f"{what}: an answer of up to {containers} containers and {values} values, over "
                        f"{bound.max_containers} and {bound.max_values}")
    return json.loads(body)


def request(address: str, method: str, path: str, body: bytes | None, timeout_s: float,
            max_bytes: int) -> tuple[int, bytes]:
    """(status, body) of `method path` at the node `address` (HOST:PORT), all of it within
    `timeout_s` and a body of at most `max_bytes`, or NoAnswer saying which bound it missed."""
    parts = urllib.parse.urlsplit(f"http://{address}")
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed: the exchange ended on its own

    timer = threading.Timer(timeout_s, cut)
    timer.daemon = True
    timer.start()
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(max_bytes + 1)
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            raise NoAnswer(f"{method} {path}: no whole answer within {timeout_s:g} s") from None
        raise NoAnswer(f"{method} {path}: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
    if expired.is_set():  # the cut landed between reads: what was read may be a truncated body
        raise NoAnswer(f"{method} {path}: no whole answer within {timeout_s:g} s")
    if len(data) > max_bytes:
        raise OverBound(f"{method} {path}: an answer over {max_bytes} bytes")
    return response.status, data
