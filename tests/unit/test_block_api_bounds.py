"""GET /blocks/{height} and GET /proofs/tx/{hash} read a block's transactions as the stored bytes
they are, sliced out and hashed, never decoded: a member can fill blocks with 20,000
transactions, whose decoding took ~0.2 s per 10,000 of the node's event loop, per request."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ledger.blocks import Block, encoded_txs
from ledger.proofs import TxProof, verify_tx
from ledger.transactions import Transfer
from pownode import block_api, proof_api
from pownode.block_api import BlockPages
from pownode.http_common import NODE
from pownode.http_pacing import Pacing
from tests.market.helpers import NET, ContractChain

TXS = 120


@pytest.fixture(scope="module")
def chain() -> ContractChain:
    c = ContractChain()
    c.block([(NET.users[k % 8], Transfer(NET.users[9].address, 1 + k)) for k in range(TXS)])
    return c


@pytest.fixture
def blocks_decoded(monkeypatch) -> list[int]:
    """Each block the handlers decode, by its number of transactions."""
    decoded: list[int] = []
    original = Block.from_wire.__func__  # type: ignore[attr-defined]

    def counting(cls, wire):
        block = original(cls, wire)
        decoded.append(len(block.txs))
        return block

    monkeypatch.setattr(Block, "from_wire", classmethod(counting))
    return decoded


def _app(c: ContractChain, block_txs_per_s: int = 100_000, clock=time.monotonic) -> web.Application:
    app = web.Application()
    app[NODE] = type("Node", (), {"chain": c.chain})()
    app[proof_api.PROOF_PACING] = Pacing(1000, 1000, "proof requests")
    app[proof_api.TREES] = proof_api.BlockTreesCache()
    app[proof_api.TREE_PACING] = Pacing(100_000, 100_000, "transactions hashed for proofs")
    app[block_api.PAGES] = BlockPages()
    app[block_api.PACING] = Pacing(block_txs_per_s, block_txs_per_s, "block transactions listed", clock)
    return app


async def _get(c: ContractChain, handler, path: str, app: web.Application | None = None, **match) -> tuple[int, dict]:
    request = make_mocked_request("GET", path, match_info=match, app=app or _app(c))
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        return exc.status, json.loads(exc.text)
    return response.status, json.loads(response.body)


def test_the_slices_are_the_transactions_encodings(chain) -> None:
    block = chain.chain.store.block(1)
    assert encoded_txs(chain.chain.store.block_bytes(1)) == [tx.encoded for tx in block.txs]
    assert len(block.txs) == TXS


async def test_a_block_is_shown_without_decoding_its_transactions(chain, blocks_decoded) -> None:
    expected = [tx.hash.hex() for tx in chain.chain.store.block(1).txs]
    blocks_decoded.clear()
    status, found = await _get(chain, block_api.get_block, "/blocks/1", height="1")
    assert status == 200 and blocks_decoded == []
    assert found["txs"] == expected and found["tx_count"] == TXS and found["height"] == 1
    status, _ = await _get(chain, block_api.get_block, "/blocks/9", height="9")
    assert status == 404


async def test_a_page_is_rendered_once_and_rendering_is_paced_by_its_transactions(chain, monkeypatch) -> None:
    """Each render reads the block's bytes; a page asked again comes from the cache, and only
    renders are charged: with a budget of 2.5 blocks a second (a burst of 5), a client gets five
    renders and then 429, while a page already rendered is still served."""
    c = ContractChain()
    for _ in range(6):
        c.block([(NET.users[k % 8], Transfer(NET.users[9].address, 1 + k)) for k in range(TXS)])
    reads: list[int] = []
    block_bytes = c.chain.store.block_bytes
    monkeypatch.setattr(c.chain.store, "block_bytes", lambda h: reads.append(h) or block_bytes(h))
    app = _app(c, block_txs_per_s=TXS * 5 // 2, clock=lambda: 1000.0)  # no refill between asks
    first = await _get(c, block_api.get_block, "/blocks/1", app, height="1")
    assert first[0] == 200 and reads == [1]
    assert await _get(c, block_api.get_block, "/blocks/1", app, height="1") == first and reads == [1]
    statuses = [(await _get(c, block_api.get_block, f"/blocks/{h}", app, height=str(h)))[0] for h in range(2, 7)]
    assert statuses == [200, 200, 200, 200, 429] and reads == [1, 2, 3, 4, 5]
    assert await _get(c, block_api.get_block, "/blocks/1", app, height="1") == first
    latest = await _get(c, block_api.get_block, "/blocks/latest", app, height="latest")
    assert latest[0] == 429  # height 6, not rendered yet, and the budget is spent


def test_the_page_cache_keeps_the_most_recently_asked_within_its_bytes() -> None:
    pages = BlockPages(max_bytes=300)
    for h in range(1, 4):
        pages.put(h, bytes(100))
    assert pages.get(1) is not None  # now the most recent
    pages.put(4, bytes(100))
    assert pages.get(2) is None and all(pages.get(h) is not None for h in (1, 3, 4)) and pages.bytes == 300
    pages.put(5, bytes(301))  # larger than the whole cache: not kept, nothing evicted
    assert pages.get(5) is None and pages.bytes == 300


async def test_a_transaction_is_proven_without_decoding_its_block(chain, blocks_decoded) -> None:
    block = chain.chain.store.block(1)
    tx = block.txs[TXS - 7]
    blocks_decoded.clear()
    status, found = await _get(chain, proof_api.tx_proof, f"/proofs/tx/{tx.hash.hex()}", hash=tx.hash.hex())
    assert status == 200 and blocks_decoded == []
    proof = TxProof.from_json(found)
    assert proof.tx == tx.encoded and proof.index == TXS - 7
    verify_tx(block.header.tx_root, block.header.receipts_root, block.header.tx_count, proof)


async def test_validator_changes_are_proven_without_decoding_the_block(blocks_decoded) -> None:
    """A block of transfers around one SetValidator: only that one is proven, and no block or
    transfer is decoded to find it."""
    from ledger.transactions import SetValidator, Transaction, body_tag

    c = ContractChain()
    key = NET.validators[0].public_key
    c.block([(NET.users[k % 8], Transfer(NET.users[9].address, 1 + k)) for k in range(20)]
            + [(NET.operator, SetValidator(key, 7))]
            + [(NET.users[k % 8], Transfer(NET.users[9].address, 1 + k)) for k in range(20)])
    txs = encoded_txs(c.chain.store.block_bytes(1))
    assert [body_tag(t) for t in txs] == [1] * 20 + [12] + [1] * 20
    blocks_decoded.clear()
    status, found = await _get(c, proof_api.validator_changes, "/blocks/1/validator-changes", height="1")
    assert status == 200 and blocks_decoded == [] and [p["index"] for p in found["proofs"]] == [20]
    assert isinstance(Transaction.decode(bytes.fromhex(found["proofs"][0]["tx"])).body, SetValidator)
    status, _ = await _get(c, proof_api.validator_changes, "/blocks/5/validator-changes", height="5")
    assert status == 404


@pytest.fixture(scope="module")
def two_blocks() -> ContractChain:
    c = ContractChain()
    for height in range(2):
        c.block([(NET.users[k % 8], Transfer(NET.users[9].address, 1 + k + 1000 * height)) for k in range(TXS)])
    return c


def _proof_app(c: ContractChain, proof_txs_per_s: int) -> web.Application:
    app = _app(c)
    app[proof_api.TREE_PACING] = Pacing(proof_txs_per_s, proof_txs_per_s, "transactions hashed for proofs")
    return app


async def test_a_blocks_trees_are_built_once_and_building_them_is_paced_by_its_transactions(two_blocks,
                                                                                           monkeypatch) -> None:
    """A proof once cost the node its block's hashing and receipt reads (22 ms for a block of
    5,000, 90 ms for a full one) at 20 requests a second per client: three clients kept the loop
    consensus runs on busy. Now a block's trees are built once and kept, and building them is
    charged by its transactions before the work."""
    c = two_blocks
    reads: list[bytes] = []
    original = c.chain.receipts_for
    monkeypatch.setattr(c.chain, "receipts_for", lambda block_hash, hashes: reads.append(block_hash) or
                        original(block_hash, hashes))
    first, second = (c.chain.store.block(h) for h in (1, 2))
    app = _proof_app(c, proof_txs_per_s=TXS)  # a burst of two blocks' trees, then one a second
    for tx in first.txs[:5]:  # one block's trees serve every proof in it
        status, found = await _get(c, proof_api.tx_proof, f"/proofs/tx/{tx.hash.hex()}", app, hash=tx.hash.hex())
        assert status == 200
        verify_tx(first.header.tx_root, first.header.receipts_root, first.header.tx_count, TxProof.from_json(found))
    assert reads == [first.hash]
    tx = second.txs[3]
    status, found = await _get(c, proof_api.tx_proof, f"/proofs/tx/{tx.hash.hex()}", app, hash=tx.hash.hex())
    assert status == 200 and reads == [first.hash, second.hash]
    app[proof_api.TREES] = proof_api.BlockTreesCache()  # forgotten: building them again is charged
    status, found = await _get(c, proof_api.tx_proof, f"/proofs/tx/{tx.hash.hex()}", app, hash=tx.hash.hex())
    assert status == 429 and "transactions hashed for proofs" in found["error"]
    assert reads == [first.hash, second.hash]  # refused before the work
