"""Logging: `--log-json` lines a collector parses; `--log-file` rotated by size."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pownode.logs import JsonLogFormatter, LogFile


def test_a_json_log_line_parses_with_its_fields() -> None:
    record = logging.LogRecord("pownode.node", logging.WARNING, __file__, 1, "peer %s dropped", ("ab12",), None)
    doc = json.loads(JsonLogFormatter().format(record))
    assert doc["level"] == "warning" and doc["logger"] == "pownode.node" and doc["message"] == "peer ab12 dropped"
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonLogFormatter().format(record))["exception"]


def test_a_log_file_rotates_by_size_and_keeps_stderr_in_the_current_file(tmp_path) -> None:
    """A process logging for years keeps at most `keep` old files of `max_bytes`; what it writes
    to stderr outside logging (an uncaught traceback) lands in the current file."""
    log = tmp_path / "node.log"
    script = textwrap.dedent(f"""
        import logging
        from pathlib import Path
        from pownode.logs import LogFile, setup_logging
        setup_logging("info", file=LogFile(Path({str(log)!r}), max_bytes=4096, keep=2))
        for i in range(400):
            logging.getLogger("pownode.node").info("committed height %d (%s)", i, "x" * 40)
        raise RuntimeError("the last words")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1 and done.stderr == ""  # everything went to the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.log", "node.log.1", "node.log.2"]
    for old in ("node.log.1", "node.log.2"):
        assert 3000 < (tmp_path / old).stat().st_size <= 4096
    current = log.read_text()
    assert "committed height 399" in current and "RuntimeError: the last words" in current
    assert "committed height 398" in current or "committed height 398" in (tmp_path / "node.log.1").read_text()


def test_log_file_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="4 KiB"):
        LogFile(Path("x"), max_bytes=100)
    with pytest.raises(ValueError, match="at least 1 old log file"):
        LogFile(Path("x"), keep=0)
