"""Signed, typed transactions.

A transaction is an envelope (chain id, sender public key, per-sender nonce, fee, body,
signature) around one typed body. The signature covers `["pownode/tx/v1", chain_id, [sender,
nonce, fee, body]]`, so it binds the network, the replay-protecting nonce and the body's type.
Units are integers throughout: energy in Wh, prices in milli-cents per kWh, balances in the
ledger currency's smallest unit.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

import msgpack

from ledger.encoding import (
    ADDRESS,
    PUBKEY,
    SIGNATURE,
    U8,
    U16,
    U64,
    ListOf,
    Nested,
    Record,
    _type_error,
    pack,
    pack_array_header,
    Tagged,
    Text,
    Value,
    cached_property,
    record,
)
from ledger.errors import DecodeError, RangeError
from ledger.keys import PrivateKey, address_of, signing_message, verify

TX_DOMAIN = "pownode/tx/v1"
# Pieces of a transaction's sign-bytes (`Transaction.signing_bytes`).
_SIGNING_PREFIX = pack_array_header(3) + pack(TX_DOMAIN)
_FOUR = pack_array_header(4)
_SIGNATURE_LEN = 64
_SIGNATURE_BYTES = len(pack(bytes(_SIGNATURE_LEN)))
CHAIN_ID = Text(64, min_len=1)
MAX_CODE_BYTES = 64 * 1024

BUY, SELL = 0, 1


@record
class Transfer(Record):
    """Move `amount` of the ledger currency to `to`."""

    to: bytes
    amount: int
    SCHEMA = {"to": ADDRESS, "amount": U64}


@record
class MeterReading(Record):
    """Energy a certified meter measured over settlement interval `interval`.

    The sender must be the meter's own registered key: the reading is only as trustworthy as the
    meter that signed it (Siano et al., 003 section V.F: certified smart-meter database).
    """

    interval: int
    produced_wh: int
    consumed_wh: int
    SCHEMA = {"interval": U64, "produced_wh": U64, "consumed_wh": U64}


@record
class MarketOrder(Record):
    """A bid (side BUY) or offer (side SELL) for forward window `window`."""

    window: int
    side: int
    energy_wh: int
    price_mc_per_kwh: int
    zone: int
    order_id: int
    SCHEMA = {
        "window": U64,
        "side": U8,
        "energy_wh": U64,
        "price_mc_per_kwh": U64,
        "zone": U16,
        "order_id": U64,
    }


@record
class ContractDeploy(Record):
    code: str
    gas_limit: int
    SCHEMA = {"code": Text(MAX_CODE_BYTES, min_len=1), "gas_limit": U64}


@record
class ContractCall(Record):
    contract: bytes
    function: str
    args: tuple
    gas_limit: int
    value: int
    SCHEMA = {
        "contract": ADDRESS,
        "function": Text(64, min_len=1),
        "args": ListOf(Value(), 64),
        "gas_limit": U64,
        "value": U64,
    }


@record
class RegisterMeter(Record):
    """Operator only: certify a smart meter (type, serial, public key) owned by `owner`."""

    meter_key: bytes
    meter_type: str
    serial: str
    owner: bytes
    SCHEMA = {"meter_key": PUBKEY, "meter_type": Text(32, min_len=1), "serial": Text(64, min_len=1), "owner": ADDRESS}


@record
class RevokeMeter(Record):
    """Operator only: withdraw a meter's certification; its readings stop counting."""

    meter_key: bytes
    SCHEMA = {"meter_key": PUBKEY}


@record
class SetValidator(Record):
    """Operator only: add a validator, change its voting power, or remove it (power 0)."""

    validator_key: bytes
    power: int
    SCHEMA = {"validator_key": PUBKEY, "power": U64}


@record
class CertifyMarket(Record):
    """Operator only: certify a market contract (active 1), or withdraw it (0). Only certified
    markets may report settled energy, the input of PoS's E and PoE's TE incentive."""

    contract: bytes
    active: int
    SCHEMA = {"contract": ADDRESS, "active": U8}


