"""The P2P market reader against a member's contract that writes the keys it looks for: a
request decodes at most a page of values, each no larger than p2p_market writes under its key,
whatever the contract stores, and an offset is walked by key, never decoded."""

from __future__ import annotations

import hashlib

import pytest

from ledger.encoding import pack
from ledger.transactions import ContractDeploy
from pownode import market_api
from tests.market.api_calls import call_handler
from tests.market.helpers import GAS, NET, ContractChain
from vm.machine import contract_address

A = NET.users[1]
MEMBERS = 1_200  # more than a page (market_api.MAX_PAGE)

# A member's contract that writes a market's set-up, many members, and values far larger than
# p2p_market ever writes under the keys the reader looks for.
HOSTILE = '''
def setup():
    put("params", [0, 5000, 30000, 24000, 1000, 1, 3, sender(), 1, b"", 0, 0])
    put("operator", sender())


def members(first, n):
    for k in range(first, first + n):
        put(b"M" + to_bytes(k, 20), [2, 1, 0])


def bloat(window, n):
    big = [[]] * 13000
    w = to_bytes(window, 8)
    for k in range(n):
        put(b"M" + to_bytes(k, 20), big)
        put(b"B" + w + to_bytes(k, 4), big)
'''


def _hostile() -> tuple[ContractChain, bytes]:
    c = ContractChain()
    assert c.block([(A, ContractDeploy(HOSTILE, GAS))])[0].status == 0
    hostile = contract_address(A.address, hashlib.sha256(HOSTILE.encode()).digest())
    c.run(hostile, A, "setup")
    return c, hostile


@pytest.fixture(scope="module")
def crowded() -> tuple[ContractChain, bytes]:
    c, hostile = _hostile()
    for first in range(0, MEMBERS, 300):
        c.run(hostile, A, "members", first, 300, gas=5_000_000)
    return c, hostile


async def test_an_offset_is_walked_by_key_not_decoded(crowded, decoded) -> None:
    """`?offset=` near the end of many members decodes the page it returns, not the members it
    skips (it decoded every one of them, a page of 1,024 at a time)."""
    c, hostile = crowded
    status, page = await call_handler(c, market_api.market, "/market/x", f"offset={MEMBERS - 3}", contract=hostile.hex())
    assert status == 200, page
    assert [m["address"] for m in page["members"]] == [k.to_bytes(20, "big").hex() for k in range(MEMBERS - 3, MEMBERS)]
    # "p2p", "params", "operator", the utility's credit, and per member its entry, credit, debt, owed.
    assert len(decoded) <= 4 + 4 * 3, len(decoded)
    assert page["more"] is False


async def test_an_offset_past_the_bound_is_refused_and_the_cursor_pages_on(crowded, decoded) -> None:
    c, hostile = crowded
    status, body = await call_handler(c, market_api.market, "/market/x", f"offset={market_api.MAX_OFFSET + 1}",
                              contract=hostile.hex())
    assert status == 400 and "offset" in body["error"] and decoded == []
    status, first = await call_handler(c, market_api.market, "/market/x", contract=hostile.hex())
    assert status == 200 and len(first["members"]) == market_api.MAX_PAGE and first["more"] is True
    status, rest = await call_handler(c, market_api.market, "/market/x", f"after={first['members'][-1]['address']}",
                              contract=hostile.hex())
    assert status == 200 and rest["more"] is False
    assert [m["address"] for m in first["members"] + rest["members"]] == [
        k.to_bytes(20, "big").hex() for k in range(MEMBERS)]


async def test_bloated_values_are_refused_before_they_are_decoded(decoded) -> None:
    """Members and orders of 13 KB (a page of them took the reader 1,024 decodes of 13 KB each)
    are a 404 with no value larger than p2p_market writes decoded."""
    c, hostile = _hostile()
    c.run(hostile, A, "bloat", 5, 4, gas=5_000_000)
    for handler, path, match in ((market_api.market, "/market/x", {}),
                                 (market_api.window, "/market/x/windows/5", {"window": "5"})):
        decoded.clear()
        status, body = await call_handler(c, handler, path, contract=hostile.hex(), **match)
        assert status == 404 and "P2P market" in body["error"], (path, status, body)
        assert max(decoded, default=0) <= max(market_api.VALUE_BYTES.values()), (path, max(decoded))


def test_each_bound_holds_the_largest_value_p2p_market_writes_under_its_key() -> None:
    """Every integer at int64's extreme (9 bytes encoded) and every address 20 bytes: the shapes
    p2p_market puts under each key the reader decodes (see its `put` calls)."""
    n, a = -(2**63), b"\xff" * 20
    largest = {
        "params": [n] * 7 + [a, n, a, n, n], "operator": a, "p2p": a, b"M": [n, n, n],
        b"$": n, b"D": n, b"O": n, b"B": [a, n, n, n, n, n], b"S": [a, n, n, n, n, n], b"R": [n] * 7,
        b"T": [a, a, n, n], b"Y": [n] * 4, b"W": [n] * 4, b"X": [b"M" + a, n, n],
    }
    assert set(largest) == set(market_api.VALUE_BYTES)
    for key, value in largest.items():
        assert len(pack(value)) <= market_api.VALUE_BYTES[key], key
