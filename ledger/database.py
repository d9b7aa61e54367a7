"""A small key-value database interface with atomic batches, and its two backends.

`LevelDB` (plyvel) is what nodes run on; `MemoryDB` serves tests and benchmarks that must not
touch the disk. Both pass the same contract test suite (tests/unit/test_database.py). A batch is
all-or-nothing: leaving the `with` block by an exception writes nothing, and LevelDB applies a
write batch atomically through its log, synced to disk when `sync=True`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Iterator, Protocol

import plyvel

from ledger.errors import StorageError


class Batch(Protocol):
    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...


class Database(ABC):
    @abstractmethod
    def get(self, key: bytes) -> bytes | None: ...

    @abstractmethod
    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Entries whose key starts with `prefix`, in key order."""

    @abstractmethod
    def batch(self, *, sync: bool = True) -> AbstractContextManager[Batch]:
        """Context manager collecting puts and deletes, applied atomically on clean exit."""

    @abstractmethod
    def close(self) -> None: ...


class MemoryDB(Database):
    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self._data if k.startswith(prefix)):
            yield key, self._data[key]

    @contextmanager
    def batch(self, *, sync: bool = True) -> Iterator[Batch]:
        pending = _PendingBatch()
        yield pending
        for key, value in pending.ops.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def close(self) -> None:
        pass  # nothing to release: the data lives in this object


class _PendingBatch:
    def __init__(self) -> None:
        self.ops: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.ops[key] = value

    def delete(self, key: bytes) -> None:
        self.ops[key] = None


class LevelDB(Database):
    """A LevelDB database. It is created only when asked (`create=True`) and only in a folder
    that is absent or empty: a folder holding files but no database (a lost `CURRENT` file, a
    damaged manifest) is an error, never silently replaced by a new, empty chain."""

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        path = Path(path)
        has_files = path.is_dir() and any(path.iterdir())
        if not has_files and not create:
            raise StorageError(f"no database at {path}")
        if has_files and not (path / "CURRENT").is_file():
            raise StorageError(f"{path} holds files but no LevelDB CURRENT file: the database is damaged. "
                               "Refusing to start a new chain over it; to recover, move the folder aside "
                               "and let the node resync from its peers")
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=not has_files, paranoid_checks=True)
        except plyvel.Error as exc:
            if isinstance(exc, plyvel.IOError) and f"{path}/LOCK" in str(exc):
                # LevelDB's lock file: another process (or handle) has the database open. Calling
                # that damage would send an operator to move a healthy chain aside.
                raise StorageError(f"{path} is in use by another process (is a node already running on this "
                                   "home?): stop it first; the database itself is untouched") from exc
            raise StorageError(f"cannot open LevelDB at {path}: {exc}. The database is damaged: to recover, "
                               "move the folder aside and let the node resync from its peers") from exc
        self.path = path

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self._db.iterator(prefix=prefix) as it:
            yield from it

    @contextmanager
    def batch(self, *, sync: bool = True) -> Iterator[Batch]:
        # transaction=True: an exception inside the block discards the batch entirely.
        with self._db.write_batch(transaction=True, sync=sync) as wb:
            yield wb

    def compact(self) -> None:
        """Merge the write-ahead log and levels into sorted tables (reclaims space)."""
        self._db.compact_range()

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()
