"""Every key the ledger stores, built in one place.

Two key spaces: *state keys* (hashed into the state root, identical on every node) and *database
keys* (how one node lays out blocks, indexes and state in LevelDB). No other module builds key
bytes. Integers in keys are fixed-width big-endian so byte order equals numeric order.
"""

from __future__ import annotations

import struct

_U64 = struct.Struct(">Q")


def u64(n: int) -> bytes:
    return _U64.pack(n)


def read_u64(b: bytes) -> int:
    return _U64.unpack(b)[0]


# --- state keys (consensus-critical: changing one changes every state root) ----------------

ACCOUNT = b"a"
VALIDATOR = b"v"
METER = b"m"
READING = b"r"
ORDER = b"o"
CONTRACT_STORAGE = b"c"
CONTRACT_CODE = b"k"
CONTRACT_DEPLOYER = b"K"
PROPOSER = b"p"
SKIPPED = b"s"  # a validator passed over as proposer: leader reputation
TRADED = b"t"
SETTLED = b"e"
CLAIMED = b"l"
RESERVED = b"h"  # one market's reservation of an owner's metered energy for an interval
RESERVED_TOTAL = b"H"  # all markets' reservations of an owner's energy for an interval
OWNER_METER = b"M"
REVOKED = b"R"
MARKET = b"x"
SUPPLY = b"S"  # total currency in existence: genesis balances plus block incentives
FULL_NODE = b"f"  # a full node's key the operator admitted to the validators' peer network


def account_key(address: bytes) -> bytes:
    return ACCOUNT + address


def validator_key(public_key: bytes) -> bytes:
    return VALIDATOR + public_key


def meter_key(public_key: bytes) -> bytes:
    return METER + public_key


def owner_meter_key(owner: bytes, public_key: bytes) -> bytes:
    """The index of an owner's certified meters: one prefix scan answers "whose meters"."""
    return OWNER_METER + owner + public_key


def owner_meter_prefix(owner: bytes) -> bytes:
    return OWNER_METER + owner


def revoked_key(public_key: bytes) -> bytes:
    return REVOKED + public_key


def reading_key(interval: int, meter_public_key: bytes) -> bytes:
    """Readings are grouped by interval so one interval's readings are one prefix scan."""
    return READING + u64(interval) + meter_public_key


def reading_prefix(interval: int) -> bytes:
    return READING + u64(interval)


def order_key(window: int, sender: bytes, order_id: int) -> bytes:
    return ORDER + u64(window) + sender + u64(order_id)


def order_prefix(window: int) -> bytes:
    return ORDER + u64(window)


def contract_storage_key(contract: bytes, key: bytes) -> bytes:
    return CONTRACT_STORAGE + contract + key


def contract_code_key(contract: bytes) -> bytes:
    return CONTRACT_CODE + contract


def contract_deployer_key(contract: bytes) -> bytes:
    return CONTRACT_DEPLOYER + contract


def proposer_key(public_key: bytes) -> bytes:
    return PROPOSER + public_key


def skipped_key(public_key: bytes) -> bytes:
    return SKIPPED + public_key


def traded_key(address: bytes) -> bytes:
    return TRADED + address


def settled_key(address: bytes, interval: int) -> bytes:
    return SETTLED + address + u64(interval)


def claimed_key(owner: bytes, interval: int) -> bytes:
    return CLAIMED + owner + u64(interval)


def reserved_key(owner: bytes, interval: int, market: bytes) -> bytes:
    return RESERVED + owner + u64(interval) + market


def reserved_total_key(owner: bytes, interval: int) -> bytes:
    return RESERVED_TOTAL + owner + u64(interval)


def market_key(contract: bytes) -> bytes:
    return MARKET + contract


def full_node_key(public_key: bytes) -> bytes:
    return FULL_NODE + public_key


# --- database keys (local layout) ----------------------------------------------------------

DB_HEAD = b"meta:head"  # -> height u64 || block hash; written in the same batch as the block
DB_GENESIS = b"meta:genesis"  # -> canonical genesis bytes
_DB_BLOCK = b"blk:"  # + block hash -> encoded block
_DB_HEADER = b"hdr:"  # + block hash -> encoded header
_DB_HEIGHT = b"hgt:"  # + height u64 -> block hash
_DB_TX = b"tx:"  # + tx hash -> encoded tx location and receipt
DB_STATE = b"st:"  # + state key -> state value


def db_block(block_hash: bytes) -> bytes:
    return _DB_BLOCK + block_hash


def db_header(block_hash: bytes) -> bytes:
    return _DB_HEADER + block_hash


def db_height(height: int) -> bytes:
    return _DB_HEIGHT + u64(height)


def db_tx(tx_hash: bytes) -> bytes:
    return _DB_TX + tx_hash


def db_state(state_key: bytes) -> bytes:
    return DB_STATE + state_key
