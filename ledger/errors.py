"""The ledger's exception tree.

Every exception here is *expected during normal operation*: peers and clients send bad bytes,
stale nonces and forged signatures all the time. Callers catch `LedgerError` (or a branch of
it), record the reason, and keep running; a rejection is a value, never a crash.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of everything the ledger rejects. `reason` is a short machine-readable slug."""

    reason = "ledger-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


# --- decoding -------------------------------------------------------------------------------


class DecodeError(LedgerError):
    """Bytes that are not the one canonical encoding of a well-formed value."""

    reason = "malformed"


class OversizeError(DecodeError):
    reason = "oversize"


class TrailingBytesError(DecodeError):
    reason = "trailing-bytes"


class FloatRejectedError(DecodeError):
    reason = "float"


class MapRejectedError(DecodeError):
    reason = "map"


class ArityError(DecodeError):
    reason = "arity"


class FieldTypeError(DecodeError):
    reason = "field-type"


class RangeError(DecodeError):
    """An integer, byte string, text or list outside its field's declared bounds."""

    reason = "out-of-range"


class NonCanonicalError(DecodeError):
    """Well-formed msgpack whose bytes are not the unique canonical form (e.g. a wide int)."""

    reason = "non-canonical"


# --- validation -----------------------------------------------------------------------------


class InvalidSignature(LedgerError):
    reason = "bad-signature"


class InvalidTransaction(LedgerError):
    """A transaction that cannot be admitted or applied; `reason` says why."""

    reason = "invalid-transaction"


class InvalidBlock(LedgerError):
    """A block that must not be committed; `reason` says why, `tx_index` points at the culprit."""

    reason = "invalid-block"

    def __init__(self, message: str, *, reason: str | None = None, tx_index: int | None = None) -> None:
        super().__init__(message, reason=reason)
        self.tx_index = tx_index


class MempoolRejection(LedgerError):
    """The mempool refused a transaction that may be valid (full, duplicate, nonce too far)."""

    reason = "mempool"


class StorageError(LedgerError):
    """The store is inconsistent or corrupt: a clear error, never silent repair."""

    reason = "storage"


class ProofTooLarge(LedgerError):
    """A state proof larger than its server's bound: a key's sub-bucket is chosen by CRC-32 (aimed
    at will) and one byte of SHA-256 (256 tries), so a member can crowd a sub-bucket with entries."""

    reason = "proof-too-large"


class GenesisError(LedgerError):
    reason = "genesis"
