"""The node's HTTP API (aiohttp) and its WebSocket stream of committed blocks and contract events.

Every client error is a 4xx with a JSON body `{"error": reason}`; nothing a client sends reaches
a 500. Endpoints: /status, POST /txs, /txs/{hash}, /blocks/latest, /blocks/{height},
/accounts/{address}, /market/{contract}[/windows/{window}] (in market_api), /metrics
(Prometheus), /openapi.json and /ws. Submissions are limited per client address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

from ledger import accounts
from ledger.blocks import Block, QuorumCertificate
from ledger.errors import DecodeError
from pownode import market_api
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from pownode.ingress import Overloaded
from pownode.node import Node
from pownode.openapi import DOCUMENT
from pownode.ratelimit import ClientLimits

log = logging.getLogger("pownode.api")
MAX_BODY = 16 * 1024 * 1024  # one request: 10,000 transactions of ~800 bytes in hex
BODY_BUDGET = 64 * 1024 * 1024  # request bodies being read at once, all clients together
MAX_BATCH = 10_000
DEFAULT_WAIT_S = 30  # POST /txs?wait=commit
MAX_WAIT_S = 120
LIMITS = web.AppKey("limits", ClientLimits | None)
BODIES = web.AppKey("bodies", list)  # [bytes of request bodies being read now]
ERROR_LOG_EVERY_S = 10.0
_last_error_log = [0.0]


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":  # aiohttp's own, e.g. 404 route
            return web.json_response({"error": exc.reason}, status=exc.status)
        raise
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:  # a bug, never the client's doing: one line, at a bounded rate
        now = time.monotonic()
        if now - _last_error_log[0] >= ERROR_LOG_EVERY_S:
            _last_error_log[0] = now
            log.error("API error on %s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
        return web.json_response({"error": "internal error"}, status=500)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, read under the node's bounds: a declared length within
    MAX_BODY and within what all bodies being read may take together (BODY_BUDGET), read
    before the body deadline, UTF-8 whatever charset the headers claim, and any JSON the
    parser refuses (numbers over 4,300 digits, nesting deeper than the recursion limit) a 400."""
    length = request.content_length
    if length is None:
        raise client_error(411, "send a Content-Length")
    if length > MAX_BODY:
        raise client_error(413, f"body larger than {MAX_BODY} bytes")
    reading = request.app[BODIES]
    if reading[0] + length > BODY_BUDGET:
        raise client_error(503, "too many request bodies in flight: retry shortly", headers={"Retry-After": "1"})
    reading[0] += length
    try:
        timeout = request.app[NODE].config.api_body_timeout_ms / 1000
        body = await asyncio.wait_for(request.read(), timeout)
    except asyncio.TimeoutError:
        raise client_error(408, f"body not received within {timeout:g} s") from None
    finally:
        reading[0] -= length
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise client_error(400, "body is not JSON (UTF-8)") from None


def block_json(block: Block) -> dict[str, Any]:
    h = block.header
    proof: dict[str, Any] = {}
    if h.proof:
        try:
            qc = QuorumCertificate.decode(h.proof)
            proof = {"round": qc.round, "signers": [s.validator.hex() for s in qc.sigs]}
        except DecodeError:
            proof = {"raw": h.proof.hex()}
    return {
        "height": h.height, "hash": block.hash.hex(), "prev_hash": h.prev_hash.hex(), "time_ms": h.time_ms,
        "proposer": h.proposer.hex(), "tx_root": h.tx_root.hex(), "state_root": h.state_root.hex(),
        "tx_count": h.tx_count, "txs": [tx.hash.hex() for tx in block.txs], "proof": proof,
    }


async def status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    head = node.chain.head
    return web.json_response({
        "chain_id": node.genesis.chain_id, "node_id": node.key.public_key.hex(), "name": node.config.name,
        "consensus": node.genesis.consensus, "height": head.height, "last_block_hash": head.hash.hex(),
        "state_root": head.state_root.hex(), "view": node.engine.view, "peers": sorted(p.hex() for p in node.peers),
        "mempool": len(node.mempool), "tx_per_s": round(node.tx_rate(), 1),
        "committed_txs": node.stats.committed_txs, "view_changes": node.stats.view_changes,
        "bytes_sent": node.stats.bytes_sent,
    })


async def post_txs(request: web.Request) -> web.Response:
    limits = request.app[LIMITS]
    doc = await read_json(request)
    txs = doc.get("txs") if isinstance(doc, dict) else None
    if not isinstance(txs, list) or not txs or len(txs) > MAX_BATCH or not all(isinstance(t, str) for t in txs):
        raise client_error(400, f"expected {{\"txs\": [hex, ...]}} with 1..{MAX_BATCH} transactions")
    if limits is not None:
        wait = limits.take(request.remote or "", len(txs), time.monotonic())
        if wait:
            raise client_error(429, f"rate limit: {limits.rate} transactions/s per client",
                               retry_after_s=round(wait, 3), headers={"Retry-After": str(max(1, math.ceil(wait)))})
    raws = []
    for t in txs:
        try:
            raws.append(bytes.fromhex(t))
        except ValueError:
            raws.append(b"")  # rejected below as malformed, with its position kept
    wait = request.query.get("wait")
    if wait not in (None, "commit"):
        raise client_error(400, "wait must be 'commit' (answer once committed) or absent")
    timeout = parse_uint(request.query.get("timeout_s", str(DEFAULT_WAIT_S)), "timeout_s")
    if not 0 < timeout <= MAX_WAIT_S:
        raise client_error(400, f"timeout_s must be 1..{MAX_WAIT_S}")
    node = request.app[NODE]
    try:
        results = await node.admit(raws, request.remote or "")
    except Overloaded as exc:
        raise client_error(503, f"{exc}: retry shortly", headers={"Retry-After": "1"}) from None
    # Admission is to this node's memory: a node killed before the transaction left it (or
    # committed) loses it. Say so, and with ?wait=commit answer only once it is in a block
    # certified by 2f+1 validators, each of which synced it to disk.
    heights: dict[bytes, int] = {}
    if wait == "commit":
        accepted = {bytes.fromhex(r["hash"]) for r in results if r["accepted"]}
        heights = await _wait_committed(node, accepted, timeout)
    for r in results:
        if r["accepted"]:
            height = heights.get(bytes.fromhex(r["hash"]))
            r["durable"] = height is not None
            if height is not None:
                r["height"] = height
    return web.json_response({"results": results, "accepted": sum(r["accepted"] for r in results),
                              "committed": len(heights)})


