"""Genesis: the file that fixes a network's identity and its starting state.

People write genesis as JSON (hex for keys and addresses, integers only: a float anywhere is an
error). The canonical record below is what gets hashed; lists are sorted by key bytes on load so
two files that differ only in the order of their entries describe the same chain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ledger import accounts
from ledger.accounts import Account, Meter
from ledger.blocks import MAX_VALIDATORS
from ledger.encoding import ADDRESS, PUBKEY, U64, ListOf, Nested, Record, Text, Value, record
from ledger.errors import DecodeError, GenesisError
from ledger.state import State
from ledger.transactions import CHAIN_ID

MAX_SUPPLY = (1 << 63) - 1
DEFAULT_INTERVAL_MS = 900_000  # 15 minutes, a common metering and settlement period
DEFAULT_SETTLED_CAP_WH = 1_000_000  # per address and interval: 1 MWh, far above a household
DEFAULT_MAX_BLOCK_BYTES = 8 * 1024 * 1024  # transactions' bytes in one block
DEFAULT_MAX_BLOCK_GAS = 100_000_000  # contract gas one block may use: 70x the busiest scenario block
# What one block's decoded transactions may hold in memory (their `retained_bytes`): 20,000
# transfers hold some 44 MB, 5,000 calls of 64 small-integer arguments some 53 MB.
DEFAULT_MAX_BLOCK_MEMORY = 64 * 1024 * 1024
DEFAULT_POE_FULL_WH = 1000  # the energy (Wh) per interval that earns the full PoE incentive
DEFAULT_POE_WH_PER_UNIT = 1000  # the CPF exponent's unit: 1 kWh, as 003's examples read
POE_INCENTIVES = ("flat", "RE", "TE", "RE+TE")  # 003 V.F's incentive programs, and none (flat)


@record
class GenesisValidator(Record):
    public_key: bytes
    power: int
    name: str
    SCHEMA = {"public_key": PUBKEY, "power": U64, "name": Text(64)}


@record
class GenesisBalance(Record):
    address: bytes
    amount: int
    SCHEMA = {"address": ADDRESS, "amount": U64}


@record
class GenesisMeter(Record):
    public_key: bytes
    meter_type: str
    serial: str
    owner: bytes
    SCHEMA = {"public_key": PUBKEY, "meter_type": Text(32), "serial": Text(64), "owner": ADDRESS}


@record
class Param(Record):
    name: str
    value: Any
    SCHEMA = {"name": Text(64, min_len=1), "value": Value(max_depth=1)}


@record
class Genesis(Record):
    chain_id: str
    genesis_time_ms: int
    operator: bytes
    min_fee: int
    validators: tuple
    balances: tuple
    meters: tuple
    consensus: str
    params: tuple
    SCHEMA = {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": U64,
        "operator": PUBKEY,
        "min_fee": U64,
        "validators": ListOf(Nested(GenesisValidator), MAX_VALIDATORS),
        "balances": ListOf(Nested(GenesisBalance), 1 << 20),
        "meters": ListOf(Nested(GenesisMeter), 1 << 20),
        "consensus": Text(32, min_len=1),
        "params": ListOf(Nested(Param), 256),
    }

    def param(self, name: str, default: Any = None) -> Any:
        for p in self.params:
            if p.name == name:
                return p.value
        return default

    def int_param(self, name: str, default: int) -> int:
        """A non-negative integer consensus parameter; anything else is a genesis error."""
        value = self.param(name, default)
        if type(value) is not int or value < 0:
            raise GenesisError(f"genesis param {name!r} must be a non-negative integer, got {value!r}")
        return value

    def positive_param(self, name: str, default: int) -> int:
        """A positive integer consensus parameter (a divisor); anything else is a genesis error."""
        value = self.int_param(name, default)
        if value == 0:
            raise GenesisError(f"genesis param {name!r} must be positive")
        return value

    @property
    def interval_ms(self) -> int:
        """The settlement interval: meter readings, market windows and PoE's CPF are per
        interval, and interval k covers [genesis time + k * interval_ms, + interval_ms)."""
        return self.positive_param("interval_ms", DEFAULT_INTERVAL_MS)

    def interval_of(self, time_ms: int) -> int:
        return max(0, time_ms - self.genesis_time_ms) // self.interval_ms

    def interval_start_ms(self, interval: int) -> int:
        """The chain time at which `interval` begins (and the one before it has ended)."""
        return self.genesis_time_ms + interval * self.interval_ms

    @property
    def calendar_origin_ms(self) -> int:
        """The calendar time interval 0 stands for (contracts' `interval_start`: the hour of a
        window's grid price, the month of a bill). The genesis time unless the chain runs a
        compressed clock: a scenario on a cluster lasts seconds per interval on the chain's
        clock while its intervals stand for 15 minutes of a given day."""
        return self.int_param("calendar_origin_ms", self.genesis_time_ms)

    @property
    def calendar_interval_ms(self) -> int:
        """The calendar length of one interval; `interval_ms` unless the clock is compressed."""
        return self.positive_param("calendar_interval_ms", self.interval_ms)

    @property
    def max_block_bytes(self) -> int:
        """Most bytes of transactions one block may hold: it bounds every consensus message a
        replica must decode (a proposal, or a new view carrying prepared blocks)."""
        return self.positive_param("max_block_bytes", DEFAULT_MAX_BLOCK_BYTES)

    @property
    def max_block_gas(self) -> int:
        """Most gas one block's contract transactions may use: it bounds the time every
        validator spends executing a block (a contract transaction enters a block only if the
        gas used before it plus its gas limit fits, so the bound holds before any of it runs)."""
        return self.positive_param("max_block_gas", DEFAULT_MAX_BLOCK_GAS)

    @property
    def max_block_memory(self) -> int:
        """Most memory one block's decoded transactions may hold (`Transaction.retained_bytes`
        summed): a contract call's arguments may be nested lists holding some 70 times their
        encoding once decoded, so a block's bytes do not bound what every replica must hold
        to decode it. Decoders of blocks from peers (`ledger.bounded_decode`) stop at it."""
        return self.positive_param("max_block_memory", DEFAULT_MAX_BLOCK_MEMORY)

    @property
    def settled_cap_wh(self) -> int:
        """Most energy (Wh) markets may report as settled for one address in one interval."""
        return self.int_param("settled_cap_wh", DEFAULT_SETTLED_CAP_WH)

    @property
    def poe_incentive(self) -> str:
        """How the block incentive is paid (see `ledger.executor.apply_block_effects`): "flat"
        pays every proposer `block_incentive`; "RE", "TE" and "RE+TE" scale it by the proposer's
        certified production, settled trades, or both, and by its CPF."""
        value = self.param("poe_incentive", "flat")
        if type(value) is not str or value not in POE_INCENTIVES:
            raise GenesisError(f"genesis param 'poe_incentive' must be one of {', '.join(POE_INCENTIVES)}; got {value!r}")
        return value

    def check_params(self) -> None:
        """Read the typed parameters the ledger applies at every block, so a bad value is a
        GenesisError when the genesis loads, not at the first block that applies it."""
        self.interval_ms
        self.calendar_origin_ms
        self.calendar_interval_ms
        self.settled_cap_wh
        self.max_block_memory
        if self.poe_incentive != "flat":
            self.positive_param("poe_full_wh", DEFAULT_POE_FULL_WH)
            self.positive_param("poe_wh_per_unit", DEFAULT_POE_WH_PER_UNIT)

    def initial_state(self) -> State:
        """The state at height 0: balances, validators and certified meters."""
        state = State()
        for b in self.balances:
            accounts.put_account(state, b.address, Account(b.amount, 0))
        accounts.set_supply(state, sum(b.amount for b in self.balances))
        for v in self.validators:
            accounts.set_validator(state, v.public_key, v.power)
        per_owner: dict[bytes, int] = {}
        for m in self.meters:
            per_owner[m.owner] = per_owner.get(m.owner, 0) + 1
            if per_owner[m.owner] > accounts.MAX_METERS_PER_OWNER:
                raise GenesisError(f"owner {m.owner.hex()} has more than {accounts.MAX_METERS_PER_OWNER} meters")
            accounts.put_meter(state, m.public_key, Meter(m.meter_type, m.serial, m.owner, 0))
        state.take_changes()
        return state

    # --- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "operator": self.operator.hex(),
            "min_fee": self.min_fee,
            "validators": [
                {"name": v.name, "public_key": v.public_key.hex(), "power": v.power} for v in self.validators
            ],
            "balances": [{"address": b.address.hex(), "amount": b.amount} for b in self.balances],
            "meters": [
                {"public_key": m.public_key.hex(), "meter_type": m.meter_type, "serial": m.serial,
                 "owner": m.owner.hex()}
                for m in self.meters
            ],
            "consensus": self.consensus,
            "params": {p.name: p.value for p in self.params},
        }

    @classmethod
    def from_json(cls, doc: Any) -> "Genesis":
        """Build and validate a genesis from parsed JSON; every problem is a GenesisError."""
        try:
            return cls._from_json(doc)
        except GenesisError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, DecodeError) as exc:
            raise GenesisError(f"invalid genesis: {exc!r}") from exc

    @classmethod
    def _from_json(cls, doc: dict) -> "Genesis":
        hx = bytes.fromhex
        validators = sorted(
            (GenesisValidator(hx(v["public_key"]), v["power"], v.get("name", "")) for v in doc["validators"]),
            key=lambda v: v.public_key,
        )
        balances = sorted(
            (GenesisBalance(hx(b["address"]), b["amount"]) for b in doc.get("balances", [])),
            key=lambda b: b.address,
        )
        meters = sorted(
            (GenesisMeter(hx(m["public_key"]), m["meter_type"], m["serial"], hx(m["owner"]))
             for m in doc.get("meters", [])),
            key=lambda m: m.public_key,
        )
        params = [Param(k, v) for k, v in sorted(doc.get("params", {}).items())]
        for what, keys in (
            ("validator", [v.public_key for v in validators]),
            ("balance address", [b.address for b in balances]),
            ("meter", [m.public_key for m in meters]),
        ):
            if len(set(keys)) != len(keys):
                raise GenesisError(f"duplicate {what} in genesis")
        if sum(b.amount for b in balances) > MAX_SUPPLY:
            # Nothing mints beyond genesis without checking this bound, so no balance overflows.
            raise GenesisError(f"total genesis balance exceeds {MAX_SUPPLY}")
        if not validators or any(v.power == 0 for v in validators):
            raise GenesisError("genesis needs at least one validator, each with power > 0")
        draft = cls(
            doc["chain_id"], doc["genesis_time_ms"], hx(doc["operator"]), doc.get("min_fee", 0),
            tuple(validators), tuple(balances), tuple(meters), doc["consensus"], tuple(params),
        )
        genesis = cls.from_wire(draft.to_wire())  # every field checked exactly as decoding would
        genesis.check_params()
        return genesis

    @classmethod
    def load(cls, path: str | Path) -> "Genesis":
        try:
            doc = json.loads(Path(path).read_text(), parse_float=_no_float, parse_constant=_no_float)
        except (OSError, json.JSONDecodeError) as exc:
            raise GenesisError(f"cannot read genesis {path}: {exc}") from exc
        return cls.from_json(doc)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")


def _no_float(text: str) -> Any:
    raise GenesisError(f"floats are not allowed in genesis (found {text}); use integer units")

