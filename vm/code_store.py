"""Compiled contracts kept on disk, so a restarted node does not compile again what calls need.

A call's gas cannot depend on what one node happens to have compiled, so a call to a contract
this process has not compiled yet pays nothing for compiling it (a 31 KB contract takes about
0.15 s, some 700 times what loading its compiled form takes). Deploys pay for compiling, once,
on every node; without this store, a node that restarted compiled every contract again at its
first call, and a member who had deployed many large contracts could stall every restarted node
with a block of cheap calls to them.

Each compiled contract is a file named by its code hash, in a folder named by a fingerprint of
what compiled it: the CPython bytecode version, the contract language version and the source of
the VM package (the compiler and its gas table). An upgraded node therefore never runs code an
older compiler instrumented. A file holds the SHA-256 of its payload, then the payload (marshal
of the code object and what `CompiledContract` records); a file that is short, fails its digest
or does not have that shape is ignored and compiled anew. Files are written whole (a temporary
file renamed), and the store holds only contracts whose deploy paid in full, so its size is
bounded by deploy gas like the state's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import marshal
import os
from pathlib import Path
from types import CodeType

from vm.compiler import LANGUAGE_VERSION, CompiledContract

log = logging.getLogger("pownode.vm")

_DIGEST = 32


def _fingerprint() -> str:
    """What a compiled form depends on: bytecode format, language version, the VM's source."""
    h = hashlib.sha256(importlib.util.MAGIC_NUMBER + LANGUAGE_VERSION.to_bytes(4, "big"))
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:24]


FINGERPRINT = _fingerprint()


class CodeStore:
    """Compiled contracts under `folder/<fingerprint>/<code hash>`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / FINGERPRINT
        self._warned = False

    def _path(self, code_hash: bytes) -> Path:
        return self.folder / code_hash.hex()

    def get(self, code_hash: bytes) -> CompiledContract | None:
        """The stored compiled form of the contract with `code_hash`, or None."""
        try:
            data = self._path(code_hash).read_bytes()
        except OSError:
            return None
        payload = data[_DIGEST:]
        if len(data) <= _DIGEST or hashlib.sha256(payload).digest() != data[:_DIGEST]:
            return None
        try:
            stored_hash, code, entries, nodes = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return None
        if (stored_hash != code_hash or type(code) is not CodeType or type(nodes) is not int
                or type(entries) is not tuple or not all(type(e) is str for e in entries)):
            return None
        return CompiledContract(code_hash, code, frozenset(entries), nodes)

    def put(self, compiled: CompiledContract) -> None:
        """Keep `compiled`; a store that cannot be written is logged once and otherwise only
        costs compiling again after a restart."""
        path = self._path(compiled.code_hash)
        if path.exists():
            return
        payload = marshal.dumps((compiled.code_hash, compiled.code, tuple(sorted(compiled.entry_points)),
                                 compiled.nodes))
        temporary = path.with_name(path.name + ".tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(hashlib.sha256(payload).digest() + payload)
            os.replace(temporary, path)
        except OSError as exc:
            if not self._warned:
                log.warning("compiled contracts are not kept in %s (%s): a restart compiles them again",
                            self.folder, exc)
                self._warned = True
