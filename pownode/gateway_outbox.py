"""The gateway's outbox: every reading the meter published, kept on disk until the chain has
it and the owner was told.

A reading is written (and synced) before the gateway acknowledges the MQTT message, so a crash
or a broker restart cannot lose it; its signed transaction is written before it is sent, so a
restarted gateway resends the same transaction rather than a second one. One row per interval:
a second message for an interval is a duplicate when its energies agree, and is refused when
they differ (a meter cannot measure one interval twice). The reports made to the household
(market windows, battery set-points) are kept the same way until published.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pownode.gateway_readings import MeterMessage


class Status(enum.Enum):
    PENDING = "pending"  # not yet known to be on chain
    DONE = "done"  # committed (or found already committed: a duplicate the chain refused)
    REFUSED = "refused"  # the chain refused it for good (say, the meter is not certified)


@dataclass(frozen=True)
class Entry:
    interval: int
    produced_wh: int
    consumed_wh: int
    tx: bytes | None  # the signed transaction, once signed
    status: Status
    outcome: dict | None  # what is published on the receipt topic
    published: bool


class Conflict(ValueError):
    """A second reading for an interval, with other energies: a meter measures an interval once,
    so either the meter is faulty or someone else publishes on its topic, which the household is
    alarmed of."""

    def __init__(self, interval: int, kept: tuple[int, int], refused: tuple[int, int]) -> None:
        super().__init__(f"interval {interval} was already read as {kept[0]}/{kept[1]} Wh, "
                         f"not {refused[0]}/{refused[1]}")
        self.interval, self.kept, self.refused = interval, kept, refused

    def alarm(self) -> dict:
        """What is published on the alarm topic."""
        return {"alarm": "conflicting-reading", "interval": self.interval,
                "kept": {"produced_wh": self.kept[0], "consumed_wh": self.kept[1]},
                "refused": {"produced_wh": self.refused[0], "consumed_wh": self.refused[1]}}


class Reports:
    """The gateway's reports of one kind to the household (a market window's, a delivery
    interval's set-point), the last one per key, kept on disk until published: a broker that is
    away when one is made loses nothing."""

    def __init__(self, db: sqlite3.Connection, kind: str) -> None:
        self.db = db
        self.kind = kind

    def get(self, key: int) -> dict | None:
        found = self.db.execute("SELECT report FROM reports WHERE kind = ? AND key = ?", (self.kind, key)).fetchone()
        return None if found is None else json.loads(found[0])

    def keep(self, key: int, report: dict) -> bool:
        """Keep a report to publish, replacing the key's earlier one; False (nothing to publish)
        when it is the one already kept."""
        if self.get(key) == report:
            return False
        self.db.execute("INSERT OR REPLACE INTO reports VALUES (?, ?, ?, 0)", (self.kind, key, json.dumps(report)))
        return True

    def forget_before(self, key: int) -> None:
        """Drop published reports of keys before `key`: none of them changes any more."""
        self.db.execute("DELETE FROM reports WHERE kind = ? AND key < ? AND published = 1", (self.kind, key))

    def unpublished(self) -> list[tuple[int, dict]]:
        rows = self.db.execute("SELECT key, report FROM reports WHERE kind = ? AND published = 0 ORDER BY key",
                               (self.kind,))
        return [(k, json.loads(r)) for k, r in rows]

    def mark_published(self, key: int, report: dict) -> None:
        """Published: unless a later report replaced it meanwhile."""
        self.db.execute("UPDATE reports SET published = 1 WHERE kind = ? AND key = ? AND report = ?",
                        (self.kind, key, json.dumps(report)))


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # SQLite's page cache is 2 MB by default, and the outbox's queries scan the table, so a year of
        # readings (14 MB on disk) would fill it, for no speed: the pages come as fast from the OS's cache.
        self.db.execute("PRAGMA cache_size=-256")  # KiB
        self.db.execute("CREATE TABLE IF NOT EXISTS readings (interval INTEGER PRIMARY KEY, produced INTEGER NOT NULL, "
                        "consumed INTEGER NOT NULL, tx BLOB, status TEXT NOT NULL, outcome TEXT, published INTEGER NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS reports (kind TEXT NOT NULL, key INTEGER NOT NULL, "
                        "report TEXT NOT NULL, published INTEGER NOT NULL, PRIMARY KEY (kind, key))")
        self.windows = Reports(self.db, "window")  # market windows, by window
        self.setpoints = Reports(self.db, "setpoint")  # the battery's set-points, by delivery interval

    def add(self, m: MeterMessage) -> bool:
        """Keep a reading; False when this interval's reading is already kept (the same values)."""
        found = self.db.execute("SELECT produced, consumed FROM readings WHERE interval = ?", (m.interval,)).fetchone()
        if found is not None:
            if tuple(found) != (m.produced_wh, m.consumed_wh):
                raise Conflict(m.interval, (found[0], found[1]), (m.produced_wh, m.consumed_wh))
            return False
        self.db.execute("INSERT INTO readings VALUES (?, ?, ?, NULL, ?, NULL, 0)",
                        (m.interval, m.produced_wh, m.consumed_wh, Status.PENDING.value))
        return True

    def _entry(self, row: tuple) -> Entry:
        return Entry(row[0], row[1], row[2], row[3], Status(row[4]), json.loads(row[5]) if row[5] else None, bool(row[6]))

    def has(self, interval: int) -> bool:
        return self.db.execute("SELECT 1 FROM readings WHERE interval = ?", (interval,)).fetchone() is not None

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM readings WHERE status = ?", (Status.PENDING.value,)).fetchone()[0]

    def pending(self) -> list[Entry]:
        rows = self.db.execute("SELECT * FROM readings WHERE status = ? ORDER BY interval", (Status.PENDING.value,))
        return [self._entry(r) for r in rows]

    def unpublished(self) -> list[Entry]:
        rows = self.db.execute("SELECT * FROM readings WHERE status != ? AND published = 0 ORDER BY interval",
                               (Status.PENDING.value,))
        return [self._entry(r) for r in rows]

    def signed(self, interval: int, tx: bytes) -> None:
        self.db.execute("UPDATE readings SET tx = ? WHERE interval = ?", (tx, interval))

    def unsign(self, interval: int) -> None:
        """Forget a transaction the chain can no longer take (a stale nonce), to sign it anew."""
        self.db.execute("UPDATE readings SET tx = NULL WHERE interval = ?", (interval,))

    def finish(self, interval: int, status: Status, outcome: dict) -> None:
        self.db.execute("UPDATE readings SET status = ?, outcome = ? WHERE interval = ?",
                        (status.value, json.dumps(outcome), interval))

    def mark_published(self, interval: int) -> None:
        self.db.execute("UPDATE readings SET published = 1 WHERE interval = ?", (interval,))

    def all(self) -> list[Entry]:
        return [self._entry(r) for r in self.db.execute("SELECT * FROM readings ORDER BY interval")]

    def close(self) -> None:
        self.db.close()
