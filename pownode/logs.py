"""Logging for pownode's processes: plain lines, or one JSON object per line for collectors.

Kept apart from the node so a small process (the MQTT gateway) sets up its logging without
importing the node, its VM and its numeric libraries.
"""

from __future__ import annotations

import json
import logging

LOG_LEVELS = ("debug", "info", "warning", "error")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": self.formatTime(record), "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(level: str = "info", as_json: bool = False) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter() if as_json else
                         logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
