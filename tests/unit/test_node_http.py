"""A light client's and a gateway's requests to a node end within their deadline whatever the
node does: a real server on loopback that drips its answer's headers or body, one piece at a
time, cannot hold them (a socket timeout bounds each read, not the answer)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

import pytest

from pownode import answer_bounds, gateway, light

DRIP_S = 0.2
DRIPS = 600  # the server gives up after some 120 s, whoever is still listening
TIMEOUT_S = 2.0
DEADLINE_S = 60.0  # generous for a loaded machine; a dripping answer would take hours


def _dripping_server(head: bytes, piece: bytes) -> tuple[str, threading.Thread]:
    """HOST:PORT of a one-connection server that reads a request, sends `head`, then `piece`
    every DRIP_S, at most DRIPS times or until the client is gone."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(head)
                    for _ in range(DRIPS):
                        time.sleep(DRIP_S)
                        conn.sendall(piece)
                except OSError:
                    return  # the client hung up: what the test expects

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"127.0.0.1:{listener.getsockname()[1]}", thread


def _light_get(api: str) -> None:
    light.http_fetch(api, timeout_s=TIMEOUT_S)("/headers?from=1", answer_bounds.headers(4, 256))


def _gateway_get(api: str) -> None:
    gateway.NodeApi(api)._request("GET", "/status", answer_bounds.ACCOUNT, None, TIMEOUT_S)


@pytest.mark.parametrize("call", [_light_get, _gateway_get], ids=["light-client", "gateway"])
@pytest.mark.parametrize("head, piece", [
    (b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"),  # headers that never end
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n[", b"0"),  # a body that never ends
], ids=["headers", "body"])
def test_a_dripping_node_cannot_hold_a_request(call: Callable[[str], None], head: bytes, piece: bytes) -> None:
    api, server = _dripping_server(head, piece)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            call(api)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    caller = threading.Thread(target=run, daemon=True)
    caller.start()
    caller.join(DEADLINE_S)
    assert not caller.is_alive(), "the request is still waiting on the dripping node"
    assert len(outcome) == 1 and isinstance(outcome[0], (light.NodeUnavailable, gateway.NodeUnavailable))
    assert "within" in str(outcome[0])
    server.join(DEADLINE_S)  # it stops once the client hung up
    assert not server.is_alive()
