"""The one interface between consensus and the state machine (in the spirit of CometBFT's ABCI).

Engines call these methods and nothing else of the application: they never see the market,
the VM or the database. `ledger.application.LedgerApp` implements it; so can any deterministic
state machine. Every method is deterministic given the committed chain, except `propose`, whose
choice of transactions is the proposer's own.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from ledger.blocks import Block, Header
from ledger.transactions import Transaction


class Application(Protocol):
    @property
    def chain_id(self) -> str: ...

    def last_header(self) -> Header:
        """The header of the last committed block (height 0 is genesis)."""

    def validators(self) -> list[tuple[bytes, int]]:
        """(public key, voting power) of the validators for the next block, in key order."""

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        """Build the next block's contents from pending transactions (proof left empty);
        `skipped` are the validators ranked above `proposer` this height, which the block
        records (`Header.skipped`) for leader reputation."""

    def validate(self, block: Block) -> None:
        """Raise `ledger.errors.InvalidBlock` unless `block` validly extends the last header."""

    def pending_txs(self, tx_hashes: Iterable[bytes]) -> list[Transaction | None]:
        """The pending transactions with these hashes, None for each one not held: what a
        replica fills a compact proposal from."""

    def commit(self, block: Block) -> bytes:
        """Execute and persist a block whose proof the engine has checked; return its state root."""

    def block_at(self, height: int) -> Block | None:
        """A committed block with its proof."""

    def block_bytes_at(self, height: int) -> bytes | None:
        """A committed block with its proof as stored (its canonical encoding), to serve
        replicas that fell behind without decoding it."""

    def ready_requests(self) -> list[bytes]:
        """Hashes of pending transactions a fair proposer would include in the next block: valid
        against the committed state and next in line for their senders (PBFT's requests)."""

    def is_full(self, block: Block) -> bool:
        """Whether `block` left no room (transactions it left out were a backlog, not censored)."""

    def always_due(self, request: bytes) -> bool:
        """Whether a proposer owes this pending request a place whatever its blocks' fullness: a
        meter reading (free, few, and what markets settle on and Proof of Energy elects by; a
        fair proposer takes them first). Full blocks do not excuse leaving one out."""

    # --- chain-state queries for proposer election ----------------------------------------

    def int_param(self, name: str, default: int) -> int: ...

    def str_param(self, name: str, default: str) -> str: ...

    def proposer_history(self, validator: bytes) -> tuple[int, int]:
        """(last height proposed or 0, blocks proposed) for a validator."""

    def skip_record(self, validator: bytes) -> tuple[int, int] | None:
        """(last height passed over, heights passed over since it last proposed), or None."""

    def traded_wh(self, validator: bytes) -> int:
        """Energy traded by the validator's account (PoS voting token E)."""

    def interval_energy(self, validator: bytes, interval: int) -> tuple[int, int] | None:
        """(produced Wh, consumed Wh) over `interval` from the validator's certified meters, or
        None unless every one of them certified for the interval reported it."""
