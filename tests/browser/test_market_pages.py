"""The dashboard's market pages in headless Chromium against a live node running a P2P market
(one validator in the test's process, 2-second intervals): a cleared window shows the clearing
price, its trades and its curves as the API has them, the market's timeline lists it, and the
explorer shows the market as a contract."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from pownode.client import request
from tests.browser.helpers import page_errors, text, until, visit
from tests.gateway import contracts


async def test_a_cleared_window_shows_its_price_trades_and_curves_as_the_api_has_them(tmp_path: Path, browser,
                                                                                      shots) -> None:
    async with contracts.community(tmp_path) as town:
        node = town.node
        operator, seller, other, buyer = (town.key(k) for k in ("operator", "client0", "client2", "client1"))
        genesis = node.node.genesis
        market = await contracts.p2p_market(node, operator, {seller: 1, other: 1, buyer: 0})
        call = functools.partial(contracts.call, node, market)
        window = genesis.interval_of(node.node.chain.head.time_ms) + 3  # open (lead 1, span 3) while the orders commit
        await call(seller, "post", window, 1, 1_500, 8_000, 1)
        await call(other, "post", window, 1, 2_000, 12_000, 1)
        await call(buyer, "post", window, 0, 2_500, 0, 1)
        await contracts.until_interval(node, window)  # closed once its interval comes
        await call(operator, "clear", window, 4096)
        api = await asyncio.to_thread(request, town.api, f"/market/{market.hex()}/windows/{window}")
        # The browser runs in a thread: this loop keeps serving the node's API meanwhile.
        shown = await asyncio.to_thread(_window_page, browser, town.api, market.hex(), window, shots)
        timeline = await asyncio.to_thread(_market_page, browser, town.api, market.hex(), window, shots)
    price = api["result"]["price"]
    assert shown["price"] == f"{price / 1000:,.3f}".rstrip("0").rstrip(".") + " ct/kWh"
    assert shown["status"] == "cleared" and shown["curves"] == 2
    assert shown["trades"] == [f"{t['energy_wh'] / 1000:g}" for t in api["trades"]] and len(api["trades"]) >= 1
    assert timeline == "cleared"


def _window_page(browser, api: str, market: str, window: int, shots: Path) -> dict:
    visit(browser, f"http://{api}/#/market/{market}/{window}")
    until(lambda: text(browser, "window-status") == "cleared", "the window's page")
    found = {"status": text(browser, "window-status"), "price": text(browser, "window-price"),
             "curves": len(browser.find_elements("css selector", "#curves polyline")),
             "trades": [row.find_elements("tag name", "td")[3].text
                        for row in browser.find_elements("css selector", "#trades tbody tr")]}
    browser.save_screenshot(str(shots / "market-window.png"))
    assert not page_errors(browser)
    return found


def _market_page(browser, api: str, market: str, window: int, shots: Path) -> str:
    visit(browser, f"http://{api}/#/market/{market}")
    until(lambda: browser.find_elements("css selector", "#windows tbody tr"), "the market's timeline")
    status = ""
    for row in browser.find_elements("css selector", "#windows tbody tr"):
        cells = [td.text for td in row.find_elements("tag name", "td")]
        if cells[0] == str(window):
            status = cells[2]
    browser.save_screenshot(str(shots / "market.png"))
    assert text(browser, "market-par")  # the KPIs hold the grid's peak-to-average ratio
    visit(browser, f"http://{api}/#/account/{market}")  # the explorer knows a contract from an account
    until(lambda: "bytes of code" in text(browser, "account-contract"), "the contract's page")
    assert not page_errors(browser)
    return status


async def test_a_market_opening_windows_far_ahead_shows_a_bounded_timeline(tmp_path: Path, browser) -> None:
    """Any member may set up a market whose orders open 10**9 windows ahead: its page shows the
    windows around now (eight past, at most 32 ahead) instead of asking for every one."""
    async with contracts.community(tmp_path) as town:
        market = await contracts.p2p_market(town.node, town.key("operator"), {}, span=10**6, lead=10**9)
        rows = await asyncio.to_thread(_timeline_rows, browser, town.api, market.hex())
    assert 1 <= rows <= 8 + 1 + 32


def _timeline_rows(browser, api: str, market: str) -> int:
    visit(browser, f"http://{api}/#/market/{market}")
    until(lambda: browser.find_elements("css selector", "#windows tbody tr"), "the market's timeline")
    assert not page_errors(browser)
    return len(browser.find_elements("css selector", "#windows tbody tr"))
