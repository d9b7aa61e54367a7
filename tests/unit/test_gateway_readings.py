"""What a meter publishes becomes a typed reading exactly (pownode's form and 003's), or is
refused with a reason; the outbox keeps one reading per interval and refuses a different one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.devnet import make_devnet
from pownode import answer_bounds
from pownode.gateway import broker_address
from pownode.gateway_outbox import Conflict, Outbox, Status
from pownode.gateway_readings import BadReading, MeterMessage, parse

GENESIS = make_devnet(label="gateway", params={"interval_ms": 900_000}).genesis
NOW = GENESIS.genesis_time_ms + 10 * 900_000 + 5  # inside interval 10


def _msg(doc) -> bytes:
    return json.dumps(doc).encode()


def test_both_forms_read_exactly() -> None:
    assert parse(_msg({"interval": 7, "produced_wh": 1200, "consumed_wh": 300}), GENESIS, NOW) == MeterMessage(7, 1200, 300)
    at = GENESIS.genesis_time_ms + 5 * 900_000 + 1
    assert parse(_msg({"time_ms": at, "produced_wh": 0, "consumed_wh": 1}), GENESIS, NOW).interval == 5
    import time

    date = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime((GENESIS.genesis_time_ms + 3 * 900_000) / 1000))
    siano = {"clientId": "01394u09", "reqId": "x", "date": date, "operation": "reading", "signature": "ab",
             "parameters": {"produced": {"unit": "kWh", "value": "0.1"}, "consumed": {"unit": "Wh", "value": 40},
                            "cpf": 0.72}}
    assert parse(_msg(siano), GENESIS, NOW) == MeterMessage(3, 100, 40, 0.72)  # "0.1" kWh is exactly 100 Wh


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (_msg({"interval": -1, "produced_wh": 1, "consumed_wh": 1}), "interval must be a non-negative integer"),
    (_msg({"interval": 1, "produced_wh": 1.5, "consumed_wh": 1}), "produced_wh must be an integer"),
    (_msg({"interval": 1, "produced_wh": 1 << 40, "consumed_wh": 1}), "produced_wh must be an integer from 0"),
    (_msg({"produced_wh": 1, "consumed_wh": 1}), "expected interval"),
    (_msg({"parameters": {}, "date": "yesterday"}), "date must be"),
    (_msg({"date": "2026-01-01 00:00:00", "parameters": {"produced": {"unit": "kWh", "value": "0.0001"},
                                                         "consumed": {"unit": "Wh", "value": 1}}}), "whole number of Wh"),
    (_msg({"date": "2026-01-01 00:00:00", "parameters": {"produced": {"unit": "MWh", "value": 1},
                                                         "consumed": {"unit": "Wh", "value": 1}}}), "unit must be"),
    (b"{" + b" " * 5000 + b"}", "at most 4096 bytes"),
    (b"[" * 2000, "not UTF-8 JSON"),  # nesting deeper than the JSON parser's recursion
    (_msg({"interval": 11, "produced_wh": 1, "consumed_wh": 1}), "has not ended"),
    (_msg({"interval": 10, "produced_wh": 1, "consumed_wh": 1}), "has not ended"),  # NOW is inside it
    (_msg({"time_ms": NOW, "produced_wh": 1, "consumed_wh": 1}), "has not ended"),
    (_msg({"interval": 2**64, "produced_wh": 1, "consumed_wh": 1}), "has not ended"),
    (_msg({"time_ms": 2**70, "produced_wh": 1, "consumed_wh": 1}), "expected interval"),
    (_msg({"date": "2026-01-01 00:00:00", "parameters": {"produced": {"unit": "kWh", "value": "1e999999"},
                                                         "consumed": {"unit": "Wh", "value": 1}}}), "not an exact"),
    (_msg({"date": "2026-01-01 00:00:00", "parameters": {
        "produced": {"unit": "kWh", "value": "1.00000000000000000000000000001"},
        "consumed": {"unit": "Wh", "value": 1}}}), "not a whole number|not an exact"),
    (_msg({"date": "2026-01-01 00:00:00", "parameters": {"produced": {"unit": "kWh", "value": "NaN"},
                                                         "consumed": {"unit": "Wh", "value": 1}}}), "whole number|exact"),
])
def test_bad_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(BadReading, match=reason):
        parse(payload, GENESIS, NOW)


def test_a_reading_is_taken_once_its_interval_has_ended_give_or_take_clock_skew() -> None:
    """The chain refuses a reading of an interval that has not ended (`reading-too-early`); the
    gateway refuses it first, so that no one who can publish on the topic claims the interval
    mid-way. A meter whose clock runs CLOCK_SKEW_MS ahead is still heard."""
    from pownode.gateway_readings import CLOCK_SKEW_MS, MAX_AGE_INTERVALS

    end_of_10 = GENESIS.interval_start_ms(11)
    reading = _msg({"interval": 10, "produced_wh": 1, "consumed_wh": 1})
    assert parse(reading, GENESIS, end_of_10).interval == 10
    assert parse(reading, GENESIS, end_of_10 - CLOCK_SKEW_MS).interval == 10
    with pytest.raises(BadReading, match="interval 10 has not ended"):
        parse(reading, GENESIS, end_of_10 - CLOCK_SKEW_MS - 1)
    two_weeks_on = GENESIS.interval_start_ms(10 + MAX_AGE_INTERVALS)
    assert parse(reading, GENESIS, two_weeks_on).interval == 10
    with pytest.raises(BadReading, match="not one the meter could have measured"):
        parse(reading, GENESIS, two_weeks_on + GENESIS.interval_ms)


def test_the_outbox_keeps_one_reading_per_interval(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.sqlite")
    assert box.add(MeterMessage(3, 10, 5)) and not box.add(MeterMessage(3, 10, 5))
    with pytest.raises(Conflict, match="already read as 10/5 Wh") as conflict:
        box.add(MeterMessage(3, 11, 5))
    assert conflict.value.alarm() == {"alarm": "conflicting-reading", "interval": 3,
                                      "kept": {"produced_wh": 10, "consumed_wh": 5},
                                      "refused": {"produced_wh": 11, "consumed_wh": 5}}
    box.signed(3, b"tx")
    box.close()
    again = Outbox(tmp_path / "outbox.sqlite")  # what a restarted gateway finds
    [entry] = again.pending()
    assert entry.tx == b"tx" and entry.status is Status.PENDING
    again.finish(3, Status.DONE, {"interval": 3})
    assert not again.pending() and [e.interval for e in again.unpublished()] == [3]
    again.mark_published(3)
    assert not again.unpublished()


def test_broker_urls() -> None:
    found = broker_address("mqtt://meter7@broker.local:8883", password="s3cret")
    assert (found.host, found.port, found.username, found.password) == ("broker.local", 8883, "meter7", "s3cret")
    assert broker_address("mqtt://10.0.0.5").port == 1883 and broker_address("mqtt://10.0.0.5").password is None
    with pytest.raises(ValueError, match="expected mqtt://"):
        broker_address("http://10.0.0.5:1883")


def test_no_payload_escapes_the_gateways_message_handler(tmp_path: Path) -> None:
    """Whatever arrives on the reading topic is kept or refused with a reason; nothing raises
    out of the handler (which would stop the gateway and redeliver the message forever)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ledger.keys import PrivateKey
    from pownode.gateway import Gateway, GatewayConfig, Refusal

    gateway = Gateway(GatewayConfig("127.0.0.1", 1883, "127.0.0.1:1", PrivateKey.from_label("fuzz"), tmp_path, "t"))
    gateway.genesis = GENESIS
    hostile = [b"[" * 3000, b'{"interval": 1e400, "produced_wh": 1, "consumed_wh": 1}',
               _msg({"interval": 2**80, "produced_wh": 1, "consumed_wh": 1}),
               _msg({"parameters": {"produced": {"unit": "kWh", "value": "9" * 39}}, "date": "2026-01-01 00:00:00"})]
    for payload in hostile:
        assert isinstance(gateway._on_message(payload), Refusal)

    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=12)

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                     st.fixed_dictionaries({"interval": json_values, "produced_wh": json_values,
                                            "consumed_wh": json_values}).map(lambda d: json.dumps(d).encode())))
    def check(payload: bytes) -> None:
        assert gateway._on_message(payload) is None or isinstance(gateway._on_message(payload), Refusal)

    check()


