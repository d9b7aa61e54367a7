"""Read-only queries for the participants of 004's CES incentives contract: what a participant's
page needs (Wang et al., Fig. 4): the contract's set-up, the offers addressed to an address with
the `accept` / `refuse` calls to answer them, and a participant's CES-OPF set-points for a day.
Read straight from the contract's storage (no transaction, no gas).

The layout read here is `market/contracts/ces_incentives.py`'s: str keys "cfg" = [operator,
period_intervals, max_raises, raise_cap_ppm, utility]; "budget", "held"; "offer:IIIIIIIIII" (the
offer id, 5 bytes hex) = [participant, interval, energy_wh, dlmp, incentive, first_incentive,
raises, state, escrow, delivered_wh, paid]; "by:PARTICIPANT:SSSSSSSSSS" = offer id, where
SSSSSSSSSS is MAX_SEQ minus the participant's sequence number in hex, so a scan reads newest
first; "member:PARTICIPANT" = [bus, offers made]; "eq:DDDDDDDD:PARTICIPANT" = [inputs_hash,
setpoints]; "prefs:DDDDDDDD:PARTICIPANT" = preferences. Any member may deploy a contract that
writes these keys with values of its choosing: each value's size is checked against the largest
the CES contract writes under its key (VALUE_BYTES) before it is decoded, and its shape before it is used,
so a request's work is bounded and storage the CES contract did not write is a 404, not a 500.

Answering is an ordinary signed contract call posted to POST /txs (the CLI: `pownode tx send
--key KEY --wait call --contract C --function accept --args '[ID]'`); each offer carries those
calls ready to sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ledger import accounts
from ledger.genesis import Genesis
from ledger.state import State
from pownode.http_common import NODE, client_error, parse_hex, parse_uint
from vm import machine

MAX_LIMIT = 64  # offers per page
# The largest value the contract writes is an equilibrium, [32-byte hash, 96 set-points of at most
# 5 bytes each], 518 bytes; any member's contract may store up to 64 KiB under the same keys, so
# a larger value is refused before it is decoded.
MAX_VALUE_BYTES = 1024
# And per key, by prefix: the largest the contract writes there, measured with every integer at
# its extreme (9 bytes; set-points and preferences 5) and every address 20 bytes, about doubled.
# A page of offers decodes the set-up, 64 index entries and their 64 offers: at most 17 KiB.
VALUE_BYTES = (
    ("cfg", 128),  # [operator, 3 integers, utility]: 72 bytes
    ("budget", 16), ("held", 16),  # an integer: 9 bytes
    ("offer:", 256),  # [participant, 10 integers]: 113 bytes
    ("by:", 16),  # an offer id: 9 bytes
    ("member:", 64),  # [bus, offers made]: 19 bytes
    ("prefs:", 256),  # 16 preferences: 83 bytes
    ("eq:", MAX_VALUE_BYTES),  # [inputs hash, 96 set-points]: 518 bytes
)


def _bound(key: str) -> int:
    return next(bound for prefix, bound in VALUE_BYTES if key.startswith(prefix))
MAX_SEQ = (1 << 40) - 1  # the contract's MAX_SEQ: offer ids and sequence numbers stay below
MAX_DAY = 1 << 32  # the contract's day keys are 4 bytes
DAY_MS = 86_400_000
STATES = ("open", "accepted", "refused", "supplemented", "expired", "reconciled")  # the contract's OPEN..RECONCILED
ANSWER_GAS = 100_000  # accept uses about 5,000 gas (it reserves the energy), refuse 3,300; the rest is headroom


class NotCes(ValueError):
    """Storage the CES incentives contract did not write."""


def read_storage(state: State, contract: bytes, key: str) -> Any:
    """The contract's value under `key`, None if absent; NotCes if larger than it ever writes."""
    try:
        return machine.read_storage(state, contract, key, _bound(key))
    except machine.OversizedValue as exc:
        raise NotCes(f"the value under {key!r} is {exc}") from None


def scan_storage(state: State, contract: bytes, prefix: str, limit: int, after: str | None) -> list[tuple[Any, Any]]:
    """Up to `limit` entries under `prefix` above `after`; NotCes if one is larger than any the
    contract writes."""
    try:
        return machine.scan_storage(state, contract, prefix, limit, after, _bound(prefix))
    except machine.OversizedValue as exc:
        raise NotCes(f"a value under {prefix!r} is {exc}") from None


def _int(v: Any, lo: int, hi: int, what: str) -> int:
    if type(v) is not int or not lo <= v < hi:
        raise NotCes(f"{what} is not an integer in [{lo}, {hi})")
    return v


def _address(v: Any, what: str) -> bytes:
    if type(v) is not bytes or len(v) != 20:
        raise NotCes(f"{what} is not an address")
    return v


