"""The node's HTTP API (aiohttp) and its WebSocket stream of committed blocks and contract events.

Every client error is a 4xx with a JSON body `{"error": reason}`; nothing a client sends reaches
a 500. Endpoints: /status, POST /txs, /txs/{hash}, /blocks/latest and /blocks/{height} (in block_api),
/accounts/{address}, /market/{contract}[/windows/{window}] (in market_api),
/aggregator/{contract}/obligations/{owner} (in aggregator_api), /ces/{contract},
/ces/{contract}/offers/{address}, /ces/{contract}/equilibrium/{day}/{address} (in ces_api), /meters, /meters/revoked,
/readings/{interval} (in meters_api), /election (in election_api), the dashboard at / (pownode.dashboard), /headers,
/proofs/tx/{hash}, /proofs/state/{key}, /blocks/{height}/validator-changes (in proof_api), /metrics
(Prometheus), /openapi.json and /ws. Submissions are limited per client address; reads by the
loop time they take, per client and for all (`pownode.http_loop_budget`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
import logging
import math
import time
import weakref
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from ledger import accounts, schema
from ledger.blocks import quorum_power
from ledger.keys import address_of
from pownode import aggregator_api, block_api, ces_api, dashboard, election_api, market_api, meters_api, proof_api
from pownode.events import BlockCommitted, NodeEvent, contract_event_json
from pownode.http_common import NODE, client_error, client_of, parse_hex, parse_uint
from pownode.http_loop_budget import LOOP_BUDGET, LOOP_MS_PER_S, LOOP_MS_PER_S_ALL, LoopBudget, charge_reads
from pownode.ingress import Overloaded
from pownode.ratelimit import ClientLimits, SourceCounter
from pownode.node import Node
from pownode.openapi import DOCUMENT

log = logging.getLogger("pownode.api")
MAX_BODY = 16 * 1024 * 1024  # one request: 10,000 transactions of ~800 bytes in hex
BODY_BUDGET = 32 * 1024 * 1024  # bytes of large request bodies in progress, all clients together
SMALL_BODY = 64 * 1024  # bodies this small are outside BODY_BUDGET: a flood of large ones never blocks them
BODY_CHUNK = 256 * 1024
MIN_BODY_RATE = 64 * 1024  # bytes/s a body must keep arriving at, after its first second
POSTS_PER_CLIENT = 4  # POST /txs one client address has being read or admitted at once
POSTS_IN_PROGRESS = 1024  # and all clients together (as many as the API's connections)
MAX_BATCH = 10_000
WS_QUEUE_BYTES = 8 * 1024 * 1024  # unsent WebSocket messages per subscriber
# A block's event messages streamed at most (large events as stubs: `pownode.events`); beyond it,
# one `events-elided` message instead. With the block's own message (1.3 MB at 20,000
# transactions) it leaves room in the queue: no block, however a member fills it, disconnects a
# subscriber that keeps up.
WS_BLOCK_EVENT_BYTES = 4 * 1024 * 1024
# What a subscriber may send in one message: the stream reads nothing from its subscribers, and
# aiohttp refuses a larger frame at its header instead of buffering it while it arrives (at its
# default 4 MiB, 120 subscribers dripping such frames held 460 MB of a node).
WS_MAX_MESSAGE = 1024
# Subscribers: each costs a copy and a send of every event (960 streamed 1.3 GB for 20,000
# transactions, 0.5 s of the loop), and a page needs one.
WS_PER_CLIENT = 16  # a household's open pages, and those a browser is still closing
WS_TOTAL = 256
DEFAULT_WAIT_S = 30  # POST /txs?wait=commit
MAX_WAIT_S = 120
LIMITS = web.AppKey("limits", ClientLimits | None)
POSTS = web.AppKey("posts", SourceCounter)  # POST /txs in progress (until admitted), per client
SOCKETS = web.AppKey("sockets", weakref.WeakSet)  # open WebSockets, closed first when the node stops
SUBSCRIBERS = web.AppKey("subscribers", SourceCounter)  # open WebSockets per client
ERROR_LOG_EVERY_S = 10.0
_last_error_log = [0.0]


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
    try:
        return await handler(request)
    except web.HTTPException as exc:
        # Answered here, not re-raised: the exception's traceback holds the handler's frames
        # (a request body, a parsed batch) in a reference cycle that only the cyclic collector
        # would free, so a flood of refused batches would pile up in memory until it ran.
        if exc.status >= 400 and exc.content_type != "application/json":  # aiohttp's own, e.g. 404 route
            return web.json_response({"error": exc.reason}, status=exc.status)
        return web.Response(body=exc.body, status=exc.status, headers=exc.headers)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:  # a bug, never the client's doing: one line, at a bounded rate
        now = time.monotonic()
        if now - _last_error_log[0] >= ERROR_LOG_EVERY_S:
            _last_error_log[0] = now
            log.error("API error on %s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
        return web.json_response({"error": "internal error"}, status=500)


class BodyBudget:
    """Bytes of large request bodies a node holds at once, from the first byte received until
    the request is done (read, parsed and its transactions admitted): a flood of big batches
    waits for room (503) instead of growing the node. Bodies of at most SMALL_BODY bytes are
    outside it, so a flood of large ones never blocks them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, request_held: list[int], size: int) -> None:
        if self.held + size > self.limit:
            raise client_error(503, "too many large request bodies in progress: retry shortly",
                               headers={"Retry-After": "1"})
        self.held += size
        request_held[0] += size

    def release(self, request_held: list[int]) -> None:
        self.held -= request_held[0]
        request_held[0] = 0


