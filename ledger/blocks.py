"""Block headers, blocks, and the quorum certificate that proves a block committed.

The block hash covers every header field except `proof`: the proof (2f+1 commit signatures, or
an engine's election evidence) signs the hash, so it cannot be inside it. A block is therefore
checked in two parts: the hash binds the content, and the proof is verified against the
validator set (`verify_quorum`).
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import msgpack

from ledger.bounded_decode import decode_bounded
from ledger.encoding import (HASH, PUBKEY, SIGNATURE, U32, U64, Bin, ListOf, Nested, Record, cached_property, pack,
                              pack_array_header, record)
from ledger.errors import DecodeError, InvalidBlock
from ledger.keys import PrivateKey, signing_message, verify_batch
from ledger.merkle import EMPTY_ROOT, merkle_root
from ledger.transactions import CHAIN_ID, BlockTransactions

MAX_BLOCK_TXS = 20_000
MAX_PROOF_BYTES = 256 * 1024
MAX_VALIDATORS = 1024  # signers of a certificate, and bits of a header's `skipped`
COMMIT_DOMAIN = "pownode/commit/v1"
_BLOCK_ARRAY = pack_array_header(2)  # a block is [header, transactions]
VALIDATORS_DOMAIN = "pownode/validators/v1"
ZERO_HASH = b"\0" * 32
ZERO_KEY = b"\0" * 32


@record
class Header(Record):
    chain_id: str
    height: int
    prev_hash: bytes
    time_ms: int
    proposer: bytes
    tx_root: bytes
    tx_count: int
    state_root: bytes
    receipts_root: bytes  # merkle root over the receipts' hashes, in block order
    validators_hash: bytes  # `validators_hash` of the set after this block: it certifies the next
    skipped: bytes
    proof: bytes
    SCHEMA = {
        "chain_id": CHAIN_ID,
        "height": U64,
        "prev_hash": HASH,
        "time_ms": U64,
        "proposer": PUBKEY,
        "tx_root": HASH,
        "tx_count": U32,
        "state_root": HASH,
        "receipts_root": HASH,
        "validators_hash": HASH,
        "skipped": Bin(max_len=MAX_VALIDATORS // 8),
        "proof": Bin(max_len=MAX_PROOF_BYTES),
    }

    @cached_property
    def hash(self) -> bytes:  # type: ignore[override]
        """The block hash: every field but `proof`, which certifies this hash."""
        return hashlib.sha256(pack(self.to_wire()[:-1])).digest()


@record
class Block(Record):
    """A header and its transactions. A block from a peer is decoded with
    `ledger.bounded_decode.decode_bounded`, which stops as soon as its transactions hold more
    decoded than the chain's max_block_memory; `decode` (whole tree first) is for the node's own
    store, whose blocks were validated within that bound."""

    header: Header
    txs: tuple
    SCHEMA = {"header": Nested(Header), "txs": BlockTransactions(MAX_BLOCK_TXS)}
    MAX_SIZE = 64 * 1024 * 1024

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def hash(self) -> bytes:  # type: ignore[override]
        return self.header.hash

    @cached_property
    def encoded(self) -> bytes:  # type: ignore[override]
        """`pack(self.to_wire())` from the header's and the transactions' own encodings (as
        `ledger.encoding.pack_encoded`, in one join): each node encodes every block it commits
        (the store) and the one it prepared (the consensus log), and a transaction's `encoded`
        is known since admission."""
        txs = [tx.encoded for tx in self.txs]
        return b"".join([_BLOCK_ARRAY, self.header.encoded, pack_array_header(len(txs)), *txs])  # one copy

    def body_matches(self) -> bool:
        """Whether these transactions are the ones the header commits to (`body_matches`)."""
        return body_matches(self.header, [tx.hash for tx in self.txs])


# The `InvalidBlock` reasons `Chain.validate_block` gives a body that is not its header's (it
# checks them before anything else about the body): the sender's fault, never the header's.
BODY_MISMATCH = frozenset({"bad-tx-count", "bad-tx-root"})


def body_matches(header: Header, tx_hashes: list[bytes]) -> bool:
    """Whether transactions with these hashes, in this order, are the body `header` commits to
    (its `tx_count` and `tx_root`). The block hash covers the transactions only through the
    root, so a certificate for a header says nothing about a body sent with it: a body that
    fails this is its sender's fault, never the header's."""
    return len(tx_hashes) == header.tx_count and merkle_root(tx_hashes) == header.tx_root


def encoded_txs(raw: bytes) -> list[bytes]:
    """The encoded transactions of a stored block's bytes (`Block.encoded`), sliced out without
    decoding them: each slice is the transaction's `encoded`, so its sha256 is its hash. For
    readers that only hash or forward transactions: decoding a full block's 20,000 (signatures,
    fields, checks) takes hundreds of milliseconds, slicing it a few. For a peer's block too, to
    judge its body against its header before building it: a slice that is not a transaction's
    canonical encoding hashes to no transaction's hash. Bytes not of a block's shape are a
    DecodeError."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(raw), 1), raw=True)
    unpacker.feed(raw)
    try:
        if unpacker.read_array_header() != 2:
            raise DecodeError("a block is [header, transactions]")
        unpacker.skip()  # the header
        count = unpacker.read_array_header()
        if count > MAX_BLOCK_TXS:
            raise DecodeError(f"a block of {count} transactions")
        out = []
        for _ in range(count):
            start = unpacker.tell()
            unpacker.skip()
            out.append(raw[start:unpacker.tell()])
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not a stored block: {exc}") from None
    if unpacker.tell() != len(raw):
        raise DecodeError("a stored block with trailing bytes")
    return out


