"""Every market contract test doubles as a full node's: its chains are replayed with the
reference clearing afterwards (`replay_as_full_node`)."""

from __future__ import annotations

import pytest

from tests.market.helpers import ContractChain, replay_as_full_node
from vm import values as vm_values


@pytest.fixture(autouse=True)
def replayed_by_a_full_node():
    ContractChain.built.clear()
    yield
    chains, ContractChain.built[:] = list(ContractChain.built), []
    for built in chains:
        replay_as_full_node(built.chain)


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """The size of every stored value a reader decodes (for the API readers' bounds)."""
    sizes: list[int] = []
    original = vm_values.decode

    def counting(raw: bytes):
        sizes.append(len(raw))
        return original(raw)

    monkeypatch.setattr(vm_values, "decode", counting)
    return sizes
