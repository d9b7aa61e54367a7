"""Receipts: what a committed transaction did, and the hook through which contracts run.

The ledger must not import the VM (DESIGN.md layering), so it defines the small interface a
contract runtime implements (`ContractRuntime`) and the node assembles the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledger.encoding import ADDRESS, U8, U64, Bin, ListOf, Nested, Record, Text, record
from ledger.state import State

OK, FAILED = 0, 1


@record
class Event(Record):
    contract: bytes
    topic: str
    data: bytes  # canonical encoding of the event's fields
    SCHEMA = {"contract": ADDRESS, "topic": Text(64), "data": Bin(max_len=1024)}


@record
class Receipt(Record):
    status: int  # OK or FAILED (a failed contract call: effects reverted, fee charged)
    gas_used: int
    output: bytes  # canonical encoding of a contract call's return value, or a new contract's address
    reason: str
    events: tuple
    SCHEMA = {
        "status": U8,
        "gas_used": U64,
        "output": Bin(max_len=65536),
        "reason": Text(256),
        "events": ListOf(Nested(Event), 64),
    }


SUCCESS = Receipt(OK, 0, b"", "", ())


@dataclass(frozen=True)
class BlockContext:
    """What a transaction may know of its block. `interval` is the settlement interval the
    block's time falls in; interval k stands for the calendar time origin_ms + k * interval_ms
    (the genesis's calendar: its time and `interval_ms` unless the clock is compressed);
    `settled_cap_wh` bounds the energy a market may report as settled per address and
    interval."""

    height: int
    time_ms: int
    proposer: bytes
    interval: int = 0
    settled_cap_wh: int = 0
    interval_ms: int = 900_000
    origin_ms: int = 0
    skipped: tuple[bytes, ...] = ()  # validators ranked above the proposer (the header's bitmap)


class ContractRuntime(Protocol):
    def run(self, state: State, ctx: BlockContext, sender: bytes, body: Record) -> Receipt:
        """Execute a ContractDeploy or ContractCall whose fee and nonce are already applied.

        Must not raise for anything the contract does: a failure is a FAILED receipt, and the
        caller reverts the state changes made during `run`.
        """
