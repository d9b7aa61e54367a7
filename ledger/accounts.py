"""Typed views of the state: accounts, validators, certified meters, meter readings, orders.

Free functions over `State`, each value a canonical record, each key from `ledger.schema`.
Reads skip the canonical re-encoding check of `Record.decode`: the state only ever holds bytes
this module wrote.
"""

from __future__ import annotations

from typing import TypeVar

from ledger import schema
from ledger.encoding import ADDRESS, U8, U16, U32, U64, Record, Text, record, unpack
from ledger.state import State

R = TypeVar("R", bound=Record)


# Decoded values by their bytes: records are immutable and decoding is a pure function of the
# bytes, so one decode serves every later read of the same value (an account is read several
# times per transaction: mempool admission, block building, validation). Bounded by clearing.
_DECODED: dict[tuple[type, bytes], Record] = {}
_DECODED_MAX = 1 << 18


def _read(state: State, key: bytes, cls: type[R]) -> R | None:
    raw = state.get(key)
    if raw is None:
        return None
    found = _DECODED.get((cls, raw))
    if found is None:
        found = _remember(cls, raw, cls.from_wire(unpack(raw)))
    return found  # type: ignore[return-value]


def _remember(cls: type[R], raw: bytes, value: R) -> R:
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    _DECODED[(cls, raw)] = value
    return value


@record
class Account(Record):
    balance: int
    nonce: int
    SCHEMA = {"balance": U64, "nonce": U64}


@record
class Meter(Record):
    """A certified smart meter (Siano et al., 003 V.F): type, serial number, owner, and the first
    settlement interval it may report (the one it was certified in)."""

    meter_type: str
    serial: str
    owner: bytes
    since: int
    SCHEMA = {"meter_type": Text(32), "serial": Text(64), "owner": ADDRESS, "since": U64}


@record
class Validator(Record):
    power: int
    SCHEMA = {"power": U64}


@record
class Reading(Record):
    produced_wh: int
    consumed_wh: int
    owner: bytes
    SCHEMA = {"produced_wh": U64, "consumed_wh": U64, "owner": ADDRESS}


@record
class Order(Record):
    side: int
    energy_wh: int
    price_mc_per_kwh: int
    zone: int
    SCHEMA = {"side": U8, "energy_wh": U64, "price_mc_per_kwh": U64, "zone": U16}


@record
class ProposerStats(Record):
    """Proposer history for election rules: last height proposed and blocks proposed."""

    last_height: int
    blocks: int
    SCHEMA = {"last_height": U64, "blocks": U64}


@record
class Amount(Record):
    value: int
    SCHEMA = {"value": U64}


@record
class SkipRecord(Record):
    """A validator passed over as proposer since it last proposed: the last height at which a
    block's proposer was ranked below it, and how many such heights in a row (leader
    reputation: `consensus.election.Reputation` demotes it for a window that grows with them)."""

    height: int
    strikes: int
    SCHEMA = {"height": U64, "strikes": U32}


EMPTY_ACCOUNT = Account(0, 0)
NEVER_PROPOSED = ProposerStats(0, 0)


def get_account(state: State, address: bytes) -> Account:
    return _read(state, schema.account_key(address), Account) or EMPTY_ACCOUNT


def put_account(state: State, address: bytes, account: Account) -> None:
    raw = account.encoded
    state.put(schema.account_key(address), raw)
    _remember(Account, raw, account)


def get_meter(state: State, public_key: bytes) -> Meter | None:
    return _read(state, schema.meter_key(public_key), Meter)


def put_meter(state: State, public_key: bytes, meter: Meter) -> None:
    state.put(schema.meter_key(public_key), meter.encoded)
    state.put(schema.owner_meter_key(meter.owner, public_key), b"")


