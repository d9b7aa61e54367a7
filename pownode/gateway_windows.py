"""A household's view of a market window, which its gateway publishes on `TOPIC/window`: the
clearing price and volume, the household's own orders and trades, and, once the window is
settled against the meters, its settlement line (the metered difference from what it traded,
paid or charged). Built from a node's market API answers for the window (`pownode.market_api`),
all of its pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

REPORTED = ("cleared", "settled")  # a window is reported once cleared, and again once settled


@dataclass(frozen=True)
class WindowReport:
    window: int
    status: str
    price: int  # milli-cents per kWh
    volume_wh: int
    orders: tuple[dict, ...]
    trades: tuple[dict, ...]  # the household's: each with "side" sold or bought
    settlement: dict | None

    def to_json(self) -> dict:
        return {"window": self.window, "status": self.status, "price": self.price, "volume_wh": self.volume_wh,
                "orders": list(self.orders), "trades": list(self.trades), "settlement": self.settlement,
                "sold_wh": sum(t["energy_wh"] for t in self.trades if t["side"] == "sold"),
                "bought_wh": sum(t["energy_wh"] for t in self.trades if t["side"] == "bought"),
                "received": sum(t["payment"] for t in self.trades if t["side"] == "sold"),
                "paid": sum(t["payment"] for t in self.trades if t["side"] == "bought")}


class NotAWindow(ValueError):
    """An answer that is not a market window's, as the market API gives it."""


def _count(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise NotAWindow(f"{what} is not a whole number: {value!r}")
    return value


def _records(page: Any, key: str) -> list[dict]:
    found = page.get(key) if isinstance(page, dict) else None
    if not isinstance(found, list) or not all(isinstance(x, dict) for x in found):
        raise NotAWindow(f"{key} is not a list of records")
    return found


def _mine(record: dict, me: str) -> bool:
    return me in (record.get("owner"), record.get("seller"), record.get("buyer"), record.get("member"))


def owners_page(page: Any, owner: bytes) -> Any:
    """An answer page with, of its records, only those about `owner`: all that `owners_view`
    reads of them, so a window's pages (up to 16 of a node's largest answers) need not be held at
    once. A page not shaped as the API's is kept as it is, for `owners_view` to refuse."""
    if not isinstance(page, dict):
        return page
    me, kept = owner.hex(), dict(page)
    for key in ("orders", "trades", "settlements"):
        records = page.get(key)
        if isinstance(records, list) and all(isinstance(x, dict) for x in records):
            kept[key] = [x for x in records if _mine(x, me)]
    return kept


def owners_view(pages: list[dict[str, Any]], owner: bytes) -> WindowReport | None:
    """The household's report from a window's answer pages, or None while it is not cleared;
    NotAWindow when an answer is not shaped as the market API's (each field checked)."""
    first = pages[0]
    if not isinstance(first, dict) or first.get("status") not in REPORTED:
        return None
    result = first.get("result")
    if not isinstance(result, dict):
        raise NotAWindow("a cleared window without its result")
    me = owner.hex()
    orders, trades, settlement = [], [], None
    for page in pages:
        orders += [o for o in _records(page, "orders") if o.get("owner") == me]
        for t in _records(page, "trades"):
            if t.get("seller") == me or t.get("buyer") == me:
                trades.append({"seller": t.get("seller"), "buyer": t.get("buyer"),
                               "energy_wh": _count(t.get("energy_wh"), "a trade's energy"),
                               "payment": _count(t.get("payment"), "a trade's payment"),
                               "side": "sold" if t.get("seller") == me else "bought"})
        for s in _records(page, "settlements"):
            if s.get("member") == me:
                settlement = s
    return WindowReport(_count(first.get("window"), "the window"), first["status"], _count(result.get("price"), "the price"),
                        _count(result.get("volume_wh"), "the volume"), tuple(orders), tuple(trades), settlement)