BODIES = web.AppKey("bodies", BodyBudget)


async def read_json(request: web.Request, held: list[int]) -> Any:
    """The request body as JSON, read under the node's bounds: a declared length within
    MAX_BODY; a large body's bytes, as they arrive, within the node's BodyBudget (held in
    `held` until the caller releases them); a body that must keep arriving at MIN_BODY_RATE
    after a grace second and end before the body deadline; UTF-8 whatever charset the headers
    claim; and any JSON the parser refuses (numbers over 4,300 digits, nesting deeper than the
    recursion limit) a 400."""
    length = request.content_length
    if length is None:
        raise client_error(411, "send a Content-Length")
    if length > MAX_BODY:
        raise client_error(413, f"body larger than {MAX_BODY} bytes")
    budget = request.app[BODIES]
    deadline = request.app[NODE].config.api_body_timeout_ms / 1000
    chunks: list[bytes] = []  # what has arrived, never more: a declared size reserves nothing
    received = 0
    started = time.monotonic()
    while received < length:
        elapsed = time.monotonic() - started
        if elapsed > 1.0 and received < MIN_BODY_RATE * elapsed:
            raise client_error(408, f"body arriving slower than {MIN_BODY_RATE} bytes/s")
        try:
            chunk = await asyncio.wait_for(request.content.read(min(BODY_CHUNK, length - received)),
                                           max(0.1, deadline - elapsed))
        except asyncio.TimeoutError:
            raise client_error(408, f"body not received within {deadline:g} s") from None
        except (ConnectionError, aiohttp.ClientPayloadError):
            raise client_error(400, "the body ended early") from None
        if not chunk:
            raise client_error(400, "the body ended early")
        if length > SMALL_BODY:
            budget.take(held, len(chunk))
        chunks.append(chunk)
        received += len(chunk)
    data = b"".join(chunks)
    del chunks
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise client_error(400, "body is not UTF-8") from None
    del data  # the text holds it now
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise client_error(400, "body is not JSON") from None


async def status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    head = node.chain.head
    return web.json_response({
        "chain_id": node.genesis.chain_id, "node_id": node.key.public_key.hex(), "name": node.config.name,
        "consensus": node.genesis.consensus, "height": head.height, "last_block_hash": head.hash.hex(),
        "state_root": head.state_root.hex(), "role": node.config.role,
        "view": node.engine.view if node.engine is not None else None, "peers": sorted(p.hex() for p in node.peers),
        "mempool": len(node.mempool), "tx_per_s": round(node.tx_rate(), 1),
        "committed_txs": node.stats.committed_txs, "view_changes": node.stats.view_changes,
        "bytes_sent": node.peers.stats.bytes_sent,
    })


