"""What a node tells its listeners (the API's WebSocket and waits, an embedding program): typed
events, published once per committed block, carrying what they are about.

A committed block comes with its receipts, in block order, straight from the chain's commit, so
no listener reads them back from disk; its contract events follow, one each. Listeners are
called on the node's loop, in subscription order, and must not block; one that raises is
logged, and the others and the node go on. `to_json` is the one
place an event becomes the JSON the WebSocket streams (`text`, encoded once per event).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Union

from ledger.blocks import Block, Header, QuorumCertificate
from ledger.errors import DecodeError
from ledger.receipts import Event, Receipt
from vm import values

log = logging.getLogger("pownode.events")

class _Streamed:
    @cached_property
    def text(self) -> str:
        """The event as the WebSocket's JSON text (`to_json`), made once however many subscribers
        stream it: a subscriber costs the node a copy into its queue, not an encoding."""
        return json.dumps(to_json(self))  # type: ignore[arg-type]


@dataclass(frozen=True)
class BlockCommitted(_Streamed):
    block: Block  # with its proof
    receipts: tuple[Receipt, ...]  # one per transaction, in block order

    @property
    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(tx.hash for tx in self.block.txs)


@dataclass(frozen=True)
class ContractEvent(_Streamed):
    height: int
    tx_hash: bytes
    event: Event


NodeEvent = Union[BlockCommitted, ContractEvent]
Listener = Callable[[NodeEvent], None]


def events_of(block: Block, receipts: tuple[Receipt, ...]) -> list[NodeEvent]:
    """The block, then every event its transactions' receipts hold, in order."""
    out: list[NodeEvent] = [BlockCommitted(block, receipts)]
    for tx, receipt in zip(block.txs, receipts):
        out += [ContractEvent(block.height, tx.hash, ev) for ev in receipt.events]
    return out


def contract_event_json(ev: Event) -> dict:
    """A contract event as JSON: its contract, topic and decoded fields."""
    return {"contract": ev.contract.hex(), "topic": ev.topic, "fields": values.to_json(values.decode(ev.data))}


def commit_view(header: Header) -> int | None:
    """The view a block was committed in (its certificate's round; above 0 after a view change),
    None for a header without a readable certificate (the genesis)."""
    try:
        return QuorumCertificate.decode(header.proof).round if header.proof else None
    except DecodeError:
        return None


def to_json(event: NodeEvent) -> dict:
    if isinstance(event, BlockCommitted):
        return {"type": "block", "height": event.block.height, "hash": event.block.hash.hex(),
                "view": commit_view(event.block.header), "txs": [h.hex() for h in event.tx_hashes]}
    return {"type": "event", "height": event.height, "tx": event.tx_hash.hex(), **contract_event_json(event.event)}


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Idempotent: a listener may have removed itself (a slow WebSocket) already."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __bool__(self) -> bool:
        return bool(self._listeners)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return tuple(self._listeners)

    def publish(self, events: list[NodeEvent]) -> None:
        """Each listener gets every event in order; one that raises is logged and skipped for
        the rest of these events, and neither the other listeners nor the node's commit are
        held up by it."""
        for listener in list(self._listeners):
            try:
                for event in events:
                    listener(event)
            except Exception:
                log.exception("an event listener failed")
