"""A CES participant's page, as the API reads it from the storage of a real executed chain: the
offers addressed to it newest first with the calls that answer them (signed and committed here),
its set-points for a day, and 404s, not 500s, for storage the CES contract did not write."""

from __future__ import annotations

import hashlib

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ledger.executor import contract_fee
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, Transaction
from market.contracts import source
from pownode import ces_api
from pownode.api import make_app
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from tests.market.api_calls import call_handler
from tests.market.helpers import GAS, NET, ContractChain, interval_time
from tests.market.test_ces_incentives import A, B, BUDGET, INPUTS, OPERATOR, UTILITY, Ces
from vm.machine import contract_address


@pytest.fixture(scope="module")
def ces() -> Ces:
    """Offers 0..4 to A in intervals 12..16 (0 accepted, 1 refused then raised, 2 refused and
    supplemented), 5 to B; A's preferences and set-points for day 0."""
    c = Ces()
    c.ok([c.on(OPERATOR, "offer", A.address, 12 + k, 1_000 + k, 10_000, 2_000) for k in range(5)]
         + [c.on(OPERATOR, "offer", B.address, 12, 500, 10_000, 2_000)])
    c.ok([c.on(A, "accept", 0), c.on(A, "refuse", 1), c.on(A, "refuse", 2)])
    c.ok([c.on(OPERATOR, "raise_offer", 1, 3_000), c.on(OPERATOR, "supplement", 2)])
    c.ok([c.on(A, "prefer", 0, [4_000, 1_000, 9, 24])])
    c.ok([c.on(OPERATOR, "equilibrium", 0, INPUTS, A.address, [0, 500, -300])])
    return c


async def _offers(c: Ces, who, query: str = "") -> tuple[int, dict]:
    return await call_handler(c, ces_api.get_offers, "/ces/x/offers/y", query, contract=c.address.hex(),
                      address=who.address.hex())


async def test_the_offers_addressed_to_a_participant_newest_first_with_their_states(ces) -> None:
    status, page = await _offers(ces, A)
    assert status == 200 and page["next"] is None and page["interval"] == 10
    assert [(o["id"], o["seq"], o["state"], o["answerable"]) for o in page["offers"]] == [
        (4, 4, "open", True), (3, 3, "open", True), (2, 2, "supplemented", False), (1, 1, "open", True),
        (0, 0, "accepted", False)]
    raised = page["offers"][3]
    assert (raised["interval"], raised["energy_wh"], raised["dlmp"], raised["incentive"], raised["first_incentive"],
            raised["raises"], raised["price"], raised["escrow"]) == (13, 1_001, 10_000, 3_000, 2_000, 1, 13_000, 13_013)
    assert raised["interval_start_ms"] == NET.genesis.calendar_origin_ms + 13 * NET.genesis.calendar_interval_ms
    # Each entry is the contract's own view of the offer.
    for o in page["offers"]:
        stored = ces.view("offer_of", o["id"])
        assert (o["interval"], o["energy_wh"], o["incentive"], o["escrow"], o["paid"]) == (
            stored[1], stored[2], stored[4], stored[8], stored[10])
    status, b = await _offers(ces, B)
    assert [o["id"] for o in b["offers"]] == [5]


async def test_an_open_offer_is_not_answerable_while_the_contract_is_not_certified() -> None:
    """The contract accepts nothing while the network operator's certification is withdrawn, and
    the page says so."""
    c = Ces()
    offer = c.do(OPERATOR, "offer", A.address, 14, 700, 9_000, 1_500)
    assert c.block([(NET.operator, CertifyMarket(c.address, 0))])[0].status == 0
    status, page = await _offers(c, A)
    assert status == 200 and [(o["id"], o["state"], o["answerable"]) for o in page["offers"]] == [
        (offer, "open", False)]
    status, found = await call_handler(c, ces_api.get_overview, "/ces/x", contract=c.address.hex())
    assert status == 200 and found["certified"] is False
    assert "operator must certify" in c.refused(A, "accept", offer)


async def test_pages_cover_every_offer_once(ces) -> None:
    seen, before = [], None
    while True:
        status, page = await _offers(ces, A, "limit=2" if before is None else f"limit=2&before={before}")
        assert status == 200
        seen += [o["id"] for o in page["offers"]]
        before = page["next"]
        if before is None:
            break
    assert seen == [4, 3, 2, 1, 0]


