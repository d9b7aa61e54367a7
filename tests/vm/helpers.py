"""A chain with the VM for contract tests: deploy and call through real signed transactions."""

from __future__ import annotations

import hashlib
from typing import Any

from ledger import accounts
from ledger.chain import Chain
from ledger.database import Database, MemoryDB
from ledger.devnet import make_devnet
from ledger.receipts import Receipt
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from vm import values
from vm.machine import VM, contract_address

NET = make_devnet(validators=1, users=3, meters=0, label="vm-tests")
GAS = 2_000_000


class Harness:
    def __init__(self, db: Database | None = None, vm: VM | None = None) -> None:
        self.vm = vm or VM()
        self.chain = Chain(db or MemoryDB(), NET.genesis, runtime=self.vm)

    def _nonce(self, key) -> int:
        return accounts.get_account(self.chain.state, key.address).nonce

    def submit(self, body, user: int = 0) -> Receipt:
        key = NET.users[user]
        fee = NET.genesis.min_fee + GAS // 1000 + 1
        tx = Transaction.create(key, NET.genesis.chain_id, self._nonce(key), body, fee=fee)
        block, dropped = self.chain.build_block([tx], NET.validators[0].public_key, self.chain.head.time_ms + 1000)
        assert not dropped, dropped[0][1]
        self.chain.commit_block(NET.seal(block))
        return self.chain.store.tx_location(tx.hash).receipt

    def deploy(self, source: str, user: int = 0) -> tuple[bytes, Receipt]:
        receipt = self.submit(ContractDeploy(source, GAS), user)
        address = contract_address(NET.users[user].address, hashlib.sha256(source.encode()).digest())
        return address, receipt

    def call(self, contract: bytes, function: str, *args: Any, gas: int = GAS, value: int = 0,
             user: int = 0) -> Receipt:
        return self.submit(ContractCall(contract, function, tuple(args), gas, value), user)

    def result(self, receipt: Receipt) -> Any:
        assert receipt.status == 0, receipt.reason
        return values.decode(receipt.output)
