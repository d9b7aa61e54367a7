"""A hostile node's answer cannot fill a light client's or a gateway's memory: each request's
answer is read and parsed within what an honest answer to it can hold (`pownode.answer_bounds`),
and the largest honest answers fit their bounds. The hostile node is a real HTTP server on
loopback."""

from __future__ import annotations

import asyncio
import json

import pytest

from ledger.blocks import CommitSig, Header, QuorumCertificate
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.proofs import TxProof
from ledger.receipts import Event, Receipt
from pownode import aggregator_api, answer_bounds, market_api, node_http
from pownode.gateway import WINDOW_PAGE, NodeApi, NodeUnavailable
from pownode.light import HEADERS_PER_REQUEST, LightClient, OverBound, http_fetch
from pownode.node_http import Bound, parse_json
from tests.hostile_node import HostileNode

GENESIS = make_devnet(label="answer-bounds").genesis
HOSTILE_BYTES = 4 * 1024 * 1024  # far below the old 64 MiB, still over what a header page holds


def _hostile(body: bytes, alone: bytes | None = None) -> HostileNode:
    """A node answering every request with `body` (`alone` for a request of one header)."""
    return HostileNode(lambda path: (200, alone if alone is not None and path.endswith("&limit=1") else body))


def _many(item: bytes, size: int) -> bytes:
    return b"[" + b",".join([item] * (size // (len(item) + 1))) + b"]"


@pytest.fixture(params=[b"{}", b"0", b"[]"], ids=["objects", "zeros", "lists"])
def hostile(request: pytest.FixtureRequest):
    node = _hostile(_many(request.param, HOSTILE_BYTES))
    yield node
    node.close()


def test_a_light_client_refuses_a_header_page_no_honest_node_sends(hostile: HostileNode) -> None:
    light = LightClient(GENESIS, http_fetch(hostile.address, timeout_s=30))
    with pytest.raises(OverBound):
        light.sync()
    assert light.head.height == 0 and len(hostile.paths) == 2  # the page, then one header alone


def test_a_page_over_the_current_sets_bound_is_asked_again_one_header_at_a_time() -> None:
    """Headers certified by a set larger than the client's (one that grew within the page) make
    an honest page larger than its bound: the client then takes the next header alone."""
    net = make_devnet(label="answer-bounds-page")
    chain = Chain(MemoryDB(), net.genesis)
    block, _ = chain.build_block([], net.validators[0].public_key, chain.head.time_ms + 1)
    first = net.seal(block).header.encoded.hex()
    bound = answer_bounds.headers(len(net.validators), HEADERS_PER_REQUEST)
    page = json.dumps({"headers": [first] + ["00" * 64] * (bound.max_bytes // 130)}).encode()
    node = _hostile(page, json.dumps({"headers": [first]}).encode())
    try:
        light = LightClient(net.genesis, http_fetch(node.address, timeout_s=30))
        assert light.sync(1).height == 1
        assert node.paths == [f"/headers?from=1&limit={HEADERS_PER_REQUEST}", "/headers?from=1&limit=1"]
    finally:
        node.close()


def test_a_gateway_refuses_an_account_or_a_window_page_no_honest_node_sends(hostile: HostileNode) -> None:
    api = NodeApi(hostile.address)
    for bound in (answer_bounds.ACCOUNT, answer_bounds.window_page(WINDOW_PAGE), answer_bounds.GENESIS):
        with pytest.raises(NodeUnavailable, match="over"):
            asyncio.run(api.call("GET", "/genesis", bound))


def test_parse_json_counts_containers_and_values_before_parsing() -> None:
    bound = Bound(1000, 2, 5)
    assert parse_json(b'{"a": [1, 2]}', bound, "x") == {"a": [1, 2]}
    with pytest.raises(node_http.OverBound, match="containers"):
        parse_json(b'[{}, {}]', bound, "x")
    with pytest.raises(node_http.OverBound, match="values"):
        parse_json(b'[1,2,3,4,5,6]', bound, "x")
    with pytest.raises(node_http.OverBound, match="bytes"):
        parse_json(b" " * 1001, bound, "x")


@pytest.mark.parametrize("validators", [1, 4, 100, 1024])
def test_the_largest_honest_header_page_fits_its_bound(validators: int) -> None:
    sig = CommitSig(b"\x01" * 32, b"\x02" * 64)
    proof = QuorumCertificate(7, (sig,) * validators).encoded
    header = Header("c" * 64, 2**63, b"\x03" * 32, 2**63, b"\x04" * 32, b"\x05" * 32, 2**31, b"\x06" * 32,
                    b"\x07" * 32, b"\x08" * 32, b"\x09" * (validators // 8 + 1), proof)
    count = answer_bounds.headers_per_page(validators, HEADERS_PER_REQUEST)
    body = json.dumps({"headers": [header.encoded.hex()] * count}).encode()
    assert len(parse_json(body, answer_bounds.headers(validators, count), "headers")["headers"]) == count
    assert len(body) <= answer_bounds.HEADER_PAGE_BYTES + answer_bounds.ENVELOPE or count == 1


def test_the_largest_honest_transaction_proof_fits_its_bound() -> None:
    event = Event(b"\x01" * 20, "\u00e9" * 32, b"\x02" * 1024)
    receipt = Receipt(1, 2**63, b"\x03" * 65536, "r" * 256, (event,) * 64)
    path = (b"\x04" * 32,) * answer_bounds.PATH_HASHES
    proof = TxProof(2**40, 19_999, 20_000, b"\x05" * 69_632, path, receipt.encoded, path)
    body = json.dumps(proof.to_json()).encode()
    assert TxProof.from_json(parse_json(body, answer_bounds.TX_PROOF, "proof")) == proof


def test_the_page_sizes_a_gateway_bounds_are_the_apis() -> None:
    assert answer_bounds.OBLIGATION_ROUNDS == aggregator_api.MAX_ACCEPTED
    assert WINDOW_PAGE <= market_api.MAX_PAGE
