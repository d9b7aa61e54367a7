"""A light client: the chain's headers and commit certificates, checked one by one from the
genesis, and proofs of what a node tells it, checked against them. No block is executed and no
node is trusted: a node can refuse to answer, never make the light client accept a forged header,
certificate, receipt or state entry.

The light client holds the validator set that certifies the next header. Each header commits to
the set after its block (`validators_hash`); when that changes, the client asks the node for the
block's `SetValidator` transactions with their receipts, checks each one's inclusion against the
header, applies the successful ones to its set and requires the result to hash to the header's
value, so a node that leaves one out or adds one is caught. It keeps the last RECENT_HEADERS
headers, so it can check proofs about recent blocks and the current state, and, given a state
file, its head and validator set between runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from ledger import accounts, schema
from ledger.blocks import MAX_BLOCK_TXS, MAX_VALIDATORS, Header, genesis_header, validators_hash, verify_quorum
from ledger.encoding import unpack
from ledger.errors import DecodeError, InvalidBlock
from ledger.genesis import Genesis
from ledger.proofs import InvalidProof, StateProof, TxProof, verify_state, verify_tx
from ledger.receipts import OK, Receipt
from ledger.transactions import SetValidator, Transaction
from pownode import answer_bounds, node_http
from pownode.node_http import Bound

# Headers held for proofs: a reading is proven seconds after its block, and an older header is
# fetched by hash links (`_backfill`). At 200 ms blocks 4,096 would fill within a meter's 15-minute
# interval and hold 5.8 MB (1.4 KB a decoded header) that a light gateway almost never reads.
RECENT_HEADERS = 256
HEADERS_PER_REQUEST = 256
MAX_BACKFILL = 65_536  # headers a light client fetches below the oldest it holds, by hash links
BUSY_RETRIES = 10  # a node answers "busy" for a state proof while it votes on a block
BUSY_WAIT_S = 0.1
Fetch = Callable[[str, Bound], Any]


class NodeUnavailable(OSError):
    """The node did not answer, or answered with an error: ask again later, or another node."""


class NodeBusy(NodeUnavailable):
    """The node is committing a block (HTTP 503): ask again in a moment."""


class OverBound(NodeUnavailable):
    """The node's answer holds more than an honest answer to the request can."""


def require_same_chain(genesis: Genesis, served: Genesis, genesis_file: object, api: str) -> None:
    """Refuse, in words an operator acts on, a node whose chain is not the one of `genesis`: its
    first header would otherwise fail as 'does not follow header 0'. (A courtesy, not a check the
    light client relies on: every header is verified from `genesis` whatever the node serves.)"""
    if served.hash != genesis.hash:
        raise ValueError(f"{genesis_file} is not the genesis of the chain at {api} ({served.chain_id}): "
                         "give that chain's genesis.json, or a node of this one")


def http_fetch(api: str, timeout_s: float = 30.0) -> Fetch:
    """A `fetch` for a node API at HOST:PORT, over plain HTTP, each answer whole within
    `timeout_s` and parsed within its request's bound (`pownode.node_http`: a node dripping its
    answer cannot hold the client, nor a large one fill its memory), with no proxy (the node is
    trusted for nothing, but a proxy could still withhold answers)."""

    def fetch(path: str, bound: Bound) -> Any:
        try:
            status, body = node_http.request(api, "GET", path, None, timeout_s, bound.max_bytes)
            if status == 503:
                raise NodeBusy(f"{path}: the node is busy")
            if not 200 <= status < 300:
                raise NodeUnavailable(f"{path}: HTTP {status}")
            return node_http.parse_json(body, bound, path)
        except node_http.OverBound as exc:
            raise OverBound(str(exc)) from None
        except node_http.NoAnswer as exc:
            raise NodeUnavailable(str(exc)) from None
        except (ValueError, RecursionError) as exc:
            raise NodeUnavailable(f"{path}: {exc}") from None
    return fetch


