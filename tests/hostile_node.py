"""A hostile node for clients' tests: a real HTTP server on loopback whose every answer a test
chooses, recording the paths it was asked."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


class HostileNode:
    """Answers every GET and POST with `answer(path)`, a (status, body) pair."""

    def __init__(self, answer: Callable[[str], tuple[int, bytes]]) -> None:
        self.paths: list[str] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                node.paths.append(self.path)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = answer(self.path)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client stopped reading at its bound: what the tests expect

            do_GET = do_POST = _answer  # noqa: N815 - http.server's names

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
