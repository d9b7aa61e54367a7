"""The dashboard in a real browser: headless Chromium (Debian's chromium and chromium-driver,
through Selenium) against a live 4-node cluster. The overview follows the chain without a
reload, the explorer finds a committed transaction and its block as the API has them, the meters
page lists the registry and an interval's readings as the API does, bad input shows an error
instead of breaking the page, nothing breaks the content security policy, and a phone's width
needs no sideways scrolling. Screenshots of each page go to $POWNODE_SCREENSHOTS (the README's
are made so) or to the test's temporary folder.
"""

from __future__ import annotations

import time

import pytest

from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import MeterReading, Transaction, Transfer
from pownode import cluster
from pownode.client import request
from pownode.keyfile import read_key
from tests.browser.helpers import page_errors, text, until, visit
from tests.cluster.test_local_cluster import _free_base


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """A 4-node pbft cluster whose households have meters; yields (home, API address, genesis)."""
    home = tmp_path_factory.mktemp("dashboard") / "net"
    procs = []
    try:
        cluster.start(home, 4, "pbft", _free_base(8), procs, client_meters=True)
        cluster.wait_in_step(home, procs=procs, timeout_s=120)
        api = cluster.addresses(home)[0][1]
        yield home, api, Genesis.from_json(request(api, "/genesis"))
    finally:
        cluster.stop(procs)


def _send(api: str, genesis: Genesis, key: PrivateKey, body, fee: int) -> tuple[str, int]:
    nonce = request(api, f"/accounts/{key.address.hex()}")["nonce"]
    tx = Transaction.create(key, genesis.chain_id, nonce, body, fee=fee)
    result = request(api, "/txs?wait=commit", {"txs": [tx.encoded.hex()]}, timeout=60)["results"][0]
    assert result["accepted"] and result["durable"], result
    return tx.hash.hex(), request(api, f"/txs/{tx.hash.hex()}")["height"]


def _column(browser, table_id: str, column: int) -> list[str]:
    """A column of a table the page may be redrawing (empty while it does)."""
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return [row.find_elements("tag name", "td")[column].text
                for row in browser.find_elements("css selector", f"#{table_id} tbody tr")]
    except StaleElementReferenceException:
        return []