async def test_the_accept_call_the_api_gives_is_signed_committed_and_seen_answered() -> None:
    c = Ces()
    offer = c.do(OPERATOR, "offer", B.address, 14, 700, 9_000, 1_500)
    status, page = await _offers(c, B)
    call = page["offers"][0]["accept"]
    assert call["function"] == "accept" and call["args"] == [offer] and f"--args '[{offer}]'" in call["cli"]
    receipt = c.block([(B, ContractCall(bytes.fromhex(call["contract"]), call["function"], tuple(call["args"]),
                                        call["gas"], call["value"]))])[0]
    assert receipt.status == 0 and receipt.gas_used < call["gas"]
    status, page = await _offers(c, B)
    assert page["offers"][0]["state"] == "accepted" and not page["offers"][0]["answerable"]
    c.block([], interval_time(14, 1))  # an open offer whose interval has started cannot be answered
    other = c.do(OPERATOR, "offer", A.address, 15, 100, 9_000, 1_500)
    c.block([], interval_time(15, 1))
    status, page = await _offers(c, A)
    assert page["offers"][0]["id"] == other and page["offers"][0]["state"] == "open"
    assert not page["offers"][0]["answerable"]


def test_the_reader_uses_the_contracts_own_bounds_and_state_numbers() -> None:
    contract = source("ces_incentives")
    assert f"MAX_SEQ = {ces_api.MAX_SEQ}  #" in contract
    assert f"DAY_MS = {ces_api.DAY_MS}\n" in contract
    for number, name in enumerate(ces_api.STATES):
        assert f"\n{name.upper()} = {number}\n" in contract


async def test_the_overview_and_a_participants_set_points_for_a_day(ces) -> None:
    status, found = await call_handler(ces, ces_api.get_overview, "/ces/x", contract=ces.address.hex())
    assert status == 200
    assert (found["operator"], found["utility"], found["period_intervals"], found["max_raises"]) == (
        OPERATOR.address.hex(), UTILITY.address.hex(), 10, 2)
    assert (found["budget"], found["escrowed"]) == (ces.view("budget"), ces.view("escrowed"))
    assert found["budget"] + found["escrowed"] == BUDGET and found["today"] == 0 and found["period"] == 1
    assert found["certified"] is True
    status, eq = await call_handler(ces, ces_api.get_equilibrium, "/ces/x/equilibrium/0/y", contract=ces.address.hex(),
                            day="0", address=A.address.hex())
    assert status == 200
    assert (eq["bus"], eq["inputs_hash"], eq["setpoints_wh"], eq["preferences"]) == (
        5, INPUTS.hex(), [0, 500, -300], [4_000, 1_000, 9, 24])
    status, missing = await call_handler(ces, ces_api.get_equilibrium, "/ces/x/equilibrium/1/y", contract=ces.address.hex(),
                                 day="1", address=A.address.hex())
    assert status == 404 and "no equilibrium posted" in missing["error"]
    status, bad = await call_handler(ces, ces_api.get_equilibrium, "/ces/x/equilibrium/z/y", contract=ces.address.hex(),
                             day=str(2**32), address=A.address.hex())
    assert status == 400


async def test_bad_queries_are_400s(ces) -> None:
    for query in ("limit=0", "limit=65", "before=0", "before=x", f"before={2**40}"):
        assert (await _offers(ces, A, query))[0] == 400, query
    status, _ = await call_handler(ces, ces_api.get_offers, "/ces/x/offers/y", contract="zz", address=A.address.hex())
    assert status == 400


HOSTILE = '''
def fill(shape):
    put("cfg", [sender(), 10, 2, 3000000, sender()])
    put("budget", 0)
    put("held", 0)
    who = sender().hex()
    if shape == 0:
        put("by:" + who + ":" + "ffffffffff", 1)
        put("offer:0000000001", [sender(), 12, 1, 1, 1, 1, 0, 9, 0, 0, 0])
    if shape == 1:
        put("by:" + who + ":" + "zzzzzzzzzz", 1)
    if shape == 2:
        put("by:" + who + ":" + "fffffffffe", 2)
        put("offer:0000000002", [b"someone else's addr!", 12, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    if shape == 3:
        put("by:" + who + ":" + "fffffffffd", "x")
    if shape == 4:
        put("eq:00000000:" + who, [b"short", [1]])
    if shape == 5:
        put("eq:00000000:" + who, [b"0123456789abcdef0123456789abcdef", ["x"]])
    if shape == 6:
        put("cfg", [1, 2])
'''