def revoke_meter(state: State, public_key: bytes, height: int) -> None:
    """Withdraw a meter's certification for good: its readings stop counting from `height` on,
    and the key can never be certified again (that would bring its old readings back)."""
    meter = get_meter(state, public_key)
    assert meter is not None  # the executor checks before it revokes
    state.delete(schema.meter_key(public_key))
    state.delete(schema.owner_meter_key(meter.owner, public_key))
    state.put(schema.revoked_key(public_key), Amount(height).encoded)


def revoked_at(state: State, public_key: bytes) -> int | None:
    """The height a meter key was revoked at, or None if it never was."""
    found = _read(state, schema.revoked_key(public_key), Amount)
    return None if found is None else found.value


MAX_METERS_PER_OWNER = 16  # bounds every owner-level reading query


def owner_meters(state: State, owner: bytes) -> list[bytes]:
    """Public keys of the owner's certified meters, in key order (at most MAX_METERS_PER_OWNER)."""
    prefix = schema.owner_meter_prefix(owner)
    return [k[len(prefix):] for k, _ in state.scan(prefix, MAX_METERS_PER_OWNER)]


def validators(state: State) -> list[tuple[bytes, int]]:
    """(public key, voting power) of every validator, in public-key byte order."""
    n = len(schema.VALIDATOR)
    return [(k[n:], Validator.from_wire(unpack(v)).power) for k, v in state.scan(schema.VALIDATOR)]


def set_validator(state: State, public_key: bytes, power: int) -> None:
    if power == 0:
        state.delete(schema.validator_key(public_key))
    else:
        state.put(schema.validator_key(public_key), Validator(power).encoded)


def get_reading(state: State, interval: int, meter_public_key: bytes) -> Reading | None:
    return _read(state, schema.reading_key(interval, meter_public_key), Reading)


def put_reading(state: State, interval: int, meter_public_key: bytes, reading: Reading) -> None:
    state.put(schema.reading_key(interval, meter_public_key), reading.encoded)


@record
class OwnerEnergy(Record):
    """What an owner's certified meters measured over one interval, and how many of them have
    reported it: a settlement can tell a complete interval from one still missing readings."""

    produced_wh: int
    consumed_wh: int
    reported: int
    meters: int
    SCHEMA = {"produced_wh": U64, "consumed_wh": U64, "reported": U16, "meters": U16}

    @property
    def complete(self) -> bool:
        """Whether every meter certified for the interval reported it (and there is one). Only a
        complete interval values its owner's CPF: over some of its meters, an owner could report
        those whose sum suits it and withhold the rest (their readings have no deadline)."""
        return 0 < self.reported == self.meters


def owner_energy(state: State, owner: bytes, interval: int) -> OwnerEnergy:
    """Sum of the readings of the owner's currently certified meters for `interval`, over the
    meters certified for it (`Meter.since` at or before it): a meter certified later can never
    report the interval, so counting it would leave the interval incomplete for good. Readings
    of revoked meters never count: certified and uncertified data do not mix."""
    return meters_energy(state, owner_meters(state, owner), interval)


def meters_energy(state: State, keys: list[bytes], interval: int) -> OwnerEnergy:
    """`owner_energy` over certified meter keys the caller already listed (and priced)."""
    produced = consumed = reported = meters = 0
    for key in keys:
        meter = get_meter(state, key)
        if meter is None or meter.since > interval:
            continue
        meters += 1
        reading = get_reading(state, interval, key)
        if reading is not None:
            produced += reading.produced_wh
            consumed += reading.consumed_wh
            reported += 1
    return OwnerEnergy(produced, consumed, reported, meters)


def readings(state: State, interval: int) -> list[tuple[bytes, Reading]]:
    """(meter public key, reading) for one settlement interval, in meter-key byte order."""
    n = len(schema.reading_prefix(interval))
    return [(k[n:], Reading.from_wire(unpack(v))) for k, v in state.scan(schema.reading_prefix(interval))]


def get_order(state: State, window: int, sender: bytes, order_id: int) -> Order | None:
    return _read(state, schema.order_key(window, sender, order_id), Order)


