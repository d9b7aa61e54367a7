"""A committed block reaches listeners as typed events: the block with its receipts, then each
contract event in block and receipt order; the WebSocket's JSON is made from them in one place."""

from __future__ import annotations

from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.encoding import pack
from ledger.devnet import make_devnet
from ledger.receipts import OK, Event, Receipt
from ledger.transactions import Transaction, Transfer
from pownode.events import BlockCommitted, ContractEvent, EventBus, events_of, to_json
from vm import values


def test_a_block_and_its_events_in_order() -> None:
    net = make_devnet(label="events")
    chain = Chain(MemoryDB(), net.genesis)
    txs = [Transaction.create(net.users[0], net.genesis.chain_id, n, Transfer(net.users[1].address, 5), fee=1)
           for n in range(2)]
    block, dropped = chain.build_block(txs, net.validators[0].public_key, chain.head.time_ms + 1)
    assert not dropped
    chain.commit_block(net.seal(block))
    receipts = chain.receipts_of(block)
    assert len(receipts) == 2 and all(r.status == OK for r in receipts)
    ev = Event(b"\x01" * 20, "cleared", pack(values.to_wire([7, 8])))
    found = events_of(block, (receipts[0], Receipt(OK, 10, b"", "", (ev, ev))))
    assert isinstance(found[0], BlockCommitted) and found[0].tx_hashes == tuple(t.hash for t in txs)
    assert [type(e) for e in found[1:]] == [ContractEvent, ContractEvent]
    assert found[1].tx_hash == txs[1].hash and found[1].height == block.height
    assert to_json(found[0]) == {"type": "block", "height": block.height, "hash": block.hash.hex(), "view": None,
                                 "txs": [t.hash.hex() for t in txs]}  # no certificate: no view
    for view in (0, 3):  # the view it was committed in: its certificate's round
        assert to_json(events_of(net.seal(block, view), receipts)[0])["view"] == view
    assert to_json(found[1])["fields"] == [7, 8] and to_json(found[1])["topic"] == "cleared"


def test_the_bus_calls_listeners_in_order_and_unsubscribing_twice_is_harmless() -> None:
    bus, seen = EventBus(), []
    first, second = (lambda e: seen.append(("a", e))), (lambda e: seen.append(("b", e)))
    bus.subscribe(first)
    bus.subscribe(second)
    bus.publish([1, 2])  # type: ignore[list-item]
    assert seen == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    bus.unsubscribe(first)
    bus.unsubscribe(first)
    assert bus.listeners == (second,)


def test_a_failing_listener_holds_up_neither_the_others_nor_the_node() -> None:
    bus, seen = EventBus(), []

    def broken(event) -> None:
        raise RuntimeError("a bug in a subscriber")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish([1, 2])  # type: ignore[list-item]
    assert seen == [1, 2]
