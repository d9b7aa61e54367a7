"""The market endpoints on a node with a set-up P2P market: well-formed queries answer, and
junk windows, pages and addresses get 4xx, never a 500."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.executor import contract_fee
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from market.contracts import source
from pownode.api import make_app
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.keyfile import read_key
from vm.machine import contract_address

GAS = 1_500_000


@pytest.fixture
async def market(tmp_path: Path):
    home = init_network(tmp_path / "net", 1, "pbft", base_port=0)[0]
    operator = read_key(home.parent / "operator.key")
    member = read_key(home.parent / "clients" / "client0.key")
    async with EmbeddedNode(home, api=False) as node:
        genesis = node.node.genesis
        fee = contract_fee(genesis, GAS)
        address = contract_address(operator.address, hashlib.sha256(source("p2p_market").encode()).digest())
        bodies = [ContractDeploy(source("p2p_market"), GAS),
                  ContractCall(address, "setup", (0, 5_000, 30_000, 800_000, 1_000, 1, 3, operator.address, 1, b"", 0,
                                                       operator.address),
                               GAS, 0),
                  ContractCall(address, "register", (member.address, 2, 1), GAS, 0)]
        txs = [Transaction.create(operator, genesis.chain_id, i, body, fee=fee) for i, body in enumerate(bodies)]
        for tx in txs:
            node.submit(tx)
        for tx in txs:
            assert (await node.wait_committed(tx.hash)).status == 0
        async with TestClient(TestServer(make_app(node.node))) as client:
            yield client, address, member.address, operator.address


async def test_the_market_and_its_windows_are_described(market) -> None:
    client, address, member, operator = market
    found = await (await client.get(f"/market/{address.hex()}")).json()
    assert found["params"] == {"mechanism": "merit", "fit": 5_000, "tou": 30_000, "cap": 24_000, "p_ser": 1_000,
                               "lead": 1, "span": 3, "utility": operator.hex(), "grace": 1, "grid": "",
                               "any_zone": 0, "first_interval": found["params"]["first_interval"]}
    assert found["members"] == [{"address": member.hex(), "zone": 2, "prosumer": True, "credit": 0, "debt": 0,
                                 "owed": 0, "since": found["members"][0]["since"]}]
    now = found["current_window"]
    assert found["open_windows"] == [now + 1, now + 4]
    statuses = [(await (await client.get(f"/market/{address.hex()}/windows/{w}")).json())["status"]
                for w in (now - 5, now + 2, now + 50)]
    assert statuses == ["closed", "open", "not-yet-open"]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(window=st.text(max_size=25), offset=st.text(max_size=25), limit=st.text(max_size=25))
async def test_junk_windows_and_pages_get_client_errors(market, window: str, offset: str, limit: str) -> None:
    client, address, _, _ = market
    response = await client.get(f"/market/{address.hex()}/windows/{window.lstrip('/')}",
                                params={"offset": offset, "limit": limit})
    assert response.status < 500, await response.text()
    if response.status >= 400 and response.content_type == "application/json":
        assert "error" in await response.json()
