"""The contract VM: deploys and calls contracts against the ledger state.

`VM` implements `ledger.receipts.ContractRuntime`. One transaction has one `Meter` (gas,
allocation, frame depth) shared by every nested contract call. Each call runs the contract's
instrumented module in a fresh namespace holding only: the `_vm_*` helpers, the safe builtins,
the contract's own functions and constants, and the API below bound to this call (its address,
its caller, the value sent). `__builtins__` is empty, so nothing else exists for the code.

Nested calls: `call()` propagates a callee's failure (the whole transaction fails); `try_call()`
returns (1, result) or (0, reason) and reverts only the callee's state changes and events.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Callable

from ledger import accounts
from ledger.encoding import Record
from ledger.keys import verify
from ledger.receipts import FAILED, OK, BlockContext, Event, Receipt
from ledger.state import State
from ledger.transactions import ContractCall, ContractDeploy
from vm import values
from vm.code_store import CodeStore
from vm.compiler import LANGUAGE_VERSION, CompiledContract, compile_contract
from vm.errors import CompileError, ExecutionError, LimitExceeded, Revert
from vm.gas import (GAS, MAX_CALL_DEPTH, MAX_EVENT_BYTES, MAX_EVENTS, MAX_KEY, MAX_REASON_BYTES, MAX_SCAN,
                    MAX_SCAN_BYTES, MAX_TOPIC_BYTES)
from vm.precompiles import PRECOMPILES, Precompile, check_args
from vm.runtime import Meter, Ops

_ADDRESS_TAG = b"pownode/contract/v1"
# CPython minor versions on which the language's results were checked to be identical (the
# cross-version test in tests/vm): a node on another version refuses to start.
VERIFIED_PYTHONS = ((3, 11), (3, 12), (3, 13))
# Interpreter frames a transaction may need below the VM's entry: contract frames (MAX_FRAMES),
# nested contract calls (a few frames each), helpers and C-level comparisons of values nested
# MAX_TUPLE_DEPTH deep. The VM keeps at least this much headroom, so no contract ever meets
# the recursion limit, whatever depth the caller runs at.
STACK_HEADROOM = 400
INT_MAX_STR_DIGITS = 4300  # CPython's default since 3.11


def check_host(language: int = LANGUAGE_VERSION) -> None:
    """Refuse to run contracts where results could differ from other nodes': another contract
    language version than the genesis pins, an unverified CPython, or hash randomisation off
    (dict keys could then be made to collide); and pin the int-to-str digit limit."""
    if language != LANGUAGE_VERSION:
        raise RuntimeError(f"the genesis pins contract language {language}; this node runs {LANGUAGE_VERSION}")
    if sys.version_info[:2] not in VERIFIED_PYTHONS:
        raise RuntimeError(f"the contract VM is verified on CPython {VERIFIED_PYTHONS}, not {sys.version_info[:2]}")
    if not sys.flags.hash_randomization:
        raise RuntimeError("hash randomisation is off (PYTHONHASHSEED=0): unset PYTHONHASHSEED")
    # The parser refuses integer literals longer than this limit, so it decides whether a long
    # literal is a syntax error or our own "wider than 256 bits": one value on every node.
    sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)


def _ensure_headroom() -> None:
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    if sys.getrecursionlimit() < depth + STACK_HEADROOM:
        sys.setrecursionlimit(depth + STACK_HEADROOM)


def contract_address(deployer: bytes, code_hash: bytes) -> bytes:
    """A contract's address: from its deployer's address and its code hash."""
    return hashlib.sha256(_ADDRESS_TAG + deployer + code_hash).digest()[:20]


def _storage_key(key: Any) -> bytes:
    """bytes and str keys live in separate spaces (b"k" and "k" never collide)."""
    if type(key) not in (bytes, str):
        raise TypeError("storage keys are bytes or str")
    if len(key) >= MAX_KEY:  # before copying or encoding: a character is at least one byte
        raise LimitExceeded(f"storage key longer than {MAX_KEY} bytes")
    if type(key) is bytes:
        raw = b"b" + key
    else:
        raw = b"s" + key.encode()
    if len(raw) > MAX_KEY:
        raise LimitExceeded(f"storage key longer than {MAX_KEY} bytes")
    return raw


def _user_key(raw: bytes) -> bytes | str:
    return raw[1:] if raw[:1] == b"b" else raw[1:].decode()


class OversizedValue(ValueError):
    """A stored value larger than its reader's `max_bytes`: refused before it is decoded."""