def block_header(raw: bytes) -> Header:
    """The header of a block's bytes from a peer (`Block.encoded`), decoded alone along its
    schema, the transactions after it neither built nor read: what decides whether the block is
    wanted at all (its height, its certificate) costs a header, not a block's worth of decoding.
    A DecodeError where the bytes do not begin as a block."""
    unpacker = msgpack.Unpacker(max_buffer_size=max(len(raw), 1), raw=True)
    unpacker.feed(raw)
    try:
        if unpacker.read_array_header() != 2:
            raise DecodeError("a block is [header, transactions]")
        start = unpacker.tell()
        unpacker.skip()
    except (ValueError, msgpack.UnpackException) as exc:
        raise DecodeError(f"not a block: {exc}") from None
    return decode_bounded(Header, raw[start:unpacker.tell()], 0)


def validators_hash(validators: Iterable[tuple[bytes, int]]) -> bytes:
    """The digest of a validator set (keys and voting powers), whatever order it is given in."""
    return hashlib.sha256(pack([VALIDATORS_DOMAIN, [[key, power] for key, power in sorted(validators)]])).digest()


def genesis_header(chain_id: str, genesis_hash: bytes, time_ms: int, state_root: bytes,
                   validators: Iterable[tuple[bytes, int]]) -> Header:
    """Header 0: no transactions, the genesis hash as parent, the initial state's root."""
    return Header(chain_id, 0, genesis_hash, time_ms, ZERO_KEY, EMPTY_ROOT, 0, state_root, EMPTY_ROOT,
                  validators_hash(validators), b"", b"")


def skipped_bitmap(validators: list[bytes], skipped: Iterable[bytes]) -> bytes:
    """A header's `skipped`: bit i (most significant first) for validators[i] (key order) ranked
    above the block's proposer, whom the election passed over; one byte per 8 validators."""
    bits = bytearray((len(validators) + 7) // 8)
    index = {key: i for i, key in enumerate(validators)}
    for key in skipped:
        i = index[key]
        bits[i // 8] |= 0x80 >> (i % 8)
    return bytes(bits)


def skipped_keys(header: Header, validators: list[bytes]) -> tuple[bytes, ...]:
    """The validators `header.skipped` names, in key order; InvalidBlock unless the bitmap has
    one byte per 8 validators, no bit past the last and none for the proposer."""
    bits = header.skipped
    where = f"height {header.height}"
    if len(bits) != (len(validators) + 7) // 8:
        raise InvalidBlock(f"{where}: skipped has {len(bits)} bytes for {len(validators)} validators", reason="bad-skipped")
    out = []
    for i in range(len(bits) * 8):
        if bits[i // 8] & (0x80 >> (i % 8)):
            if i >= len(validators) or validators[i] == header.proposer:
                raise InvalidBlock(f"{where}: skipped names the proposer or no validator", reason="bad-skipped")
            out.append(validators[i])
    return tuple(out)


@record
class CommitSig(Record):
    validator: bytes
    signature: bytes
    SCHEMA = {"validator": PUBKEY, "signature": SIGNATURE}


@record
class QuorumCertificate(Record):
    """Commit signatures of validators holding more than two thirds of the voting power."""

    round: int
    sigs: tuple
    SCHEMA = {"round": U32, "sigs": ListOf(Nested(CommitSig), MAX_VALIDATORS)}
    MAX_SIZE = MAX_PROOF_BYTES


def commit_message(chain_id: str, height: int, round_: int, block_hash: bytes) -> bytes:
    """Sign-bytes of a commit vote: domain, chain id, height, round, block hash."""
    return signing_message(COMMIT_DOMAIN, chain_id, [height, round_, block_hash])


def sign_commit(key: PrivateKey, header: Header, round_: int = 0) -> CommitSig:
    return CommitSig(key.public_key, key.sign(commit_message(header.chain_id, header.height, round_, header.hash)))


def make_quorum(header: Header, sigs: list[CommitSig], round_: int = 0) -> bytes:
    """Encode a certificate with signatures in validator-key order (one canonical form)."""
    return QuorumCertificate(round_, tuple(sorted(sigs, key=lambda s: s.validator))).encoded


def quorum_power(total: int) -> int:
    """Smallest power strictly above two thirds of `total` (2f+1 of n=3f+1 equal validators)."""
    return total * 2 // 3 + 1


def verify_quorum(header: Header, validators: list[tuple[bytes, int]]) -> QuorumCertificate:
    """Check `header.proof` is a quorum certificate for this header under `validators`.

    Signers must be distinct validators in key order, every signature must verify, and their
    power must exceed two thirds of the total. Raises InvalidBlock with the reason.
    """
    try:
        qc = QuorumCertificate.decode(header.proof)
    except DecodeError as exc:
        raise InvalidBlock(f"height {header.height}: proof is not a quorum certificate: {exc}", reason="bad-proof")
    power = dict(validators)
    keys = [s.validator for s in qc.sigs]
    if keys != sorted(set(keys)):
        raise InvalidBlock(f"height {header.height}: commit signers repeated or out of order", reason="bad-proof")
    message = commit_message(header.chain_id, header.height, qc.round, header.hash)
    if any(key not in power for key in keys):
        raise InvalidBlock(f"height {header.height}: commit signed by a non-validator", reason="bad-proof")
    if not all(verify_batch([(s.validator, message, s.signature) for s in qc.sigs])):  # in one batch from 4
        raise InvalidBlock(f"height {header.height}: bad commit signature", reason="bad-proof")
    signed = sum(power[key] for key in keys)
    if signed < quorum_power(sum(power.values())):
        raise InvalidBlock(
            f"height {header.height}: commit power {signed} of {sum(power.values())} is not a quorum",
            reason="no-quorum",
        )
    return qc
