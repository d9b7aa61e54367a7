"""Malformed requests at every endpoint: only 2xx/4xx come back and the node stays up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pownode.api import make_app
from pownode.config import NodeConfig, init_network
from pownode.node import Node

junk_text = st.text(max_size=80)
junk_bytes = st.binary(max_size=200)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                           max_leaves=10)


@pytest.fixture
async def client(tmp_path: Path):
    home = init_network(tmp_path / "net", 1, "pbft", base_port=0)[0]
    node = Node(NodeConfig.load(home), home)
    await node.start()
    async with TestClient(TestServer(make_app(node))) as c:
        yield c
    await node.stop()


async def _ok(client: TestClient) -> None:
    response = await client.get("/status")
    assert response.status == 200 and (await response.json())["chain_id"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=junk_text, body=junk_bytes, doc=json_values)
@example(path="²", body=b"", doc=None)  # a Unicode digit that int() refuses: once a 500
@example(path="/0", body=b"", doc=None)  # "//0" is a scheme-relative URL to host "0" for the test client
async def test_no_input_yields_a_server_error(client: TestClient, path: str, body: bytes, doc) -> None:
    requests = [
        client.get("/txs/" + path), client.get("/blocks/" + path), client.get("/accounts/" + path),
        client.get("/market/" + path), client.get(f"/market/{'ab' * 20}/windows/" + path),
        client.get(f"/aggregator/{'ab' * 20}/obligations/" + path),
        client.get(f"/aggregator/{'ab' * 20}/obligations/{'cd' * 20}", params={"from": path, "after": path}),
        client.get(f"/aggregator/{'ab' * 20}/obligations/{'cd' * 20}", params={"limit": path}),
        client.get("/ces/" + path), client.get(f"/ces/{'ab' * 20}/offers/" + path),
        client.get(f"/ces/{'ab' * 20}/offers/{'cd' * 20}", params={"before": path, "limit": path}),
        client.get(f"/ces/{'ab' * 20}/equilibrium/{path}/{'cd' * 20}"),
        client.get("/proofs/tx/" + path), client.get("/proofs/state/" + path), client.get("/headers?from=" + path),
        client.get("/headers?limit=" + path), client.get(f"/blocks/{path}/validator-changes"),
        client.get("/" + path.lstrip("/")), client.post("/txs", data=body),  # "//0" would be a host
        client.post("/txs", data=json.dumps(doc), headers={"Content-Type": "application/json"}),
        client.post("/txs", data=json.dumps({"txs": doc})),
        client.post("/txs", data=json.dumps({"txs": [body.hex()]})),
    ]
    for request in requests:
        response = await request
        assert response.status < 500, (response.status, await response.text())
        if response.status >= 400 and response.content_type == "application/json":
            assert "error" in await response.json()
    await _ok(client)


@pytest.mark.parametrize("query, reason", [({"from": "-1"}, "from"), ({"after": "x"}, "after"),
                                           ({"after": str(10**12)}, "after"), ({"limit": "0"}, "limit"),
                                           ({"limit": "65"}, "limit")])
async def test_bad_obligation_queries_say_what_is_wrong(client: TestClient, query: dict, reason: str) -> None:
    response = await client.get(f"/aggregator/{'ab' * 20}/obligations/{'cd' * 20}", params=query)
    assert response.status == 400 and (await response.json())["error"].startswith(reason)
    nobody = await client.get(f"/aggregator/{'ab' * 20}/obligations/{'cd' * 20}")
    assert nobody.status == 200 and (await nobody.json())["intervals"] == []


async def test_openapi_describes_exactly_the_routes(client: TestClient) -> None:
    response = await client.get("/openapi.json")
    doc = await response.json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"]
    served = {(r.method.lower(), r.resource.canonical) for r in client.app.router.routes() if r.method != "HEAD"}
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert served == described
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["responses"] and op["summary"]
            for name in [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]:
                assert any(p["name"] == name for p in op.get("parameters", []))


async def test_metrics_are_prometheus_text(client: TestClient) -> None:
    response = await client.get("/metrics")
    text = await response.text()
    assert response.status == 200 and response.content_type == "text/plain"
    samples = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if not line.startswith("#")}
    assert {"pownode_height", "pownode_mempool_transactions", "pownode_peers", "pownode_view_changes_total"} <= set(samples)
    for name in samples:
        assert f"# TYPE {name} " in text and f"# HELP {name} " in text


header_values = st.sampled_from([
    "application/json", "application/json; charset=bogus", "application/json; charset=utf-16",
    "text/plain; charset=latin-1", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "",
])
hostile_bodies = st.sampled_from([
    b'{"txs": [' + b"9" * 5000 + b"]}",  # an integer past CPython's 4,300-digit limit: once a 500
    b"[" * 100_000 + b"]" * 100_000,  # nesting past the recursion limit: once a 500
    b'{"txs": ["\xff\xfe"]}',  # not UTF-8
    "{\"txs\": [\"é\"]}".encode("utf-16"),
    b"\x00" * 64,
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content_type=header_values, body=hostile_bodies | junk_bytes, chunked=st.booleans())
async def test_malformed_headers_and_bodies_get_client_errors(client: TestClient, content_type: str, body: bytes,
                                                              chunked: bool) -> None:
    async def stream():
        yield body

    response = await client.post("/txs", data=stream() if chunked else body, headers={"Content-Type": content_type})
    assert 400 <= response.status < 500, (response.status, await response.text())
    assert "error" in await response.json()
    await _ok(client)


async def test_stopping_tells_websocket_subscribers_the_node_is_going_away(client: TestClient) -> None:
    """A dashboard left open must not hold a stopping node: its WebSocket is closed with 1001."""
    from aiohttp import WSMsgType

    ws = await client.ws_connect("/ws")
    await client.server.app.shutdown()
    message = await ws.receive(timeout=30)
    assert message.type == WSMsgType.CLOSE and message.data == 1001