@record
class AdmitNode(Record):
    """Operator only: admit a full node's key to the validators' peer network (admitted 1), or
    withdraw it (0). A full node follows and verifies the chain and forwards transactions; it
    never votes."""

    node_key: bytes
    admitted: int
    SCHEMA = {"node_key": PUBKEY, "admitted": U8}


BODY_KINDS: dict[int, type[Record]] = {
    1: Transfer,
    2: MeterReading,
    3: MarketOrder,
    4: ContractDeploy,
    5: ContractCall,
    10: RegisterMeter,
    11: RevokeMeter,
    12: SetValidator,
    13: CertifyMarket,
    14: AdmitNode,
}
def body_tag(encoded: bytes) -> int:
    """The body kind's tag (BODY_KINDS) of a stored transaction's bytes, read without decoding the
    rest: for a reader picking a few kinds out of a full block. The bytes are the node's own
    store's; anything not shaped as a transaction is a DecodeError."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(encoded), 1), raw=True)
    unpacker.feed(encoded)
    try:
        if unpacker.read_array_header() != len(Transaction.SCHEMA):
            raise DecodeError("a transaction is [chain_id, sender, nonce, fee, body, signature]")
        for _ in range(4):
            unpacker.skip()
        if unpacker.read_array_header() != 2:
            raise DecodeError("a transaction's body is [tag, fields]")
        tag = unpacker.unpack()
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not a stored transaction: {exc}") from None
    if type(tag) is not int:
        raise DecodeError("a body's tag is not an integer")
    return tag


OPERATOR_KINDS = (RegisterMeter, RevokeMeter, SetValidator, CertifyMarket, AdmitNode)
FEE_EXEMPT_KINDS = (MeterReading, RegisterMeter, RevokeMeter, SetValidator, CertifyMarket, AdmitNode)
BODY = Tagged(BODY_KINDS)


@record
class Transaction(Record):
    chain_id: str
    sender: bytes
    nonce: int
    fee: int
    body: Record
    signature: bytes
    SCHEMA = {
        "chain_id": CHAIN_ID,
        "sender": PUBKEY,
        "nonce": U64,
        "fee": U64,
        "body": BODY,
        "signature": SIGNATURE,
    }
    MAX_SIZE: ClassVar[int] = MAX_CODE_BYTES + 4096

    @classmethod
    def decode(cls, data: bytes, *, max_size: int | None = None) -> "Transaction":  # type: ignore[override]
        """Strict decode (`Record.decode`), and remember the result among the last decoded, so
        a block carrying these bytes takes this object instead of decoding them again."""
        tx = super().decode(data, max_size=max_size)
        _DECODED.add(tx)
        return tx

    @classmethod
    def create(cls, key: PrivateKey, chain_id: str, nonce: int, body: Record, fee: int = 0) -> "Transaction":
        """Build and sign a transaction (validating every field as decoding would)."""
        unsigned = cls(chain_id, key.public_key, nonce, fee, body, b"\0" * 64)
        checked = cls.from_wire(unsigned.to_wire())
        return checked.replace(signature=key.sign(checked.signing_bytes))

    @cached_property
    def signing_bytes(self) -> bytes:
        """`signing_message(TX_DOMAIN, chain_id, [sender, nonce, fee, body])`, cut from the
        canonical encoding `[chain_id, sender, nonce, fee, body, signature]` (a one-byte array
        header, the fields, a 66-byte signature) rather than packing the body again: every
        node computes it for every transaction it admits."""
        if len(self.signature) != _SIGNATURE_LEN:
            return signing_message(TX_DOMAIN, self.chain_id, [self.sender, self.nonce, self.fee, BODY.wire(self.body)])
        encoded = self.encoded
        fields = 1 + len(pack(self.chain_id))
        return _SIGNING_PREFIX + encoded[1:fields] + _FOUR + encoded[fields:-_SIGNATURE_BYTES]

    def signature_valid(self) -> bool:
        return verify(self.sender, self.signing_bytes, self.signature)

    @cached_property
    def sender_address(self) -> bytes:
        return address_of(self.sender)

    @cached_property
    def retained_bytes(self) -> int:
        """About what this decoded transaction holds in memory: its encoding, its objects, and
        for a contract call an allowance per argument value. A msgpack list or short string
        of 1-3 bytes becomes a Python object of 50-100 bytes (and its checked copy), so a
        call's arguments can hold 70 times their encoding; what keeps decoded transactions
        (the mempool, the interning table, a block: genesis max_block_memory) is bounded in
        this measure, not in bytes received."""
        size = len(self.encoded) + TX_OBJECT_BYTES
        body = self.body
        if type(body) is ContractCall:
            size += ARG_OBJECT_BYTES * _objects(body.args)
        return size

    @property
    def kind(self) -> str:
        return type(self.body).__name__


TX_OBJECT_BYTES = 2048  # a decoded transfer holds some 1,400 bytes: its record, body, fields, wire lists
ARG_OBJECT_BYTES = 128  # an argument value's objects: the wire one, its checked copy, two slots


def _objects(values: tuple) -> int:
    """Values in a checked argument tree (a list counts, and so does each of its items)."""
    return len(values) + sum(_objects(v) for v in values if type(v) is tuple)


# The transactions this process decoded strictly most recently, by their encoded bytes. A node
# admits a transaction from gossip or a client, then may receive it again inside a block (a full
# proposal, a NewView, sync): `BlockTransactions` takes the admitted object (its hash and
# signature check already done) instead of decoding the same bytes a second time. A decoded
# transaction is a pure function of its bytes, so nodes sharing one process (the simulator)
# may share the table. Oldest first out past 10,000 transactions (about a full block) or 32 MiB
# of what they hold (`retained_bytes`; 10,000 transfers hold some 22 MiB), whichever comes first:
# decoding precedes the signature check, so anyone can have transactions of up to 68 KiB decoded,
# and a count alone would let 10,000 of them hold some 700 MB (or 70 times that, made of nested
# empty lists, if the bound were on their encodings). (A weak table, entries kept while anything else holds the
# transaction, costs a weak reference and a removal callback per transaction, 1.5 us, a fifth
# of decoding one.)
class _Interned:
    """Decoded transactions by their encodings, oldest out first past `max_items` or
    `max_bytes` of what they hold in memory (`Transaction.retained_bytes`)."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.items: OrderedDict[bytes, Transaction] = OrderedDict()
        self.bytes = 0

    def get(self, raw: bytes) -> "Transaction | None":
        return self.items.get(raw)

    def add(self, tx: Transaction) -> None:
        raw = tx.encoded
        if raw not in self.items:
            self.bytes += tx.retained_bytes
        self.items[raw] = tx
        while len(self.items) > self.max_items or self.bytes > self.max_bytes:
            _, old = self.items.popitem(last=False)
            self.bytes -= old.retained_bytes


_DECODED = _Interned(10_000, 32 * 1024 * 1024)


class BlockTransactions(ListOf):
    """A block's transaction list: each element's canonical bytes are looked up among the
    transactions already decoded (`_DECODED`) before it is checked field by field.

    A hit is exact: msgpack encoding is injective over what `unpack` yields (bin and str, ints,
    booleans, floats and nil all pack differently), so an element that packs to the bytes of a
    strictly decoded transaction is that transaction's wire form and would check the same. A
    miss is checked as any record, and keeps its packed bytes as its `encoded`.
    """

    def __init__(self, max_items: int) -> None:
        super().__init__(Nested(Transaction), max_items)

    def check(self, value: Any, where: str) -> tuple:
        if type(value) is not list:
            raise _type_error(value, where, "array")
        if len(value) > self.max_items:
            raise RangeError(f"{where}: {len(value)} items, at most {self.max_items}")
        found = _DECODED.get
        out = []
        for item in value:
            raw = pack(item)
            tx = found(raw)
            if tx is None:
                tx = Transaction.from_wire(item, where)
                tx.__dict__["encoded"] = raw  # item was checked field by field: raw is canonical
            out.append(tx)
        return tuple(out)
