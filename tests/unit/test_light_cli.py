"""`pownode light` with the genesis of another chain than the node's says so, in words an
operator acts on, instead of failing on the node's first header."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pownode.cli import main
from pownode.config import init_network


def test_a_genesis_of_another_chain_is_named(tmp_path: Path, capsys) -> None:
    init_network(tmp_path / "ours", 1, "pbft", chain_id="ours")
    init_network(tmp_path / "theirs", 1, "pbft", chain_id="theirs")
    served = (tmp_path / "theirs" / "genesis.json").read_bytes()

    class Node(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            known = self.path == "/genesis"
            self.send_response(200 if known else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(served if known else json.dumps({"error": "not found"}).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Node)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"
    try:
        code = main(["light", "account", "11" * 20, "--genesis", str(tmp_path / "ours" / "genesis.json"), "--api", api])
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert code == 1 and f"is not the genesis of the chain at {api} (theirs)" in err, err