async def health(request: web.Request) -> web.Response:
    """200 when this node reaches the validators it needs, 503 with the reason otherwise. For
    load balancers and monitors. A validator needs a quorum's voting power (itself included) to
    commit; a full node needs more than a third of it, so at least one validator it reaches is
    honest and its blocks and transactions get through."""
    node = request.app[NODE]
    validators = node.chain.validators
    total = sum(power for _, power in validators)
    reached = sum(power for key, power in validators if key in node.peers or key == node.key.public_key)
    needed = quorum_power(total) if node.engine is not None else total // 3 + 1
    body = {"height": node.chain.height, "peers": len(node.peers), "voting_power_reached": reached,
            "quorum": quorum_power(total), "needed": needed}
    if reached >= needed:
        return web.json_response({"status": "ok", **body})
    return web.json_response({"status": "unhealthy", "reason": "the validators this node reaches hold less than "
                              f"the {'quorum' if node.engine is not None else 'third'} of the voting power it needs",
                              **body}, status=503)


async def validators(request: web.Request) -> web.Response:
    node = request.app[NODE]
    return web.json_response({"height": node.chain.height, "validators": [
        {"public_key": key.hex(), "address": address_of(key).hex(), "power": power,
         "connected": key in node.peers or key == node.key.public_key} for key, power in node.chain.validators],
        "full_nodes": [key.hex() for key in accounts.full_nodes(node.chain.state)]})


MAX_CONTRACTS_PAGE = 64


async def contracts(request: web.Request) -> web.Response:
    """Deployed contracts in address order, a page at a time (`?after=ADDRESS&limit=N`): each
    one's deployer, stored code size, and whether the operator certified it as a market. Only
    stored sizes are read, never the code itself, so a page costs the same whatever was deployed."""
    node = request.app[NODE]
    limit = parse_uint(request.query.get("limit", str(MAX_CONTRACTS_PAGE)), "limit")
    if not 1 <= limit <= MAX_CONTRACTS_PAGE:
        raise client_error(400, f"limit must be 1..{MAX_CONTRACTS_PAGE}")
    after = request.query.get("after")
    start = schema.CONTRACT_CODE + parse_hex(after, 20, "after (a contract address)") + b"\x00" if after else b""
    state = node.chain.state
    found = []
    for key, stored in state.scan(schema.CONTRACT_CODE, limit, start):
        address = key[len(schema.CONTRACT_CODE):]
        found.append({"address": address.hex(), "deployer": (accounts.get_deployer(state, address) or b"").hex(),
                      "code_bytes": len(stored), "certified_market": accounts.is_market(state, address)})
    return web.json_response({"contracts": found, "more": len(found) == limit})


async def genesis(request: web.Request) -> web.Response:
    return web.json_response(request.app[NODE].genesis.to_json())


async def _read_batch(request: web.Request, client: str, held: list[int]) -> list[bytes]:
    """The submitted transactions' bytes, within the batch and rate limits; the body and its
    JSON are not kept once the bytes are taken out (a batch waiting for admission holds only
    those)."""
    doc = await read_json(request, held)
    txs = doc.get("txs") if isinstance(doc, dict) else None
    if not isinstance(txs, list) or not txs or len(txs) > MAX_BATCH or not all(isinstance(t, str) for t in txs):
        raise client_error(400, f"expected {{\"txs\": [hex, ...]}} with 1..{MAX_BATCH} transactions")
    limits = request.app[LIMITS]
    if limits is not None:
        wait = limits.take(client, len(txs), time.monotonic())
        if wait:
            raise client_error(429, f"rate limit: {limits.rate} transactions/s per client",
                               retry_after_s=round(wait, 3), headers={"Retry-After": str(max(1, math.ceil(wait)))})
    raws = []
    for t in txs:
        try:
            raws.append(bytes.fromhex(t))
        except ValueError:
            raws.append(b"")  # rejected below as malformed, with its position kept
    return raws


