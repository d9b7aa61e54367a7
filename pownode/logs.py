"""Logging for pownode's processes: plain lines, or one JSON object per line for collectors.

Kept apart from the node so a small process (the MQTT gateway) sets up its logging without
importing the node, its VM and its numeric libraries.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from dataclasses import dataclass
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warning", "error")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": self.formatTime(record), "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


@dataclass(frozen=True)
class LogFile:
    """Where a long-running process logs, and how much it may keep: the file grows to
    `max_bytes`, then becomes `<path>.1` (the older ones shift up) and a new file begins; past
    `keep` old files the oldest is deleted. A node on a household's gateway runs for years."""

    path: Path
    max_bytes: int = 16 * 1024 * 1024
    keep: int = 3

    def __post_init__(self) -> None:
        if self.max_bytes < 4096:
            raise ValueError(f"a log file may grow to 4 KiB at least, not {self.max_bytes} bytes")
        if self.keep < 1:
            raise ValueError(f"keep at least 1 old log file, not {self.keep}")


class _RotatingOutput(logging.handlers.RotatingFileHandler):
    """A size-rotated log file that the process's stdout and stderr follow too: a traceback or
    a library's own print goes to the current file, not to a rotated one or nowhere."""

    def _open(self):  # type: ignore[no-untyped-def]
        stream = super()._open()
        for fd in (1, 2):
            os.dup2(stream.fileno(), fd)
        return stream


def setup_logging(level: str = "info", as_json: bool = False, file: LogFile | None = None) -> None:
    """Log at `level` and above to stderr, or with `file` to that file, rotated by size."""
    handler: logging.Handler = logging.StreamHandler()
    if file is not None:
        handler = _RotatingOutput(file.path, maxBytes=file.max_bytes, backupCount=file.keep)
    handler.setFormatter(JsonLogFormatter() if as_json else
                         logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