def _list(v: Any, length: int | None, what: str) -> list | tuple:
    if not isinstance(v, (list, tuple)) or (length is not None and len(v) != length):
        raise NotCes(f"{what} is not shaped as the CES contract writes it")
    return v


@dataclass(frozen=True)
class Config:
    operator: bytes
    period_intervals: int
    max_raises: int
    raise_cap_ppm: int
    utility: bytes

    @classmethod
    def read(cls, state: State, contract: bytes) -> "Config":
        raw = read_storage(state, contract, "cfg")
        if raw is None:
            raise NotCes("no set-up CES incentives contract")
        c = _list(raw, 5, "cfg")
        return cls(_address(c[0], "the operator"), _int(c[1], 1, MAX_SEQ, "the period"),
                   _int(c[2], 0, MAX_SEQ, "max_raises"), _int(c[3], 0, 1 << 63, "the raise cap"),
                   _address(c[4], "the utility"))

    def to_json(self) -> dict[str, Any]:
        return {"operator": self.operator.hex(), "period_intervals": self.period_intervals,
                "max_raises": self.max_raises, "raise_cap_ppm": self.raise_cap_ppm, "utility": self.utility.hex()}


@dataclass(frozen=True)
class Offer:
    offer_id: int
    participant: bytes
    interval: int
    energy_wh: int
    dlmp: int
    incentive: int
    first_incentive: int
    raises: int
    state: str
    escrow: int
    delivered_wh: int
    paid: int

    @classmethod
    def read(cls, state: State, contract: bytes, offer_id: int) -> "Offer":
        raw = read_storage(state, contract, "offer:" + offer_id.to_bytes(5, "big").hex())
        o = _list(raw, 11, f"offer {offer_id}")
        numbers = [_int(x, 0, 1 << 63, f"offer {offer_id}'s field {k}") for k, x in enumerate(o) if k != 0]
        return cls(offer_id, _address(o[0], f"offer {offer_id}'s participant"), *numbers[:6],
                   STATES[_int(o[7], 0, len(STATES), f"offer {offer_id}'s state")], *numbers[7:])

    def to_json(self, contract: bytes, genesis: Genesis, now: int, certified: bool) -> dict[str, Any]:
        """The offer as a participant's page shows it, with the calls that answer it (the contract
        accepts nothing while it is not certified)."""
        price = self.dlmp + self.incentive
        return {
            "id": self.offer_id, "interval": self.interval,
            "interval_start_ms": genesis.calendar_origin_ms + self.interval * genesis.calendar_interval_ms,
            "energy_wh": self.energy_wh, "dlmp": self.dlmp, "incentive": self.incentive,
            "first_incentive": self.first_incentive, "raises": self.raises, "price": price,
            "payment_if_delivered": self.energy_wh * price // 1000, "state": self.state, "escrow": self.escrow,
            "delivered_wh": self.delivered_wh, "paid": self.paid,
            "answerable": self.state == "open" and now < self.interval and certified,
            "accept": _call(contract, "accept", self.offer_id), "refuse": _call(contract, "refuse", self.offer_id),
        }


def _call(contract: bytes, function: str, offer_id: int) -> dict[str, Any]:
    """A contract call to sign and post to /txs, and the same call with the CLI."""
    return {"kind": "call", "contract": contract.hex(), "function": function, "args": [offer_id], "value": 0,
            "gas": ANSWER_GAS,
            "cli": f"pownode tx send --key KEY --wait call --contract {contract.hex()} --function {function} "
                   f"--args '[{offer_id}]'"}


def _now(request: web.Request) -> int:
    node = request.app[NODE]
    return node.genesis.interval_of(node.chain.head.time_ms)