def test_a_node_that_breaks_the_http_protocol_only_makes_the_reading_wait(tmp_path: Path) -> None:
    """A connection closed mid-answer or garbage instead of HTTP is the node being unavailable
    (retried), never an error that stops the gateway; proxies in the environment are ignored."""
    import asyncio
    import os
    import socket
    import threading

    from pownode.gateway import NodeApi, NodeUnavailable

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    answers = [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":", b"garbage\r\n\r\n"]

    def serve() -> None:
        for answer in answers:
            conn, _ = server.accept()
            conn.recv(65536)
            conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    os.environ["http_proxy"] = "http://127.0.0.1:9"  # nothing listens there
    try:
        for _ in answers:
            with pytest.raises(NodeUnavailable):
                asyncio.run(NodeApi(f"127.0.0.1:{port}").call("GET", "/status", answer_bounds.ACCOUNT, timeout=5))
    finally:
        del os.environ["http_proxy"]
        server.close()


def test_a_light_gateway_keeps_a_reading_pending_when_the_node_cannot_prove_it(tmp_path: Path) -> None:
    """With a light client, a node's word that a reading committed is not enough: an answer that
    does not verify (here, headers certified by nobody) leaves the reading pending, unpublished."""
    import asyncio

    from ledger.keys import PrivateKey
    from ledger.transactions import MeterReading, Transaction
    from pownode.gateway import Gateway, GatewayConfig, NodeUnavailable
    from pownode.light import LightClient

    meter = PrivateKey.from_label("light-gateway-meter")
    gateway = Gateway(GatewayConfig("127.0.0.1", 1883, "127.0.0.1:1", meter, tmp_path, "t"))
    gateway.genesis = GENESIS
    tx = Transaction.create(meter, GENESIS.chain_id, 0, MeterReading(5, 100, 50))
    # The node "proves" the very transaction, at a height whose header it cannot give.
    proof = {"height": 1, "index": 0, "count": 1, "tx": tx.encoded.hex(), "tx_path": [], "receipt": "",
             "receipt_path": []}
    gateway.light = LightClient(GENESIS, lambda path, bound: {"headers": ["00" * 40]} if path.startswith("/headers") else proof)
    gateway.outbox.add(MeterMessage(5, 100, 50))
    [entry] = gateway.outbox.pending()
    with pytest.raises(NodeUnavailable, match="unverifiable"):
        asyncio.run(gateway._done(entry, tx, {"receipt": {"ok": True, "reason": "", "gas_used": 0, "output": ""},
                                              "height": 1}))
    assert [e.interval for e in gateway.outbox.pending()] == [5] and gateway.outbox.unpublished() == []
    gateway.outbox.close()


