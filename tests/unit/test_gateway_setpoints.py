"""A node's answer about a household's obligations becomes typed set-points exactly, or is refused
as a whole: answers about someone else, sums that are not their rounds', rounds outside the page
or twice, junk of any shape. The outbox keeps a set-point until it is published."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.devnet import make_devnet
from ledger.keys import PrivateKey
from pownode.gateway import Gateway, GatewayConfig
from pownode.gateway_outbox import Outbox
from pownode.gateway_setpoints import NotObligations, mean_power_w, parse_page, set_points

GENESIS = make_devnet(label="gateway-setpoints", params={"interval_ms": 900_000}).genesis
ME = bytes(range(20))


def _page(**changes) -> dict:
    doc = {"contract": "ab" * 20, "owner": ME.hex(), "from": 10, "last_round": 7, "more": False, "intervals": [
        {"interval": 12, "export_wh": 2_000, "import_wh": 1_000, "rounds": [
            {"round": 12, "order": 0, "side": "import", "accepted_wh": 1_000, "price": 16_000, "status": "closed"},
            {"round": 7, "order": 0, "side": "export", "accepted_wh": 500, "price": 14_000, "status": "closed"},
            {"round": 7, "order": 1, "side": "export", "accepted_wh": 1_500, "price": 9_000, "status": "closed"}]},
        {"interval": 13, "export_wh": 0, "import_wh": 300, "rounds": [
            {"round": 100, "order": 3, "side": "import", "accepted_wh": 300, "price": 12_000, "status": "closed"}]}]}
    return {**doc, **changes}


def test_an_answer_becomes_one_set_point_per_delivery_interval() -> None:
    page = parse_page(_page(), ME, 10, None)
    assert page.last_round == 7 and page.more is False
    first, second = set_points(page.obligations, GENESIS)
    start = GENESIS.interval_start_ms(12)
    assert first.to_json() == {
        "interval": 12, "start_ms": start, "end_ms": start + 900_000, "export_wh": 2_000, "import_wh": 1_000,
        "net_export_wh": 1_000, "power_w": 4_000,  # 1,000 Wh in a quarter hour
        "rounds": [{"round": 7, "order": 0, "side": "export", "accepted_wh": 500, "price": 14_000, "status": "closed"},
                   {"round": 7, "order": 1, "side": "export", "accepted_wh": 1_500, "price": 9_000,
                    "status": "closed"},
                   {"round": 12, "order": 0, "side": "import", "accepted_wh": 1_000, "price": 16_000,
                    "status": "closed"}]}
    assert (second.interval, second.net_export_wh, second.power_w) == (13, -300, -1_200)


def test_mean_power_rounds_half_away_from_zero() -> None:
    two_hours = 7_200_000
    assert [mean_power_w(wh, two_hours) for wh in (0, 1, 2, -1, -2, 7)] == [0, 1, 1, -1, -1, 4]  # 3.5 W -> 4


def _without_rounds(doc: dict) -> dict:
    doc["intervals"][1]["rounds"] = []
    return doc


def _twice(doc: dict) -> dict:
    doc["intervals"][1]["rounds"] = doc["intervals"][0]["rounds"][-1:]
    doc["intervals"][1].update(export_wh=1_500, import_wh=0)
    return doc


def _one_round(accepted_wh: int = 1_000, price: int = 9_000, interval: int = 12, orders: int = 1) -> dict:
    rounds = [{"round": 7, "order": k, "side": "export", "accepted_wh": accepted_wh, "price": price,
               "status": "closed"} for k in range(orders)]
    return _page(intervals=[{"interval": interval, "export_wh": accepted_wh * orders, "import_wh": 0,
                             "rounds": rounds}])


def test_what_the_aggregator_contract_can_accept_is_taken() -> None:
    """The bounds below are the contract's own: at them, the answer is read."""
    page = parse_page(_one_round(accepted_wh=(1 << 24) - 1, price=(1 << 31) - 1, interval=10 + 2 * 96, orders=4),
                      ME, 10, None)
    [point] = set_points(page.obligations, GENESIS)
    assert point.export_wh == 4 * ((1 << 24) - 1) and point.interval == 10 + 2 * 96