def put_order(state: State, window: int, sender: bytes, order_id: int, order: Order) -> None:
    state.put(schema.order_key(window, sender, order_id), order.encoded)


def orders(state: State, window: int) -> list[tuple[bytes, int, Order]]:
    """(sender address, order id, order) for one forward window, in key byte order."""
    prefix = schema.order_prefix(window)
    n = len(prefix)
    return [
        (k[n : n + 20], schema.read_u64(k[n + 20 :]), Order.from_wire(unpack(v)))
        for k, v in state.scan(prefix)
    ]


def proposer_stats(state: State, public_key: bytes) -> ProposerStats:
    return _read(state, schema.proposer_key(public_key), ProposerStats) or NEVER_PROPOSED


def record_proposal(state: State, public_key: bytes, height: int) -> None:
    stats = proposer_stats(state, public_key)
    state.put(schema.proposer_key(public_key), ProposerStats(height, stats.blocks + 1).encoded)


def skip_record(state: State, public_key: bytes) -> SkipRecord | None:
    return _read(state, schema.skipped_key(public_key), SkipRecord)


def record_skips(state: State, skipped: tuple[bytes, ...], proposer: bytes, height: int) -> None:
    """A block's proposer clears its record; each validator ranked above it gains a strike."""
    for key in skipped:
        before = skip_record(state, key)
        state.put(schema.skipped_key(key), SkipRecord(height, (before.strikes if before else 0) + 1).encoded)
    if skip_record(state, proposer) is not None:
        state.delete(schema.skipped_key(proposer))


def traded_wh(state: State, address: bytes) -> int:
    """Energy (Wh) this address has traded and settled through certified markets: PoS's voting
    token E."""
    found = _read(state, schema.traded_key(address), Amount)
    return 0 if found is None else found.value


def settled_wh(state: State, address: bytes, interval: int) -> int:
    """Energy (Wh) settled for this address in delivery interval `interval`."""
    found = _read(state, schema.settled_key(address, interval), Amount)
    return 0 if found is None else found.value


def add_settled_wh(state: State, address: bytes, interval: int, energy_wh: int, cap_wh: int) -> int:
    """Credit settled energy to an interval and to the running total E, at most `cap_wh` per
    address and interval in all; returns what was credited."""
    have = settled_wh(state, address, interval)
    credited = max(0, min(energy_wh, cap_wh - have))
    if credited:
        state.put(schema.settled_key(address, interval), Amount(have + credited).encoded)
        total = min(traded_wh(state, address) + credited, (1 << 64) - 1)  # saturate, never wrap
        state.put(schema.traded_key(address), Amount(total).encoded)
    return credited


@record
class Claimed(Record):
    """Metered energy of one owner and interval, export and import: what certified markets have
    already settled (`claimed`), or what markets hold for their own settlement (`reserved`)."""

    export_wh: int
    import_wh: int
    SCHEMA = {"export_wh": U64, "import_wh": U64}


NOTHING_CLAIMED = Claimed(0, 0)
# A market settles some intervals after delivery (the CES incentives reconcile after a period of
# up to 2,976 intervals and GRACE more), so a reservation must outlive that; but a market that
# never settles must not hold an owner's energy from the others for good. Reservations for
# interval k count in claims made up to interval k + RESERVATION_INTERVALS (32 days of 15-minute
# intervals: the longest CES period, its grace and ~a day to call reconcile), none after.
RESERVATION_INTERVALS = 3072
MAX_RESERVED_WH = (1 << 63) - 1  # an owner's reservations for one interval, all markets together


def claimed(state: State, owner: bytes, interval: int) -> Claimed:
    return _read(state, schema.claimed_key(owner, interval), Claimed) or NOTHING_CLAIMED


def reserved(state: State, owner: bytes, interval: int, market: bytes) -> Claimed:
    """What `market` holds of the owner's metered export and import in `interval`."""
    return _read(state, schema.reserved_key(owner, interval, market), Claimed) or NOTHING_CLAIMED


