"""Every market contract test doubles as a full node's: its chains are replayed with the
reference clearing afterwards (`replay_as_full_node`)."""

from __future__ import annotations

import pytest

from tests.market.helpers import ContractChain, replay_as_full_node


@pytest.fixture(autouse=True)
def replayed_by_a_full_node():
    ContractChain.built.clear()
    yield
    chains, ContractChain.built[:] = list(ContractChain.built), []
    for built in chains:
        replay_as_full_node(built.chain)
