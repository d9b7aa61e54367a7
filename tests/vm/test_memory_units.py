"""Memory a transaction holds, against the allocation units it paid for.

The memory bound (MAX_MEMORY units, one gas each) stands for 8-byte words: a container slot, or a
word of an object the VM builds. A builtin that makes a new object per element (an int of a
range, a character of a non-ASCII str, a row tuple of enumerate, zip or items) pays for those
objects too, or a unit would hold up to 56 bytes. A unit may still hold 72 bytes (a slot and the
256-bit int one operation made), so the bound's size is what keeps one transaction's memory
below TX_BYTES. The measure is tracemalloc's peak over `VM.run`, deterministic for a given CPython.
"""

from __future__ import annotations

import hashlib
import tracemalloc

import pytest

from ledger import accounts
from ledger.receipts import BlockContext, Receipt
from ledger.state import State
from ledger.transactions import ContractCall, ContractDeploy
from vm.machine import VM, contract_address

SENDER = bytes(range(1, 21))
TX_BYTES = 96 * 2**20  # the most one transaction may make a node hold
# A unit is a word (8 bytes); a quarter more covers a list's growth slack and the frames.
BYTES_PER_GAS = 10
N = 20_000


def peak_bytes_and_gas(expr: str) -> tuple[int, int]:
    """Deploy `def f(): x = <expr>; return len(x)` and call it: (peak bytes traced, gas used)."""
    peak, receipt = run_traced(f"def f():\n    R = 2 ** 200\n    S = '\\u0100\\U0001f600' * {N // 2}\n"
                               f"    x = {expr}\n    return len(x)\n")
    assert receipt.status == 0, receipt.reason
    return peak, receipt.gas_used


def run_traced(source: str) -> tuple[int, Receipt]:
    """Deploy `source` and call its f() with the most gas a transaction may have: (peak bytes
    traced during the call, receipt)."""
    vm, state = VM(), State()
    ctx = BlockContext(7, 1_700_000_000_000, b"\x07" * 32)
    accounts.put_account(state, SENDER, accounts.Account(10**12, 0))
    state.begin_block()
    assert vm.run(state, ctx, SENDER, ContractDeploy(source, 20_000_000)).status == 0
    call = ContractCall(contract_address(SENDER, hashlib.sha256(source.encode()).digest()), "f", (), 10_000_000, 0)
    vm.run(state, ctx, SENDER, ContractCall(call.contract, "f", (), 100_000, 0))  # warm what every call shares
    tracemalloc.start()
    try:
        receipt = vm.run(state, ctx, SENDER, call)
        return tracemalloc.get_traced_memory()[1], receipt
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("expr", [
    f"list(range(R, R + {N}))",  # new 256-bit ints
    f"sorted(range({10**6}, {10**6 + N}))",  # new small ints
    "list(S)",  # a new str object per character outside Latin-1
    f"enumerate(range({10**6}, {10**6 + N}))",  # a tuple and an index per row
    f"zip(range(R, R + {N}), range({N}))",  # a tuple per row
    f"dict(zip(range({10**6}, {10**6 + N}), range({N}))).items()",
    f"tuple(range({10**6}, {10**6 + N}))",
])
def test_builtins_pay_for_the_objects_they_build(expr: str) -> None:
    peak, gas = peak_bytes_and_gas(expr)
    assert peak <= BYTES_PER_GAS * gas, f"{peak} bytes held for {gas} gas: {peak / gas:.1f} bytes per gas"


def test_ordinary_lists_stay_within_the_measure() -> None:
    """The baseline the builtins are held to: a list of ints a loop appended."""
    peak, gas = peak_bytes_and_gas(f"[]\n    for i in range({10**6}, {10**6 + N}):\n        x.append(i)\n    x = x")
    assert peak <= BYTES_PER_GAS * gas


# Displays of fresh 256-bit ints kept in a list: each element one operation and one unit, and
# 72 bytes (a slot and a 60-byte int). The bound in units is what bounds this in bytes.
WIDEST = ("def f():\n    keep = []\n    a = 2 ** 250\n    while True:\n"
          f"        keep.append([{', '.join(f'a + {i}' for i in range(100))}])\n        a = a + 100\n")


@pytest.mark.parametrize("source", [
    WIDEST,
    # str() of a 256-bit int is a 127-byte object: it paid nothing but the slot it was kept in
    "def _fill(x, a):\n    for i in range(65536):\n        x.append(str(a + i))\n"
    "def f():\n    a = 2 ** 255\n" + "".join(f"    x{j} = []\n    _fill(x{j}, a)\n" for j in range(16)),
    "def f():\n    keep = []\n    while True:\n        keep.append(enumerate(range(10 ** 6, 10 ** 6 + 65536)))\n",
])
def test_a_transaction_holds_a_bounded_number_of_bytes(source: str) -> None:
    peak, receipt = run_traced(source)
    assert receipt.reason.startswith("limit: memory bound")
    assert peak <= TX_BYTES, f"{peak / 2**20:.0f} MiB held by one transaction"
