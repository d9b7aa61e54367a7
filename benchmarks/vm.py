"""Contract VM benchmark: metered operations per second against native CPython.

    python benchmarks/vm.py [--n 200000] [--json FILE]

The loop-heavy contract does 7 operations per iteration (a comparison, three arithmetic
operators and an assignment, an increment and its assignment); the same function runs natively
in this process for the ratio. The storage-heavy contract does a get and a put per iteration
(the native comparison uses a dict). Each figure is the median of several runs of the VM itself
(`VM.run` on a state holding the contract), without block overhead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit, median_seconds  # noqa: E402
from ledger import accounts  # noqa: E402
from ledger.receipts import BlockContext  # noqa: E402
from ledger.state import State  # noqa: E402
from ledger.transactions import ContractCall  # noqa: E402
from vm.machine import VM  # noqa: E402

LOOP_SOURCE = '''
def loop(n):
    s = 0
    i = 0
    while i < n:
        s = (s + i * i) % 1000003
        i += 1
    return s
'''
LOOP_OPS_PER_ITERATION = 7

STORAGE_SOURCE = '''
def fill(n):
    i = 0
    while i < n:
        k = to_bytes(i % 512, 2)
        put(k, get(k, 0) + i)
        i += 1
    return i
'''


def native_loop(n: int) -> int:
    s = 0
    i = 0
    while i < n:
        s = (s + i * i) % 1000003
        i += 1
    return s


def native_fill(n: int, store: dict) -> int:
    i = 0
    while i < n:
        k = (i % 512).to_bytes(2, "big")
        store[k] = store.get(k, 0) + i
        i += 1
    return i


def _run(vm: VM, source: str, function: str, n: int) -> tuple[float, int]:
    state = State()
    contract = b"\x42" * 20
    accounts.put_code(state, contract, source)
    ctx = BlockContext(1, 0, b"\0" * 32)
    body = ContractCall(contract, function, (n,), 10**12, 0)
    receipts = []

    def once() -> None:
        token = state.snapshot()
        receipts.append(vm.run(state, ctx, b"\1" * 20, body))
        state.rollback(token)

    seconds = median_seconds(once, 5)
    assert receipts[-1].status == 0, receipts[-1].reason
    return seconds, receipts[-1].gas_used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000, help="loop iterations")
    parser.add_argument("--json", help="also write the JSON results to this file")
    args = parser.parse_args()
    vm = VM()
    n = args.n
    loop_s, loop_gas = _run(vm, LOOP_SOURCE, "loop", n)
    native_s = median_seconds(lambda: native_loop(n), 5)
    storage_n = n // 10
    storage_s, storage_gas = _run(vm, STORAGE_SOURCE, "fill", storage_n)
    native_storage_s = median_seconds(lambda: native_fill(storage_n, {}), 5)
    results = {
        "loop_iterations": n,
        "loop_ops_per_s": LOOP_OPS_PER_ITERATION * n / loop_s,
        "loop_ratio_to_native": loop_s / native_s,
        "loop_gas_per_s": loop_gas / loop_s,
        "storage_iterations": storage_n,
        "storage_ops_per_s": 2 * storage_n / storage_s,
        "storage_ratio_to_native": storage_s / native_storage_s,
        "gas_per_s": (loop_gas + storage_gas) / (loop_s + storage_s),
        "loop_s": loop_s,
        "native_loop_s": native_s,
        "storage_s": storage_s,
    }
    rows = [
        ("loop: metered operations/s", f"{results['loop_ops_per_s']:,.0f}"),
        ("loop: time VM / native CPython", f"{results['loop_ratio_to_native']:.1f}x "
                                           f"({loop_s * 1e3:.1f} ms vs {native_s * 1e3:.1f} ms)"),
        ("storage: get+put operations/s", f"{results['storage_ops_per_s']:,.0f} "
                                          f"({results['storage_ratio_to_native']:.0f}x a dict)"),
        ("gas/s (both contracts)", f"{results['gas_per_s']:,.0f}"),
    ]
    emit("vm", results, rows, args.json)


if __name__ == "__main__":
    main()
