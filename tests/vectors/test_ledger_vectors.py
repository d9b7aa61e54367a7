"""Golden vectors: encodings, hashes and roots must not change by accident."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.blocks import Block
from tests.vectors.make_ledger_vectors import compute

GOLDEN = json.loads(Path(__file__).with_name("ledger.json").read_text())
CURRENT = compute()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_vector_unchanged(name: str) -> None:
    assert CURRENT[name] == GOLDEN[name], f"{name} changed: a consensus-breaking format change"


def test_golden_block_decodes_and_reencodes() -> None:
    raw = bytes.fromhex(GOLDEN["sealed_block"])
    assert Block.decode(raw).encoded == raw
