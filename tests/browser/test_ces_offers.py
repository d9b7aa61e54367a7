"""The participant page's CES offers in headless Chromium against a live node running 004's CES
incentives contract with two offers to a household: the page lists them as the API has them,
with the household's set-points for today; Accept signed in the browser commits (the API then
says accepted), and an Accept the contract refuses (the household refused that offer meanwhile,
the page still showing it open) shows the contract's reason as an error."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from ledger.transactions import CertifyMarket
from pownode.client import request
from tests.browser.helpers import page_errors, text, until, visit
from tests.gateway import contracts

INPUTS = bytes(range(32))  # the sha256 of the solver's inputs, as the operator posts it


def _ct(milli: int) -> str:
    return f"{milli / 1000:,.3f}".rstrip("0").rstrip(".")


async def test_offers_are_listed_as_the_api_has_them_and_answered_from_the_page(tmp_path: Path, browser,
                                                                                 shots) -> None:
    async with contracts.community(tmp_path) as town:
        node, operator, household = town.node, town.key("operator"), town.key("client0")
        genesis = node.node.genesis
        ces = await contracts.deploy(node, operator, "ces_incentives")
        call = lambda key, fn, *args, **kw: contracts.call(node, ces, key, fn, *args, **kw)  # noqa: E731
        await call(operator, "setup", 168, 2, 3_000_000, operator.address)
        await call(operator, "fund", value=1_000_000)
        await call(operator, "enrol", household.address, 5)
        today = genesis.interval_of(node.node.chain.head.time_ms) * genesis.calendar_interval_ms // 86_400_000
        await call(operator, "equilibrium", today, INPUTS, household.address, [100, -50])
        await contracts.commit(node, operator, CertifyMarket(ces, 1))  # it offers only once certified
        now = genesis.interval_of(node.node.chain.head.time_ms)
        # 100 intervals (200 s) ahead: still open when the browser answers
        first, second = [await call(operator, "offer", household.address, now + 100 + k, 800 + k, 9_000, 1_000 + k)
                         for k in range(2)]
        for k in range(15):  # 17 offers: the first is on the page's second page ("more")
            await call(operator, "offer", household.address, now + 102 + k // 4, 500, 9_000, 1_000)
        path = f"/ces/{ces.hex()}/offers/{household.address.hex()}"
        before = await asyncio.to_thread(request, town.api, path)
        page = f"http://{town.api}/#/participant/{household.address.hex()}"
        listed = await asyncio.to_thread(_open_with_the_key, browser, page, ces.hex(), household.seed.hex())
        await call(household, "refuse", first)  # from elsewhere: the page still shows it open
        shown = await asyncio.to_thread(_answer, browser, ces.hex(), first, second, shots)
        after = await asyncio.to_thread(request, town.api, path)
    assert [o["id"] for o in before["offers"]][-2:] == [second, first] and len(before["offers"]) == 17  # newest first
    assert listed["rows"] == [
        [str(o["id"]), "open", f"{o['interval']:,}",
         datetime.fromtimestamp(o["interval_start_ms"] / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
         _ct(o["energy_wh"]), f"{_ct(o['dlmp'])} + {_ct(o['incentive'])}", _ct(o["payment_if_delivered"]), "—",
         "Accept\nRefuse"] for o in before["offers"][:16]], listed
    assert listed["setpoints"] == "100, -50"
    assert shown["stale"] == f"offer {first}: accept reverted: revert: the offer is not open" and shown["stale class"] == "bad"
    assert shown["accepted"].startswith(f"offer {second}: accept committed at height"), shown
    states = {o["id"]: o["state"] for o in after["offers"]}
    assert (states[first], states[second]) == ("refused", "accepted")
    assert listed["more"] == 17 and shown["state"] == "accepted"  # redrawn from the chain


def _rows(browser, table_id: str) -> list[list[str]]:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return [[td.text for td in row.find_elements("tag name", "td")]
                for row in browser.find_elements("css selector", f"#{table_id} tbody tr")]
    except StaleElementReferenceException:  # redrawn meanwhile
        return []


def _open_with_the_key(browser, page: str, ces: str, seed: str) -> dict:
    visit(browser, page)
    until(lambda: _rows(browser, f"ces-offers-{ces}"), "the CES offers")
    assert "import the key above" in _rows(browser, f"ces-offers-{ces}")[0][-1]
    browser.find_element("id", "key-input").send_keys(seed)
    browser.find_element("id", "key-import").click()
    until(lambda: browser.find_elements("css selector", f"#ces-offers-{ces} button.accept"), "the Accept buttons")
    found = {"rows": _rows(browser, f"ces-offers-{ces}"), "setpoints": text(browser, f"ces-setpoints-{ces}")}
    browser.find_element("id", f"ces-more-{ces}").click()  # the oldest offer is on the second page
    found["more"] = len(until(lambda: (lambda rows: rows if len(rows) > 16 else [])(_rows(browser, f"ces-offers-{ces}")),
                              "the next page of offers"))
    return found


def _answer(browser, ces: str, stale: int, fresh: int, shots: Path) -> dict:
    result, offers = f"ces-result-{ces}", f"ces-offers-{ces}"

    def accept(offer: int, what: str) -> str:
        browser.find_element("css selector", f"#{offers} tr[data-offer='{offer}'] button.accept").click()
        return until(lambda: (lambda t: t if t and "signing" not in t else "")(text(browser, result)), what)

    found = {"stale": accept(stale, "the contract's refusal")}
    found["stale class"] = browser.find_element("id", result).get_attribute("class")
    browser.execute_script(f"document.getElementById('ces-{ces}').scrollIntoView()")
    browser.save_screenshot(str(shots / "ces-offers.png"))
    found["accepted"] = accept(fresh, "the accepted offer's outcome")
    found["state"] = next(row[1] for row in _rows(browser, offers) if row[0] == str(fresh))
    assert not page_errors(browser)
    return found
