"""The test suite as three pytest sessions running at once: what `make test` runs.

Most of the suite's wall time is waiting, not computing: clusters of real processes commit
blocks at their interval, brokers and browsers start, scenarios play market days on a cluster
and again in one process. One session at a time left a two-core machine about a third idle
(19 minutes of wall time for 13 of CPU). The groups:

- in process: unit, vm, sim, property, vectors and market tests (CPU-bound; sockets only on
  ports the OS picks);
- scenarios and browser pages (each its own cluster, broker or browser);
- every other directory, present or future (clusters, gateways, crash recovery).

Process tests pick free ports themselves (random bases below the ephemeral range, or port 0)
and keep everything under their own temporary directories, so two of them can run at once; the
tests assert outcomes and wait on conditions, never on speed, so a busier machine makes them
slower, not wrong. Each session's output is kept and printed whole once all have finished (a
line as each one ends); the exit status is the first failing session's, 0 if all passed.

    python tests/run_groups.py [pytest options...]
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = ("tests/unit", "tests/vm", "tests/sim", "tests/property", "tests/vectors", "tests/market")
PAGES_AND_SCENARIOS = ("tests/scenario", "tests/browser")


def groups() -> dict[str, list[str]]:
    """Each group's pytest arguments: the last takes every directory the others do not name."""
    named = IN_PROCESS + PAGES_AND_SCENARIOS
    return {
        "in-process": list(IN_PROCESS),
        "scenarios-and-pages": list(PAGES_AND_SCENARIOS),
        "processes": ["tests", *(f"--ignore={path}" for path in named)],
    }


def main(extra: list[str]) -> int:
    started = time.monotonic()
    runs: dict[str, tuple[subprocess.Popen, Path]] = {}
    with tempfile.TemporaryDirectory(prefix="pownode-tests-") as logs:
        for name, args in groups().items():
            log = Path(logs) / f"{name}.log"
            with open(log, "wb") as out:
                # No cache plugin: three sessions would write .pytest_cache at once.
                runs[name] = (subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *extra, *args],
                                               cwd=ROOT, stdout=out, stderr=subprocess.STDOUT), log)
        codes: dict[str, int] = {}
        pending = dict(runs)
        try:
            while pending:
                for name, (proc, log) in list(pending.items()):
                    if proc.poll() is not None:
                        codes[name] = proc.returncode
                        last = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
                        print(f"[{time.monotonic() - started:6.0f} s] {name}: {last[0]}", flush=True)
                        del pending[name]
                time.sleep(1)
        finally:  # interrupted: each session tears its clusters down as on Ctrl-C
            for proc, _ in pending.values():
                proc.send_signal(signal.SIGINT)
            for proc, _ in pending.values():
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for name, (_, log) in runs.items():
            print(f"\n===== {name} (pytest {' '.join(groups()[name])}) =====", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
    failed = [name for name in runs if codes[name] != 0]
    print(f"\n{len(runs) - len(failed)} of {len(runs)} groups passed in {time.monotonic() - started:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return codes[failed[0]] if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
