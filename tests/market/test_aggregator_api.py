"""A household's obligations in an aggregator's rounds, as the API reads them from the storage of
a real executed chain: accepted orders of closed rounds only, summed per delivery interval, one
page of rounds at a time."""

from __future__ import annotations

import pytest

from market.contracts import source
from pownode import aggregator_api
from tests.market.helpers import NET, ContractChain, interval_time

I0 = 10
UTILITY = NET.users[16]
A, B = NET.users[1], NET.users[2]


def _open_and_answer(c: ContractChain, agg: bytes, round_id: int, buys: int, quantity: int, price: int,
                     delivery: int, answers: list[tuple[object, int, int]]) -> None:
    c.run(agg, UTILITY, "open_round", round_id, buys, quantity, price, delivery, 1,
          value=quantity * price // 1000 if buys else 0)
    receipts = c.block([c.call(agg, k, "answer", round_id, e, p, value=e * p // 1000) for k, e, p in answers])
    assert all(r.status == 0 for r in receipts), [r.reason for r in receipts]


@pytest.fixture(scope="module")
def rounds() -> tuple[ContractChain, bytes]:
    c = ContractChain()
    c.block([], interval_time(I0))
    agg = c.deploy("aggregator", UTILITY)
    # Round 7 buys 5,000 Wh: A's 1,500 @ 9,000 and 500 of its 2,000 @ 14,000 are taken, with B's 3,000.
    _open_and_answer(c, agg, 7, 1, 5_000, 15_000, I0 + 2, [(A, 2_000, 14_000), (A, 1_500, 9_000), (B, 3_000, 12_000)])
    # Round 12 sells 4,000 Wh in the same interval: A's bid of 1,000 is taken.
    _open_and_answer(c, agg, 12, 0, 4_000, 11_000, I0 + 2, [(A, 1_000, 16_000)])
    # Round 100 buys in the next interval, where only B's offer is cheap enough.
    _open_and_answer(c, agg, 100, 1, 1_000, 10_000, I0 + 3, [(A, 1_000, 10_000), (B, 1_000, 8_000)])
    # Round 3 is still open: nothing is accepted yet.
    _open_and_answer(c, agg, 3, 1, 1_000, 20_000, I0 + 4, [(A, 1_000, 5_000)])
    for round_id in (7, 12, 100):
        c.run(agg, UTILITY, "close", round_id)
    return c, agg


def test_the_owners_accepted_orders_are_summed_per_delivery_interval(rounds) -> None:
    c, agg = rounds
    found = aggregator_api.obligations(c.chain.state, agg, A.address, I0, None, aggregator_api.MAX_ROUNDS)
    assert found["more"] is False and found["last_round"] == 7  # "round:7" is the last key in order
    assert found["intervals"] == [{
        "interval": I0 + 2, "export_wh": 2_000, "import_wh": 1_000,
        "rounds": [{"round": 12, "order": 0, "side": "import", "accepted_wh": 1_000, "price": 16_000,
                    "status": "closed"},
                   {"round": 7, "order": 0, "side": "export", "accepted_wh": 500, "price": 14_000, "status": "closed"},
                   {"round": 7, "order": 1, "side": "export", "accepted_wh": 1_500, "price": 9_000,
                    "status": "closed"}]}]
    # The interval each accepted order obliges is the round's delivery, as the contract stores it.
    for r in found["intervals"][0]["rounds"]:
        owner, accepted, price, _ = c.run(agg, B, "accepted", r["round"], r["order"])[:4]
        assert (owner, accepted, price) == (A.address, r["accepted_wh"], r["price"])
    b = aggregator_api.obligations(c.chain.state, agg, B.address, I0 + 3, None, aggregator_api.MAX_ROUNDS)
    assert [(i["interval"], i["export_wh"], i["import_wh"]) for i in b["intervals"]] == [(I0 + 3, 1_000, 0)]


def test_pages_of_rounds_cover_every_round_once(rounds) -> None:
    c, agg = rounds
    pages, after = [], None
    while True:
        page = aggregator_api.obligations(c.chain.state, agg, A.address, 0, after, 2)
        pages.append(page)
        if not page["more"]:
            break
        after = page["last_round"]
    assert [p["last_round"] for p in pages] == [12, 7, None]  # key order: round:100, round:12, round:3, round:7
    rounds_seen = [r["round"] for p in pages for i in p["intervals"] for r in i["rounds"]]
    assert rounds_seen == [12, 7, 7]


def test_a_page_is_bounded_by_the_contracts_own_limit() -> None:
    assert f"MAX_ORDERS = {aggregator_api.MAX_ORDERS}\n" in source("aggregator")


def test_a_contract_without_rounds_obliges_no_one() -> None:
    c = ContractChain()
    market = c.deploy("p2p_market", UTILITY)
    found = aggregator_api.obligations(c.chain.state, market, A.address, 0, None, aggregator_api.MAX_ROUNDS)
    assert found["intervals"] == [] and found["more"] is False


HOSTILE = '''
def fill():
    put("round:1", [sender(), 1, 10, 10, 0, 1, 5])
    put("acc:1:zzzz", [sender(), 1, 1, 1])
    put("params", [7, 1, 2, 3, 4, 5, 6, b"x", 0, b"", 0, 0])
'''


async def test_storage_a_members_contract_shaped_to_trip_the_readers_is_refused_not_a_server_error() -> None:
    """Any member may deploy a contract writing keys the aggregator and market readers look for,
    with values of its choosing: the API answers that it is not an aggregator or a market."""
    import hashlib

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from ledger.transactions import ContractDeploy
    from pownode import market_api
    from pownode.http_common import NODE
    from tests.market.helpers import GAS
    from vm.machine import contract_address

    c = ContractChain()
    assert c.block([(A, ContractDeploy(HOSTILE, GAS))])[0].status == 0
    hostile = contract_address(A.address, hashlib.sha256(HOSTILE.encode()).digest())
    c.run(hostile, A, "fill")
    with pytest.raises(aggregator_api.NotAnAggregator):
        aggregator_api.obligations(c.chain.state, hostile, A.address, 0, None, aggregator_api.MAX_ROUNDS)
    app = web.Application()
    app[NODE] = type("Node", (), {"chain": c.chain, "genesis": NET.genesis})()
    for path, handler, info in ((f"/market/{hostile.hex()}", market_api.market, {}),
                                (f"/market/{hostile.hex()}/windows/1", market_api.window, {"window": "1"})):
        request = make_mocked_request("GET", path, match_info={"contract": hostile.hex(), **info}, app=app)
        with pytest.raises(web.HTTPNotFound):
            await handler(request)


# A member's contract that writes closed rounds delivering in interval 5 with accepted orders of
# its sender: many small ones, or a few far larger than the aggregator contract writes.
CROWDED = '''
def rounds(first, n, orders):
    for r in range(first, first + n):
        put("round:" + str(r), [sender(), 1, 10, 10, 0, 1, 5])
        for k in range(orders):
            put("acc:" + str(r) + ":" + to_bytes(k, 2).hex(), [sender(), 1, 1, 1])


def bloat(r, orders):
    put("round:" + str(r), [sender(), 1, 10, 10, 0, 1, 5])
    big = [[]] * 13000
    for k in range(orders):
        put("acc:" + str(r) + ":" + to_bytes(k, 2).hex(), [sender(), 1, 1, 1, big])
'''


def _crowded() -> tuple[ContractChain, bytes]:
    import hashlib

    from ledger.transactions import ContractDeploy
    from tests.market.helpers import GAS
    from vm.machine import contract_address

    c = ContractChain()
    assert c.block([(A, ContractDeploy(CROWDED, GAS))])[0].status == 0
    return c, contract_address(A.address, hashlib.sha256(CROWDED.encode()).digest())


def test_accepted_orders_larger_than_the_contract_writes_are_refused_before_they_are_decoded(decoded) -> None:
    """A round of accepted orders of 13 KB each (256 of 64 KiB took 2.7-3 s a request): not an
    aggregator, with no value above the bound decoded."""
    c, hostile = _crowded()
    c.run(hostile, A, "bloat", 1, 8, gas=5_000_000)
    decoded.clear()
    with pytest.raises(aggregator_api.NotAnAggregator, match="bytes"):
        aggregator_api.obligations(c.chain.state, hostile, A.address, 0, None, aggregator_api.MAX_ROUNDS)
    assert max(decoded, default=0) <= aggregator_api.VALUE_BYTES


def test_a_page_decodes_a_bounded_number_of_accepted_orders_and_pages_cover_them_all(decoded) -> None:
    """Eight full rounds (2,048 accepted orders) were all decoded by one request of 64 rounds:
    now a page ends, with `more`, before its accepted orders could pass MAX_ACCEPTED, and the
    pages still list every order once."""
    c, hostile = _crowded()
    rounds = 8
    for r in range(rounds):
        c.run(hostile, A, "rounds", r, 1, aggregator_api.MAX_ORDERS, gas=5_000_000)
    seen, after, pages = [], None, 0
    while True:
        decoded.clear()
        page = aggregator_api.obligations(c.chain.state, hostile, A.address, 0, after, aggregator_api.MAX_ROUNDS)
        assert len(decoded) <= aggregator_api.MAX_ACCEPTED + aggregator_api.MAX_ROUNDS, len(decoded)
        seen += [(o["round"], o["order"]) for i in page["intervals"] for o in i["rounds"]]
        pages += 1
        if not page["more"]:
            break
        after = page["last_round"]
    assert sorted(seen) == [(r, k) for r in range(rounds) for k in range(aggregator_api.MAX_ORDERS)]
    assert len(seen) == len(set(seen)) and pages == 2


def test_a_value_the_contract_writes_fits_the_bound() -> None:
    """A round and a settled accepted order with every integer at int64's extremes."""
    from ledger.encoding import pack

    n, a = -(2**63), b"\xff" * 20
    assert len(pack([a, n, n, n, n, n, n])) <= aggregator_api.VALUE_BYTES
    assert len(pack([a, n, n, n, n, n])) <= aggregator_api.VALUE_BYTES
