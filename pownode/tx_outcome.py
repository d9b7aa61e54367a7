"""What became of a submitted transaction, as `pownode tx send --wait` prints it and
`EmbeddedNode.send` returns it: one typed result for both, with the CLI's exit code."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TxStatus(enum.Enum):
    COMMITTED = "committed"  # in a committed block, its receipt ok
    REVERTED = "reverted"  # in a committed block, but its receipt failed (a contract call's fee is still charged)
    REFUSED = "refused"  # not admitted: never in a block
    TIMEOUT = "timeout"  # admitted, not committed within the wait

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0 committed, 1 refused, 3 reverted, 4 timed out."""
        return {TxStatus.COMMITTED: 0, TxStatus.REFUSED: 1, TxStatus.REVERTED: 3, TxStatus.TIMEOUT: 4}[self]


@dataclass(frozen=True)
class TxOutcome:
    tx_hash: bytes
    status: TxStatus
    reason: str = ""  # why it was refused or reverted
    height: int | None = None
    gas_used: int = 0
    output: bytes = b""

    def to_json(self) -> dict:
        return {"hash": self.tx_hash.hex(), "status": self.status.value, "reason": self.reason, "height": self.height,
                "gas_used": self.gas_used, "output": self.output.hex()}
