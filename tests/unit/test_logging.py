"""`pownode run --log-json` writes one JSON object per line that a log collector can parse."""

from __future__ import annotations

import json
import logging

from pownode.logs import JsonLogFormatter


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
