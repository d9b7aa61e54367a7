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


def owners_view(pages: list[dict[str, Any]], owner: bytes) -> WindowReport | None:
    """The household's report from a window's answer pages, or None while it is not cleared."""
    first = pages[0]
    if first.get("status") not in REPORTED or not isinstance(first.get("result"), dict):
        return None
    me = owner.hex()
    orders, trades, settlement = [], [], None
    for page in pages:
        orders += [o for o in page.get("orders", []) if o.get("owner") == me]
        for t in page.get("trades", []):
            if t.get("seller") == me or t.get("buyer") == me:
                trades.append({**t, "side": "sold" if t.get("seller") == me else "bought"})
        for s in page.get("settlements", []):
            if s.get("member") == me:
                settlement = s
    result = first["result"]
    return WindowReport(int(first["window"]), first["status"], int(result["price"]), int(result["volume_wh"]),
                        tuple(orders), tuple(trades), settlement)