def reserved_total(state: State, owner: bytes, interval: int) -> Claimed:
    """What all markets together hold of the owner's metered energy in `interval`."""
    return _read(state, schema.reserved_total_key(owner, interval), Claimed) or NOTHING_CLAIMED


def _put_or_delete(state: State, key: bytes, value: Claimed) -> None:
    if value == NOTHING_CLAIMED:
        state.delete(key)
    else:
        state.put(key, value.encoded)


def _set_reserved(state: State, owner: bytes, interval: int, market: bytes, mine: Claimed, new: Claimed) -> None:
    """Replace `market`'s reservation `mine` by `new`, keeping the owner's total their sum."""
    total = reserved_total(state, owner, interval)
    _put_or_delete(state, schema.reserved_key(owner, interval, market), new)
    _put_or_delete(state, schema.reserved_total_key(owner, interval),
                   Claimed(total.export_wh - mine.export_wh + new.export_wh,
                           total.import_wh - mine.import_wh + new.import_wh))


def reserve_delivery(state: State, owner: bytes, interval: int, market: bytes, export_wh: int,
                     import_wh: int) -> Claimed:
    """Change `market`'s reservation of the owner's energy in `interval` by `export_wh` and
    `import_wh` (signed; a reservation never goes below 0) and return it. The caller checks who
    may raise it (the owner only). A raise that would take the owner's total for the interval to
    MAX_RESERVED_WH or beyond raises ValueError (so the records' U64 never overflows)."""
    mine = reserved(state, owner, interval, market)
    new = Claimed(max(0, mine.export_wh + export_wh), max(0, mine.import_wh + import_wh))
    total = reserved_total(state, owner, interval)
    if max(total.export_wh - mine.export_wh + new.export_wh,
           total.import_wh - mine.import_wh + new.import_wh) >= MAX_RESERVED_WH:
        raise ValueError("an owner's reservations for an interval total below 2**63 Wh")
    if new != mine:
        _set_reserved(state, owner, interval, market, mine, new)
    return new


def _grant(asked: int, unclaimed: int, mine: int, others: int) -> int:
    """One direction of a claim: at most what was asked and what is unclaimed; of that, up to
    the market's own reservation freely, and beyond it only what the others' reservations leave."""
    return max(0, min(asked, max(min(mine, unclaimed), unclaimed - others)))


def claim_delivery(state: State, owner: bytes, interval: int, now: int, market: bytes, energy: OwnerEnergy,
                   export_wh: int, import_wh: int, cap_wh: int) -> tuple[Claimed, Claimed]:
    """`market` settles up to `export_wh` of the owner's metered net export and `import_wh` of
    its net import for an interval, in block interval `now`: granted only from what its
    certified meters measured (all of them reported) and no market has claimed before, so no Wh
    is ever paid for twice. Until the reservations lapse (RESERVATION_INTERVALS) the market gets
    the unclaimed energy up to its own reservation, and beyond it only what other markets'
    reservations leave, so the market the owner committed a Wh to gets it whoever settles
    first; where the owner reserved more than its meters show, the markets that settle first
    are served first (no market gains by settling late). The claim then releases as much of
    this market's own reservation as it asked for. The grant also credits settled energy (PoS's
    E). `energy` is the owner's `owner_energy` for the interval. Returns (granted, claimed
    before)."""
    before = claimed(state, owner, interval)
    if not energy.complete:
        return NOTHING_CLAIMED, before  # the reservation stands until the readings are in
    mine = reserved(state, owner, interval, market)
    others = NOTHING_CLAIMED  # lapsed reservations hold nothing
    if now <= interval + RESERVATION_INTERVALS:
        total = reserved_total(state, owner, interval)
        others = Claimed(total.export_wh - mine.export_wh, total.import_wh - mine.import_wh)
    net = energy.produced_wh - energy.consumed_wh
    granted = Claimed(_grant(export_wh, net - before.export_wh, mine.export_wh, others.export_wh),
                      _grant(import_wh, -net - before.import_wh, mine.import_wh, others.import_wh))
    if granted.export_wh or granted.import_wh:
        state.put(schema.claimed_key(owner, interval),
                  Claimed(before.export_wh + granted.export_wh, before.import_wh + granted.import_wh).encoded)
        add_settled_wh(state, owner, interval, granted.export_wh + granted.import_wh, cap_wh)
    if mine != NOTHING_CLAIMED:
        _set_reserved(state, owner, interval, market, mine,
                      Claimed(max(0, mine.export_wh - export_wh), max(0, mine.import_wh - import_wh)))
    return granted, before


