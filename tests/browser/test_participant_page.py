"""The participant page in headless Chromium against a live node running a P2P market: a key
imported into the page signs a market order in the browser (WebCrypto Ed25519, the transaction
encoded in JavaScript) and it commits; the key never leaves the browser; a bad key, a number
out of range and an order the contract refuses each show their reason, and the page goes on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pownode.client import request
from tests.browser.helpers import page_errors, text, until, visit
from tests.gateway import contracts


async def test_an_order_signed_in_the_browser_commits_and_the_key_stays_there(tmp_path: Path, browser, shots) -> None:
    async with contracts.community(tmp_path) as town:
        node = town.node
        operator, buyer = town.key("operator"), town.key("client1")
        genesis = node.node.genesis
        # windows stay open for a minute (30 of 2 s), the browser's pace
        market = await contracts.p2p_market(node, operator, {buyer: 0}, span=30)
        window = genesis.interval_of(node.node.chain.head.time_ms) + 25
        page = f"http://{town.api}/#/participant/{buyer.address.hex()}/{market.hex()}"
        shown = await asyncio.to_thread(_post_from_the_page, browser, page, buyer.seed.hex(), window, shots)
        api = await asyncio.to_thread(request, town.api, f"/market/{market.hex()}/windows/{window}")
    assert shown["bad key"] == "a key's seed must be 32 bytes of hex"
    assert shown["signer"].startswith("yes")
    assert shown["bad price"] == "the price must be a number of ct/kWh, e.g. 14.5", shown
    assert shown["refused"] == "reverted: revert: window is not open", shown
    assert shown["demand price box"] is False
    assert shown["bad number"] == "the order id must be a whole number"
    assert shown["demand"].startswith("committed at height"), shown
    mine = [o for o in api["orders"] if o["owner"] == buyer.address.hex()]
    assert [(o["side"], o["energy_wh"], o["order_id"]) for o in mine] == [("demand", 1_200, 77)]
    assert shown["activity"] == 1
    assert not shown["seed sent"]


def _post_from_the_page(browser, page: str, seed: str, window: int, shots: Path) -> dict:
    from selenium.webdriver.support.ui import Select

    found: dict = {}
    browser.get_log("performance")  # start the network record here
    visit(browser, page)
    until(lambda: browser.find_elements("id", "key-input"), "the participant page")
    browser.find_element("id", "key-input").send_keys("not a key")
    browser.find_element("id", "key-import").click()
    found["bad key"] = until(lambda: text(browser, "key-error"), "the bad key's error")
    browser.find_element("id", "key-input").clear()
    browser.find_element("id", "key-input").send_keys(seed)
    browser.find_element("id", "key-import").click()
    until(lambda: browser.find_elements("id", "order-form"), "the order form, once the key is in the page")
    found["signer"] = text(browser, "signer-address")

    def send(target: int, side: str, energy: str, order_id: str, what: str, price: str | None = None) -> str:
        browser.execute_script("document.getElementById('order-result').textContent = '';")
        Select(browser.find_element("id", "order-side")).select_by_value(side)
        typed = [("order-window", str(target)), ("order-energy", energy), ("order-id", order_id)]
        for element_id, value in typed + ([("order-price", price)] if price is not None else []):
            box = browser.find_element("id", element_id)
            box.clear()
            box.send_keys(value)
        browser.find_element("id", "order-submit").click()
        return until(lambda: (lambda t: t if t and t != "signing and sending" else "")(text(browser, "order-result")), what)

    found["bad price"] = send(window, "1", "500", "75", "the bad price's error", price="abc")
    found["refused"] = send(window - 30, "0", "500", "76", "the refused order's reason")  # a window long closed
    found["demand price box"] = browser.find_element("id", "order-price").is_enabled()  # a merit demand takes the price
    found["bad number"] = send(window, "0", "1200", "99999999999999999999", "the bad number's error")
    found["demand"] = send(window, "0", "1200", "77", "the demand's outcome")
    found["activity"] = len(browser.find_elements("css selector", "#participant-activity tbody tr"))  # redrawn
    browser.save_screenshot(str(shots / "participant.png"))
    sent = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    found["seed sent"] = [m for m in sent if seed in json.dumps(m.get("params", {}).get("request", {}))]
    assert not page_errors(browser)
    return found
