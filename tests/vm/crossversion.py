"""The contract fuzzer's driver: interpreters, their venvs, running batches in subprocesses, and
the four oracles over what the runner (`tests/vm/fuzz_runner.py`) printed.

Oracles (see `check_*` below):

1. the node never dies: a runner that exits non-zero (a segfault, ...) or overruns its timeout is
   a failure naming the single program that causes it (`isolate` bisects a batch that died), and
   so is a program after which the node could not go on (`VM.run` raising, a transaction
   snapshot left open so that no state root can be computed: the runner reports these itself);
2. wall time per gas stays within `TIME_RATIO` x the median over all calls of one interpreter
   that used at least `TIME_MIN_GAS` gas;
3. receipts and state roots are identical on every interpreter present (3.11, the project's
   venv, against 3.12 and optionally 3.13 in cached venvs `.venv-xver-<version>`);
4. every receipt's encoding decodes back to an equal Receipt (checked in the runner, and here
   again on the bytes it printed).

`reduce` shrinks a failing program (statement by statement) while its failure stays the same.
Nothing here imports `vm` or `ledger`: those run only in the subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "vm" / "fuzz_runner.py"

BATCH_TIMEOUT = float(os.environ.get("POWNODE_FUZZ_TIMEOUT", "120"))  # seconds per subprocess
TIME_RATIO = 300.0
TIME_MIN_GAS = 20_000
TIME_MIN_SAMPLES = 8  # fewer qualifying calls than this: no median worth comparing against

# Other interpreters to compare with the running one: version -> base interpreter. Override with
# POWNODE_XVER="3.12=/path/to/python3.12,3.13=/path/to/python3.13" (empty: no comparison).
DEFAULT_OTHERS = {"3.12": "/root/.pyenv/versions/3.12.1/bin/python",
                  "3.13": "/root/.pyenv/versions/3.13.0/bin/python"}
DEFAULT_XVER = "3.12"  # compared by default; 3.13 on request (POWNODE_XVER=3.12,3.13)

# The runner imports only these (and what they import); the packages they pull in from
# site-packages are found by importing them in this interpreter (`runner_requirements`).
RUNNER_IMPORTS = ("vm.machine", "ledger.state", "ledger.accounts", "ledger.receipts", "ledger.transactions")
_READY = ".pownode-fuzz-ready"


# --- interpreters ------------------------------------------------------------------------------


def other_interpreters() -> dict[str, str]:
    """version -> base interpreter path, from POWNODE_XVER (default: 3.12 only)."""
    spec = os.environ.get("POWNODE_XVER", DEFAULT_XVER).strip()
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        version, _, path = part.partition("=")
        path = path or DEFAULT_OTHERS.get(version, f"python{version}")
        out[version] = path
    return out


_FIND_IMPORTS = """
import importlib, importlib.metadata as md, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
tops = {m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
dists = md.packages_distributions()
print(json.dumps(sorted({d for m in tops for d in dists.get(m, ())})))
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runner_requirements() -> list[str]:
    """Requirements for a runner venv: the distributions whose modules `RUNNER_IMPORTS` load
    here, with pyproject.toml's version specifiers (a distribution pyproject does not list is a
    dependency of one it does, and pip finds it the same way)."""
    found = subprocess.run([sys.executable, "-c", _FIND_IMPORTS, *RUNNER_IMPORTS], capture_output=True, text=True,
                           cwd=ROOT, env=child_env())
    if found.returncode != 0:
        raise RuntimeError(f"cannot import the runner's modules here: {found.stderr.strip()[-500:]}")
    imported = {_canonical(d) for d in json.loads(found.stdout)}
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = []
    for dep in deps:
        name = re.split(r"[<>=!~\[;\s]", dep, maxsplit=1)[0]
        if _canonical(name) in imported:
            wanted.append(dep.replace(" ", ""))
    return sorted(wanted)


def ensure_venv(version: str, base: str, *, timeout: float = 1200) -> tuple[str | None, str]:
    """A venv of `base` at ROOT/.venv-xver-<version> holding the runner's imports, created once
    and reused while its marker matches. Returns (python, "") or (None, why not)."""
    if not Path(base).exists() and shutil.which(base) is None:
        return None, f"no interpreter {base} for CPython {version}"
    venv = ROOT / f".venv-xver-{version}"
    python = venv / "bin" / "python"
    try:
        reqs = runner_requirements()
    except RuntimeError as exc:
        return None, str(exc)
    marker = venv / _READY
    want = json.dumps({"base": base, "requirements": reqs})
    if marker.exists() and python.exists() and marker.read_text() == want:
        return str(python), ""
    steps = [[str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs]]
    if not (marker.exists() and python.exists()):  # new, or half made: from scratch
        shutil.rmtree(venv, ignore_errors=True)
        steps.insert(0, [base, "-m", "venv", str(venv)])
    marker.unlink(missing_ok=True)  # the requirements changed: install them into the venv we have
    started = time.monotonic()
    for cmd in steps:
        left = timeout - (time.monotonic() - started)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=max(left, 1), cwd=ROOT)
        except subprocess.TimeoutExpired:
            return None, f"creating {venv.name} timed out after {timeout:.0f} s ({' '.join(cmd[:4])} ...)"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"creating {venv.name} failed: {' '.join(cmd[:4])} ...: {' | '.join(tail)}"
    check = subprocess.run([str(python), "-c", "import sys; sys.path.insert(0, sys.argv[1]); import vm.machine",
                            str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    if check.returncode != 0:
        return None, f"{venv.name} cannot import vm.machine: {check.stderr.strip().splitlines()[-1:]}"
    marker.write_text(want)
    return str(python), ""




# --- running batches ---------------------------------------------------------------------------


@dataclass
class BatchRun:
    python: str
    programs: list[dict]
    results: list[dict | None]  # per program; None where the runner printed nothing for it
    returncode: int | None  # None: timed out (killed)
    stderr: str
    seconds: float
    running: int | None  # the program the runner had started but not finished, if any
    timeout: float = BATCH_TIMEOUT

    @property
    def died(self) -> bool:
        return self.returncode != 0

    def why(self) -> str:
        if self.returncode is None:
            where = "" if self.running is None else f", while running program {self.running} of {len(self.programs)}"
            return f"timed out after {self.timeout:.0f} s{where}"
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        tail = " | ".join(self.stderr.strip().splitlines()[-4:])
        return f"exit status {self.returncode}: {tail}"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONFAULTHANDLER"] = "1"  # a segfault prints the Python stack to stderr
    return env  # PYTHONHASHSEED is dropped: the VM refuses to run with hash randomisation off


def run_batch(python: str, programs: list[dict], timeout: float | None = None) -> BatchRun:
    timeout = BATCH_TIMEOUT if timeout is None else timeout
    started = time.monotonic()
    proc = subprocess.Popen([python, str(RUNNER), "--stream"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=child_env(), start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(programs), timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # the runner we started, and only it
        out, err = proc.communicate()
        code = None
    results: list[dict | None] = [None] * len(programs)
    running = None
    for line in out.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "start" in msg:
            running = msg["start"]
        elif "index" in msg:
            results[msg["index"]] = msg
            running = None
    return BatchRun(python, programs, results, code, err, time.monotonic() - started, running, timeout)


def isolate(python: str, programs: list[dict], suspect: int | None) -> tuple[list[dict], BatchRun]:
    """The smallest run of these programs (ending with the suspect) that still kills the runner:
    the suspect alone if it dies alone, else halves of what ran before it."""
    if suspect is None:
        suspect = next((i for i, r in enumerate(run_batch(python, programs).results) if r is None),
                       len(programs) - 1)
    target = programs[suspect]
    alone = run_batch(python, [target])
    if alone.died:
        return [target], alone
    before = programs[:suspect]
    last = run_batch(python, before + [target])
    if not last.died:
        return programs, last  # not reproducible in isolation: report the whole batch
    while len(before) > 1:
        half = len(before) // 2
        for part in (before[:half], before[half:]):
            attempt = run_batch(python, part + [target])
            if attempt.died:
                before, last = part, attempt
                break
        else:
            break
    return before + [target], last


# --- oracles -----------------------------------------------------------------------------------


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    kinds: dict[str, list[dict]] = field(default_factory=dict)  # kind of failure -> programs showing it
    programs: int = 0
    calls: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # python -> (median, max, n)
    compared: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    def fail(self, text: str, kind: str = "other", program: dict | None = None) -> None:
        self.failures.append(text)
        self.kinds.setdefault(kind, [])
        if program is not None:
            self.kinds[kind].append(program)

    def digest(self) -> str:
        """One paragraph per kind of failure, with its shortest program."""
        parts = [f"{len(self.failures)} failures of {len(self.kinds)} kinds"]
        for kind, progs in self.kinds.items():
            parts.append(f"== {kind} ({len(progs)} programs); the shortest:")
            if progs:
                parts.append(show(min(progs, key=lambda p: (len(p["source"]), len(p["calls"])))))
            else:
                parts.append(next(f for f in self.failures))
        return "\n".join(parts)


def show(program: dict) -> str:
    """A reproducer: the source as it reads, and the exact JSON the runner takes."""
    return (f"--- source ---\n{program['source']}--- calls ---\n{json.dumps(program['calls'])}\n"
            f"--- runner input (this line in a file F: PYTHONPATH=. python tests/vm/fuzz_runner.py < F) ---\n"
            f"{json.dumps([program])}")


def check_crashes(report: Report, runs: list[BatchRun], rerun: bool = True) -> None:
    """Oracle 1: every runner exits 0 within its timeout; every program finishes cleanly."""
    for run in runs:
        if run.died and run.running is None and all(r is None for r in run.results):
            report.fail(f"runner {run.python} did not start ({run.why()})", f"runner did not start: {run.why()[-200:]}")
            continue
        if run.died:
            if rerun and run.returncode is not None:
                culprit, last = isolate(run.python, run.programs, run.running)
            else:
                culprit, last = [run.programs[run.running]] if run.running is not None else run.programs, run
            what = "single program" if len(culprit) == 1 else f"{len(culprit)} programs in sequence"
            report.fail(f"runner {run.python} died ({run.why()}); reproduced with the {what} "
                        f"({last.why()}):\n" + "\n".join(show(p) for p in culprit),
                        f"runner died ({re.sub(r'program [0-9]+ of [0-9]+', 'a program', last.why())[:120]})",
                        culprit[-1])
        for program, result in zip(run.programs, run.results):
            if result is not None and result.get("error"):
                report.fail(f"node invariant broken under {run.python}: {result['error']}\n{show(program)}",
                            f"node invariant: {signature([result])}", program)


def check_timing(report: Report, runs: list[BatchRun]) -> None:
    """Oracle 2: no call's wall time per gas exceeds TIME_RATIO x the median (per interpreter)."""
    by_python: dict[str, list[tuple[float, dict, int]]] = {}
    for run in runs:
        for program, result in zip(run.programs, run.results):
            if result is None:
                continue
            for k, (receipt, us) in enumerate(zip(result["receipts"], result["times_us"])):
                if receipt["gas_used"] >= TIME_MIN_GAS:
                    by_python.setdefault(run.python, []).append((us / receipt["gas_used"], program, k))
    for python, samples in by_python.items():
        if len(samples) < TIME_MIN_SAMPLES:
            continue
        median = statistics.median(s[0] for s in samples)
        worst = max(samples, key=lambda s: s[0])
        report.ratios[python] = (median, worst[0], len(samples))
        for per_gas, program, k in samples:
            if per_gas > TIME_RATIO * median:
                what = "the deploy" if k == 0 else f"call {k} {program['calls'][k - 1][:2]}"
                report.fail(f"{python}: {what} took {per_gas:.3f} us/gas, {per_gas / median:.0f}x the median "
                            f"{median:.4f} us/gas over {len(samples)} calls:\n{show(program)}",
                            f"slow: over {TIME_RATIO:.0f}x the median time per gas", program)


def comparable(result: dict) -> dict:
    """What must be identical across interpreters: everything but the timings."""
    return {k: v for k, v in result.items() if k not in ("times_us", "python")}


def check_same(report: Report, primary: list[BatchRun], other: list[BatchRun]) -> None:
    """Oracle 3: identical receipts and state roots on both interpreters."""
    for a_run, b_run in zip(primary, other):
        for program, a, b in zip(a_run.programs, a_run.results, b_run.results):
            if a is None or b is None:
                continue  # the crash oracle reports it
            versions = a["python"], b["python"]
            a, b = comparable(a), comparable(b)
            if a == b:
                continue
            where, x, y = _first_difference(a, b)
            k = next((i for i, (ra, rb) in enumerate(zip(a["receipts"], b["receipts"])) if ra != rb), None)
            if k is not None:  # the whole receipt reads better than one field of it
                what = "the deploy" if k == 0 else f"call {k} {program['calls'][k - 1][:2]}"
                where, x, y = f"{what} ({where})", _brief(a["receipts"][k]), _brief(b["receipts"][k])
            report.fail(f"CPython {versions[0]} and {versions[1]} disagree at {where}:\n  {versions[0]}: {x}\n"
                        f"  {versions[1]}: {y}\n{show(program)}",
                        f"CPython {versions[0]} and {versions[1]} disagree", program)


def _brief(receipt: dict) -> str:
    return (f"status {receipt['status']}, gas {receipt['gas_used']}, reason {receipt['reason']!r}, "
            f"output {receipt['output'][:80]}, {len(receipt['events'])} events")


def _first_difference(a: Any, b: Any, where: str = "") -> tuple[str, Any, Any]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{where}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return where or "top", a, b


def check_receipt_codec(report: Report, runs: list[BatchRun], decode: Callable[[bytes], Any] | None) -> None:
    """Oracle 4: the runner's own round trip held, and the printed bytes decode to the printed fields."""
    for run in runs:
        for program, result in zip(run.programs, run.results):
            if result is None:
                continue
            for k, receipt in enumerate(result["receipts"]):
                if receipt["roundtrip"] is not True:
                    report.fail(f"{run.python}: receipt {k} does not round-trip: {receipt['roundtrip']}\n{show(program)}",
                                "receipt does not round-trip", program)
                    continue
                if decode is None:
                    continue
                got = decode(bytes.fromhex(receipt["encoded"]))
                fields = (got.status, got.gas_used, got.output.hex(), got.reason, [e.encoded.hex() for e in got.events])
                want = (receipt["status"], receipt["gas_used"], receipt["output"], receipt["reason"], receipt["events"])
                if fields != want:
                    report.fail(f"{run.python}: receipt {k} decodes to {fields}, runner said {want}\n{show(program)}",
                                "receipt bytes differ from its fields", program)


# --- reducing a failing program ----------------------------------------------------------------


def signature(results: list[dict | None]) -> str | None:
    """What is wrong with one program's results across interpreters (None: nothing). The same
    signature before and after a reduction step means the same bug."""
    for r in results:
        if r is None:
            return "died"
        if r.get("error"):
            err = r["error"].splitlines()[0]
            err = re.sub(r"^(deploy|call \d+ '[^']*'): ", "", err)
            return re.sub(r"Receipt\(.*\): ", "Receipt(...): ", err)
        if any(rc["roundtrip"] is not True for rc in r["receipts"]):
            return "receipt round trip"
    if any(comparable(r) != comparable(results[0]) for r in results[1:]):  # type: ignore[arg-type]
        return "interpreters disagree"
    return None


def _candidates(program: dict) -> list[dict]:
    """Smaller variants: a statement (with its block) or a call removed, biggest cuts first."""
    lines = program["source"].splitlines()
    out: list[tuple[int, dict]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        if line.lstrip().startswith(("else:", "elif ")):
            continue
        kept = lines[:i] + lines[j:]
        prev = lines[i - 1] if i else ""
        nxt = kept[i] if i < len(kept) else ""
        nxt_indent = len(nxt) - len(nxt.lstrip()) if nxt.strip() else -1
        if prev.rstrip().endswith(":") and nxt_indent < indent:
            kept.insert(i, " " * indent + "pass")  # the block would be empty
        if kept and kept != lines:
            out.append((j - i, {**program, "source": "\n".join(kept) + "\n"}))
    for k in range(len(program["calls"])):
        if len(program["calls"]) > 1:
            out.append((1, {**program, "calls": program["calls"][:k] + program["calls"][k + 1:]}))
    out.sort(key=lambda c: -c[0])
    return [c for _, c in out]


def reduce(program: dict, pythons: list[str], *, rounds: int = 200, log: Callable[[str], None] = print) -> dict:
    """Greedy delta debugging: keep removing statements and calls while the failure's
    signature stays the same. Each round runs every candidate in one runner per interpreter."""
    want = signature([r for r in (run_batch(py, [program]).results[0] for py in pythons)])
    if want is None or want == "died":
        log(f"not reducing: signature {want!r} (a dying runner is bisected instead)")
        return program
    log(f"reducing ({len(program['source'].splitlines())} lines, {len(program['calls'])} calls): {want}")
    with ThreadPoolExecutor(max_workers=len(pythons)) as pool:
        for _ in range(rounds):
            cands = _candidates(program)
            if not cands:
                break
            runs = list(pool.map(lambda py: run_batch(py, cands), pythons))
            for i, cand in enumerate(cands):
                if signature([run.results[i] for run in runs]) == want:
                    program = cand
                    break
            else:
                break
    log(f"reduced to {len(program['source'].splitlines())} lines, {len(program['calls'])} calls")
    return program


# --- a whole round -----------------------------------------------------------------------------


def batches(programs: list[dict], size: int) -> list[list[dict]]:
    return [programs[i:i + size] for i in range(0, len(programs), size)]


def fuzz(programs: list[dict], *, pythons: list[str], batch_size: int = 12, jobs: int = 2,
         decode: Callable[[bytes], Any] | None = None, rerun: bool = True) -> Report:
    """Run `programs` under every interpreter in `pythons` (the first is the reference) and
    apply the four oracles."""
    report = Report(programs=len(programs))
    groups = batches(programs, batch_size)
    runs: dict[str, list[BatchRun]] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {py: [pool.submit(run_batch, py, g) for g in groups] for py in pythons}
        for py, fs in futures.items():
            runs[py] = [f.result() for f in fs]
    for py, rs in runs.items():
        report.seconds[py] = sum(r.seconds for r in rs)
        check_crashes(report, rs, rerun=rerun)
        check_timing(report, rs)
        check_receipt_codec(report, rs, decode)
    for py in pythons[1:]:
        check_same(report, runs[pythons[0]], runs[py])
        report.compared.append(py)
    for rs in runs[pythons[0]]:
        for result in rs.results:
            if result is None:
                continue
            report.calls += len(result["receipts"])
            for k, receipt in enumerate(result["receipts"]):
                key = ("deploy " if k == 0 else "call ") + ("ok" if receipt["status"] == 0 else "failed")
                report.statuses[key] = report.statuses.get(key, 0) + 1
    return report


def summary(report: Report) -> str:
    lines = [f"{report.programs} programs, {report.calls} transactions; {report.statuses}"]
    for py, secs in report.seconds.items():
        ratio = report.ratios.get(py)
        timing = f"; us/gas median {ratio[0]:.4f}, max {ratio[1]:.4f} ({ratio[1] / ratio[0]:.1f}x) over {ratio[2]} calls" \
            if ratio else ""
        lines.append(f"  {py}: {secs:.1f} s in runners{timing}")
    lines.append(f"  compared with: {report.compared or 'nothing'}; failures: {len(report.failures)}")
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/vm/crossversion.py: create the venvs now
    for v, base in other_interpreters().items():
        print(v, *ensure_venv(v, base))
    sys.exit(0)
