"""The consensus write-ahead log: a validator's own votes, synced before they are sent.

A replica killed and restarted within a height must not sign a second, different message for a
(height, view) it already signed for; the engine's memory of what it signed is lost with the
process, so the host writes every record the engine hands it (`consensus.engine.Persist`) here,
fsynced, before it sends anything that follows, and gives the records back to the engine on
restart (`Engine.restore`). The log holds one height: it is emptied when a block commits.

Each record is framed as `length (u32 BE) | crc32 (u32 BE) | payload`. A record cut short at the
end of the file (the process died while writing it, so nothing after it was sent) is dropped and
the file truncated to the last whole record; a record whose checksum fails with more records
after it is damage, and opening the log is a clear error.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from ledger.errors import StorageError

_HEADER = struct.Struct(">II")
MAX_RECORD = 64 * 1024 * 1024  # a NewView carries a block; far above any block a node accepts


class WALError(StorageError):
    """The log is damaged somewhere other than its last record."""


class WriteAheadLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = self._read()
        self._file = open(path, "ab")
        self._pending: list[bytes] = []

    def _read(self) -> list[bytes]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        records, pos = [], 0
        while pos < len(data):
            if len(data) - pos < _HEADER.size:
                break  # a torn header at the tail
            length, crc = _HEADER.unpack_from(data, pos)
            start, end = pos + _HEADER.size, pos + _HEADER.size + length
            if length > MAX_RECORD or end > len(data):
                if length > MAX_RECORD and end <= len(data):
                    raise WALError(f"{self.path}: record at byte {pos} claims {length} bytes: the log is damaged")
                break  # a torn record at the tail
            payload = data[start:end]
            if zlib.crc32(payload) != crc:
                if end == len(data):
                    break  # the last record, torn
                raise WALError(f"{self.path}: checksum mismatch in the record at byte {pos}, with records after it: "
                               "the consensus log is damaged; move it aside only if you are sure this validator "
                               "did not vote at the current height")
            records.append(payload)
            pos = end
        if pos < len(data):
            with open(self.path, "r+b") as f:  # drop the torn tail so appends follow whole records
                f.truncate(pos)
                f.flush()
                os.fsync(f.fileno())
        return records

    def append(self, payload: bytes) -> None:
        """Queue a record; it is on disk once `sync` returns."""
        self._pending.append(_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)

    def sync(self) -> None:
        """Write and fsync what was queued (one fsync for a group of records)."""
        if not self._pending:
            return
        self._file.write(b"".join(self._pending))
        self._pending.clear()
        self._file.flush()
        os.fsync(self._file.fileno())

    @property
    def dirty(self) -> bool:
        return bool(self._pending)

    def reset(self) -> None:
        """Empty the log: the height its records were for has committed."""
        self._pending.clear()
        self._file.truncate(0)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.records = []

    def close(self) -> None:
        self._file.close()
