"""A household battery's set-points, which its gateway publishes on `TOPIC/setpoint`: for each
upcoming delivery interval, the energy the household's accepted orders in a VPP aggregator's
closed rounds oblige it to export or import, and the mean power that takes. Built from a node's
aggregator API answers (`pownode.aggregator_api`), all of their pages.

A node's answer is checked field by field before anything is made of it: it must be about this
owner from this interval, its sums must be its rounds' sums, and each page's rounds must come
after the previous page's in key order (so a node cannot make the gateway read forever, or count
a round twice), and it must be something the aggregator contract (`market/contracts/aggregator.py`)
can have accepted: orders below its energy and price bounds, at most its answers per household
and round, delivering within its horizon. So a node cannot have the battery told to move more
energy than the household offered, nor have the gateway keep set-points for intervals that never
come (kept until published, they would fill its disk), nor hold more than MAX_ANSWERS
obligations per round in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ledger.genesis import Genesis

SIDES = ("export", "import")  # the aggregator buys: its accepted offers export; it sells: its bids import
BINDING = ("closed", "settled")
# The aggregator contract's bounds (market/contracts/aggregator.py):
MAX_WH = 1 << 24  # accepted energy of one order, Wh, below this
MAX_PRICE = 1 << 31  # milli-cents per kWh, below this
MAX_ANSWERS = 4  # a household's orders in one round
MAX_AHEAD = 96  # a round delivers at most this many intervals after it opened
HORIZON = 2 * MAX_AHEAD  # intervals ahead of the gateway's own clock a delivery may be (its clock may lag the chain's)


class NotObligations(ValueError):
    """An answer that is not an owner's obligations, as the aggregator API gives them."""


@dataclass(frozen=True)
class Obligation:
    """One accepted order: `accepted_wh` to export or import in `interval`."""
    round: int
    order: int
    interval: int
    side: str
    accepted_wh: int
    price: int  # milli-cents per kWh
    status: str

    def to_json(self) -> dict:
        return {"round": self.round, "order": self.order, "side": self.side, "accepted_wh": self.accepted_wh,
                "price": self.price, "status": self.status}


@dataclass(frozen=True)
class Page:
    obligations: tuple[Obligation, ...]
    last_round: int | None  # where the next page starts
    more: bool


@dataclass(frozen=True)
class SetPoint:
    interval: int
    start_ms: int  # chain time
    end_ms: int
    export_wh: int
    import_wh: int
    power_w: int  # the mean net export power over the interval's calendar length; negative to import
    rounds: tuple[Obligation, ...]

    @property
    def net_export_wh(self) -> int:
        return self.export_wh - self.import_wh

    def to_json(self) -> dict:
        return {"interval": self.interval, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "export_wh": self.export_wh, "import_wh": self.import_wh, "net_export_wh": self.net_export_wh,
                "power_w": self.power_w, "rounds": [r.to_json() for r in self.rounds]}


def _whole(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value < 1 << 64:
        raise NotObligations(f"{what} is not a whole number: {value!r}")
    return value


def _list(value: Any, what: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise NotObligations(f"{what} is not a list of records")
    return value


def _after(round_id: int, after: int | None) -> bool:
    """Whether a round comes after round `after` in the contract's key order (`round:ID`, as text)."""
    return after is None or str(round_id) > str(after)


def _obligation(r: dict, interval: int) -> Obligation:
    side, status = r.get("side"), r.get("status")
    if side not in SIDES or status not in BINDING:
        raise NotObligations(f"an obligation with side {side!r} and status {status!r}")
    accepted_wh, price = _whole(r.get("accepted_wh"), "an accepted energy"), _whole(r.get("price"), "a price")
    if accepted_wh >= MAX_WH or price >= MAX_PRICE:
        raise NotObligations(f"an order of {accepted_wh} Wh at {price}: more than the aggregator accepts "
                             f"(below {MAX_WH} Wh and {MAX_PRICE})")
    return Obligation(_whole(r.get("round"), "a round id"), _whole(r.get("order"), "an order"), interval, side,
                      accepted_wh, price, status)


def parse_page(doc: Any, owner: bytes, first: int, after: int | None) -> Page:
    """One page of the aggregator API's answer for `owner` from interval `first`, the page after
    round `after`; NotObligations when it is not shaped as the API's or does not add up."""
    if not isinstance(doc, dict) or doc.get("owner") != owner.hex() or doc.get("from") != first:
        raise NotObligations(f"an answer about another owner or interval than {owner.hex()} from {first}")
    more, last = doc.get("more"), doc.get("last_round")
    if type(more) is not bool or (last is not None and not _after(_whole(last, "the last round"), after)):
        raise NotObligations(f"a page that does not go on from round {after}: last {last!r}, more {more!r}")
    if more and last is None:
        raise NotObligations("a page with more to come but no last round")
    found: list[Obligation] = []
    for entry in _list(doc.get("intervals"), "intervals"):
        interval = _whole(entry.get("interval"), "an interval")
        mine = [_obligation(r, interval) for r in _list(entry.get("rounds"), "an interval's rounds")]
        if not first <= interval <= first + HORIZON or not mine:
            raise NotObligations(f"interval {interval}: not from {first} to {first + HORIZON}, or with no rounds")
        for side in SIDES:
            if _whole(entry.get(f"{side}_wh"), f"{side}_wh") != sum(o.accepted_wh for o in mine if o.side == side):
                raise NotObligations(f"interval {interval}: {side}_wh is not the sum of its rounds'")
        found += mine
    if any(last is None or not _after(o.round, after) or _after(o.round, last) for o in found):
        raise NotObligations(f"a round outside the page after round {after} up to round {last}")
    if len({(o.round, o.order) for o in found}) != len(found):
        raise NotObligations("an accepted order listed twice")
    per_round: dict[int, int] = {}
    for o in found:
        per_round[o.round] = per_round.get(o.round, 0) + 1
    if max(per_round.values(), default=0) > MAX_ANSWERS:
        raise NotObligations(f"more than {MAX_ANSWERS} accepted orders of the household in one round")
    return Page(tuple(found), last, more)


def mean_power_w(net_wh: int, length_ms: int) -> int:
    """The mean power, in watts rounded half away from zero, that moves `net_wh` in `length_ms`."""
    magnitude = (abs(net_wh) * 7_200_000 + length_ms) // (2 * length_ms)  # Wh * 3,600,000 ms/h / ms, rounded
    return magnitude if net_wh >= 0 else -magnitude


def set_points(obligations: Iterable[Obligation], genesis: Genesis) -> list[SetPoint]:
    """One set-point per delivery interval the obligations name, in interval order. The power is
    over the interval's calendar length: on a compressed clock, 15 minutes' energy in a few
    seconds of chain time is still 15 minutes of a battery's work."""
    by_interval: dict[int, list[Obligation]] = {}
    for o in obligations:
        by_interval.setdefault(o.interval, []).append(o)
    points = []
    for interval in sorted(by_interval):
        rounds = tuple(sorted(by_interval[interval], key=lambda o: (o.round, o.order)))
        export = sum(o.accepted_wh for o in rounds if o.side == "export")
        imported = sum(o.accepted_wh for o in rounds if o.side == "import")
        start = genesis.interval_start_ms(interval)
        points.append(SetPoint(interval, start, start + genesis.interval_ms, export, imported,
                               mean_power_w(export - imported, genesis.calendar_interval_ms), rounds))
    return points
