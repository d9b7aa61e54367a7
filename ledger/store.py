"""Blocks, headers, the transaction index and the state, laid out in a `Database`.

Committing block h is one atomic, synced batch holding the block, its header, its height and
transaction index entries, every state change it caused, and the head pointer. The head pointer
is written last in the same batch, so after a crash at any instant the store either has all of
block h or none of it: reopening finds a consistent height.
"""

from __future__ import annotations

from typing import Iterator

from ledger import schema
from ledger.blocks import Block, Header
from ledger.database import Database
from ledger.encoding import U32, U64, Nested, Record, pack, record
from ledger.errors import StorageError
from ledger.receipts import SUCCESS, Receipt


@record
class TxLocation(Record):
    """Where a committed transaction is, and its receipt."""

    height: int
    index: int
    receipt: Receipt
    SCHEMA = {"height": U64, "index": U32, "receipt": Nested(Receipt)}


class BlockStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def head(self) -> tuple[int, bytes] | None:
        raw = self.db.get(schema.DB_HEAD)
        if raw is None:
            return None
        if len(raw) != 40:
            raise StorageError(f"head pointer has {len(raw)} bytes, expected 40")
        return schema.read_u64(raw[:8]), raw[8:]

    def genesis_bytes(self) -> bytes | None:
        return self.db.get(schema.DB_GENESIS)

    def block_hash(self, height: int) -> bytes | None:
        return self.db.get(schema.db_height(height))

    def header_by_hash(self, block_hash: bytes) -> Header | None:
        raw = self.db.get(schema.db_header(block_hash))
        return None if raw is None else Header.decode(raw)

    def block_by_hash(self, block_hash: bytes) -> Block | None:
        raw = self.db.get(schema.db_block(block_hash))
        return None if raw is None else Block.decode(raw)

    def header(self, height: int) -> Header | None:
        h = self.block_hash(height)
        return None if h is None else self.header_by_hash(h)

    def block_bytes(self, height: int) -> bytes | None:
        """The block at `height` as stored (encoded, with its proof), without decoding it."""
        h = self.block_hash(height)
        return None if h is None else self.db.get(schema.db_block(h))

    def block(self, height: int) -> Block | None:
        h = self.block_hash(height)
        return None if h is None else self.block_by_hash(h)

    def tx_location(self, tx_hash: bytes) -> TxLocation | None:
        raw = self.db.get(schema.db_tx(tx_hash))
        return None if raw is None else TxLocation.decode(raw)

    def state_items(self) -> Iterator[tuple[bytes, bytes]]:
        n = len(schema.DB_STATE)
        for key, value in self.db.iterate(schema.DB_STATE):
            yield key[n:], value

    def write_block(
        self,
        block: Block,
        tx_hashes: list[bytes],
        state_changes: dict[bytes, bytes | None],
        receipts: list[Receipt] | None = None,
        genesis_bytes: bytes | None = None,
    ) -> None:
        """Persist `block` and its state changes in one atomic, synced batch."""
        h = block.hash
        with self.db.batch(sync=True) as batch:
            if genesis_bytes is not None:
                batch.put(schema.DB_GENESIS, genesis_bytes)
            batch.put(schema.db_block(h), block.encoded)
            batch.put(schema.db_header(h), block.header.encoded)
            batch.put(schema.db_height(block.height), h)
            # TxLocation(height, index, receipt).encoded, packed directly: most receipts are the
            # one shared SUCCESS, whose wire form is built once per block instead of per tx.
            receipt_wires: dict[int, list] = {}
            for index, tx_hash in enumerate(tx_hashes):
                receipt = receipts[index] if receipts else SUCCESS
                wire = receipt_wires.get(id(receipt))
                if wire is None:
                    wire = receipt_wires[id(receipt)] = receipt.to_wire()
                batch.put(schema.db_tx(tx_hash), pack([block.height, index, wire]))
            for key, value in state_changes.items():
                if value is None:
                    batch.delete(schema.db_state(key))
                else:
                    batch.put(schema.db_state(key), value)
            batch.put(schema.DB_HEAD, schema.u64(block.height) + h)
