"""Revert and nested-call semantics, gas, value transfer, precompiles."""

from __future__ import annotations

from ledger import accounts
from tests.vm.helpers import NET, Harness
from vm.machine import VM
from vm.precompiles import Precompile

BANK = '''
def deposit():
    put(sender(), get(sender(), 0) + value())
    emit("deposit", sender(), value())
    return get(sender())

def withdraw(amount):
    have = get(sender(), 0)
    require(amount <= have, "insufficient deposit")
    put(sender(), have - amount)
    transfer(sender(), amount)
    return have - amount

def fill(n):
    i = 0
    while i < n:
        put(to_bytes(i, 4), i)
        i += 1
    return n

def fail_after_write():
    put("x", 1)
    emit("written", 1)
    revert("changed my mind")
'''

CALLER = '''
def strict(bank):
    put("before", 1)
    return call(bank, "fail_after_write")

def tolerant(bank):
    put("before", 1)
    ok, result = try_call(bank, "fail_after_write")
    put("after", ok)
    emit("done", ok, result)
    return [ok, result]

def relay(bank, n):
    return call(bank, "fill", n)
'''


def _storage(h: Harness, contract: bytes) -> list:
    return h.chain.state.scan(b"c" + contract)


def test_deposit_withdraw_moves_balances_and_emits() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    user = NET.users[1].address
    before = accounts.get_account(h.chain.state, user).balance
    r = h.call(bank, "deposit", value=700, user=1)
    assert h.result(r) == 700 and [e.topic for e in r.events] == ["deposit"]
    assert accounts.get_account(h.chain.state, bank).balance == 700
    assert h.result(h.call(bank, "withdraw", 300, user=1)) == 400
    failed = h.call(bank, "withdraw", 1000, user=1)
    assert failed.status == 1 and failed.reason == "revert: insufficient deposit"
    fees = sum(h.chain.store.block(k).txs[0].fee for k in range(2, h.chain.height + 1))
    assert accounts.get_account(h.chain.state, user).balance == before - 700 + 300 - fees


def test_revert_leaves_no_state_and_no_events() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    r = h.call(bank, "fail_after_write")
    assert r.status == 1 and r.events == () and _storage(h, bank) == []


def test_out_of_gas_mid_storage_writes_leaves_no_trace() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    root = h.chain.state.root()
    r = h.call(bank, "fill", 10_000, gas=20_000)
    assert r.status == 1 and r.reason.startswith("out-of-gas") and r.gas_used == 20_000
    assert _storage(h, bank) == []
    # Only the fee, the nonce and the proposer's history changed: the state is otherwise as before.
    assert h.result(h.call(bank, "fill", 3)) == 3 and len(_storage(h, bank)) == 3
    assert root != h.chain.state.root()


def test_nested_failure_propagates_through_call() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    caller, _ = h.deploy(CALLER)
    r = h.call(caller, "strict", bank)
    assert r.status == 1 and r.reason == "revert: changed my mind"
    assert _storage(h, caller) == [] and _storage(h, bank) == []


def test_try_call_reverts_only_the_callee() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    caller, _ = h.deploy(CALLER)
    r = h.call(caller, "tolerant", bank)
    assert h.result(r) == (0, "changed my mind")
    assert [e.topic for e in r.events] == ["done"]  # the callee's event went with its changes
    assert _storage(h, bank) == []
    assert len(_storage(h, caller)) == 2  # "before" and "after" survive


def test_nested_call_runs_as_the_calling_contract() -> None:
    h = Harness()
    bank, _ = h.deploy(BANK)
    caller, _ = h.deploy(CALLER)
    assert h.result(h.call(caller, "relay", bank, 4)) == 4
    assert len(_storage(h, bank)) == 4


def test_gas_is_charged_deterministically() -> None:
    a, b = Harness(), Harness()
    for h in (a, b):
        h.bank, _ = h.deploy(BANK)
    ra, rb = (h.call(h.bank, "fill", 25) for h in (a, b))
    assert ra == rb and ra.gas_used > 25 * 500
    assert a.chain.state.root() == b.chain.state.root()


def test_integer_bounds() -> None:
    h = Harness()
    c, _ = h.deploy("def big(k):\n    return (2 ** 255 - 1) * k // (2 ** 200)\n")
    assert h.result(h.call(c, "big", 1)) == (2**255 - 1) // 2**200
    assert h.call(c, "big", 4).reason.startswith("limit: integer overflow")


def test_precompile_hook_charges_its_gas() -> None:
    calls = []
    extra = {"double": Precompile("double", lambda x: calls.append(x) or 2 * x, lambda x: 1000)}
    h = Harness(vm=VM(extra))
    c, _ = h.deploy("def f(x):\n    return precompile('double', x) + precompile('sum', [1, 2, 3])\n"
                    "def g():\n    return precompile('missing')\n")
    r = h.call(c, "f", 21)
    assert h.result(r) == 48 and calls == [21] and r.gas_used > 1000
    assert h.call(c, "g").reason == "revert: no precompile 'missing'"


def test_builtin_hashing_and_signatures() -> None:
    import hashlib

    h = Harness()
    key = NET.users[2]
    sig = key.sign(b"meter says 42")
    c, _ = h.deploy("def f(pk, m, s):\n    return [sha256(m), ed25519_verify(pk, m, s), ed25519_verify(pk, m + b'!', s)]\n")
    assert h.result(h.call(c, "f", key.public_key, b"meter says 42", sig)) == (
        hashlib.sha256(b"meter says 42").digest(), 1, 0)


def test_unknown_contract_and_entry_point() -> None:
    h = Harness()
    assert h.call(b"\7" * 20, "f").reason.startswith("revert: no contract")
    c, _ = h.deploy("def f():\n    return 1\ndef _hidden():\n    return 2\n")
    assert h.call(c, "_hidden").reason == "revert: contract has no entry point '_hidden'"
    again = h.deploy("def f():\n    return 1\ndef _hidden():\n    return 2\n")[1]
    assert again.status == 1 and "already exists" in again.reason


def test_functions_without_a_return_value() -> None:
    h = Harness()
    callee, _ = h.deploy("def touch():\n    put('t', 1)\n")
    caller, _ = h.deploy("def f(c):\n    return [call(c, 'touch') is None, 1]\n")
    r = h.call(callee, "touch")
    assert r.status == 0 and r.output == b""
    assert h.result(h.call(caller, "f", callee)) == (1, 1)
