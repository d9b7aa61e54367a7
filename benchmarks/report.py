"""Timing and output helpers shared by the benchmarks: medians, a table, and JSON."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable


def median_seconds(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    """Median wall time of `fn` over `repeat` runs (`setup` runs untimed before each)."""
    times = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    import os

    return {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count()}


def emit(name: str, results: dict[str, Any], rows: list[tuple[str, str]], json_path: str | None) -> None:
    """Print a two-column table, then the JSON document (also written to `json_path`)."""
    width = max(len(k) for k, _ in rows)
    print(f"{name}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    doc = {"benchmark": name, "machine": machine(), "results": results}
    text = json.dumps(doc, indent=2, sort_keys=True)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n")