async def post_txs(request: web.Request) -> web.Response:
    wait = request.query.get("wait")
    if wait not in (None, "commit"):
        raise client_error(400, "wait must be 'commit' (answer once committed) or absent")
    timeout = parse_uint(request.query.get("timeout_s", str(DEFAULT_WAIT_S)), "timeout_s")
    if not 0 < timeout <= MAX_WAIT_S:
        raise client_error(400, f"timeout_s must be 1..{MAX_WAIT_S}")
    client = client_of(request.remote)  # an IPv6 /64 is one client, as for its connections
    posts = request.app[POSTS]
    if not posts.admit(client):
        raise client_error(429, f"at most {posts.per_source} submissions in progress per client", retry_after_s=1,
                           headers={"Retry-After": "1"})
    held = [0]  # bytes of this request's body in the node's BodyBudget
    try:
        raws = await _read_batch(request, client, held)
        try:
            results = await request.app[NODE].txs.admit(raws, client)
        except Overloaded as exc:
            raise client_error(503, f"{exc}: retry shortly", headers={"Retry-After": "1"}) from None
    finally:
        posts.release(client)
        request.app[BODIES].release(held)
    node = request.app[NODE]
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

    def listen(event: NodeEvent) -> None:
        if not isinstance(event, BlockCommitted) or not pending:
            return
        for tx_hash in event.tx_hashes:
            if tx_hash in pending:
                pending.discard(tx_hash)
                found[tx_hash] = event.block.height
        if not pending:
            done.set()

    node.events.subscribe(listen)
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
        node.events.unsubscribe(listen)
    return found


async def get_tx(request: web.Request) -> web.Response:
    node = request.app[NODE]
    tx_hash = parse_hex(request.match_info["hash"], 32, "transaction hash")
    where = node.chain.store.tx_location(tx_hash)
    if where is not None:
        r = where.receipt
        return web.json_response({"status": "committed", "height": where.height, "index": where.index,
                                  "receipt": {"ok": r.status == 0, "gas_used": r.gas_used, "reason": r.reason,
                                              "output": r.output.hex(), "events": [contract_event_json(e) for e in r.events]}})
    if tx_hash in node.mempool:
        return web.json_response({"status": "pending"})
    reason = node.mempool.dropped.get(tx_hash)
    if reason is not None:
        return web.json_response({"status": "dropped", "reason": reason})
    return web.json_response({"status": "unknown"}, status=404)


