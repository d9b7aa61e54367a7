"""GET /blocks/{height} and GET /proofs/tx/{hash} read a block's transactions as the stored bytes
they are, sliced out and hashed, never decoded: a member can fill blocks with 20,000
transactions, whose decoding took ~0.2 s per 10,000 of the node's event loop, per request."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ledger.blocks import Block, encoded_txs
from ledger.proofs import TxProof, verify_tx
from ledger.transactions import Transfer
from pownode import api, proof_api
from pownode.http_common import NODE
from pownode.ratelimit import ClientLimits
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


async def _get(c: ContractChain, handler, path: str, **match) -> tuple[int, dict]:
    app = web.Application()
    app[NODE] = type("Node", (), {"chain": c.chain})()
    app[proof_api.PROOF_LIMITS] = ClientLimits(1000, 1000)
    app[proof_api.ALL_CLIENTS] = ClientLimits(1000, 1000)
    request = make_mocked_request("GET", path, match_info=match, app=app)
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
    status, found = await _get(chain, api.get_block, "/blocks/1", height="1")
    assert status == 200 and blocks_decoded == []
    assert found["txs"] == expected and found["tx_count"] == TXS and found["height"] == 1
    status, _ = await _get(chain, api.get_block, "/blocks/9", height="9")
    assert status == 404


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
