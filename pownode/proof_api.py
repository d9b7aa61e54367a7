"""What a light client asks a node for (`pownode.light`): headers with their certificates, and
proofs it checks against them; the node is not trusted for any of it.

* `GET /headers?from=H&limit=N`: the encoded headers from height H on (at most 256), proofs
  included.
* `GET /proofs/tx/{hash}`: a committed transaction and its receipt, with their merkle paths.
* `GET /proofs/state/{key}`: a state key's entry or its absence at the head, with the height.
  While a block is being voted on, the state the node holds is that block's, not the head's: the
  node then answers 503, and the client asks again a moment later. A proof carries the key's
  sub-bucket as keys and digests, which a member can crowd (its keys are aimed by CRC-32 and one
  byte of SHA-256): one past `ledger.proofs.MAX_STATE_PROOF_BYTES` is a 413, refused before it is built.
* `GET /blocks/{height}/validator-changes`: proofs of the block's `SetValidator` transactions,
  which a light client applies to follow the validator set.

Each client (an IPv4 address or an IPv6 /64) may ask PROOFS_PER_S of these a second, and all
clients together PROOFS_PER_S_ALL (429 with Retry-After beyond). A transaction proof is read off
its block's merkle trees (`BlockTrees`), built once per block and kept (TREE_CACHE_BYTES):
building them costs some 4.5 us a transaction of the loop consensus runs on (90 ms for a full
block), so it is charged, before the work, by the block's transactions (TREE_TXS_PER_S per
client, TREE_TXS_PER_S_ALL for all); a proof from kept trees costs a path.
"""

from __future__ import annotations

import hashlib

from aiohttp import web

from ledger.blocks import encoded_txs
from ledger.proofs import MAX_STATE_PROOF_BYTES, BlockTrees, prove_state, verify_state
from ledger.errors import LedgerError, ProofTooLarge
from ledger.transactions import BODY, SetValidator, body_tag
from pownode.byte_lru import ByteLru
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from pownode.http_pacing import Pacing

MAX_HEADERS = 256
MAX_KEY_BYTES = 1024
# A proof costs the node up to a block's hashing and receipt reads on the loop consensus runs
# on: requests per second per client (an IPv4 address, or an IPv6 /64, which one household can
# rotate through), and for all clients together.
PROOFS_PER_S = 20
PROOFS_PER_S_ALL = 400
SET_VALIDATOR = BODY.by_cls[SetValidator]  # its body tag
PROOF_PACING = web.AppKey("proof_pacing", Pacing)
TREE_TXS_PER_S = 20_000  # a full block's trees a second per client (~90 ms of the loop)
TREE_TXS_PER_S_ALL = 60_000
TREE_CACHE_BYTES = 32 * 1024 * 1024  # blocks' trees kept, most recently asked first (3 full blocks at least)
TREE_PACING = web.AppKey("tree_pacing", Pacing)


class BlockTreesCache(ByteLru[BlockTrees]):
    """Committed blocks' trees by height, least recently asked evicted first."""

    def __init__(self, max_bytes: int = TREE_CACHE_BYTES) -> None:
        super().__init__(max_bytes, lambda trees: trees.retained_bytes)


TREES = web.AppKey("block_trees", BlockTreesCache)


def _block_trees(request: web.Request, height: int) -> BlockTrees | None:
    """The trees of the committed block at `height`, kept or built from its stored bytes (the
    transactions sliced out, never decoded: decoding a full block took ~0.2 s per 10,000) and
    charged by its transactions before they are built; None if there is no such block (or it
    holds no transaction, so there is nothing to prove)."""
    trees = request.app[TREES]
    found = trees.get(height)
    if found is not None:
        return found
    node = request.app[NODE]
    store = node.chain.store
    header = store.header(height) if height <= node.chain.height else None
    if header is None or header.tx_count == 0:
        return None
    request.app[TREE_PACING].spend(request, header.tx_count)
    raw = store.block_bytes(height)
    if raw is None:
        return None
    txs = encoded_txs(raw)
    receipts = [r.encoded for r in node.chain.receipts_for(header.hash, [hashlib.sha256(tx).digest() for tx in txs])]
    built = BlockTrees(height, txs, receipts)
    trees.put(height, built)
    return built


async def headers(request: web.Request) -> web.Response:
    node = request.app[NODE]
    request.app[PROOF_PACING].spend(request)
    start = parse_uint(request.query.get("from", "1"), "from")
    limit = min(MAX_HEADERS, parse_uint(request.query.get("limit", str(MAX_HEADERS)), "limit"))
    store, out = node.chain.store, []
    for height in range(start, min(node.chain.height, start + limit - 1) + 1):
        header = store.header(height)
        if header is None:
            break
        out.append(header.encoded.hex())
    return web.json_response({"headers": out})


async def tx_proof(request: web.Request) -> web.Response:
    node = request.app[NODE]
    request.app[PROOF_PACING].spend(request)
    tx_hash = parse_hex(request.match_info["hash"], 32, "transaction hash")
    where = node.chain.store.tx_location(tx_hash)
    if where is None:
        raise client_error(404, "no committed transaction with this hash")
    trees = _block_trees(request, where.height)
    if trees is None:
        raise client_error(404, "no committed transaction with this hash")
    return web.json_response(trees.prove(where.index).to_json())


async def state_proof(request: web.Request) -> web.Response:
    node = request.app[NODE]
    request.app[PROOF_PACING].spend(request)
    key = parse_hex(request.match_info["key"], None, "state key")
    if not 0 < len(key) <= MAX_KEY_BYTES:
        raise client_error(400, f"a state key is 1 to {MAX_KEY_BYTES} bytes")
    head = node.chain.head
    try:
        proof = prove_state(node.chain.state, key, MAX_STATE_PROOF_BYTES)
    except ProofTooLarge as exc:
        raise client_error(413, f"no proof served for this key: {exc}") from None
    try:
        verify_state(head.state_root, proof)
    except LedgerError:  # the state holds a block being voted on: its root is not the head's yet
        raise client_error(503, "a block is being committed: ask again in a moment") from None
    return web.json_response({"height": head.height, "proof": proof.to_json()})


async def validator_changes(request: web.Request) -> web.Response:
    node = request.app[NODE]
    request.app[PROOF_PACING].spend(request)
    height = parse_uint(request.match_info["height"], "height")
    if height > node.chain.height or node.chain.store.header(height) is None:
        raise client_error(404, f"no block at height {height}")
    trees = _block_trees(request, height)
    changes = [] if trees is None else [i for i, tx in enumerate(trees.txs) if body_tag(tx) == SET_VALIDATOR]
    return web.json_response({"height": height, "proofs": [trees.prove(i).to_json() for i in changes]})


def add_routes(app: web.Application) -> None:
    app[PROOF_PACING] = Pacing(PROOFS_PER_S, PROOFS_PER_S_ALL, "proof requests")
    app[TREE_PACING] = Pacing(TREE_TXS_PER_S, TREE_TXS_PER_S_ALL, "transactions hashed for proofs")
    app[TREES] = BlockTreesCache()
    app.add_routes([
        web.get("/headers", headers),
        web.get("/proofs/tx/{hash}", tx_proof),
        web.get("/proofs/state/{key}", state_proof),
        web.get("/blocks/{height}/validator-changes", validator_changes),
    ])