async def get_account(request: web.Request) -> web.Response:
    node = request.app[NODE]
    address = parse_hex(request.match_info["address"], 20, "address")
    state = node.chain.state
    account = accounts.get_account(state, address)
    doc = {"address": address.hex(), "balance": account.balance, "nonce": account.nonce}
    code = state.get(schema.CONTRACT_CODE + address)
    if code is not None:  # a contract: what /contracts lists of it
        doc["contract"] = {"deployer": (accounts.get_deployer(state, address) or b"").hex(), "code_bytes": len(code),
                           "certified_market": accounts.is_market(state, address)}
    return web.json_response(doc)


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
        ("pownode_consensus_view", "gauge", "Current consensus view (round) at this height (-1: a full node).",
         node.engine.view if node.engine is not None else -1),
        ("pownode_view_changes_total", "counter", "View changes started since start.", node.stats.view_changes),
        ("pownode_dropped_messages_total", "counter", "Messages dropped on full peer send queues.",
         node.peers.stats.dropped_messages),
        ("pownode_dropped_batches_total", "counter", "Peers' transaction batches over the admission queues' bounds.",
         node.txs.dropped_batches),
        ("pownode_refused_connections_total", "counter", "Connections refused in the handshake.",
         node.peers.stats.refused_peers),
        ("pownode_p2p_sent_bytes_total", "counter", "Bytes sent to peers, framing included.",
         node.peers.stats.bytes_sent),
    ]
    lines = []
    for name, kind, help_text, value in gauges:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Committed blocks and contract events, each as one JSON text message (a large event as a
    stub, a block's events over WS_BLOCK_EVENT_BYTES as one `events-elided`). A subscriber's
    unsent messages are bounded in bytes (WS_QUEUE_BYTES): one that does not keep up is
    disconnected, never silently skipped and never holding the node's memory. What a
    subscriber sends is read and dropped, each message at most WS_MAX_MESSAGE bytes. A client
    holds at most WS_PER_CLIENT subscriptions, all clients WS_TOTAL (429 beyond)."""
    node = request.app[NODE]
    client, subscribers = client_of(request.remote), request.app[SUBSCRIBERS]
    if not subscribers.admit(client):
        raise client_error(429, f"at most {subscribers.per_source} WebSocket subscriptions per client and "
                           f"{subscribers.total} in all", retry_after_s=1, headers={"Retry-After": "1"})
    try:
        return await _stream(request, node)
    finally:
        subscribers.release(client)


async def _stream(request: web.Request, node: Node) -> web.WebSocketResponse:
    """One admitted subscription, streamed until it ends."""
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=WS_MAX_MESSAGE)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    pending: deque[str] = deque()
    queued = [0]
    wake = asyncio.Event()

    elided = [False]  # the last block's events are over WS_BLOCK_EVENT_BYTES: not streamed
    gone = [False]

    def listen(event: NodeEvent) -> None:
        if isinstance(event, BlockCommitted):
            elided[0] = not event.events_fit(WS_BLOCK_EVENT_BYTES)
            queue(event.text)
            if elided[0]:
                queue(event.elided_text)
        elif not elided[0]:
            queue(event.text)

    def queue(text: str) -> None:
        if gone[0]:
            return
        if queued[0] + len(text) > WS_QUEUE_BYTES:
            log.info("WebSocket subscriber %s too slow (%d bytes unsent): disconnecting", request.remote, queued[0])
            gone[0] = True
            node.events.unsubscribe(listen)
            if request.transport is not None:
                request.transport.abort()
            return
        pending.append(text)
        queued[0] += len(text)
        wake.set()

    async def pump() -> None:
        while True:
            await wake.wait()
            wake.clear()
            while pending:
                text = pending.popleft()
                queued[0] -= len(text)
                await ws.send_str(text)

    node.events.subscribe(listen)
    sender = asyncio.create_task(pump())
    try:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        sender.cancel()
        node.events.unsubscribe(listen)  # unless it removed itself for being too slow
    return ws


async def _close_sockets(app: web.Application) -> None:
    """Stopping: tell each WebSocket subscriber (a dashboard left open, say) the node is going
    away, rather than wait for it to hang up."""
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"the node is stopping")


def make_app(node: Node) -> web.Application:
    app = web.Application(middlewares=[_errors, charge_reads], client_max_size=MAX_BODY)
    app[NODE] = node
    rate = node.config.client_tx_per_s
    app[LIMITS] = ClientLimits(rate, max(2 * rate, MAX_BATCH)) if rate > 0 else None
    app[BODIES] = BodyBudget(BODY_BUDGET)
    app[LOOP_BUDGET] = LoopBudget(LOOP_MS_PER_S, LOOP_MS_PER_S_ALL)
    app[POSTS] = SourceCounter(POSTS_PER_CLIENT, POSTS_IN_PROGRESS)
    app[SOCKETS] = weakref.WeakSet()
    app[SUBSCRIBERS] = SourceCounter(WS_PER_CLIENT, WS_TOTAL)
    app.on_shutdown.append(_close_sockets)
    app.add_routes([
        web.get("/status", status),
        web.get("/health", health),
        web.get("/validators", validators),
        web.get("/genesis", genesis),
        web.get("/contracts", contracts),
        web.post("/txs", post_txs),
        web.get("/txs/{hash}", get_tx),
        web.get("/accounts/{address}", get_account),
        web.get("/metrics", metrics),
        web.get("/openapi.json", openapi),
        web.get("/ws", websocket),
    ])
    market_api.add_routes(app)
    aggregator_api.add_routes(app)
    ces_api.add_routes(app)
    meters_api.add_routes(app)
    election_api.add_routes(app)
    dashboard.add_routes(app)
    proof_api.add_routes(app)
    block_api.add_routes(app)
    return app
