"""The contract fuzzer's runner: executes programs in a process of its own, so that whatever a
program does to the interpreter (a segfault, a hang, an exception escaping the VM) is seen by the
parent instead of killing it. Also the entry point of a long fuzzing campaign.

Worker (what `tests/vm/test_fuzz.py` starts; needs only the packages `ledger` and `vm` import):

    echo '[{"source": "def f(a):\\n    return a + 1\\n", "calls": [["f", [41]]]}]' \\
        | PYTHONPATH=. python tests/vm/fuzz_runner.py

reads a JSON list of programs {source, calls: [[function, args] or [function, args, gas_limit,
value], ...], deploy_gas?} on stdin (bytes in args are written {"hex": "..."}), and for each
program deploys it into a fresh state, makes the calls the way the executor does (snapshot,
`VM.run`, release or rollback), and prints its receipts (status, gas_used, output hex, reason,
events hex, encoded hex, whether the encoding decodes back to an equal Receipt), the state root
after each transaction, and the wall time of each `VM.run` in microseconds. Output is one JSON
list, or with --stream one JSON line per program, each preceded by {"start": index} so that a
parent knows which program was running if the process dies. A program that leaves the node in a
broken state (`VM.run` raising, a snapshot left open, a root that cannot be computed) gets an
"error" and the runner goes on with the next program (a fresh state).

Campaign (hypothesis draws programs with a random seed, checked by every oracle of
tests/vm/crossversion.py; failures are printed grouped by kind, the shortest program of each kind
is reduced, and all of it is written to --out, default fuzz-failures.json):

    cd /work/main && .venv/bin/python -m tests.vm.fuzz_runner --campaign 2000
    .venv/bin/python -m tests.vm.fuzz_runner --campaign 5000 --seed 7 --batch 25 --xver 3.12,3.13

(the same in CI size: POWNODE_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/vm/test_fuzz.py)

Reduce failing programs (a failure's "runner input" line, saved to a file, is a JSON list):

    .venv/bin/python -m tests.vm.fuzz_runner --reduce failing.json [--xver 3.12,3.13]
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

if __name__ == "__main__" and sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # run as a script: do not let tests/vm's modules shadow anything

SENDER = bytes(range(1, 21))
PROPOSER = b"\x07" * 32
HEIGHT, TIME_MS = 7, 1_700_000_000_000
DEPLOY_GAS = 20_000_000
CALL_GAS = 1_000_000
SENDER_BALANCE = 10**12


def _arg(v: Any) -> Any:
    if isinstance(v, dict):
        return bytes.fromhex(v["hex"])
    if isinstance(v, list):
        return [_arg(x) for x in v]
    return v


def _receipt(r: Any, receipt_cls: Any) -> dict:
    try:
        back = receipt_cls.decode(r.encoded)
        roundtrip: Any = True if back == r and back.encoded == r.encoded else f"decoded to {back!r}"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        roundtrip = f"{type(exc).__name__}: {exc}"
    try:
        encoded = r.encoded.hex()
    except Exception as exc:  # noqa: BLE001
        encoded = f"!{type(exc).__name__}: {exc}"
    return {"status": r.status, "gas_used": r.gas_used, "output": r.output.hex(), "reason": r.reason,
            "events": [e.encoded.hex() for e in r.events], "encoded": encoded, "roundtrip": roundtrip}


def _selftest(source: str, where: str) -> None:
    """Faults on request, for the oracles' own tests (tests/vm/test_fuzz.py): only with
    POWNODE_FUZZ_SELFTEST=1 and a marker comment in the source."""
    import os

    if os.environ.get("POWNODE_FUZZ_SELFTEST") != "1" or "# selftest:" not in source:
        return
    if f"# selftest: segv at {where}" in source:
        import faulthandler

        faulthandler._sigsegv()
    if f"# selftest: hang at {where}" in source:
        time.sleep(3600)
    if f"# selftest: slow at {where}" in source:
        time.sleep(1.0)


def run_program(vm: Any, program: dict, index: int) -> dict:
    import hashlib

    from ledger import accounts
    from ledger.receipts import OK, BlockContext, Receipt
    from ledger.state import State
    from ledger.transactions import ContractCall, ContractDeploy
    from vm.machine import contract_address

    ctx = BlockContext(HEIGHT, TIME_MS, PROPOSER)
    state = State()
    accounts.put_account(state, SENDER, accounts.Account(SENDER_BALANCE, 0))
    state.begin_block()
    out: dict[str, Any] = {"index": index, "receipts": [], "roots": [], "times_us": [], "skipped": [], "error": None}
    source = program["source"]
    address = contract_address(SENDER, hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest())
    bodies: list[tuple[str, Any]] = [("deploy", lambda: ContractDeploy(source, program.get("deploy_gas", DEPLOY_GAS)))]
    for k, call in enumerate(program["calls"]):
        function, args = call[0], call[1]
        gas = call[2] if len(call) > 2 else CALL_GAS
        value = call[3] if len(call) > 3 else 0
        bodies.append((f"call {k} {function!r}",
                       lambda f=function, a=args, g=gas, v=value: ContractCall(address, f, tuple(_arg(a)), g, v)))
    for what, make in bodies:
        try:  # as a node receives it: decoded from its canonical bytes
            made = make()
            body = type(made).decode(made.encoded)
        except Exception as exc:  # noqa: BLE001 - the program's own fault, not the node's
            out["skipped"].append(f"{what}: not a valid transaction ({type(exc).__name__}: {exc})")
            continue
        token = state.snapshot()
        started = time.perf_counter_ns()
        try:
            _selftest(source, what.split(" ")[0])
            receipt = vm.run(state, ctx, SENDER, body)
        except BaseException as exc:  # noqa: BLE001 - ContractRuntime.run must never raise
            out["error"] = f"{what}: VM.run raised {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=-6)}"
            return out
        elapsed = time.perf_counter_ns() - started
        try:
            (state.release if receipt.status == OK else state.rollback)(token)
            out["roots"].append(state.root().hex())
        except Exception as exc:  # noqa: BLE001
            out["error"] = (f"{what}: the state is unusable after VM.run returned {receipt!r}: "
                            f"{type(exc).__name__}: {exc}")
            return out
        if receipt.status == OK and isinstance(body, ContractDeploy) and receipt.output != address:
            out["error"] = f"deploy returned address {receipt.output.hex()}, expected {address.hex()}"
            return out
        out["receipts"].append(_receipt(receipt, Receipt))
        out["times_us"].append(elapsed / 1000)
    try:
        state.commit_block()
        out["root"] = state.root().hex()
    except Exception as exc:  # noqa: BLE001
        out["error"] = f"committing the block failed: {type(exc).__name__}: {exc}"
    return out


def worker(stream: bool) -> int:
    programs = json.load(sys.stdin)
    from vm.machine import VM

    vm = VM()  # one VM for the batch, as in a node: its compile cache outlives programs
    results = []
    for i, program in enumerate(programs):
        if stream:
            print(json.dumps({"start": i}), flush=True)
        result = run_program(vm, program, i)
        result["python"] = "%d.%d.%d" % sys.version_info[:3]
        if stream:
            print(json.dumps(result), flush=True)
        else:
            results.append(result)
    if not stream:
        json.dump(results, sys.stdout)
        print()
    return 0


def campaign(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.vm.fuzz_runner")
    parser.add_argument("--campaign", type=int, required=True, metavar="N", help="programs to run")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    parser.add_argument("--batch", type=int, default=20, help="programs per subprocess")
    parser.add_argument("--jobs", type=int, default=2, help="subprocesses at a time")
    parser.add_argument("--xver", default=None,
                        help="other interpreters, e.g. 3.12,3.13 or 3.12=/path/python (default: POWNODE_XVER or 3.12; '' for none)")
    parser.add_argument("--chunk", type=int, default=200, help="programs drawn and checked per round")
    parser.add_argument("--out", default="fuzz-failures.json", help="where failing programs are written")
    parser.add_argument("--no-reduce", action="store_true", help="do not reduce a program of each kind of failure")
    args = parser.parse_args(argv)

    import os
    import random

    if args.xver is not None:
        os.environ["POWNODE_XVER"] = args.xver
    from ledger.receipts import Receipt
    from tests.vm import crossversion as cv
    from tests.vm.test_fuzz import draw_programs

    pythons = [sys.executable]
    for version, base in cv.other_interpreters().items():
        python, why = cv.ensure_venv(version, base)
        if python is None:
            print(f"not comparing with {version}: {why}", flush=True)
        else:
            pythons.append(python)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    print(f"campaign: {args.campaign} programs, seed {seed}, interpreters {pythons}", flush=True)
    failures: list[str] = []
    kinds: dict[str, list[dict]] = {}
    done, started = 0, time.monotonic()
    round_no = 0
    while done < args.campaign:
        n = min(args.chunk, args.campaign - done)
        programs = draw_programs(n, seed=seed + round_no)
        report = cv.fuzz(programs, pythons=pythons, batch_size=args.batch, jobs=args.jobs, decode=Receipt.decode)
        done += n
        round_no += 1
        failures.extend(report.failures)
        for kind, progs in report.kinds.items():
            kinds.setdefault(kind, []).extend(progs)
        print(f"[{time.monotonic() - started:7.0f} s] {done}/{args.campaign}: {cv.summary(report)}", flush=True)
        if report.failures:
            print(report.digest(), flush=True)
            Path(args.out).write_text(json.dumps({"failures": failures, "kinds": kinds}, indent=1))
    print(f"campaign done: {done} programs, {len(failures)} failures of {len(kinds)} kinds", flush=True)
    reduced = {}
    if kinds and not args.no_reduce:
        for kind, progs in kinds.items():
            if progs and not kind.startswith(("runner died", "slow")):
                print(f"== reducing the shortest program of: {kind}", flush=True)
                small = cv.reduce(min(progs, key=lambda p: len(p["source"])), pythons)
                reduced[kind] = small
                print(cv.show(small), flush=True)
    if failures:
        Path(args.out).write_text(json.dumps({"failures": failures, "kinds": kinds, "reduced": reduced}, indent=1))
        print(f"failures, programs by kind and reduced programs are in {args.out}")
    return 1 if failures else 0


def reduce_file(argv: list[str]) -> int:
    """--reduce FILE [--xver ...]: reduce each program of a runner-input JSON file (a failure's
    last line) to a smaller one with the same failure, and print it."""
    import os

    path = argv[argv.index("--reduce") + 1]
    if "--xver" in argv:
        os.environ["POWNODE_XVER"] = argv[argv.index("--xver") + 1]
    from tests.vm import crossversion as cv

    pythons = [sys.executable] + [p for p in (cv.ensure_venv(v, b)[0] for v, b in cv.other_interpreters().items()) if p]
    for program in json.loads(Path(path).read_text()):
        small = cv.reduce(program, pythons)
        print(cv.show(small))
    return 0


def main(argv: list[str]) -> int:
    if "--campaign" in argv:
        return campaign(argv)
    if "--reduce" in argv:
        return reduce_file(argv)
    return worker(stream="--stream" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
