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


def test_golden_compact_proposal_names_the_golden_blocks_transactions() -> None:
    from consensus.messages import Envelope
    from ledger.transactions import Transaction

    raw = bytes.fromhex(GOLDEN["compact_proposal_envelope"])
    env = Envelope.decode(raw)
    assert env.encoded == raw and env.payload.header.hash.hex() == GOLDEN["block_hash"]
    txs = [Transaction.decode(bytes.fromhex(GOLDEN[k])) for k in ("transfer_tx", "reading_tx", "order_tx")]
    assert env.payload.tx_hashes == tuple(t.hash for t in txs)