def test_the_overview_follows_the_chain_without_a_reload(chain, browser, shots) -> None:
    home, api, genesis = chain
    visit(browser, f"http://{api}/")
    until(lambda: text(browser, "height").replace(",", "").isdigit(), "the overview shows a height")
    browser.execute_script("window.notReloaded = true;")
    client = read_key(home / "clients" / "client0.key")
    _, height = _send(api, genesis, client, Transfer(PrivateKey.from_label("payee").address, 5), fee=1)
    until(lambda: int(text(browser, "height").replace(",", "") or 0) >= height, f"the overview reaches {height}")
    assert browser.execute_script("return window.notReloaded === true;")  # live, through the WebSocket
    assert text(browser, "live") == "live"
    names = until(lambda: _column(browser, "validators", 0), "the validators")
    assert sorted(names) == ["node0", "node1", "node2", "node3"]
    assert browser.find_elements("css selector", "#tx-chart polyline")
    # The election's first-ranked validator proposes the next block, unless the block records it
    # as passed over (a view change, which a slow machine can cause).
    election = request(api, "/election")
    next_height, first = election["height"], election["ranking"][0]["public_key"]
    until(lambda: int(text(browser, "height").replace(",", "") or 0) >= next_height, f"block {next_height}")
    block = request(api, f"/blocks/{next_height}")
    keys = sorted(v["public_key"] for v in request(api, "/validators")["validators"])
    skipped, i = bytes.fromhex(block["skipped"]), keys.index(first)
    assert block["proposer"] == first or (i // 8 < len(skipped) and skipped[i // 8] >> (7 - i % 8) & 1)
    ranks = until(lambda: _column(browser, "validators", 5), "the validators' ranks")
    assert sorted(ranks) == ["1", "2", "3", "4"]
    browser.save_screenshot(str(shots / "overview.png"))
    assert not page_errors(browser)


def test_the_explorer_finds_a_transaction_and_its_block_as_the_api_has_them(chain, browser, shots) -> None:
    home, api, genesis = chain
    client = read_key(home / "clients" / "client1.key")
    tx_hash, height = _send(api, genesis, client, Transfer(PrivateKey.from_label("payee").address, 7), fee=1)
    visit(browser, f"http://{api}/")
    box = until(lambda: browser.find_element("id", "search-input"), "the search box")
    box.send_keys(tx_hash)
    browser.find_element("css selector", "#search button").click()
    until(lambda: text(browser, "tx-status") == "committed", "the transaction's page")
    assert text(browser, "tx-height").replace(",", "") == str(height) and text(browser, "tx-outcome") == "ok"
    browser.save_screenshot(str(shots / "transaction.png"))
    browser.find_element("css selector", "#tx-height a").click()
    block = request(api, f"/blocks/{height}")
    until(lambda: text(browser, "block-hash") == block["hash"], "the block's page")
    assert tx_hash in [a.text for a in browser.find_elements("css selector", "#block-txs a")]
    assert f"signed by {len(block['proof']['signers'])}" in text(browser, "block-signers")
    browser.save_screenshot(str(shots / "block.png"))
    assert not page_errors(browser)


def test_a_page_asked_for_during_a_slow_overview_is_not_drawn_over(chain, browser) -> None:
    """A search while the overview is still drawing (a busy node answers its many requests
    slowly): the overview must not replace the page asked for when it finishes. Its /election
    request is held until the transaction's page has been drawn, so the order is certain."""
    home, api, genesis = chain
    client = read_key(home / "clients" / "client1.key")
    tx_hash, _ = _send(api, genesis, client, Transfer(PrivateKey.from_label("payee").address, 7), fee=1)
    visit(browser, f"http://{api}/")
    until(lambda: browser.find_elements("id", "recent-blocks"), "the overview")
    browser.execute_script("""
        const drawn = show;
        window.txDrawn = false;
        window.overviewDrawnAfter = false;
        show = function (...children) {
          drawn(...children);
          if (document.getElementById("tx-status")) window.txDrawn = true;
          else if (window.txDrawn && document.getElementById("recent-blocks")) window.overviewDrawnAfter = true;
        };
        const fetched = window.fetch;
        const afterTx = () => new Promise((go) => { const look = () => window.txDrawn ? go() : setTimeout(look, 20); look(); });
        window.fetch = (path, options) => String(path).startsWith("/election") ? afterTx().then(() => fetched(path, options))
                                                                               : fetched(path, options);
        location.hash = "#/";
        setTimeout(() => { location.hash = "#/tx/" + arguments[0]; }, 0);
    """, tx_hash)
    until(lambda: browser.execute_script("return window.overviewDrawnAfter"), "the slow overview finishing")
    until(lambda: text(browser, "tx-status") == "committed", "the transaction's page drawn again")


def test_the_meters_page_lists_the_registry_and_an_intervals_readings(chain, browser, shots) -> None:
    home, api, genesis = chain
    interval = genesis.interval_of(int(time.time() * 1000)) - 1
    meter = read_key(home / "meters" / "client2.key")
    _send(api, genesis, meter, MeterReading(interval, 1_234, 567), fee=0)
    visit(browser, f"http://{api}/#/meters/{interval}")
    until(lambda: browser.find_elements("css selector", "#readings tbody tr"), "the interval's readings")
    certified = request(api, "/meters")["meters"]
    rows = browser.find_elements("css selector", "#meters-certified tbody tr")
    assert sorted(r.find_elements("tag name", "td")[0].text for r in rows) == sorted(m["serial"] for m in certified)
    assert text(browser, "meters-revoked-none")  # none revoked, said apart from the certified ones
    cells = [td.text for td in browser.find_elements("css selector", "#readings tbody tr td")]
    assert cells[2:] == ["1,234", "567"]
    browser.save_screenshot(str(shots / "meters.png"))
    assert not page_errors(browser)


def test_bad_input_shows_an_error_and_the_page_goes_on(chain, browser) -> None:
    _, api, _ = chain
    visit(browser, f"http://{api}/")
    until(lambda: text(browser, "height"), "the overview")
    for bad, expected in (("not a hash", "is not a block height"), ("f" * 64, "unknown to this node"),
                          ("99999999", "no block at height")):
        box = browser.find_element("id", "search-input")
        box.clear()
        box.send_keys(bad)
        browser.find_element("css selector", "#search button").click()
        until(lambda: expected in text(browser, "error"), f"an error for {bad!r}")
    visit(browser, f"http://{api}/#/tx/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    until(lambda: "no such page" in text(browser, "error"), "an error for a forged route")
    assert not browser.find_elements("css selector", "#view img")  # shown as text, never as markup
    visit(browser, f"http://{api}/#/block/1")
    until(lambda: text(browser, "block-hash"), "a good page after the bad ones")
    assert not page_errors(browser)


def test_a_phone_needs_no_sideways_scrolling(chain, browser, shots) -> None:
    _, api, _ = chain
    browser.set_window_size(390, 844)
    try:
        for page in ("", "#/meters", "#/block/1"):
            visit(browser, f"http://{api}/{page}")
            until(lambda: browser.find_elements("css selector", "#view table, #view dl"), f"page {page or 'overview'}")
            assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1;"), page
        visit(browser, f"http://{api}/")
        until(lambda: text(browser, "height"), "the overview")
        browser.save_screenshot(str(shots / "overview-phone.png"))
    finally:
        browser.set_window_size(1280, 1000)
