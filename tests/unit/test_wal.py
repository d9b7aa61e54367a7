"""The consensus write-ahead log's framing: whole records come back, a torn last record is
dropped (and the file truncated), damage before the end is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pownode.wal import WALError, WriteAheadLog


def _log(path: Path, *records: bytes) -> WriteAheadLog:
    wal = WriteAheadLog(path)
    for r in records:
        wal.append(r)
    wal.sync()
    return wal


def test_records_survive_a_reopen_and_reset_empties_the_log(tmp_path: Path) -> None:
    path = tmp_path / "consensus.wal"
    _log(path, b"one", b"", b"three" * 1000).close()
    again = WriteAheadLog(path)
    assert again.records == [b"one", b"", b"three" * 1000]
    again.reset()
    again.append(b"four")
    again.sync()
    again.close()
    assert WriteAheadLog(path).records == [b"four"]


@pytest.mark.parametrize("cut", [1, 4, 8, 9, 12])
def test_a_torn_last_record_is_dropped_and_truncated(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "consensus.wal"
    _log(path, b"whole", b"torn-record").close()
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    wal = WriteAheadLog(path)
    assert wal.records == [b"whole"]
    wal.append(b"next")
    wal.sync()
    wal.close()
    assert WriteAheadLog(path).records == [b"whole", b"next"]


def test_a_zeroed_tail_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "consensus.wal"
    _log(path, b"whole", b"zeroed").close()
    data = bytearray(path.read_bytes())
    data[-6:] = bytes(6)
    path.write_bytes(bytes(data))
    assert WriteAheadLog(path).records == [b"whole"]


def test_damage_before_the_last_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "consensus.wal"
    _log(path, b"first", b"second", b"third").close()
    data = bytearray(path.read_bytes())
    data[9] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(WALError, match="checksum mismatch"):
        WriteAheadLog(path)