@pytest.mark.parametrize("hostile", [
    _page(owner="cd" * 20),  # about someone else
    _page(**{"from": 9}),  # from another interval than asked
    _page(more=True, last_round=None),  # more to come, from nowhere
    _page(last_round=100),  # round 12 is after round 100 in key order: not in this page
    _page(more="yes"),
    _without_rounds(_page()),
    _twice(_page()),
    {**_page(), "intervals": [{**_page()["intervals"][0], "export_wh": 2_001}]},  # not the sum of its rounds
    {**_page(), "intervals": [{**_page()["intervals"][1], "interval": 9}]},  # before "from"
    {**_page(), "intervals": [{**_page()["intervals"][1], "rounds": [
        {**_page()["intervals"][1]["rounds"][0], "status": "open"}]}]},  # an open round obliges no one
    {**_page(), "intervals": [{**_page()["intervals"][1], "import_wh": True, "rounds": [
        {**_page()["intervals"][1]["rounds"][0], "accepted_wh": True}]}]},  # a bool is not a count
    # More than the aggregator contract can accept: an order above 2**24 Wh, a price of 2**31,
    # a delivery beyond its horizon (96 intervals, doubled for the gateway's clock), five orders
    # of one household in a round (it may answer four times).
    _one_round(accepted_wh=1 << 24),
    _one_round(price=1 << 31),
    _one_round(interval=10 + 2 * 96 + 1),
    _one_round(orders=5),
])
def test_answers_that_do_not_add_up_are_refused(hostile: dict) -> None:
    with pytest.raises(NotObligations):
        parse_page(hostile, ME, 10, None)


def test_a_page_must_go_on_after_the_previous_one() -> None:
    """A node answering the same page again (or an earlier one) would keep the gateway reading."""
    with pytest.raises(NotObligations):
        parse_page(_page(more=True), ME, 10, 7)
    assert parse_page(_page(last_round=8, intervals=[]), ME, 10, 7).last_round == 8


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=10)


def _mutated(level: int, field: str, value: object) -> dict:
    """A well-formed page with one field set to `value`: of the page (level 0), of its first
    interval (1), or of that interval's first round (2)."""
    doc = _page()
    at = [doc, doc["intervals"][0], doc["intervals"][0]["rounds"][0]][level]
    at[field] = value
    return doc


FIELDS = st.sampled_from(["owner", "from", "intervals", "last_round", "more", "interval", "export_wh", "import_wh",
                          "rounds", "round", "order", "side", "accepted_wh", "price", "status"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, st.builds(_mutated, st.integers(0, 2), FIELDS, json_values | st.integers(0, 200))),
       st.none() | st.integers(0, 200))
def test_any_answer_is_parsed_or_refused_never_raised(doc: object, after: int | None) -> None:
    try:
        page = parse_page(doc, ME, 10, after)
    except NotObligations:
        return
    points = set_points(page.obligations, GENESIS)
    assert all(p.export_wh + p.import_wh == sum(r.accepted_wh for r in p.rounds) for p in points)


def test_the_outbox_keeps_a_set_point_until_published_and_again_when_it_changes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    report = {"interval": 12, "net_export_wh": 1_000}
    assert outbox.setpoints.keep(12, report) and not outbox.setpoints.keep(12, report)
    outbox.close()
    outbox = Outbox(tmp_path / "outbox.sqlite")  # a restarted gateway: still to publish
    assert outbox.setpoints.unpublished() == [(12, report)] and outbox.windows.unpublished() == []
    changed = {**report, "net_export_wh": 1_500}
    assert outbox.setpoints.keep(12, changed)
    outbox.setpoints.mark_published(12, report)  # the earlier one went out: the change still must
    assert outbox.setpoints.unpublished() == [(12, changed)]
    outbox.setpoints.mark_published(12, changed)
    assert outbox.setpoints.unpublished() == [] and not outbox.setpoints.keep(12, changed)
    outbox.close()


def test_a_hostile_node_leaves_the_gateway_running_and_publishing_nothing(tmp_path: Path) -> None:
    """Over real HTTP: a node whose every answer is a malformed page is refused (logged), the
    scan returns, and no set-point is kept."""
    answer = json.dumps(_page(owner="cd" * 20)).encode()

    class Hostile(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    gateway = Gateway(GatewayConfig("127.0.0.1", 1883, f"127.0.0.1:{server.server_address[1]}",
                                    PrivateKey.from_label("hostile"), tmp_path, "t", owner=ME, aggregator=b"\x01" * 20))
    gateway.genesis = GENESIS
    try:
        asyncio.run(gateway._scan_setpoints())
        assert gateway.outbox.setpoints.unpublished() == []
    finally:
        server.shutdown()
        gateway.outbox.close()