async def test_storage_a_members_contract_shaped_to_trip_the_reader_is_a_404_not_a_server_error() -> None:
    """Any member may deploy a contract writing the keys the CES reader looks for, with values of
    its choosing: the API answers that it is not a CES incentives contract."""
    # Per shape: whether the overview, the offers and the equilibrium refuse it as not a CES contract's.
    expected = {0: (False, True, False), 1: (False, True, False), 2: (False, True, False), 3: (False, True, False),
                4: (False, False, True), 5: (False, False, True), 6: (True, True, True)}
    for shape, refusals in expected.items():
        c = ContractChain()
        assert c.block([(A, ContractDeploy(HOSTILE, GAS))])[0].status == 0
        hostile = contract_address(A.address, hashlib.sha256(HOSTILE.encode()).digest())
        c.run(hostile, A, "fill", shape)
        found, a = [], A.address.hex()
        for handler, path, match in ((ces_api.get_overview, "/ces/x", {}),
                                     (ces_api.get_offers, "/ces/x/offers/y", {"address": a}),
                                     (ces_api.get_equilibrium, "/ces/x/eq/0/y", {"day": "0", "address": a})):
            status, body = await call_handler(c, handler, path, contract=hostile.hex(), **match)
            assert status in (200, 404), (shape, status)
            found.append(status == 404 and "no CES incentives contract" in body["error"])
        assert tuple(found) == refusals, shape
    # A P2P market's storage is not a CES contract's.
    c = ContractChain()
    market = c.deploy("p2p_market", UTILITY)
    status, body = await call_handler(c, ces_api.get_offers, "/ces/x/offers/y", contract=market.hex(), address=A.address.hex())
    assert status == 404 and "no set-up CES" in body["error"]


BLOATED = '''
def fill(first, n):
    put("cfg", [sender(), 10, 2, 3000000, sender()])
    put("held", 0)
    who = sender().hex()
    big = [[]] * 13000
    put("budget", big)
    put("eq:00000000:" + who, [b"0123456789abcdef0123456789abcdef", big])
    for k in range(first, first + n):
        put("by:" + who + ":" + to_bytes(1099511627775 - k, 5).hex(), big)
'''


async def test_a_members_contract_with_bloated_values_costs_a_request_no_more_than_the_ces_contract_writes(
        decoded: list[int]) -> None:
    """A member's contract can store values of up to 64 KiB under the keys the reader looks for
    (an index page of 64 of them took 0.6 s of the node's event loop to decode, per request):
    each value larger than any the CES contract writes is refused before it is decoded, so a
    request decodes at most a page of small values."""
    c = ContractChain()
    assert c.block([(A, ContractDeploy(BLOATED, GAS))])[0].status == 0
    hostile = contract_address(A.address, hashlib.sha256(BLOATED.encode()).digest())
    for first in range(0, 8, 4):
        c.run(hostile, A, "fill", first, 4, gas=2_000_000)
    a = A.address.hex()
    for handler, path, match in ((ces_api.get_overview, "/ces/x", {}),
                                 (ces_api.get_offers, "/ces/x/offers/y", {"address": a}),
                                 (ces_api.get_equilibrium, "/ces/x/eq/0/y", {"day": "0", "address": a})):
        decoded.clear()
        status, body = await call_handler(c, handler, path, contract=hostile.hex(), **match)
        assert status == 404 and "no CES incentives contract" in body["error"], (path, status, body)
        assert max(decoded, default=0) <= 1024, (path, max(decoded))


MIDSIZE = '''
def fill(n):
    put("cfg", [sender(), 10, 2, 3000000, sender()])
    who = sender().hex()
    for k in range(n):
        put("by:" + who + ":" + to_bytes(1099511627775 - k, 5).hex(), [[]] * 900)
'''


async def test_each_key_is_bounded_by_the_largest_value_the_contract_writes_under_it(decoded: list[int]) -> None:
    """Index entries of 900 bytes, under the reader's overall 1 KiB: an index entry is an offer id
    (9 bytes), so a page of them is refused before any is decoded (64 were decoded before)."""
    c = ContractChain()
    assert c.block([(A, ContractDeploy(MIDSIZE, GAS))])[0].status == 0
    hostile = contract_address(A.address, hashlib.sha256(MIDSIZE.encode()).digest())
    c.run(hostile, A, "fill", 64, gas=5_000_000)
    decoded.clear()  # the chain's own set-up decoded values too
    status, body = await call_handler(c, ces_api.get_offers, "/ces/x/offers/y", contract=hostile.hex(), address=A.address.hex())
    assert status == 404 and "no CES incentives contract" in body["error"], (status, body)
    assert max(decoded, default=0) <= 128, max(decoded)  # the set-up only


