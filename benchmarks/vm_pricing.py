"""Contract VM gas pricing: microseconds per unit of gas for every operation class and size.

    python benchmarks/vm_pricing.py [--quick] [--json FILE] [--only SUBSTRING]

Each row is one operation class at one operand size. Its contract builds the operands, then runs
a loop of k iterations whose body is the operation; a second contract is the same with the
operation replaced by `pass`. Both are run through `VM.run` (state snapshot and rollback around
each run, gas limit 10**12, runs interleaved), and the row's figure is the difference of their
median wall times over the difference of their gas, so operand construction and loop overhead
cancel out: us_per_gas = (t_op - t_nop) / (gas_op - gas_nop). k is chosen by doubling until the
operation takes about --target-ms (fewer when the operation would cross a limit, e.g. the
per-transaction memory bound: allocation is monotone within a transaction). Operands that are
slow to build inside a contract (random lists, large dicts) are passed as call arguments,
built fresh outside the timed part for every run; scan reads storage filled before the runs.
Deploys are timed whole (a fresh VM each time, so the compile cache is cold), us_per_gas being
time over gas. A row whose receipt fails is printed with its reason and left out.

A class's figure is its worst size. Summary: `median_us_per_gas` (median over classes),
`max_us_per_gas` and its class, `max_to_median_us_per_gas`, and the classes above 10x the
median, whose entries in vm/gas.py should be raised. Timings are noisy on a busy machine;
--quick runs fewer sizes with shorter loops (under a minute).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit  # noqa: E402
from ledger import accounts  # noqa: E402
from ledger.encoding import pack  # noqa: E402
from ledger.keys import PrivateKey  # noqa: E402
from ledger.receipts import BlockContext  # noqa: E402
from ledger.state import State  # noqa: E402
from ledger.transactions import ContractCall, ContractDeploy  # noqa: E402
from vm.gas import MAX_ITEMS, MAX_NODES, MAX_SOURCE  # noqa: E402
from vm.machine import VM  # noqa: E402

GAS_LIMIT = 10**12
CONTRACT = b"\x42" * 20
CALLEE = b"\x43" * 20
SENDER = b"\x01" * 20
CTX = BlockContext(1, 0, b"\0" * 32)
HOT_FACTOR = 10  # classes above this many times the median per gas are underpriced


@dataclass
class Case:
    """One row: `op` (loop-body statements) against `nop`, after `setup`, run `k` times."""

    cls: str
    size: Any
    op: str
    setup: str = ""
    nop: str = "pass"
    params: tuple[str, ...] = ()
    args: Callable[[], tuple] | None = None  # fresh call arguments for every run
    k_max: int = 1 << 21
    prepare: Callable[[State], None] | None = None  # fills the state before the runs
    extra: str = ""  # more module-level source (helper functions)


@dataclass
class Deploy:
    cls: str
    size: Any
    source: str


@dataclass
class Row:
    cls: str
    size: Any
    k: int = 0
    gas: float = 0.0  # gas per operation
    us_per_op: float = 0.0
    us_per_gas: float = 0.0
    error: str = ""
    extra: dict = field(default_factory=dict)


# --- contracts ----------------------------------------------------------------------------------


def _indent(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line + "\n" for line in text.strip("\n").splitlines() if line.strip())


def _source(case: Case, body: str) -> str:
    params = ", ".join(("k",) + case.params)
    return (case.extra.strip("\n") + "\n\n" if case.extra else "") + (
        f"def run({params}):\n"
        + _indent(case.setup, 4)
        + "    i = 0\n"
        + "    while i < k:\n"
        + _indent(body, 8)
        + "        i += 1\n"
        + "    return 0\n"
    )


class Runner:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.vm = VM()
        self.state = State()
        if case.prepare is not None:
            case.prepare(self.state)
        self.sources = {"op": _source(case, case.op), "nop": _source(case, case.nop)}

    def once(self, variant: str, k: int) -> tuple[float, Any]:
        case = self.case
        accounts.put_code(self.state, CONTRACT, self.sources[variant])
        args = (k,) + (case.args() if case.args else ())
        body = ContractCall(CONTRACT, "run", args, GAS_LIMIT, 0)
        token = self.state.snapshot()
        start = time.perf_counter()
        try:
            receipt = self.vm.run(self.state, CTX, SENDER, body)
        except BaseException as exc:  # noqa: BLE001 - an exception escaping VM.run is a VM bug
            self.state.rollback(token)
            raise RuntimeError(f"VM BUG: {type(exc).__name__} escaped VM.run: {exc}") from exc
        seconds = time.perf_counter() - start
        self.state.rollback(token)
        return seconds, receipt


def measure(case: Case, target_s: float, reps: int) -> Row:
    row = Row(case.cls, case.size)
    runner = Runner(case)
    for variant in ("op", "nop"):  # compile both, and check the setup runs
        _, r = runner.once(variant, 0)
        if r.status != 0:
            row.error = f"setup: {r.reason}"
            return row
    runner.once("op", 1)  # warm-up: compiles what the operation itself reaches (a callee)
    base, _ = runner.once("op", 0)
    k, last_ok = 1, 0
    while True:
        t, r = runner.once("op", k)
        if r.status != 0:
            if last_ok == 0 or not r.reason.startswith("limit"):
                row.error = f"k={k}: {r.reason}"
                return row
            k = last_ok  # the last k within the limits
            break
        last_ok = k
        if t - base >= target_s or k >= case.k_max:
            break
        k = min(case.k_max, k * 2)
    gc.collect()
    times: dict[str, list[float]] = {"op": [], "nop": []}
    gas: dict[str, set[int]] = {"op": set(), "nop": set()}
    for _ in range(reps):
        for variant in ("op", "nop"):
            t, r = runner.once(variant, k)
            if r.status != 0:
                row.error = f"{variant} k={k}: {r.reason}"
                return row
            times[variant].append(t)
            gas[variant].add(r.gas_used)
    if len(gas["op"]) != 1 or len(gas["nop"]) != 1:
        row.error = f"gas differs between identical runs: {sorted(gas['op'])} / {sorted(gas['nop'])}"
        return row
    dgas = gas["op"].pop() - gas["nop"].pop()
    dt = statistics.median(times["op"]) - statistics.median(times["nop"])
    if dgas <= 0:
        row.error = f"the operation costs no gas over the no-op ({dgas}); time {dt / k * 1e6:.2f} us/op"
        return row
    row.k, row.gas = k, dgas / k
    row.us_per_op = dt / k * 1e6
    row.us_per_gas = dt * 1e6 / dgas
    return row


def measure_deploy(case: Deploy, reps: int) -> Row:
    row = Row(case.cls, case.size)
    state = State()
    body = ContractDeploy(case.source, GAS_LIMIT)
    times, gas = [], set()
    for _ in range(reps + 1):
        vm = VM()  # cold compile cache
        token = state.snapshot()
        start = time.perf_counter()
        receipt = vm.run(state, CTX, SENDER, body)
        times.append(time.perf_counter() - start)
        state.rollback(token)
        if receipt.status != 0:
            row.error = receipt.reason
            return row
        gas.add(receipt.gas_used)
    times = times[1:]  # the first run warms the interpreter's own caches
    if len(gas) != 1:
        row.error = f"gas differs between identical deploys: {sorted(gas)}"
        return row
    row.k, row.gas = 1, gas.pop()
    row.us_per_op = statistics.median(times) * 1e6
    row.us_per_gas = row.us_per_op / row.gas
    row.extra = {"source_bytes": len(case.source)}
    return row


# --- the operation classes ----------------------------------------------------------------------

BIG_A = 2**255 - 19
BIG_B = 2**254 + 7
NEST7 = "(" * 6 + "(1, {})" + ",)" * 6  # a tuple nested 7 deep
HALF_A = 2**128 - 1
HALF_B = 2**128 - 3

ARITH = [  # (operator, small a, small b, 256-bit a, 256-bit b)
    ("+", 12345, 6789, BIG_A, BIG_B),
    ("-", 12345, 6789, BIG_A, BIG_B),
    ("*", 12345, 6789, HALF_A, HALF_B),
    ("//", 1234567, 89, BIG_A, 2**127 + 1),
    ("%", 1234567, 89, BIG_A, 2**127 + 1),
    ("**", 3, 20, 3, 161),
    ("<<", 5, 3, 2**127 + 1, 128),
    (">>", 12345, 3, BIG_A, 100),
    ("&", 12345, 6789, BIG_A, BIG_B),
    ("^", 12345, 6789, BIG_A, BIG_B),
]


def _rand_ints(n: int, seed: int, hi: int = 2**62) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(hi) for _ in range(n)]


def _rand_pairs(n: int, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    return [(rng.randrange(16), rng.randrange(2**62)) for _ in range(n)]


def _dict_arg(n: int, step: int) -> Callable[[], tuple]:
    keys = [j * step for j in range(n)]

    def make() -> tuple:
        return (dict.fromkeys(keys, 1),)
    return make


def _str_dict_arg(n: int, klen: int) -> Callable[[], tuple]:
    d = {("%0" + str(klen) + "d") % j: j for j in range(n)}
    return lambda: (dict(d),)


def _fill_storage(n: int, value_bytes: int) -> Callable[[State], None]:
    raw = pack(b"v" * value_bytes)

    def prepare(state: State) -> None:
        for j in range(n):
            accounts.storage_put(state, CONTRACT, b"b" + j.to_bytes(4, "big"), raw)
    return prepare


def _callee(functions: int) -> str:
    lines = ["def f(x):\n    return 0\n"]
    for j in range(functions):
        lines.append(f"def g{j}(a):\n    return a + {j}\n")
    return "\n".join(lines)


def _big_callee() -> str:
    lo, hi = 1, 4000
    while lo < hi:  # the most helper functions that fit the source bound
        mid = (lo + hi + 1) // 2
        if len(_callee(mid)) <= MAX_SOURCE - 64:
            lo = mid
        else:
            hi = mid - 1
    return _callee(lo)


def cases(quick: bool) -> list[Case | Deploy]:
    sizes = (1, 1024, 16384) if quick else (1, 64, 1024, 16384, MAX_ITEMS)
    big = 16384 if quick else MAX_ITEMS
    out: list[Case | Deploy] = []

    # integers: arithmetic and comparison
    for sym, sa, sb, ba, bb in ARITH:
        for label, a, b in (("small", sa, sb), ("256-bit", ba, bb)):
            out.append(Case(f"int {sym}", label, "r = a " + sym + " b", setup=f"a = {a}\nb = {b}"))
    out.append(Case("int ~", "256-bit", "r = ~a", setup=f"a = {BIG_A}"))
    for sym in ("==", "<"):
        for label, a, b in (("small", 12345, 12346), ("256-bit", BIG_A, BIG_A - 1)):
            out.append(Case(f"int {sym}", label, f"r = a {sym} b", setup=f"a = {a}\nb = {b}"))

    # comparisons of sequences: equal up to the last element, so the whole operand is compared
    for sym in ("==", "<"):
        for n in sizes:
            out.append(Case(f"str {sym}", n, f"r = a {sym} b", setup=f"a = 'a' * {n}\nb = 'a' * {n - 1} + 'b'"))
            out.append(Case(f"bytes {sym}", n, f"r = a {sym} b", setup=f"a = b'a' * {n}\nb = b'a' * {n - 1} + b'b'"))
            out.append(Case(f"list {sym}", n, f"r = a {sym} b",
                            setup=f"a = list(range({n}))\nb = list(range({n}))\nb[{n - 1}] = -1"))
            out.append(Case(f"tuple {sym}", n, f"r = a {sym} b",
                            setup=f"a = tuple(range({n}))\nc = list(range({n}))\nc[{n - 1}] = -1\nb = tuple(c)"))
            # n tuples nested 7 deep (a and b 8 deep: the bound), equal up to the last
            out.append(Case(f"nested tuple {sym}", n, f"r = a {sym} b",
                            setup=f"t = {NEST7.format(2)}\nu = {NEST7.format(2)}\nv = {NEST7.format(3)}\n"
                                  f"a = (t,) * {n}\nb = (u,) * {n - 1} + (v,)"))
        for n in sizes:
            out.append(Case(f"str(non-ASCII) {sym}", n, f"r = a {sym} b",
                            setup=f"a = '\\U0001f600' * {n}\nb = '\\U0001f600' * {n - 1} + '\\U0001f601'"))
    for n in sizes:
        out.append(Case("dict ==", n, "r = a == b", params=("a", "b"),
                        args=lambda n=n: (dict.fromkeys(range(n), 1), dict.fromkeys(range(n), 1))))

    # membership
    for n in sizes:
        out.append(Case("in list(int)", n, "r = -1 in x", setup=f"x = list(range({n}))"))
        out.append(Case("in tuple(int)", n, "r = -1 in x", setup=f"x = tuple(range({n}))"))
        out.append(Case("in list(tuple8)", n, "r = (0, 0, 0, 0, 0, 0, 0, 2) in x",
                        setup=f"t = (0, 0, 0, 0, 0, 0, 0, 1)\nx = [t] * {n}"))
        out.append(Case("in bytes(int)", n, "r = 98 in x", setup=f"x = b'a' * {n}"))
        out.append(Case("in dict(int)", n, "r = j in d", setup=f"j = {n * 2}", params=("d",), args=_dict_arg(n, 1)))
    for klen in (1, 1024, 65536):
        out.append(Case("in dict(str)", klen, "r = s in d", setup=f"s = 'x' * {klen}", params=("d",),
                        args=_str_dict_arg(1024, 8)))
    needles = (2, 16, 64, 1024) if quick else (2, 4, 8, 16, 32, 64, 128, 1024)
    for n in ((1024, big) if not quick else (big,)):
        for m in needles:
            if m >= n:
                continue
            out.append(Case("in str", f"n={n},m={m}", "r = s in h",
                            setup=f"h = 'a' * {n}\ns = 'a' * {m - 1} + 'b'"))
            out.append(Case("in bytes", f"n={n},m={m}", "r = s in h",
                            setup=f"h = b'a' * {n}\ns = b'a' * {m - 1} + b'b'"))
    out.append(Case("str.count", f"n={big},m=64", "r = h.count(s)", setup=f"h = 'a' * {big}\ns = 'a' * 63 + 'b'"))
    out.append(Case("in range", "int", "r = j in g", setup=f"g = range({MAX_ITEMS})\nj = 1000"))
    out.append(Case("in range", "256-bit", "r = j in g", setup=f"g = range(1, {BIG_A}, 7)\nj = {BIG_B}"))
    out.append(Case("in range", "str", "r = j in g", setup=f"g = range({MAX_ITEMS})\nj = 'abc'"))

    # subscripts
    for n in (1, big):
        out.append(Case("list[i]", n, "r = x[j]", setup=f"x = list(range({n}))\nj = {n - 1}"))
        out.append(Case("str[i]", n, "r = x[j]", setup=f"x = 'a' * {n}\nj = {n - 1}"))
        out.append(Case("dict[int]", n, "r = d[j]", setup=f"j = {n - 1}", params=("d",), args=_dict_arg(n, 1)))
    for klen in (8, 1024, 65536):
        out.append(Case("dict[str]", klen, "r = d[s]", setup=f"s = 'x' * {klen}\nd = {{s: 1}}"))
    # dict stores: new int keys, consecutive and with colliding low bits (multiples of 2**40, 2**48)
    for step, label in ((1, "1"), (2**40, "2**40"), (2**48, "2**48")):
        limit = min(MAX_ITEMS, ((1 << 61) - 2) // step)
        for n in (0, min(32768, limit // 2)):
            out.append(Case(f"dict[k]=v new k*{label}", n, f"d[(i + {n}) * {step}] = 1",
                            nop=f"r = (i + {n}) * {step}", params=("d",), args=_dict_arg(n, step),
                            k_max=limit - n))
        n = min(32768, limit)
        out.append(Case(f"dict[k] k*{label}", n, "r = d[j]", setup=f"j = {(n - 1) * step}", params=("d",),
                        args=_dict_arg(n, step)))
        out.append(Case(f"in dict absent k*{label}", n, "r = j in d", setup=f"j = {(n + 7) * step}",
                        params=("d",), args=_dict_arg(n, step)))

    # list methods
    for n in (0, big // 2):
        out.append(Case("list.append", n, "x.append(1)", setup=f"x = list(range({n}))", k_max=MAX_ITEMS - n))
        out.append(Case("list.insert(0,x)", n, "x.insert(0, 1)", setup=f"x = list(range({n}))", k_max=MAX_ITEMS - n))
    for n in (256, 4096, big):
        out.append(Case("list.pop(0)", n, "x.pop(0)", setup=f"x = list(range({n}))", k_max=n // 2))
        out.append(Case("list.pop()", n, "x.pop()", setup=f"x = list(range({n}))", k_max=n // 2))
    for n in sizes:
        out.append(Case("list.index", n, "r = x.index(j)", setup=f"x = list(range({n}))\nj = {n - 1}"))
        out.append(Case("list.count", n, "r = x.count(j)", setup=f"x = list(range({n}))\nj = -1"))
        out.append(Case("list.extend", n, "x.extend(y)", setup=f"x = []\ny = list(range({n}))",
                        k_max=max(1, MAX_ITEMS // n)))

    # sorting and extremes (random operands)
    for n in sizes:
        if n < 2:
            continue
        mem = max(1, 3_900_000 // n)
        ints = _rand_ints(n, n)
        pairs = _rand_pairs(n, n)
        out.append(Case("sorted(int)", n, "r = sorted(x)", params=("x",), args=lambda v=ints: (list(v),), k_max=mem))
        out.append(Case("sorted(tuple)", n, "r = sorted(x)", params=("x",), args=lambda v=pairs: (list(v),), k_max=mem))
        out.append(Case("min(int)", n, "r = min(x)", params=("x",), args=lambda v=ints: (list(v),), k_max=mem))
        out.append(Case("max(tuple)", n, "r = max(x)", params=("x",), args=lambda v=pairs: (list(v),), k_max=mem))

    # slicing, concatenation, repetition, conversion (all allocate the result: k bounded by memory)
    for n in sizes:
        mem = max(1, 3_800_000 // n)
        for kind, build in (("list", f"list(range({n}))"), ("str", f"'a' * {n}"), ("bytes", f"b'a' * {n}"),
                            ("tuple", f"tuple(range({n}))"), ("str(UCS4)", f"'\\U0001f600' * {n}")):
            out.append(Case(f"slice {kind}", n, "r = x[1:]", setup=f"x = {build}", k_max=mem))
            out.append(Case(f"slice {kind} [::-1]", n, "r = x[::-1]", setup=f"x = {build}", k_max=mem))
        for kind, build in (("list", f"list(range({(n + 1) // 2}))"), ("str", f"'a' * {(n + 1) // 2}"),
                            ("bytes", f"b'a' * {(n + 1) // 2}"), ("tuple", f"tuple(range({(n + 1) // 2}))")):
            out.append(Case(f"concat {kind}", n, "r = x + x", setup=f"x = {build}", k_max=mem))
            out.append(Case(f"repeat {kind}", n, "r = x * 2", setup=f"x = {build}", k_max=mem))
        out.append(Case("tuple(list of int)", n, "r = tuple(x)", setup=f"x = list(range({n}))", k_max=mem))
        out.append(Case("tuple(list of tuple)", n, "r = tuple(x)", setup=f"x = [(1, 2)] * {n}", k_max=mem))
        out.append(Case("list(tuple)", n, "r = list(x)", setup=f"x = tuple(range({n}))", k_max=mem))
        out.append(Case("(t, t) of tuple", n, "r = (x, x)", setup=f"x = tuple(range({n}))"))
        out.append(Case("(x,) of list", n, "r = (x,)", setup=f"x = list(range({n}))"))
        out.append(Case("list.append(list)", n, "y.append(x)", setup=f"x = list(range({n}))\ny = []",
                        k_max=min(MAX_ITEMS, max(1, 2_000_000 // n))))
        out.append(Case("d[k] = list", n, "d[1] = x", setup=f"x = list(range({n}))\nd = {{}}"))
        out.append(Case("zip", n, "r = zip(x, x)", setup=f"x = list(range({n}))", k_max=mem // 2))
        out.append(Case("enumerate", n, "r = enumerate(x)", setup=f"x = list(range({n}))", k_max=mem // 2))
        out.append(Case("dict(pairs)", n, "r = dict(p)", setup=f"p = zip(range({n}), range({n}))", k_max=mem // 2))
        out.append(Case("dict.items", n, "r = d.items()", setup=f"d = dict(zip(range({n}), range({n})))",
                        k_max=mem // 2))
        out.append(Case("bytes.hex", n, "r = x.hex()", setup=f"x = b'a' * {n}", k_max=max(1, mem // 2)))
        out.append(Case("sha256", n, "r = sha256(x)", setup=f"x = b'a' * {n}"))
    out.append(Case("str(int)", "small", "r = str(a)", setup="a = 12345"))
    out.append(Case("str(int)", "256-bit", "r = str(a)", setup=f"a = {BIG_A}"))
    out.append(Case("helper call", "1 arg", "r = _f(i)", extra="def _f(a):\n    return a"))

    # storage, events, hashing, signatures, calls
    for n in ((1, 1024, 16384) if quick else (1, 1024, 16384, 60000)):
        out.append(Case("put(bytes)", n, "put('k', v)", setup=f"v = b'v' * {n}"))
        out.append(Case("get(bytes)", n, "r = get('k')", setup=f"put('k', b'v' * {n})"))
    for n in (16, 1024, 7000):
        out.append(Case("put(list of int)", n, "put('k', v)", setup=f"v = list(range({n}))"))
        out.append(Case("get(list of int)", n, "r = get('k')", setup=f"put('k', list(range({n})))"))
    for entries, limit, vbytes in ((256, 256, 8), (256, 256, 1000), (4096, 1, 8), (4096, 256, 8), (big, 1, 8),
                                   (big, 256, 8)):
        out.append(Case("scan", f"{entries} entries,limit={limit},{vbytes}B", f"r = scan(b'', {limit})",
                        prepare=_fill_storage(entries, vbytes), k_max=3_900_000 // limit))
    for n in (1, 256, 1000):
        out.append(Case("emit", n, "emit('t', v)", setup=f"v = b'e' * {n}", k_max=64))
    key = PrivateKey.from_label("vm-pricing")
    for n in (32, big):
        msg = b"m" * n
        sig = key.sign(msg)
        out.append(Case("ed25519_verify", n, "r = ed25519_verify(p, m, s)", params=("p", "m", "s"),
                        args=lambda m=msg, s=sig: (key.public_key, m, s)))
    callees = (("small", _callee(0)), ("64KB source", _big_callee()))
    for label, source in callees:
        out.append(Case("call()", label, "r = call(c, 'f', 0)", params=("c",), args=lambda: (CALLEE,),
                        prepare=lambda st, s=source: accounts.put_code(st, CALLEE, s)))
        out.append(Case("try_call()", label, "r = try_call(c, 'f', 0)", params=("c",), args=lambda: (CALLEE,),
                        prepare=lambda st, s=source: accounts.put_code(st, CALLEE, s)))
    for n in (1000, 7000):
        out.append(Case("call() list arg", n, "r = call(c, 'f', x)", setup=f"x = list(range({n}))", params=("c",),
                        args=lambda: (CALLEE,), prepare=lambda st: accounts.put_code(st, CALLEE, _callee(0))))

    # deploys of sources of various sizes and shapes
    for size in ((1024, 16384) if quick else (1024, 8192, MAX_SOURCE - 64)):
        out.extend(Deploy(f"deploy {shape}", size, src) for shape, src in deploy_sources(size))
    return out


def _fit(header: str, line: Callable[[int], str], size: int) -> str:
    """`header` plus as many `line(j)` as fit in `size` bytes and MAX_NODES (roughly)."""
    import ast

    parts, total = [header], len(header)
    j = 0
    while True:
        text = line(j)
        if total + len(text) > size:
            break
        parts.append(text)
        total += len(text)
        j += 1
    source = "".join(parts)
    while sum(1 for _ in ast.walk(ast.parse(source))) > MAX_NODES:
        parts = parts[: int(len(parts) * 0.9)]
        source = "".join(parts)
    return source


def deploy_sources(size: int) -> list[tuple[str, str]]:
    return [
        ("functions", _fit("", lambda j: f"def f{j}(a):\n    return a + {j}\n", size)),
        ("statements", _fit("def f(a, b, c, d):\n    x = 0\n", lambda j: "    x = (a + b) * c - d // 3\n", size)),
        ("tuples", _fit("def f(a):\n    x = 0\n", lambda j: "    x = (" + "a," * 30 + ")\n", size)),
        ("nested", _fit("def f(a):\n    x = 0\n", lambda j: "    x = " + "-(" * 40 + "a" + ")" * 40 + "\n", size)),
        ("literal", "def f():\n    return b'" + "a" * max(1, size - 40) + "'\n"),
    ]


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer sizes and shorter loops (under a minute)")
    parser.add_argument("--json", help="also write the JSON results to this file")
    parser.add_argument("--only", help="run only the classes whose name contains this")
    parser.add_argument("--target-ms", type=float, help="time of the operations in one run (default 25, quick 4)")
    parser.add_argument("--reps", type=int, default=5, help="runs of each variant (median)")
    args = parser.parse_args()
    target = (args.target_ms or (4.0 if args.quick else 25.0)) / 1e3
    reps = max(args.reps, 5)
    started = time.perf_counter()
    rows: list[Row] = []
    for case in cases(args.quick):
        if args.only and args.only not in case.cls:
            continue
        row = measure_deploy(case, reps) if isinstance(case, Deploy) else measure(case, target, reps)
        rows.append(row)
        if row.error:
            print(f"  skipped {row.cls} [{row.size}]: {row.error}", file=sys.stderr, flush=True)
        else:
            print(f"  {row.cls} [{row.size}]: {row.us_per_gas:.4f} us/gas ({row.gas:,.1f} gas, "
                  f"{row.us_per_op:,.2f} us, k={row.k})", file=sys.stderr, flush=True)

    good = [r for r in rows if not r.error]
    worst: dict[str, Row] = {}
    for r in good:  # a class's figure is its worst size: its gas must cover every size
        if r.cls not in worst or r.us_per_gas > worst[r.cls].us_per_gas:
            worst[r.cls] = r
    per_class = sorted(worst.values(), key=lambda r: r.us_per_gas, reverse=True)
    med = statistics.median(r.us_per_gas for r in per_class)
    top = per_class[0]
    hot = [r for r in per_class if r.us_per_gas > HOT_FACTOR * med]
    results = {
        "median_us_per_gas": med,
        "max_us_per_gas": top.us_per_gas,
        "max_class": top.cls,
        "max_size": top.size,
        "max_to_median_us_per_gas": top.us_per_gas / med if med > 0 else None,
        "row_median_us_per_gas": statistics.median(r.us_per_gas for r in good),
        "classes": {r.cls: {"us_per_gas": r.us_per_gas, "worst_size": r.size, "gas": r.gas} for r in per_class},
        f"over_{HOT_FACTOR}x_median": [r.cls for r in hot],
        "rows": [{"class": r.cls, "size": r.size, "k": r.k, "gas": r.gas, "us_per_op": r.us_per_op,
                  "us_per_gas": r.us_per_gas, **r.extra} for r in good],
        "skipped": [{"class": r.cls, "size": r.size, "reason": r.error} for r in rows if r.error],
        "quick": args.quick,
        "seconds": time.perf_counter() - started,
    }
    table = [(f"{r.cls} [{r.size}]", f"{r.us_per_gas:9.4f} us/gas  {r.us_per_gas / med:8.1f}x median  "
                                     f"{r.gas:>12,.1f} gas  {r.us_per_op:>10,.2f} us")
             for r in per_class]
    table += [
        ("median us/gas (over classes)", f"{med:.4f}"),
        ("max us/gas", f"{top.us_per_gas:.4f} ({top.cls} [{top.size}])"),
        ("max / median", f"{results['max_to_median_us_per_gas']:.1f}x"),
        (f"classes over {HOT_FACTOR}x the median", ", ".join(r.cls for r in hot) or "none"),
    ]
    emit("vm_pricing", results, table, args.json)


if __name__ == "__main__":
    main()
