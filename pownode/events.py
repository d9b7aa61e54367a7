"""What a node tells its listeners (the API's WebSocket and waits, an embedding program): typed
events, published once per committed block, carrying what they are about.

A committed block comes with its receipts, in block order, straight from the chain's commit, so
no listener reads them back from disk; its contract events follow, one each. Listeners are
called on the node's loop, in subscription order, and must not block; one that raises is
logged, and the others and the node go on. `to_json` is the one
place an event becomes the JSON the WebSocket streams (`text`, encoded once per event).

A member's transaction may emit 64 events of 1,024 bytes, some 8 KB of JSON each, and a block of
100 M gas some 25 MB of them. An event over EVENT_STREAM_BYTES of JSON is streamed as a stub that
names it (block height, transaction hash, its index in the receipt, its size), which a client
fetches with `GET /txs/{hash}`; and the WebSocket streams a block's events only if they fit its
budget (`BlockCommitted.events_fit`; `pownode.api`), else one `events-elided` message.
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


EVENT_STREAM_BYTES = 2048  # an event's JSON streamed whole; a larger one is streamed as a stub


@dataclass(frozen=True)
class ContractEvent(_Streamed):
    height: int
    tx_hash: bytes
    index: int  # in its transaction's receipt
    event: Event

    @cached_property
    def text(self) -> str:
        """The event's JSON, or its stub when that is over EVENT_STREAM_BYTES."""
        whole = json.dumps(to_json(self))
        if len(whole) <= EVENT_STREAM_BYTES:
            return whole
        return json.dumps({"type": "event-stub", "height": self.height, "tx": self.tx_hash.hex(),
                           "index": self.index, "bytes": len(whole)})


@dataclass(frozen=True)
class BlockCommitted(_Streamed):
    block: Block  # with its proof
    receipts: tuple[Receipt, ...]  # one per transaction, in block order
    events: tuple[ContractEvent, ...] = ()  # its transactions' events, in order

    @property
    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(tx.hash for tx in self.block.txs)

    def events_fit(self, budget: int) -> bool:
        """Whether its events stream (`text`: stubs for large ones) in `budget` bytes. Counted
        once per budget for all subscribers, and only up to the budget: a block of a million
        small events costs the loop the encoding of a budget's worth, not of all of them."""
        fit = self.__dict__.setdefault("_fit", {})
        if budget not in fit:
            total = 0
            for event in self.events:
                total += len(event.text)
                if total > budget:
                    break
            fit[budget] = total <= budget
        return fit[budget]

    @cached_property
    def elided_text(self) -> str:
        """What is streamed instead of its events when they are over a subscriber's budget."""
        return json.dumps({"type": "events-elided", "height": self.block.height, "events": len(self.events)})


NodeEvent = Union[BlockCommitted, ContractEvent]
Listener = Callable[[NodeEvent], None]


def events_of(block: Block, receipts: tuple[Receipt, ...]) -> list[NodeEvent]:
    """The block, then every event its transactions' receipts hold, in order."""
    events = tuple(ContractEvent(block.height, tx.hash, i, ev)
                   for tx, receipt in zip(block.txs, receipts) for i, ev in enumerate(receipt.events))
    return [BlockCommitted(block, receipts, events), *events]


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