def overview(state: State, contract: bytes, genesis: Genesis, now: int) -> dict[str, Any]:
    """The contract's set-up, budget and escrows, whether the network operator certified it (it
    makes, accepts and pays offers only then), and the chain's interval and day."""
    config = Config.read(state, contract)
    budget, held = read_storage(state, contract, "budget"), read_storage(state, contract, "held")
    return {"contract": contract.hex(), **config.to_json(), "certified": accounts.is_market(state, contract),
            "budget": _int(budget, 0, 1 << 255, "budget"), "escrowed": _int(held, 0, 1 << 255, "held"),
            "interval": now, "today": now * genesis.calendar_interval_ms // DAY_MS,
            "period": now // config.period_intervals}


def offers_to(state: State, contract: bytes, address: bytes, before: int | None, limit: int, genesis: Genesis,
              now: int) -> dict[str, Any]:
    """The offers addressed to `address`, newest first: `limit` of those with a sequence number
    below `before` (all, if None); `next` is the `before` of the following page, or None."""
    Config.read(state, contract)
    certified = accounts.is_market(state, contract)
    prefix = "by:" + address.hex() + ":"
    after = None if before is None else prefix + (MAX_SEQ - before).to_bytes(5, "big").hex()
    offers = []
    seq = None
    for key, offer_id in scan_storage(state, contract, prefix, limit, after):
        suffix = key[len(prefix):] if isinstance(key, str) else ""
        if not (len(suffix) == 10 and all(ch in "0123456789abcdef" for ch in suffix)):
            raise NotCes(f"{key!r} is not an offer index key")
        seq = MAX_SEQ - int(suffix, 16)
        offer = Offer.read(state, contract, _int(offer_id, 0, MAX_SEQ, "an indexed offer id"))
        if offer.participant != address:
            raise NotCes(f"offer {offer.offer_id} is indexed under another participant")
        offers.append({"seq": seq, **offer.to_json(contract, genesis, now, certified)})
    return {"contract": contract.hex(), "participant": address.hex(), "interval": now, "offers": offers,
            "next": seq if len(offers) == limit and seq else None}


def equilibrium_of(state: State, contract: bytes, day: int, address: bytes) -> dict[str, Any] | None:
    """A participant's CES-OPF set-points for a day with its inputs' hash, and the preferences it
    posted; None if the operator has not posted them."""
    Config.read(state, contract)
    suffix = day.to_bytes(4, "big").hex() + ":" + address.hex()
    raw = read_storage(state, contract, "eq:" + suffix)
    if raw is None:
        return None
    inputs_hash, setpoints = _list(raw, 2, "an equilibrium")
    if type(inputs_hash) is not bytes or len(inputs_hash) != 32:
        raise NotCes("an equilibrium's inputs hash is not 32 bytes")
    prefs = read_storage(state, contract, "prefs:" + suffix)
    member = read_storage(state, contract, "member:" + address.hex())
    return {"contract": contract.hex(), "participant": address.hex(), "day": day,
            "bus": None if member is None else _int(_list(member, 2, "a member")[0], 0, 1 << 63, "a bus"),
            "inputs_hash": inputs_hash.hex(),
            "setpoints_wh": [_int(u, -(1 << 24), 1 << 24, "a set-point") for u in _list(setpoints, None, "set-points")],
            "preferences": None if prefs is None else [_int(x, -(1 << 31), 1 << 31, "a preference")
                                                       for x in _list(prefs, None, "preferences")]}


def _contract(request: web.Request) -> bytes:
    return parse_hex(request.match_info["contract"], 20, "contract address")


def _not_ces(contract: bytes, exc: NotCes) -> web.HTTPException:
    return client_error(404, f"no CES incentives contract at {contract.hex()}: {exc}")


async def get_overview(request: web.Request) -> web.Response:
    """GET /ces/{contract}."""
    contract = _contract(request)
    node = request.app[NODE]
    try:
        return web.json_response(overview(node.chain.state, contract, node.genesis, _now(request)))
    except NotCes as exc:
        raise _not_ces(contract, exc) from None


async def get_offers(request: web.Request) -> web.Response:
    """GET /ces/{contract}/offers/{address}?before=SEQ&limit=N."""
    contract = _contract(request)
    address = parse_hex(request.match_info["address"], 20, "address")
    before_text = request.query.get("before")
    before = None if before_text is None else parse_uint(before_text, "before (a sequence number)")
    if before is not None and not 0 < before <= MAX_SEQ:
        raise client_error(400, f"before must be 1..{MAX_SEQ}")
    limit = parse_uint(request.query.get("limit", str(MAX_LIMIT)), "limit")
    if not 1 <= limit <= MAX_LIMIT:
        raise client_error(400, f"limit must be 1..{MAX_LIMIT}")
    node = request.app[NODE]
    try:
        return web.json_response(offers_to(node.chain.state, contract, address, before, limit, node.genesis,
                                           _now(request)))
    except NotCes as exc:
        raise _not_ces(contract, exc) from None


async def get_equilibrium(request: web.Request) -> web.Response:
    """GET /ces/{contract}/equilibrium/{day}/{address}."""
    contract = _contract(request)
    day = parse_uint(request.match_info["day"], "day")
    if day >= MAX_DAY:
        raise client_error(400, f"day must be below {MAX_DAY}")
    address = parse_hex(request.match_info["address"], 20, "address")
    try:
        found = equilibrium_of(request.app[NODE].chain.state, contract, day, address)
    except NotCes as exc:
        raise _not_ces(contract, exc) from None
    if found is None:
        raise client_error(404, f"no equilibrium posted for {address.hex()} on day {day}")
    return web.json_response(found)


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/ces/{contract}", get_overview),
                    web.get("/ces/{contract}/offers/{address}", get_offers),
                    web.get("/ces/{contract}/equilibrium/{day}/{address}", get_equilibrium)])
