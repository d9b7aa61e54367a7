"""`GET /election` on a live node of each consensus: the ranking the engine uses for the next
height, with each module's figures (PoS: W and U; PoE: CPF over the settled interval)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from consensus.election import PosElection, election_for
from pownode.api import make_app
from pownode.config import NodeConfig, init_network
from pownode.node import Node


@pytest.mark.parametrize("consensus", ["pbft", "pos", "poe"])
async def test_the_election_is_the_engines_with_its_modules_figures(tmp_path: Path, consensus: str) -> None:
    home = init_network(tmp_path / "net", 3, consensus, base_port=0)[0]
    node = Node(NodeConfig.load(home), home)
    await node.start()
    try:
        async with TestClient(TestServer(make_app(node))) as client:
            doc = await (await client.get("/election")).json()
        engine_order = [k.hex() for k in election_for(consensus).ranking(node.app)]
        wealth = dict(PosElection().wealth(node.app)) if consensus == "pos" else {}
    finally:
        await node.stop()
    ranking = doc["ranking"]
    assert doc["consensus"] == consensus and doc["height"] == node.chain.height + 1
    assert [r["public_key"] for r in ranking] == engine_order
    assert [r["rank"] for r in ranking] == [1, 2, 3] and all(r["power"] == 1 and not r["demoted"] for r in ranking)
    if consensus == "pos":
        assert all(r["w"] == wealth[bytes.fromhex(r["public_key"])] > 0 and 0 < r["u"] <= 1 for r in ranking)
        ratios = [r["w"] / r["u_int"] for r in ranking]
        assert ratios == sorted(ratios, reverse=True)  # ranked by W/U
    if consensus == "poe":
        assert doc["settled_interval"] < 0 or all(r["cpf_ppm"] == 0 for r in ranking)  # no readings yet
        assert all("cpf_ppm" in r for r in ranking)
