"""Any single-byte change to a signed transaction or a sealed block is detected."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.blocks import Block, verify_quorum
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.errors import DecodeError, InvalidBlock
from ledger.merkle import merkle_root
from ledger.transactions import MarketOrder, MeterReading, Transaction, Transfer

NET = make_devnet(validators=4, users=4, meters=1, label="tamper")


def _signed_txs() -> list[Transaction]:
    u = NET.users
    return [
        Transaction.create(u[0], NET.genesis.chain_id, 0, Transfer(u[1].address, 1234), fee=1),
        Transaction.create(u[1], NET.genesis.chain_id, 0, MarketOrder(3, 1, 2500, 12000, 2, 9), fee=1),
        Transaction.create(NET.meters[0], NET.genesis.chain_id, 0, MeterReading(3, 1800, 700)),
    ]


TXS = _signed_txs()


def _sealed_block() -> Block:
    chain = Chain(MemoryDB(), NET.genesis)
    block, dropped = chain.build_block(TXS, NET.validators[0].public_key, NET.genesis.interval_start_ms(4))
    assert not dropped
    return NET.seal(block)


BLOCK = _sealed_block()


def _mutate(raw: bytes, position: int, delta: int) -> bytes:
    out = bytearray(raw)
    out[position % len(out)] = (out[position % len(out)] + delta) % 256
    return bytes(out)


@settings(max_examples=300)
@given(which=st.integers(0, len(TXS) - 1), position=st.integers(0, 10_000), delta=st.integers(1, 255))
def test_mutated_transaction_fails_decode_or_signature(which: int, position: int, delta: int) -> None:
    raw = _mutate(TXS[which].encoded, position, delta)
    with contextlib.suppress(DecodeError):
        tx = Transaction.decode(raw)
        assert not tx.signature_valid()


def _block_checks_out(block: Block) -> bool:
    try:
        verify_quorum(block.header, [(k.public_key, 1) for k in NET.validators])
    except InvalidBlock:
        return False
    if merkle_root([tx.hash for tx in block.txs]) != block.header.tx_root:
        return False
    return all(tx.signature_valid() for tx in block.txs)


def test_original_block_checks_out() -> None:
    assert _block_checks_out(Block.decode(BLOCK.encoded))


@settings(max_examples=300)
@given(position=st.integers(0, 100_000), delta=st.integers(1, 255))
def test_mutated_block_fails_decode_or_verification(position: int, delta: int) -> None:
    raw = _mutate(BLOCK.encoded, position, delta)
    with contextlib.suppress(DecodeError):
        assert not _block_checks_out(Block.decode(raw))
