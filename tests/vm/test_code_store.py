"""Compiled contracts survive a restart (`vm.code_store`): a restarted node's first call to a
contract loads its compiled code instead of compiling it (work no call pays for), with the same
receipt, and a damaged or foreign file is compiled anew."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.database import LevelDB
from tests.vm.helpers import Harness
from vm import machine
from vm.code_store import FINGERPRINT, CodeStore
from vm.machine import VM

SOURCE = '''
def bump(n):
    total = 0
    for i in range(n):
        total = total + i
    return total
'''


def _restart(db_path: Path, store: Path) -> Harness:
    return Harness(LevelDB(db_path), VM(code_store=CodeStore(store)))


def _no_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(source: str):
        raise AssertionError("compiled again")

    monkeypatch.setattr(machine, "compile_contract", refuse)


def test_a_restarted_vm_loads_what_a_deploy_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Harness(LevelDB(tmp_path / "chain", create=True), VM(code_store=CodeStore(tmp_path / "vm-code")))
    address, deployed = first.deploy(SOURCE)
    assert deployed.status == 0
    expected = first.call(address, "bump", 10)
    first.chain.store.db.close()
    assert [p.parent.name for p in (tmp_path / "vm-code").glob("*/*")] == [FINGERPRINT]

    with monkeypatch.context() as patched:
        _no_compiling(patched)
        second = _restart(tmp_path / "chain", tmp_path / "vm-code")
        again = second.call(address, "bump", 10)
    assert (again.status, again.gas_used, again.output) == (expected.status, expected.gas_used, expected.output)
    second.chain.store.db.close()


def test_a_damaged_or_foreign_file_is_compiled_anew_with_the_same_receipt(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = Harness(LevelDB(tmp_path / "chain", create=True), VM(code_store=CodeStore(tmp_path / "vm-code")))
    address, _ = first.deploy(SOURCE)
    expected = first.call(address, "bump", 5)
    first.chain.store.db.close()
    [stored] = (tmp_path / "vm-code").glob("*/*")
    good = stored.read_bytes()
    for damaged in (b"", good[:40], good[:-1] + bytes([good[-1] ^ 1]), bytes(32) + good[32:]):
        stored.write_bytes(damaged)
        assert CodeStore(tmp_path / "vm-code").get(bytes.fromhex(stored.name)) is None
    # A file under another contract's name (its digest is right, its code hash is not) is refused too.
    stored.rename(stored.with_name("00" * 32))
    (stored.with_name("00" * 32)).write_bytes(good)
    assert CodeStore(tmp_path / "vm-code").get(bytes(32)) is None

    second = _restart(tmp_path / "chain", tmp_path / "vm-code")
    receipt = second.call(address, "bump", 5)
    assert (receipt.status, receipt.gas_used) == (expected.status, expected.gas_used)
    assert stored.read_bytes() == good  # compiled again, and kept again
    second.chain.store.db.close()


def test_a_store_that_cannot_be_written_costs_only_compiling(tmp_path: Path) -> None:
    blocker = tmp_path / "vm-code"
    blocker.write_text("a file where the folder should be")
    harness = Harness(vm=VM(code_store=CodeStore(blocker)))
    address, deployed = harness.deploy(SOURCE)
    assert deployed.status == 0 and harness.result(harness.call(address, "bump", 3)) == 3
    assert blocker.read_text() == "a file where the folder should be"