def is_market(state: State, contract: bytes) -> bool:
    """Whether the operator certified this contract as a market that may report settled energy."""
    return state.get(schema.market_key(contract)) is not None


def set_market(state: State, contract: bytes, active: bool) -> None:
    if active:
        state.put(schema.market_key(contract), b"\x01")
    else:
        state.delete(schema.market_key(contract))


def is_full_node(state: State, public_key: bytes) -> bool:
    """Whether the operator admitted this key as a full node: validators accept its link."""
    return state.get(schema.full_node_key(public_key)) is not None


def set_full_node(state: State, public_key: bytes, admitted: bool) -> None:
    if admitted:
        state.put(schema.full_node_key(public_key), b"\x01")
    else:
        state.delete(schema.full_node_key(public_key))


def full_nodes(state: State) -> list[bytes]:
    """The admitted full nodes' keys, in key order."""
    n = len(schema.FULL_NODE)
    return [k[n:] for k, _ in state.scan(schema.FULL_NODE)]


def supply(state: State) -> int:
    found = _read(state, schema.SUPPLY, Amount)
    return 0 if found is None else found.value


def set_supply(state: State, value: int) -> None:
    state.put(schema.SUPPLY, Amount(value).encoded)


@record
class ContractCode(Record):
    source: str
    SCHEMA = {"source": Text(64 * 1024)}


def get_code(state: State, contract: bytes) -> str | None:
    found = _read(state, schema.contract_code_key(contract), ContractCode)
    return None if found is None else found.source


def put_code(state: State, contract: bytes, source: str) -> None:
    state.put(schema.contract_code_key(contract), ContractCode(source).encoded)


def get_deployer(state: State, contract: bytes) -> bytes | None:
    """The address that deployed a contract: who may set it up."""
    return state.get(schema.contract_deployer_key(contract))


def put_deployer(state: State, contract: bytes, deployer: bytes) -> None:
    state.put(schema.contract_deployer_key(contract), deployer)


MAX_STORAGE_SCAN = 1024


def storage_get(state: State, contract: bytes, key: bytes) -> bytes | None:
    return state.get(schema.contract_storage_key(contract, key))


def storage_put(state: State, contract: bytes, key: bytes, value: bytes) -> None:
    state.put(schema.contract_storage_key(contract, key), value)


def storage_delete(state: State, contract: bytes, key: bytes) -> None:
    state.delete(schema.contract_storage_key(contract, key))


def storage_scan(state: State, contract: bytes, prefix: bytes, limit: int,
                 after: bytes | None = None) -> list[tuple[bytes, bytes]]:
    """A contract's entries under `prefix` (and, given `after`, with keys above it), in key
    order, at most `limit` (bounded by MAX_STORAGE_SCAN so one call cannot walk unbounded state)."""
    if not 0 < limit <= MAX_STORAGE_SCAN:
        raise ValueError(f"scan limit must be 1..{MAX_STORAGE_SCAN}")
    base = schema.contract_storage_key(contract, b"")
    start = b"" if after is None else base + after + b"\x00"  # the least key above `after`
    return [(k[len(base):], v) for k, v in state.scan(base + prefix, limit, start)]
