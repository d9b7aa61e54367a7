"""A chain with the VM and the market precompiles, for contract tests: blocks of signed calls."""

from __future__ import annotations

import hashlib

from ledger import accounts
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.executor import contract_fee
from ledger.keys import PrivateKey
from ledger.receipts import Receipt
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from market.contracts import source
from market.precompiles import MARKET_PRECOMPILES
from vm import values
from vm.machine import VM, contract_address

NET = make_devnet(validators=1, users=17, meters=0, label="market-contract")
GAS = 1_500_000
FEE = contract_fee(NET.genesis, GAS)


class ContractChain:
    def __init__(self) -> None:
        self.chain = Chain(MemoryDB(), NET.genesis, runtime=VM(MARKET_PRECOMPILES))
        self.nonces: dict[bytes, int] = {}
        self.fees: dict[bytes, int] = {}
        self.time_ms = NET.genesis.genesis_time_ms

    def block(self, calls: list[tuple[PrivateKey, object]], time_ms: int | None = None) -> list[Receipt]:
        self.time_ms = max(self.time_ms + 1, time_ms or 0)
        txs = []
        for key, body in calls:
            nonce = self.nonces.get(key.address, 0)
            self.nonces[key.address] = nonce + 1
            self.fees[key.address] = self.fees.get(key.address, 0) + FEE
            txs.append(Transaction.create(key, NET.genesis.chain_id, nonce, body, fee=FEE))
        block, dropped = self.chain.build_block(txs, NET.validators[0].public_key, self.time_ms)
        assert not dropped, dropped
        self.chain.commit_block(NET.seal(block))
        return [self.chain.store.tx_location(t.hash).receipt for t in txs]

    def deploy(self, name: str, key: PrivateKey) -> bytes:
        receipt = self.block([(key, ContractDeploy(source(name), GAS))])[0]
        assert receipt.status == 0, receipt.reason
        return contract_address(key.address, hashlib.sha256(source(name).encode()).digest())

    @staticmethod
    def call(contract: bytes, key: PrivateKey, function: str, *args, value: int = 0) -> tuple:
        return key, ContractCall(contract, function, tuple(args), GAS, value)

    def run(self, contract: bytes, key: PrivateKey, function: str, *args, value: int = 0):
        receipt = self.block([self.call(contract, key, function, *args, value=value)])[0]
        assert receipt.status == 0, receipt.reason
        return None if receipt.output == b"" else values.decode(receipt.output)

    def balance(self, address: bytes) -> int:
        return accounts.get_account(self.chain.state, address).balance