def _within(raw: bytes, max_bytes: int | None) -> bytes:
    if max_bytes is not None and len(raw) > max_bytes:
        raise OversizedValue(f"{len(raw)} bytes, above the reader's bound of {max_bytes}")
    return raw


def read_storage(state: State, contract: bytes, key: bytes | str, max_bytes: int | None = None) -> Any:
    """A contract's stored value as the contract sees it, read outside any transaction (no gas):
    for read-only queries. None when absent. Any contract may store up to MAX_VALUE_BYTES under
    any key, so a reader that knows the largest value its contract writes passes `max_bytes`:
    a larger value raises OversizedValue before any decoding work."""
    raw = accounts.storage_get(state, contract, _storage_key(key))
    return None if raw is None else values.decode(_within(raw, max_bytes))


def scan_storage(state: State, contract: bytes, prefix: bytes | str, limit: int,
                 after: bytes | str | None = None, max_bytes: int | None = None) -> list[tuple[bytes | str, Any]]:
    """A contract's entries under `prefix` (above key `after`, if given) in key order, as the
    contract's `scan` returns them; with `max_bytes`, as `read_storage`, every value's size is
    checked before any is decoded."""
    start = None if after is None else _storage_key(after)
    found = [(k, _within(v, max_bytes)) for k, v in
             accounts.storage_scan(state, contract, _storage_key(prefix), limit, start)]
    return [(_user_key(k), values.decode(v)) for k, v in found]


def scan_storage_keys(state: State, contract: bytes, prefix: bytes | str, limit: int,
                      after: bytes | str | None = None) -> list[bytes | str]:
    """The keys `scan_storage` would return, without decoding any value: for a reader that
    skips entries (an offset) or only asks whether a key is present."""
    start = None if after is None else _storage_key(after)
    return [_user_key(k) for k, _ in accounts.storage_scan(state, contract, _storage_key(prefix), limit, start)]


def has_storage(state: State, contract: bytes, key: bytes | str) -> bool:
    """Whether the contract stores a value under `key`, without decoding it."""
    return accounts.storage_get(state, contract, _storage_key(key)) is not None


class _Tx:
    """Per-transaction context shared by all frames: meter, helpers, events, block context."""

    def __init__(self, vm: "VM", state: State, ctx: BlockContext, gas_limit: int, origin: bytes) -> None:
        self.vm = vm
        self.origin = origin  # the transaction's signer: the only owner whose energy it may reserve
        self.state = state
        self.ctx = ctx
        self.meter = Meter(gas_limit)
        ops = Ops(self.meter)
        self.shapes = ops.shapes
        self.helpers = ops.table()
        self.events: list[Event] = []


