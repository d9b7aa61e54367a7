"""How soon the dashboard's overview shows a committed block (issue 19 asks within 2 s).

    python benchmarks/dashboard.py [--seconds 60] [--json FILE]

A 4-validator pbft cluster on loopback and headless Chromium (Debian's chromium and
chromium-driver) on node0's dashboard. For every block H committed while the page is watched,
the lag is the time the page's height first shows H or more, minus block H's header time (its
proposer's clock when it proposed, so commit and the page's redraw are both inside it). The page
redraws at most once a second, which bounds the lag from above by about a second plus a commit.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from pownode import cluster  # noqa: E402
from pownode.client import request  # noqa: E402
from tests.browser.conftest import CHROMIUM, DRIVER  # noqa: E402
from tests.cluster.test_local_cluster import _free_base  # noqa: E402


def _watch(driver, seconds: float) -> dict[int, float]:
    """Height -> wall-clock ms at which the page first showed it."""
    from selenium.common.exceptions import WebDriverException

    seen: dict[int, float] = {}
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            shown = driver.find_element("id", "height").text.replace(",", "")
        except WebDriverException:  # the page is being redrawn
            continue
        if shown.isdigit() and int(shown) not in seen:
            seen[int(shown)] = time.time() * 1000
        time.sleep(0.02)
    return seen


def run(seconds: float, json_path: str | None) -> dict:
    if CHROMIUM is None or DRIVER is None:
        raise SystemExit("needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    work = Path(tempfile.mkdtemp(prefix="pownode-dashboard-"))
    procs: list = []
    try:
        cluster.start(work / "net", 4, "pbft", _free_base(8), procs)
        cluster.wait_in_step(work / "net", procs=procs, timeout_s=120)
        api = cluster.addresses(work / "net")[0][1]
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        try:
            driver.get(f"http://{api}/")
            time.sleep(3)  # the page's first drawing
            seen = _watch(driver, seconds)
        finally:
            driver.quit()
        shown = sorted(seen)
        first = {h: min(seen[s] for s in shown if s >= h) for h in range(shown[1], shown[-1] + 1)}
        lags = [first[h] - request(api, f"/blocks/{h}")["time_ms"] for h in first]
    finally:
        cluster.stop(procs)
        shutil.rmtree(work, ignore_errors=True)
    results = {"blocks": len(lags), "lag_median_ms": round(statistics.median(lags)),
               "lag_p95_ms": round(statistics.quantiles(lags, n=20)[-1]), "lag_max_ms": round(max(lags))}
    emit("dashboard", results, [("blocks watched", str(results["blocks"])),
                                ("overview lag after a block's time", f"median {results['lag_median_ms']} ms, "
                                 f"p95 {results['lag_p95_ms']} ms, max {results['lag_max_ms']} ms")], json_path)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the page is watched")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    run(args.seconds, args.json)


if __name__ == "__main__":
    main()
