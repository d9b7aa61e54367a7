"""What an honest node's answer to each request of a light client or a gateway can hold
(`pownode.node_http.Bound`), derived from the protocol's limits on what that request returns.

A node is trusted for nothing, its answers' sizes included: before these bounds each answer was
read up to 64 MiB (16 MiB for a gateway) and parsed whole, and 64 MB of `[{},{},...]` held
1.7 GB of Python objects on a board that runs a gateway in some 33 MB. Each bound here is the
largest honest answer, so no honest answer is refused, and the values and containers bound the
objects a parse can make whatever the bytes are.

JSON sizes from encoded sizes: hex is two characters a byte, and a string's character is at
most six (`\\uXXXX`); a decoded contract value is at most JSON_PER_BYTE bytes of JSON, one value
and one container a byte of its encoding (its smallest element is one byte).
"""

from __future__ import annotations

import functools
import math

from ledger.blocks import MAX_BLOCK_TXS, CommitSig, Header, QuorumCertificate
from ledger.genesis import Genesis
from ledger.proofs import MAX_STATE_PROOF_BYTES
from ledger.receipts import Event, Receipt
from ledger.transactions import SetValidator, Transaction
from pownode.node_http import Bound

JSON_PER_BYTE = 8  # JSON bytes of a decoded contract value, per byte of its encoding
ENVELOPE = 4096  # an answer's keys, numbers and punctuation around its records
PATH_HASHES = math.ceil(math.log2(MAX_BLOCK_TXS))  # a merkle path's hashes in the largest block
HASH_JSON = 2 * 32 + 3  # a hash as a JSON string, with its comma
# Accepted orders in one page of an aggregator's obligations (`pownode.aggregator_api.MAX_ACCEPTED`,
# which needs aiohttp, so a gateway does not import it; a unit test keeps the two equal).
OBLIGATION_ROUNDS = 1024
WINDOW_RECORD_BYTES = 1024  # nine fields: a 40-hex address, integers of at most 78 digits, their keys
WINDOW_RECORD_VALUES = 2 * 10
OBLIGATION_RECORD_BYTES = 512
OBLIGATION_RECORD_VALUES = 2 * 8


def _max_header_bytes(validators: int) -> int:
    """Encoded bytes of the largest header certified by `validators` signers: every field at
    its widest, a signature of each, and a `skipped` bit for each."""
    sig = CommitSig(b"\xff" * 32, b"\xff" * 64)
    proof = QuorumCertificate(2**32 - 1, (sig,) * validators).encoded
    wide = b"\xff" * 32
    return len(Header("x" * 64, 2**64 - 1, wide, 2**64 - 1, wide, wide, 2**32 - 1, wide, wide, wide,
                      b"\xff" * (validators // 8 + 1), proof).encoded)


HEADER_PAGE_BYTES = 4 * 1024 * 1024  # a page of headers' JSON: 256 of them up to 60 validators


@functools.lru_cache(maxsize=64)
def headers(validators: int, count: int) -> Bound:
    """`GET /headers?limit=count` while `validators` certify the headers: a list of hex."""
    return Bound(count * (2 * _max_header_bytes(validators) + 3) + ENVELOPE, 4, count + 8)


@functools.lru_cache(maxsize=64)
def headers_per_page(validators: int, most: int) -> int:
    """Headers to ask for at once, at most `most`, whose answer fits HEADER_PAGE_BYTES while
    `validators` certify them (one at least): a large set's certificates make fewer a page."""
    return max(1, min(most, HEADER_PAGE_BYTES // (2 * _max_header_bytes(validators) + 3)))


def _max_receipt_bytes() -> int:
    event = Event(b"\xff" * 20, "t" * 64, b"\xff" * 1024)
    return len(Receipt(255, 2**64 - 1, b"\xff" * 65536, "x" * 256, (event,) * 64).encoded)


MAX_RECEIPT_BYTES = _max_receipt_bytes()
# A SetValidator's transaction at its widest; its receipt has no output and no events.
MAX_SET_VALIDATOR_BYTES = len(Transaction("x" * 64, b"\xff" * 32, 2**64 - 1, 2**64 - 1,
                                          SetValidator(b"\xff" * 32, 2**64 - 1), b"\xff" * 64).encoded)
MAX_BARE_RECEIPT_BYTES = len(Receipt(255, 2**64 - 1, b"", "x" * 256, ()).encoded)


def _tx_proof_bytes(tx: int, receipt: int) -> int:
    return 2 * (tx + receipt) + 2 * PATH_HASHES * HASH_JSON + 256


TX_PROOF = Bound(_tx_proof_bytes(Transaction.MAX_SIZE, MAX_RECEIPT_BYTES), 4, 2 * PATH_HASHES + 16)


def validator_changes(tx_count: int) -> Bound:
    """`GET /blocks/H/validator-changes` for a block of `tx_count` transactions: at most a
    proof of each, each a SetValidator's."""
    proof = _tx_proof_bytes(MAX_SET_VALIDATOR_BYTES, MAX_BARE_RECEIPT_BYTES)
    return Bound(tx_count * proof + ENVELOPE, 4 * tx_count + 4, (2 * PATH_HASHES + 16) * tx_count + 8)


# A state proof's JSON: each of its MAX_STATE_PROOF_BYTES is two hex characters at most, and each
# entry (a key and a 32-byte digest, or a sub-bucket and its hash) is a list of two.
_STATE_ENTRIES = MAX_STATE_PROOF_BYTES // 32
STATE_PROOF = Bound(2 * MAX_STATE_PROOF_BYTES + 6 * _STATE_ENTRIES + ENVELOPE, _STATE_ENTRIES + 8,
                    3 * _STATE_ENTRIES + 16)

# The genesis's encoding is at most Genesis.MAX_SIZE; its balances and meters take at least 24
# bytes each (its validators and params are fewer), and each holds at most four fields.
_GENESIS_RECORDS = Genesis.MAX_SIZE // 24 + 1024 + 256
GENESIS = Bound(8 * Genesis.MAX_SIZE, _GENESIS_RECORDS + 16, 10 * _GENESIS_RECORDS + 64)

# What a gateway reads: its account, a transaction's status (its receipt's output and events
# decoded), the answer to its one-transaction POST, and pages of a market window and of its
# aggregator's obligations.
ACCOUNT = Bound(1024, 4, 32)
_EVENTS_JSON = 64 * (JSON_PER_BYTE * 1024 + 256)
TX_STATUS = Bound(2 * 65536 + _EVENTS_JSON + ENVELOPE, 64 * (1024 + 1) + 8, 64 * (2 * 1024 + 16) + 64)
POSTED = Bound(ENVELOPE, 8, 64)
OBLIGATIONS = Bound(2 * OBLIGATION_ROUNDS * OBLIGATION_RECORD_BYTES + ENVELOPE, 2 * OBLIGATION_ROUNDS + 16,
                    2 * OBLIGATION_ROUNDS * OBLIGATION_RECORD_VALUES + 64)


def window_page(limit: int) -> Bound:
    """`GET /market/M/windows/W?limit=limit`: up to `limit` records in each of its lists (demand
    orders, offers, trades, settlements)."""
    records = 4 * limit
    return Bound(records * WINDOW_RECORD_BYTES + ENVELOPE, records + 16, records * WINDOW_RECORD_VALUES + 64)
