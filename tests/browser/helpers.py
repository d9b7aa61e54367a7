"""What the dashboard's tests ask of a page: an element's text, a condition within a deadline,
and the browser's errors."""

from __future__ import annotations

from tests.cluster.test_local_cluster import _wait

DEADLINE_S = 60


def text(driver, element_id: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return driver.find_element("id", element_id).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def until(predicate, what: str):
    return _wait(predicate, DEADLINE_S, what)


def page_errors(driver) -> list[str]:
    """The browser's severe log lines, less the API's own 4xx answers (expected for bad input)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "the server responded with a status of 4" not in e["message"]]


def visit(driver, url: str) -> None:
    """Open `url` in a fresh page: the previous page (perhaps another test's node, now stopped)
    and its log lines are left behind."""
    driver.get("about:blank")
    driver.get_log("browser")
    driver.get(url)
