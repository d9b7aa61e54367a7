"""VM exceptions. All are expected during normal operation: a failing contract call is a value
(a receipt with a reason), never a crash of the node."""

from __future__ import annotations


class VMError(Exception):
    """Root of everything the VM raises on purpose."""


class CompileError(VMError):
    """Source outside the contract language. `on_chain` is what a receipt says: the reason,
    with its position when the position is the same on every CPython version (line 0 when it is
    not). `detail` adds what this CPython said, for the deployer's own tools."""

    def __init__(self, reason: str, line: int = 0, col: int = 0, detail: str = "") -> None:
        self.reason = reason
        self.line = line
        self.col = col
        self.detail = detail
        self.on_chain = f"line {line}, column {col}: {reason}" if line else reason
        super().__init__(f"{self.on_chain} ({detail})" if detail else self.on_chain)


class ExecutionError(VMError):
    """A call that fails: its state changes are reverted and `reason` goes in the receipt."""

    reason = "execution-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Revert(ExecutionError):
    reason = "revert"


class OutOfGas(ExecutionError):
    reason = "out-of-gas"


class LimitExceeded(ExecutionError):
    """Integer size, memory, call depth, event or storage-scan bound exceeded."""

    reason = "limit"
