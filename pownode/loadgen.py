"""Benchmark load: deterministic sender keys and transactions signed ahead of time in worker
processes, so that signing is never measured as node work.

Sender i's k-th transaction has nonce k. The load is submitted round by round (every sender's
nonce k before anyone's k+1), so no sender runs far ahead of what has committed.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass

from ledger.encoding import Record
from ledger.keys import PrivateKey
from ledger.transactions import MarketOrder, MeterReading, Transaction, Transfer

KINDS = ("transfer", "order", "meter")
MAX_SENDERS = 1000


def sender_key(i: int) -> PrivateKey:
    return PrivateKey.from_label(f"pownode-bench-sender-{i}")


def _body(kind: str, sender: int, senders: int, k: int) -> tuple[Record, int]:
    """(body, fee) of sender `sender`'s transaction number `k`."""
    if kind == "transfer":
        return Transfer(sender_key((sender + 1) % senders).address, 1 + k % 7), 1
    if kind == "order":
        return MarketOrder(1_000 + k // 64, sender % 2, 500 + sender % 1000, 5_000 + 13 * (k % 100), sender % 4, k), 1
    if kind == "meter":
        return MeterReading(k, 1_000 + (sender * 7 + k) % 3_000, 800 + (sender * 11 + k) % 2_000), 0
    raise ValueError(f"transaction kind must be one of {KINDS}")


@dataclass(frozen=True)
class Load:
    """The pre-signed load: txs[i] is (hash, encoded) of the i-th transaction in submission
    order, and sender_of[i] its sender's index (the node it goes to is chosen by sender)."""

    txs: list[tuple[bytes, bytes]]
    sender_of: list[int]


def _sign_sender(job: tuple[str, str, int, int, int]) -> list[tuple[bytes, bytes]]:
    chain_id, kind, sender, senders, count = job
    key = sender_key(sender)
    out = []
    for k in range(count):
        body, fee = _body(kind, sender, senders, k)
        tx = Transaction.create(key, chain_id, k, body, fee=fee)
        out.append((tx.hash, tx.encoded))
    return out


def presign(chain_id: str, kind: str, total: int, senders: int, workers: int) -> Load:
    """Sign `total` transactions from `senders` senders in `workers` processes."""
    if kind not in KINDS:
        raise ValueError(f"transaction kind must be one of {KINDS}")
    rounds = -(-total // senders)
    counts = [rounds if s < total - (rounds - 1) * senders else rounds - 1 for s in range(senders)]
    jobs = [(chain_id, kind, s, senders, counts[s]) for s in range(senders)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        per_sender = pool.map(_sign_sender, jobs, chunksize=max(1, senders // (8 * workers)))
    txs, sender_of = [], []
    for k in range(rounds):
        for s in range(senders):
            if k < counts[s]:
                txs.append(per_sender[s][k])
                sender_of.append(s)
    return Load(txs, sender_of)