def test_a_window_answer_of_any_shape_is_reported_or_refused_never_raised() -> None:
    """Whatever a node answers for a market window, the household's view is built, or refused
    as not a window (the gateway logs it and goes on): no other exception escapes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from pownode.gateway_windows import NotAWindow, owners_page, owners_view

    me = bytes(range(20))
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=3), max_leaves=10)
    record = st.fixed_dictionaries({}, optional={"owner": st.just(me.hex()), "seller": st.just(me.hex()),
                                                  "buyer": json_values, "member": st.just(me.hex()),
                                                  "energy_wh": json_values, "payment": json_values})
    page = st.fixed_dictionaries({"status": st.sampled_from(["cleared", "settled", "open", 5]),
                                  "window": json_values | st.integers(0, 2**70),
                                  "result": json_values | st.fixed_dictionaries({"price": json_values,
                                                                                 "volume_wh": json_values}),
                                  "orders": json_values | st.lists(record, max_size=3),
                                  "trades": json_values | st.lists(record, max_size=3),
                                  "settlements": json_values | st.lists(record, max_size=3)})

    @settings(max_examples=300, deadline=None)
    @given(st.lists(page | json_values, min_size=1, max_size=3))
    def check(pages) -> None:
        try:
            report = owners_view(pages, me)
        except NotAWindow:
            with pytest.raises(NotAWindow):  # the household's records alone are refused alike
                owners_view([owners_page(p, me) for p in pages], me)
            return
        assert owners_view([owners_page(p, me) for p in pages], me) == report
        if report is not None:
            json.dumps(report.to_json())  # what is published is JSON

    check()
    good = {"status": "cleared", "window": 7, "result": {"price": 9_000, "volume_wh": 1_000}, "orders": [],
            "trades": [{"seller": me.hex(), "buyer": "ab" * 20, "energy_wh": 1_000, "payment": 9_000}], "settlements": []}
    assert owners_view([good], me).to_json()["received"] == 9_000