class LightClient:
    def __init__(self, genesis: Genesis, fetch: Fetch, state_path: Path | None = None) -> None:
        """`fetch(path, bound)`: a node API's JSON answer for `path` (say, `/headers?from=1`),
        refused (OverBound) if it holds more than `bound` (`pownode.answer_bounds`).
        `state_path`: where the client keeps its head and validator set between runs (its own
        verified state, so a restart continues from there instead of from the genesis)."""
        self.genesis = genesis
        self.fetch = fetch
        self.state_path = state_path
        self.validators = sorted((v.public_key, v.power) for v in genesis.validators)
        self.head = genesis_header(genesis.chain_id, genesis.hash, genesis.genesis_time_ms,
                                   genesis.initial_state().root(), self.validators)
        if state_path is not None and state_path.exists():
            self._load(state_path)
        self.recent: OrderedDict[int, Header] = OrderedDict({self.head.height: self.head})
        self._saved_height = self.head.height

    def _load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text())
            head = Header.decode(bytes.fromhex(doc["head"]))
            validators = sorted((bytes.fromhex(k), int(p)) for k, p in doc["validators"])
        except (OSError, ValueError, KeyError, TypeError, DecodeError) as exc:
            raise ValueError(f"{path}: not a light client's state ({exc}); delete it to start from the genesis") from None
        if doc.get("genesis") != self.genesis.hash.hex() or head.chain_id != self.genesis.chain_id:
            raise ValueError(f"{path} is the state of another chain's light client")
        if validators_hash(validators) != head.validators_hash:
            raise ValueError(f"{path}: its validator set is not the one its head commits to")
        self.head, self.validators = head, validators

    def save(self) -> None:
        """Keep the head and the validator set (atomically), if this client has a state file."""
        if self.state_path is None or self._saved_height == self.head.height:
            return
        doc = {"genesis": self.genesis.hash.hex(), "head": self.head.encoded.hex(),
               "validators": [[k.hex(), p] for k, p in self.validators]}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.state_path)
        self._saved_height = self.head.height

    # --- following the chain ---------------------------------------------------------------

    def sync(self, to_height: int | None = None) -> Header:
        """Take verified headers until `to_height` (default: the node's head); the new head."""
        while to_height is None or self.head.height < to_height:
            count = answer_bounds.headers_per_page(len(self.validators), HEADERS_PER_REQUEST)
            _, encoded = self._headers(self.head.height + 1, count, self.head.height + 1)
            if isinstance(encoded, list) and len(encoded) > count:
                raise InvalidProof(f"the node sent {len(encoded)} headers for at most {count}")
            if not isinstance(encoded, list) or not encoded:
                if to_height is not None:
                    raise InvalidProof(f"the node has no header {self.head.height + 1} (it claimed {to_height})")
                break
            try:
                for raw in encoded:
                    self.accept(_header(raw))
            finally:
                self.save()  # what verified so far, even if a later header did not
        self.save()
        return self.head

    def _headers(self, start: int, count: int, alone: int) -> tuple[int, Any]:
        """(first height, the node's list of headers from `start`, at most `count` of them),
        each within the largest header certified by a set the size of the current one. Headers
        certified by a larger set (one that grew since, or an older one) make an answer over that
        bound: then only header `alone` is asked for, within the largest header there is."""
        try:
            answer = self.fetch(f"/headers?from={start}&limit={count}", answer_bounds.headers(len(self.validators), count))
        except OverBound:
            if count == 1:
                raise
            start, answer = alone, self.fetch(f"/headers?from={alone}&limit=1", answer_bounds.headers(MAX_VALIDATORS, 1))
        return start, answer.get("headers") if isinstance(answer, dict) else None

    def accept(self, header: Header) -> None:
        """Take the header after the head, or raise InvalidBlock/InvalidProof saying why not."""
        head = self.head
        where = f"header {header.height}"
        if header.chain_id != self.genesis.chain_id:
            raise InvalidBlock(f"{where}: chain id {header.chain_id!r}", reason="wrong-chain")
        if header.height != head.height + 1 or header.prev_hash != head.hash:
            raise InvalidBlock(f"{where}: does not follow header {head.height}", reason="bad-parent")
        if header.time_ms <= head.time_ms:
            raise InvalidBlock(f"{where}: time not after its parent's", reason="bad-time")
        verify_quorum(header, self.validators)
        if header.validators_hash != validators_hash(self.validators):
            self.validators = self._changed_set(header)
        self.head = header
        self.recent[header.height] = header
        while len(self.recent) > RECENT_HEADERS:
            self.recent.popitem(last=False)

    def _changed_set(self, header: Header) -> list[tuple[bytes, int]]:
        answer = self.fetch(f"/blocks/{header.height}/validator-changes",
                            answer_bounds.validator_changes(header.tx_count))
        docs = answer.get("proofs") if isinstance(answer, dict) else None
        if not isinstance(docs, list) or len(docs) > MAX_BLOCK_TXS:
            raise InvalidProof(f"header {header.height}: the node's validator changes are not a list of proofs")
        powers = dict(self.validators)
        for doc in docs:
            tx, receipt = self._verified_tx(header, TxProof.from_json(doc))
            if isinstance(tx.body, SetValidator) and tx.sender == self.genesis.operator and receipt.status == OK:
                if tx.body.power:
                    powers[tx.body.validator_key] = tx.body.power
                else:
                    powers.pop(tx.body.validator_key, None)
        changed = sorted(powers.items())
        if validators_hash(changed) != header.validators_hash:
            raise InvalidProof(f"header {header.height}: the validator changes the node gave do not make the "
                               "set the header commits to")
        return changed

    # --- proofs ----------------------------------------------------------------------------

    def _header_at(self, height: int) -> Header:
        if height > self.head.height:
            self.sync(height)
        header = self.recent.get(height)
        return header if header is not None else self._backfill(height)

    def _backfill(self, height: int) -> Header:
        """An older header than those held, by hash links down from the oldest one held: each
        fetched header must hash to its successor's parent hash, so none can be made up."""
        lowest = min(self.recent)
        if not 0 < height < lowest or lowest - height > MAX_BACKFILL:
            raise InvalidProof(f"header {height} is not within {MAX_BACKFILL} headers below the oldest this "
                               f"light client holds ({lowest})")
        expected, top = self.recent[lowest].prev_hash, lowest - 1
        while top >= height:
            start = max(height, top - answer_bounds.headers_per_page(len(self.validators), HEADERS_PER_REQUEST) + 1)
            start, encoded = self._headers(start, top - start + 1, top)
            if not isinstance(encoded, list) or len(encoded) != top - start + 1:
                raise InvalidProof(f"the node did not give headers {start}..{top}")
            top = start - 1
            for raw in reversed(encoded):
                header = _header(raw)
                if header.hash != expected:
                    raise InvalidProof(f"header {header.height} is not the parent the chain's headers link to")
                expected = header.prev_hash
                if header.height == height:
                    return header
        raise InvalidProof(f"header {height} was not among the headers the node gave")

    def _verified_tx(self, header: Header, proof: TxProof) -> tuple[Transaction, Receipt]:
        if proof.height != header.height:
            raise InvalidProof(f"a proof for height {proof.height} offered for header {header.height}")
        verify_tx(header.tx_root, header.receipts_root, header.tx_count, proof)
        try:
            return Transaction.decode(proof.tx), Receipt.decode(proof.receipt)
        except DecodeError as exc:
            raise InvalidProof(f"a proven transaction or receipt does not decode: {exc}") from None

    def transaction(self, tx_hash: bytes) -> tuple[int, Transaction, Receipt]:
        """(height, transaction, receipt) of a committed transaction, proven against its header."""
        proof = TxProof.from_json(self.fetch(f"/proofs/tx/{tx_hash.hex()}", answer_bounds.TX_PROOF))
        if hashlib.sha256(proof.tx).digest() != tx_hash:
            raise InvalidProof("the node proved another transaction than the one asked for")
        tx, receipt = self._verified_tx(self._header_at(proof.height), proof)
        return proof.height, tx, receipt

    def state_entry(self, key: bytes) -> tuple[int, bytes | None]:
        """(height, value) of a state key at the node's head (None: no such key), proven."""
        for attempt in range(BUSY_RETRIES):
            try:
                answer = self.fetch(f"/proofs/state/{key.hex()}", answer_bounds.STATE_PROOF)
                break
            except NodeBusy:
                if attempt == BUSY_RETRIES - 1:
                    raise
                time.sleep(BUSY_WAIT_S)
        if not isinstance(answer, dict) or type(answer.get("height")) is not int:
            raise InvalidProof("a state proof answer without its height")
        proof = StateProof.from_json(answer.get("proof", {}))
        if proof.key != key:
            raise InvalidProof("the node proved another key than the one asked for")
        if answer["height"] < self.head.height:  # an old state is a true answer to another question
            raise InvalidProof(f"the node answered for height {answer['height']}, behind this client's "
                               f"{self.head.height}")
        return answer["height"], verify_state(self._header_at(answer["height"]).state_root, proof)

    def account(self, address: bytes) -> tuple[int, accounts.Account]:
        height, raw = self.state_entry(schema.account_key(address))
        return height, accounts.Account(0, 0) if raw is None else accounts.Account.from_wire(unpack(raw))

    def meter(self, meter_key: bytes) -> tuple[int, accounts.Meter | None]:
        height, raw = self.state_entry(schema.meter_key(meter_key))
        return height, None if raw is None else accounts.Meter.from_wire(unpack(raw))

    def reading(self, interval: int, meter_key: bytes) -> tuple[int, accounts.Reading | None]:
        height, raw = self.state_entry(schema.reading_key(interval, meter_key))
        return height, None if raw is None else accounts.Reading.from_wire(unpack(raw))


def _header(raw: Any) -> Header:
    try:
        return Header.decode(bytes.fromhex(raw))
    except (TypeError, ValueError, DecodeError) as exc:
        raise InvalidBlock(f"a header that does not decode: {exc}", reason="malformed") from None
