"""`GET /blocks/{height}` (or `latest`): a committed block as JSON, its header and its
transactions' hashes.

A page is rendered from the block's stored bytes (each transaction sliced out and hashed, never
decoded: decoding took ~0.2 s per 10,000 transactions) and kept: a committed block never
changes, and every open dashboard asks for each new block, so a page is rendered once however
many ask. Rendering still costs ~2 us per transaction on the loop consensus runs on, and a
member can fill blocks with 20,000, so rendering is paced by the transactions it lists (a page
served from the cache costs nothing and is not charged): BLOCK_TXS_PER_S per client,
BLOCK_TXS_PER_S_ALL for all clients together, 429 with Retry-After beyond.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from ledger.blocks import Header, QuorumCertificate, encoded_txs
from ledger.errors import DecodeError
from pownode.byte_lru import ByteLru
from pownode.http_common import NODE, client_error, parse_uint
from pownode.http_pacing import Pacing

BLOCK_TXS_PER_S = 20_000  # a full block a second per client (~40 ms of the loop)
BLOCK_TXS_PER_S_ALL = 60_000
PAGE_CACHE_BYTES = 16 * 1024 * 1024  # rendered pages kept, most recently asked first (~12 full blocks)


class BlockPages(ByteLru[bytes]):
    """Rendered pages of committed blocks by height, least recently asked evicted first once
    they pass `max_bytes` together."""

    def __init__(self, max_bytes: int = PAGE_CACHE_BYTES) -> None:
        super().__init__(max_bytes, len)


PAGES = web.AppKey("block_pages", BlockPages)
PACING = web.AppKey("block_pacing", Pacing)


def block_json(h: Header, tx_hashes: list[bytes]) -> dict[str, Any]:
    """A block as GET /blocks/{height} shows it: its header and its transactions' hashes."""
    proof: dict[str, Any] = {}
    if h.proof:
        try:
            qc = QuorumCertificate.decode(h.proof)
            proof = {"round": qc.round, "signers": [s.validator.hex() for s in qc.sigs]}
        except DecodeError:
            proof = {"raw": h.proof.hex()}
    return {
        "height": h.height, "hash": h.hash.hex(), "prev_hash": h.prev_hash.hex(), "time_ms": h.time_ms,
        "proposer": h.proposer.hex(), "tx_root": h.tx_root.hex(), "state_root": h.state_root.hex(),
        "tx_count": h.tx_count, "txs": [t.hex() for t in tx_hashes], "skipped": h.skipped.hex(), "proof": proof,
    }


async def get_block(request: web.Request) -> web.Response:
    node = request.app[NODE]
    which = request.match_info["height"]
    height = node.chain.height if which == "latest" else parse_uint(which, "height (or 'latest')")
    pages = request.app[PAGES]
    page = pages.get(height)
    if page is None:
        store = node.chain.store
        header = store.header(height) if height <= node.chain.height else None
        if header is None:
            raise client_error(404, f"no block at height {height}")
        request.app[PACING].spend(request, max(1, header.tx_count))  # before the work it pays for
        raw = store.block_bytes(height)
        if raw is None:
            raise client_error(404, f"no block at height {height}")
        page = json.dumps(block_json(header, [hashlib.sha256(t).digest() for t in encoded_txs(raw)])).encode()
        pages.put(height, page)
    return web.Response(body=page, content_type="application/json")


def add_routes(app: web.Application) -> None:
    app[PAGES] = BlockPages()
    app[PACING] = Pacing(BLOCK_TXS_PER_S, BLOCK_TXS_PER_S_ALL, "block transactions listed")
    app.add_routes([web.get("/blocks/{height}", get_block)])