async def _wait_committed(node: Node, hashes: set[bytes], timeout_s: int) -> dict[bytes, int]:
    """Heights of those of `hashes` committed within `timeout_s` (listening to committed blocks
    before looking at the store, so none can commit unseen in between)."""
    found: dict[bytes, int] = {}
    pending = set(hashes)
    done = asyncio.Event()

    def listen(event: dict) -> None:
        if event["type"] != "block" or not pending:
            return
        for tx_hex in event["txs"]:
            tx_hash = bytes.fromhex(tx_hex)
            if tx_hash in pending:
                pending.discard(tx_hash)
                found[tx_hash] = event["height"]
        if not pending:
            done.set()

    node.listeners.append(listen)
    try:
        for tx_hash in list(pending):
            where = node.chain.store.tx_location(tx_hash)
            if where is not None:
                pending.discard(tx_hash)
                found[tx_hash] = where.height
        if pending:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(done.wait(), timeout_s)
    finally:
        node.listeners.remove(listen)
    return found


async def get_tx(request: web.Request) -> web.Response:
    node = request.app[NODE]
    tx_hash = parse_hex(request.match_info["hash"], 32, "transaction hash")
    where = node.chain.store.tx_location(tx_hash)
    if where is not None:
        r = where.receipt
        return web.json_response({"status": "committed", "height": where.height, "index": where.index,
                                  "receipt": {"ok": r.status == 0, "gas_used": r.gas_used, "reason": r.reason,
                                              "output": r.output.hex()}})
    if tx_hash in node.mempool:
        return web.json_response({"status": "pending"})
    reason = node.mempool.dropped.get(tx_hash)
    if reason is not None:
        return web.json_response({"status": "dropped", "reason": reason})
    return web.json_response({"status": "unknown"}, status=404)


async def get_block(request: web.Request) -> web.Response:
    node = request.app[NODE]
    which = request.match_info["height"]
    height = node.chain.height if which == "latest" else parse_uint(which, "height (or 'latest')")
    block = node.chain.store.block(height) if height <= node.chain.height else None
    if block is None:
        raise client_error(404, f"no block at height {height}")
    return web.json_response(block_json(block))


async def get_account(request: web.Request) -> web.Response:
    node = request.app[NODE]
    address = parse_hex(request.match_info["address"], 20, "address")
    account = accounts.get_account(node.chain.state, address)
    return web.json_response({"address": address.hex(), "balance": account.balance, "nonce": account.nonce})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition: chain, throughput, mempool, peers and consensus counters."""
    node = request.app[NODE]
    gauges = [
        ("pownode_height", "gauge", "Height of the last committed block.", node.chain.height),
        ("pownode_committed_transactions_total", "counter", "Transactions committed since start.",
         node.stats.committed_txs),
        ("pownode_transactions_per_second", "gauge", "Committed transactions per second over the last 10 s.",
         round(node.tx_rate(), 3)),
        ("pownode_mempool_transactions", "gauge", "Transactions waiting in the mempool.", len(node.mempool)),
        ("pownode_peers", "gauge", "Connected validator peers.", len(node.peers)),
        ("pownode_consensus_view", "gauge", "Current consensus view (round) at this height.", node.engine.view),
        ("pownode_view_changes_total", "counter", "View changes started since start.", node.stats.view_changes),
        ("pownode_dropped_messages_total", "counter", "Messages dropped on full peer send queues.",
         node.stats.dropped_messages),
        ("pownode_refused_connections_total", "counter", "Connections refused in the handshake.",
         node.stats.refused_peers),
        ("pownode_p2p_sent_bytes_total", "counter", "Bytes sent to peers, framing included.", node.stats.bytes_sent),
    ]
    lines = []
    for name, kind, help_text, value in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    node = request.app[NODE]
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    queue: asyncio.Queue = asyncio.Queue(1000)

    def listen(event: dict) -> None:
        if not queue.full():
            queue.put_nowait(event)

    node.listeners.append(listen)
    try:
        sender = asyncio.create_task(_pump(ws, queue))
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        sender.cancel()
    finally:
        node.listeners.remove(listen)
    return ws


async def _pump(ws: web.WebSocketResponse, queue: asyncio.Queue) -> None:
    while True:
        await ws.send_json(await queue.get())


def make_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=MAX_BODY)
    app[NODE] = node
    rate = node.config.client_tx_per_s
    app[LIMITS] = ClientLimits(rate, max(2 * rate, MAX_BATCH)) if rate > 0 else None
    app[BODIES] = [0]
    app.add_routes([
        web.get("/status", status),
        web.post("/txs", post_txs),
        web.get("/txs/{hash}", get_tx),
        web.get("/blocks/{height}", get_block),
        web.get("/accounts/{address}", get_account),
        web.get("/metrics", metrics),
        web.get("/openapi.json", openapi),
        web.get("/ws", websocket),
    ])
    market_api.add_routes(app)
    return app
