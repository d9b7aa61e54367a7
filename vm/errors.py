"""VM exceptions. All are expected during normal operation: a failing contract call is a value
(a receipt with a reason), never a crash of the node."""

from __future__ import annotations


class VMError(Exception):
    """Root of everything the VM raises on purpose."""


class CompileError(VMError):
    """Source outside the contract language, reported with its position."""

    def __init__(self, reason: str, line: int = 0, col: int = 0) -> None:
        super().__init__(f"line {line}, column {col}: {reason}")
        self.reason = reason
        self.line = line
        self.col = col


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
