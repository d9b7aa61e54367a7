"""A market window is read in up to MAX_WINDOW_PAGES pages, and the household needs only its own
records of each: a node answering every page with the most records a page may hold must not make
the gateway hold all the pages at once. Over real HTTP on loopback; the memory is Python's own
count (tracemalloc), compared with what one page takes."""

from __future__ import annotations

import asyncio
import json
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ledger.keys import PrivateKey
from pownode.gateway import MAX_WINDOW_PAGES, WINDOW_PAGE, Gateway, GatewayConfig

ME, OTHER = bytes(range(20)), bytes(20)


def _page() -> bytes:
    order = {"owner": OTHER.hex(), "order_id": 1, "side": "offer", "energy_wh": 1000, "price": 9000, "zone": 0,
             "lock": 0, "seq": 1}
    trade = {"k": 0, "seller": OTHER.hex(), "buyer": OTHER.hex(), "energy_wh": 1000, "payment": 9000}
    return json.dumps({"window": 7, "status": "cleared", "result": {"price": 9000, "volume_wh": 1000},
                       "orders": [order] * (2 * WINDOW_PAGE), "trades": [trade] * WINDOW_PAGE,
                       "settlements": [{"member": OTHER.hex(), "amount": 1}] * WINDOW_PAGE}).encode()


def _peak(work) -> int:  # noqa: ANN001
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_windows_pages_are_not_all_held_at_once(tmp_path: Path) -> None:
    body = _page()
    asked: list[str] = []

    class Full(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Full)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = Gateway(GatewayConfig("127.0.0.1", 1, f"127.0.0.1:{server.server_address[1]}", PrivateKey.from_label("w"),
                                    tmp_path, "t", market=b"\x01" * 20, owner=ME))
    try:
        one_page = _peak(lambda: json.loads(body))
        pages = []
        whole = _peak(lambda: pages.append(asyncio.run(gateway._window_pages(7))))
        assert len(asked) == MAX_WINDOW_PAGES  # every page was read
        assert whole < 3 * one_page, f"{whole} bytes at the peak for pages of {one_page} each"
    finally:
        server.shutdown()
        server.server_close()
        gateway.outbox.close()