def test_each_bound_holds_the_largest_value_the_contract_writes_under_its_key() -> None:
    from ledger.encoding import pack

    n, a, p = -(2**63), b"\xff" * 20, -(2**31 - 1)
    largest = {"cfg": [a, n, n, n, a], "budget": n, "held": n, "offer:": [a] + [n] * 10, "by:": n,
               "member:": [n, n], "prefs:": [p] * 16, "eq:": [b"\xff" * 32, [-(2**24 - 1)] * 96]}
    assert [prefix for prefix, _ in ces_api.VALUE_BYTES] == list(largest)
    for prefix, bound in ces_api.VALUE_BYTES:
        assert len(pack(largest[prefix])) <= bound, prefix


async def test_the_largest_values_the_contract_writes_are_read() -> None:
    """An equilibrium of 96 extreme set-points and 16 extreme preferences, the largest values
    the contract writes, are within the reader's bound on a value's size."""
    c = Ces()
    c.ok([c.on(A, "prefer", 0, [-(2**31 - 1)] * 16)])
    c.ok([c.on(OPERATOR, "equilibrium", 0, INPUTS, A.address, [-(2**24 - 1)] * 96)])
    status, eq = await call_handler(c, ces_api.get_equilibrium, "/ces/x/equilibrium/0/y", contract=c.address.hex(),
                            day="0", address=A.address.hex())
    assert status == 200 and eq["setpoints_wh"] == [-(2**24 - 1)] * 96 and eq["preferences"] == [-(2**31 - 1)] * 16


async def test_a_node_serves_the_routes_and_an_offer_to_a_household_with_a_meter(tmp_path) -> None:
    """Over HTTP on a running node: the overview, an offer to a household (its meter certified in
    the genesis), the set-points, and 4xx for junk."""
    home = init_network(tmp_path / "net", 1, "pbft", base_port=0, client_meters=True)[0]
    operator = read_key(home.parent / "operator.key")
    household = read_key(home.parent / "clients" / "client0.key")
    async with EmbeddedNode(home, api=False) as node:
        genesis = node.node.genesis
        fee = contract_fee(genesis, GAS)
        ces = contract_address(operator.address, hashlib.sha256(source("ces_incentives").encode()).digest())
        bodies = [ContractDeploy(source("ces_incentives"), GAS),
                  ContractCall(ces, "setup", (168, 2, 3_000_000, operator.address), GAS, 0),
                  ContractCall(ces, "fund", (), GAS, 1_000_000),
                  ContractCall(ces, "enrol", (household.address, 5), GAS, 0),
                  ContractCall(ces, "equilibrium", (0, INPUTS, household.address, [100, -50]), GAS, 0)]
        txs = [Transaction.create(operator, genesis.chain_id, i, body, fee=fee) for i, body in enumerate(bodies)]
        for tx in txs:
            node.submit(tx)
        for tx in txs:
            receipt = await node.wait_committed(tx.hash)
            assert receipt.status == 0, receipt.reason
        # The network operator (the same key here) certifies the deployed contract: offers only then.
        certify = Transaction.create(operator, genesis.chain_id, len(txs), CertifyMarket(ces, 1), fee=0)
        node.submit(certify)
        assert (await node.wait_committed(certify.hash)).status == 0
        now = genesis.interval_of(node.node.chain.head.time_ms)
        offer = Transaction.create(operator, genesis.chain_id, len(txs) + 1,
                                   ContractCall(ces, "offer", (household.address, now + 100, 800, 9_000, 1_000), GAS, 0),
                                   fee=fee)
        node.submit(offer)
        assert (await node.wait_committed(offer.hash)).status == 0
        async with TestClient(TestServer(make_app(node.node))) as client:
            found = await (await client.get(f"/ces/{ces.hex()}")).json()
            assert (found["budget"], found["escrowed"], found["period_intervals"], found["certified"]) == (
                1_000_000 - 8_000, 8_000, 168, True)
            page = await (await client.get(f"/ces/{ces.hex()}/offers/{household.address.hex()}")).json()
            assert [(o["id"], o["interval"], o["state"], o["answerable"]) for o in page["offers"]] == [
                (0, now + 100, "open", True)]
            eq = await (await client.get(f"/ces/{ces.hex()}/equilibrium/0/{household.address.hex()}")).json()
            assert eq["setpoints_wh"] == [100, -50] and eq["bus"] == 5
            for path in (f"/ces/{'ab' * 20}", f"/ces/{ces.hex()}/offers/zz", f"/ces/{ces.hex()}/equilibrium/x/{'cd' * 20}",
                         f"/ces/{ces.hex()}/offers/{'cd' * 20}?limit=-1"):
                response = await client.get(path)
                assert 400 <= response.status < 500 and "error" in await response.json(), path
