"""Signing a scenario's transactions and submitting them a phase at a time: what every scenario
system (the P2P market's `Runner`, the auction, ADMM scheduling, CES) drives its chain with.

Each key's transactions take its next nonce in the order they are signed; a contract call pays the
fee of the runner's gas limit; a phase goes to the driver in one piece (see `drivers`), and a
refused transaction stops the run with the step's label and the contract's reason.
"""

from __future__ import annotations

from ledger.executor import contract_fee
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import ContractCall, Transaction
from pownode.scenario.drivers import Committed
from pownode.scenario.spec import ScenarioError
from vm import values

GAS = 4_000_000  # a scenario transaction's gas limit: a page of clearing or settlement fits


class Phases:
    def __init__(self, genesis: Genesis, driver) -> None:  # noqa: ANN001 - a `systems.Driver`
        self.genesis = genesis
        self.driver = driver
        self.fee = contract_fee(genesis, GAS)
        self.nonces: dict[bytes, int] = {}
        self.transactions = 0  # submitted in phases that committed

    def _sign(self, key: PrivateKey, body, fee: int = 0) -> Transaction:  # noqa: ANN001 - any body record
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return Transaction.create(key, self.genesis.chain_id, nonce, body, fee=fee)

    def _call_to(self, contract: bytes, key: PrivateKey, function: str, *args, value: int = 0) -> Transaction:
        return self._sign(key, ContractCall(contract, function, tuple(args), GAS, value), self.fee)

    def _phase(self, txs: list[Transaction], label: str) -> list[Committed]:
        if not txs:
            return []
        done = self.driver.submit(txs)
        self.transactions += len(txs)
        for tx, c in zip(txs, done):
            if not c.ok:
                raise ScenarioError(f"{label}: {tx.body.function if isinstance(tx.body, ContractCall) else tx.kind} "
                                    f"failed: {c.reason}")
        return done

    def _outputs(self, txs: list[Transaction], label: str) -> list:
        """A phase of view calls (or calls whose output matters): their decoded outputs."""
        return [values.decode(c.output) for c in self._phase(txs, label)]