class VM:
    """Compiled contracts are kept for the process's life, one per distinct source: a call
    never recompiles (recompiling is work no call pays for), and the memory is bounded by the
    deploy gas every source paid. With a `code_store`, they are kept across restarts too: a
    source this process has not compiled is loaded from there before it is compiled."""

    def __init__(self, precompiles: dict[str, Precompile] | None = None, language: int = LANGUAGE_VERSION,
                 code_store: CodeStore | None = None) -> None:
        check_host(language)
        self.precompiles = dict(PRECOMPILES)
        self.precompiles.update(precompiles or {})
        self.code_store = code_store
        self._compiled: dict[str, CompiledContract] = {}

    # --- the ContractRuntime interface --------------------------------------------------

    def run(self, state: State, ctx: BlockContext, sender: bytes, body: Record) -> Receipt:
        _ensure_headroom()
        tx = _Tx(self, state, ctx, body.gas_limit, sender)
        try:
            if isinstance(body, ContractDeploy):
                output = self._deploy(tx, sender, body.code)
            elif isinstance(body, ContractCall):
                result = self._call(tx, sender, body.contract, body.function, body.args, body.value, 0)
                output = b"" if result is None else tx.shapes.encode(result)  # no return value: empty
                tx.meter.charge(GAS["receipt_byte"] * len(output))  # the receipt keeps it
            else:
                raise TypeError(f"not a contract transaction: {type(body).__name__}")
        except CompileError as exc:
            return self._failed(tx, f"compile: {exc.on_chain}")
        except ExecutionError as exc:
            return self._failed(tx, f"{exc.reason}: {exc.message}")
        except RecursionError:
            return self._failed(tx, "limit: recursion")
        except MemoryError:
            return self._failed(tx, "limit: memory")
        except Exception as exc:  # anything the contract code raised: TypeError, KeyError, ...
            # The class name only: messages differ between CPython versions, receipts must not.
            return self._failed(tx, f"error: {type(exc).__name__}")
        return Receipt(OK, tx.meter.used, output, "", tuple(tx.events))

    @staticmethod
    def _failed(tx: _Tx, reason: str) -> Receipt:
        return Receipt(FAILED, tx.meter.used, b"", values.bounded_text(reason, MAX_REASON_BYTES), ())

    # --- deploy and call -----------------------------------------------------------------

    def compiled(self, source: str) -> CompiledContract:
        """A deployed contract's compiled code (its source is on chain: its deploy paid)."""
        found = self._compiled.get(source)
        if found is None:
            found = self._compiled[source] = self._load(source)
            if self.code_store is not None:
                self.code_store.put(found)
        return found

    def _load(self, source: str) -> CompiledContract:
        """`source` compiled: from the code store if it holds it, else compiled now."""
        if self.code_store is not None:
            found = self.code_store.get(hashlib.sha256(source.encode()).digest())
            if found is not None:
                return found
        return compile_contract(source)

    def _deploy(self, tx: _Tx, deployer: bytes, source: str) -> bytes:
        tx.meter.charge(GAS["deploy"] + GAS["deploy_byte"] * len(source.encode()))
        compiled = self._compiled.get(source) or self._load(source)
        tx.meter.charge(GAS["deploy_node"] * compiled.nodes)
        address = contract_address(deployer, compiled.code_hash)
        if accounts.get_code(tx.state, address) is not None:
            raise Revert("a contract with this code already exists for this deployer")
        accounts.put_code(tx.state, address, source)
        accounts.put_deployer(tx.state, address, deployer)
        self._compiled[source] = compiled  # kept only for a deploy that paid in full
        if self.code_store is not None:
            self.code_store.put(compiled)
        return address

    def _call(self, tx: _Tx, caller: bytes, contract: bytes, function: str, args: tuple, value: int,
              depth: int) -> Any:
        if depth > MAX_CALL_DEPTH:
            raise LimitExceeded(f"contract calls nested deeper than {MAX_CALL_DEPTH}")
        source = accounts.get_code(tx.state, contract)
        if source is None:
            raise Revert(f"no contract at {contract.hex()}")
        tx.meter.charge(GAS["code_byte_16"] * (len(source) // 16))
        compiled = self.compiled(source)
        if function not in compiled.entry_points:
            raise Revert(f"contract has no entry point {_name(function)}")
        if value:
            _move(tx.state, caller, contract, value)
        namespace: dict[str, Any] = {"__builtins__": {}}
        namespace.update(tx.helpers)
        namespace.update(_api(tx, contract, caller, value, depth))
        exec(compiled.code, namespace)  # defines the contract's functions and constants only
        return namespace[function](*args)


def _move(state: State, source: bytes, dest: bytes, amount: int) -> None:
    if type(amount) is not int or amount <= 0:
        raise Revert("amount must be a positive integer")
    src = accounts.get_account(state, source)
    if src.balance < amount:
        raise Revert(f"balance {src.balance} does not cover {amount}")
    accounts.put_account(state, source, accounts.Account(src.balance - amount, src.nonce))
    dst = accounts.get_account(state, dest)
    accounts.put_account(state, dest, accounts.Account(dst.balance + amount, dst.nonce))


def _api(tx: _Tx, me: bytes, caller: bytes, sent: int, depth: int) -> dict[str, Callable[..., Any]]:
    """The contract API of one call frame."""
    meter, state = tx.meter, tx.state

    def get(key: Any, default: Any = None) -> Any:
        k = _storage_key(key)
        meter.charge(GAS["storage_get"] + GAS["storage_byte"] * len(k))
        raw = accounts.storage_get(state, me, k)
        if raw is None:
            return default
        meter.charge(GAS["storage_byte"] * len(raw))
        meter.alloc(len(raw))  # the decoded value lives as long as the transaction may hold it
        return values.decode(raw)

    def put(key: Any, value: Any) -> None:
        k = _storage_key(key)
        raw = tx.shapes.encode(value)
        meter.charge(GAS["storage_put"] + GAS["storage_byte"] * (len(k) + len(raw)))
        accounts.storage_put(state, me, k, raw)

    def delete(key: Any) -> None:
        meter.charge(GAS["storage_delete"])
        accounts.storage_delete(state, me, _storage_key(key))

    def scan(prefix: Any, limit: Any, after: Any = None) -> list:
        """Entries under `prefix` in key order, at most `limit`; with `after` (a key of the same
        type), only keys above it, so a contract pages through a prefix across transactions."""
        if type(limit) is not int or not 0 < limit <= MAX_SCAN:
            raise LimitExceeded(f"scan limit must be 1..{MAX_SCAN}")
        k = _storage_key(prefix)
        start = None
        if after is not None:
            if type(after) is not type(prefix):
                raise TypeError("scan's `after` is a key of the prefix's type")
            start = _storage_key(after)
        meter.charge(GAS["storage_scan"] + GAS["storage_scan_item"] * limit)
        raw = accounts.storage_scan(state, me, k, limit, start)
        size = sum(len(k) + len(v) for k, v in raw)
        if size > MAX_SCAN_BYTES:
            raise LimitExceeded(f"scan would read more than {MAX_SCAN_BYTES} bytes: lower its limit")
        meter.charge(GAS["storage_byte"] * size)  # before decoding any of it
        meter.alloc(len(raw) + size)
        return [(_user_key(k), values.decode(v)) for k, v in raw]

    def context(v: Any) -> Callable[[], Any]:
        def read() -> Any:
            meter.charge(GAS["context"])
            return v
        return read

    def balance(address: Any) -> int:
        meter.charge(GAS["balance"])
        return accounts.get_account(state, _address(address)).balance

    def transfer(to: Any, amount: Any) -> None:
        meter.charge(GAS["transfer"])
        _move(state, me, _address(to), amount)

    def emit(topic: Any, *fields: Any) -> None:
        if type(topic) is not str or not 0 < len(topic) <= MAX_TOPIC_BYTES \
                or len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
            raise TypeError(f"event topic must be a str of 1..{MAX_TOPIC_BYTES} UTF-8 bytes")
        if len(tx.events) >= MAX_EVENTS:
            raise LimitExceeded(f"events are bounded to {MAX_EVENTS} of {MAX_EVENT_BYTES} bytes")
        data = tx.shapes.encode(list(fields))
        if len(data) > MAX_EVENT_BYTES:
            raise LimitExceeded(f"events are bounded to {MAX_EVENTS} of {MAX_EVENT_BYTES} bytes")
        meter.charge(GAS["emit"] + GAS["receipt_byte"] * len(data))
        tx.events.append(Event(me, topic, data))

    def call(contract: Any, function: Any, *args: Any) -> Any:
        return call_value(contract, function, 0, *args)

    def call_value(contract: Any, function: Any, amount: Any, *args: Any) -> Any:
        """Call another contract sending it `amount` of this contract's balance (its value())."""
        meter.charge(GAS["contract_call"])
        if type(amount) is not int or amount < 0:
            raise TypeError("amount must be a non-negative integer")
        if type(function) is not str:
            raise TypeError("a function name is a str")
        wire = values.decode(tx.shapes.encode(list(args)))  # callee sees canonical values only
        result = tx.vm._call(tx, me, _address(contract), function, wire, amount, depth + 1)
        return None if result is None else values.decode(tx.shapes.encode(result))

    def try_call(contract: Any, function: Any, *args: Any) -> tuple:
        token = state.snapshot()
        events = len(tx.events)
        try:
            result = call(contract, function, *args)
        except BaseException as exc:
            # Whatever ended the callee, its snapshot closes here: a snapshot left open would
            # make the block's state root unanswerable and halt the chain.
            state.rollback(token)
            del tx.events[events:]
            if not isinstance(exc, Exception) or isinstance(exc, (RecursionError, MemoryError)):
                raise  # the host's trouble, not the callee's: the whole transaction fails
            meter.charge(0)  # out of gas stays out of gas
            reason = exc.message if isinstance(exc, ExecutionError) else type(exc).__name__
            return (0, values.bounded_text(reason, MAX_REASON_BYTES))
        state.release(token)
        return (1, result)

    def meter_reading(meter_key: Any, interval: Any) -> tuple | None:
        """A certified meter's reading for `interval`: (produced_wh, consumed_wh, owner), or
        None if there is none or the meter is not certified (never was, or revoked)."""
        meter.charge(GAS["meter_reading"])
        if type(meter_key) is not bytes or len(meter_key) != 32:
            raise TypeError("a meter key is 32 bytes")
        if accounts.get_meter(state, meter_key) is None:
            return None
        found = accounts.get_reading(state, _interval(interval), meter_key)
        return None if found is None else (found.produced_wh, found.consumed_wh, found.owner)

    def owner_reading(owner: Any, interval: Any) -> tuple:
        """(produced_wh, consumed_wh, reported, meters): the sum over the owner's certified
        meters that reported `interval`, how many did, and how many were certified for it (a
        meter certified later cannot report it: `accounts.owner_energy`)."""
        meter.charge(GAS["owner_reading"])
        k = _interval(interval)
        keys = accounts.owner_meters(state, _address(owner))
        meter.charge(GAS["meter_reading"] * len(keys))
        energy = accounts.meters_energy(state, keys, k)
        return (energy.produced_wh, energy.consumed_wh, energy.reported, energy.meters)

    def interval_start(interval: Any) -> int:
        """The calendar time (ms) settlement interval `interval` stands for: the block time it
        begins at, unless the genesis gives the chain a compressed clock (`calendar_*` params)."""
        meter.charge(GAS["context"])
        return tx.ctx.origin_ms + _interval(interval) * tx.ctx.interval_ms

    def deployer() -> bytes | None:
        """The address that deployed this contract: the one that may set it up, so that no one
        can take a freshly deployed contract over by calling its setup first."""
        meter.charge(GAS["storage_get"])
        return accounts.get_deployer(state, me)

    def certified() -> bool:
        """Whether this contract is a market the operator certified (see `claim_delivery`)."""
        meter.charge(GAS["storage_get"])
        return accounts.is_market(state, me)

    def _certified_market(what: str) -> None:
        if not accounts.is_market(state, me):
            raise Revert(f"only a market the operator certified may {what} metered delivery")

    def reserve_delivery(owner: Any, interval: Any, export_wh: Any, import_wh: Any) -> tuple:
        """Certified markets only: change this market's reservation of the owner's metered net
        export and import in `interval` by `export_wh` and `import_wh` (signed; never below 0),
        so that no other market's claim takes them while it counts (see `claim_delivery`).
        Raising it needs a certified market, an interval that has not begun and the owner's own
        signature on the transaction (no market commits a stranger's energy); lowering is the
        market's at any time, certified or not (a withdrawn certification never locks a round
        that releases what it holds). Returns this market's reservation (export, import)."""
        meter.charge(GAS["reserve_delivery"])
        k = _interval(interval)
        for wh in (export_wh, import_wh):
            if type(wh) is not int or not -(1 << 63) < wh < 1 << 63:
                raise TypeError("a change of reserved energy is an integer in (-2**63, 2**63)")
        who = _address(owner)
        if export_wh > 0 or import_wh > 0:
            _certified_market("reserve")
            if k <= tx.ctx.interval:
                raise Revert("energy is reserved for an interval that has not begun")
            if who != tx.origin:
                raise Revert("only the owner's own transaction reserves its energy")
        try:
            held = accounts.reserve_delivery(state, who, k, me, export_wh, import_wh)
        except ValueError as exc:
            raise Revert(str(exc)) from None
        return (held.export_wh, held.import_wh)

    def claim_delivery(owner: Any, interval: Any, export_wh: Any, import_wh: Any) -> tuple:
        """Certified markets only, for an interval that has ended: settle up to `export_wh` of
        the owner's metered net export and `import_wh` of its net import. Granted only from
        what all its certified meters measured, no market claimed before (so no Wh is paid
        twice) and no other market holds reserved (`reserve_delivery`); the claim releases as
        much of this market's own reservation as it asks for; the grant counts as settled energy
        (PoS's E). Returns (granted export, granted import, export claimed before, import
        claimed before)."""
        meter.charge(GAS["claim_delivery"])
        _certified_market("claim")
        k = _interval(interval)
        if k >= tx.ctx.interval:
            raise Revert("delivery is claimed for an interval that has ended")
        for wh in (export_wh, import_wh):
            if type(wh) is not int or not 0 <= wh < 1 << 63:
                raise TypeError("energy is an integer in [0, 2**63)")
        who = _address(owner)
        keys = accounts.owner_meters(state, who)
        meter.charge(GAS["meter_reading"] * len(keys))
        energy = accounts.meters_energy(state, keys, k)
        granted, before = accounts.claim_delivery(state, who, k, tx.ctx.interval, me, energy, export_wh, import_wh,
                                                  tx.ctx.settled_cap_wh)
        return (granted.export_wh, granted.import_wh, before.export_wh, before.import_wh)

    def sha256(data: Any) -> bytes:
        if type(data) is not bytes:
            raise TypeError("sha256 takes bytes")
        meter.charge(GAS["sha256"] + GAS["sha256_word"] * ((len(data) + 31) // 32))
        return hashlib.sha256(data).digest()

    def ed25519_verify(public_key: Any, message: Any, signature: Any) -> bool:
        meter.charge(GAS["ed25519_verify"])
        if not all(type(x) is bytes for x in (public_key, message, signature)):
            raise TypeError("ed25519_verify takes bytes")
        return len(public_key) == 32 and len(signature) == 64 and verify(public_key, message, signature)

    def precompile(name: Any, *args: Any) -> Any:
        found = tx.vm.precompiles.get(name) if type(name) is str else None
        if found is None:
            raise Revert(f"no precompile {_name(name)}")
        meter.charge(GAS["precompile"])
        check_args(args, meter.charge)
        meter.charge(found.gas(*args))
        return tx.shapes.imported(found.run(*args))

    def revert(reason: Any = "reverted") -> None:
        raise Revert(values.bounded_text(reason[:200], 200) if type(reason) is str else "reverted")

    def require(condition: Any, reason: Any = "requirement failed") -> None:
        if not condition:
            revert(reason)

    def to_bytes(n: Any, length: Any) -> bytes:
        if type(n) is not int or type(length) is not int or not 0 < length <= 32:
            raise TypeError("to_bytes(n, length) with 0 < length <= 32")
        return n.to_bytes(length, "big")

    def from_bytes(b: Any) -> int:
        if type(b) is not bytes or len(b) > 32:
            raise TypeError("from_bytes takes at most 32 bytes")
        return int.from_bytes(b, "big")

    return {
        "get": get, "put": put, "delete": delete, "scan": scan,
        "sender": context(caller), "height": context(tx.ctx.height), "block_time": context(tx.ctx.time_ms),
        "self_address": context(me), "value": context(sent), "interval": context(tx.ctx.interval),
        "interval_start": interval_start, "certified": certified, "deployer": deployer,
        "meter_reading": meter_reading, "owner_reading": owner_reading, "claim_delivery": claim_delivery,
        "reserve_delivery": reserve_delivery,
        "balance": balance, "transfer": transfer, "emit": emit, "call": call, "call_value": call_value,
        "try_call": try_call,
        "sha256": sha256, "ed25519_verify": ed25519_verify, "precompile": precompile,
        "revert": revert, "require": require, "to_bytes": to_bytes, "from_bytes": from_bytes,
    }


def _name(v: Any) -> str:
    """A name for a message: never repr() of a contract's value (its cost, its memory addresses
    and, for str, its Unicode escaping differ between processes and CPython versions)."""
    if type(v) is str and len(v) <= 64 and v.isascii() and v.isidentifier():
        return f"'{v}'"
    return "(not a valid name)"


def _interval(v: Any) -> int:
    if type(v) is not int or not 0 <= v < 1 << 64:
        raise TypeError("an interval is an integer in [0, 2**64)")
    return v


def _address(v: Any) -> bytes:
    if type(v) is not bytes or len(v) != 20:
        raise TypeError("an address is 20 bytes")
    return v

