"""The ledger as a consensus application: the methods of `consensus.application.Application`.

Structural typing: the ledger must not import consensus (DESIGN.md layering), so this class
simply has the methods the protocol names.
"""

from __future__ import annotations

from typing import Iterable

from ledger import accounts
from ledger.blocks import Block, Header
from ledger.chain import Chain
from ledger.errors import GenesisError, LedgerError
from ledger.executor import check_transaction, gas_limit_of
from ledger.keys import address_of
from ledger.mempool import WAITING, Mempool
from ledger.transactions import MeterReading, Transaction


class LedgerApp:
    def __init__(self, chain: Chain, mempool: Mempool, *, max_block_txs: int = 10_000) -> None:
        self.chain = chain
        self.mempool = mempool
        self.max_block_txs = max_block_txs
        self._gas_room = chain.genesis.max_block_gas  # what the last block left

    @property
    def chain_id(self) -> str:
        return self.chain.genesis.chain_id

    def last_header(self) -> Header:
        return self.chain.head

    def validators(self) -> list[tuple[bytes, int]]:
        return self.chain.validators

    def propose(self, proposer: bytes, time_ms: int, skipped: list[bytes]) -> Block:
        # Select against the committed head: a pending (validated, uncommitted) proposal of an
        # earlier view would make the selection assume nonces the new block cannot have.
        self.chain.discard_pending()
        interval = self.chain.genesis.interval_of(max(time_ms, self.chain.head.time_ms + 1))
        candidates = self.mempool.select(self.chain.state, self.max_block_txs, interval)
        block, dropped = self.chain.build_block(candidates, proposer, time_ms, self.max_block_txs, skipped)
        for tx, exc in dropped:
            if exc.reason not in WAITING:
                self.mempool.drop(tx, exc.reason)
        return block

    def validate(self, block: Block) -> None:
        self.chain.validate_block(block)

    def pending_txs(self, tx_hashes: Iterable[bytes]) -> list[Transaction | None]:
        get = self.mempool.get
        return [get(h) for h in tx_hashes]

    def commit(self, block: Block) -> bytes:
        self.chain.commit_block(block, check_proof=False)  # the engine checked its own certificate
        self._committed(block)
        return self.chain.head.state_root

    def follow(self, block: Block) -> None:
        """Commit a block the validators decided, received by a node that does not vote: only
        with a commit certificate of the validator set this chain holds, and only if it
        executes to its header's state root."""
        self.chain.commit_block(block, check_proof=True)
        self._committed(block)

    def _committed(self, block: Block) -> None:
        self.mempool.remove_committed(list(block.txs), self.chain.state)
        self.mempool.recheck(self.chain.state, block.height)
        self._gas_room = self.chain.genesis.max_block_gas - sum(r.gas_used for r in self.chain.receipts_of(block))

    def block_at(self, height: int) -> Block | None:
        return self.chain.store.block(height)

    def block_bytes_at(self, height: int) -> bytes | None:
        return self.chain.store.block_bytes(height)

    def ready_requests(self) -> list[bytes]:
        """What any proposer could include next, and the last block had gas for: a reading
        whose interval has not ended by the head's time may not be includable yet, and a
        contract call whose gas limit exceeds the gas the last block left may have waited for
        room, so neither counts against a proposer (a backlog of calls fills blocks by gas long
        before their count does). Only gas excuses: a proposer can fill a block's gas only by
        burning it, paying a fee for every unit, while it could fill a block's bytes or decoded
        memory with a few cheap transactions of its own and so excuse leaving out anyone's."""
        ready = []
        genesis = self.chain.genesis
        interval = genesis.interval_of(self.chain.head.time_ms)
        for tx in self.mempool.select(self.chain.state, self.mempool.capacity, interval):
            if gas_limit_of(tx) > self._gas_room:
                continue
            try:
                check_transaction(self.chain.state, genesis, tx, runtime=self.chain.runtime, interval=interval)
            except LedgerError:
                continue  # spent or otherwise invalid since admission: no proposer could take it
            ready.append(tx.hash)
        return ready

    def is_full(self, block: Block) -> bool:
        return len(block.txs) * 10 >= self.max_block_txs * 9

    def always_due(self, request: bytes) -> bool:
        tx = self.mempool.get(request)
        return tx is not None and isinstance(tx.body, MeterReading)

    def int_param(self, name: str, default: int) -> int:
        return self.chain.genesis.int_param(name, default)

    def str_param(self, name: str, default: str) -> str:
        value = self.chain.genesis.param(name, default)
        if type(value) is not str:
            raise GenesisError(f"genesis param {name!r} must be a string, got {value!r}")
        return value

    def proposer_history(self, validator: bytes) -> tuple[int, int]:
        stats = accounts.proposer_stats(self.chain.state, validator)
        return stats.last_height, stats.blocks

    def skip_record(self, validator: bytes) -> tuple[int, int] | None:
        record = accounts.skip_record(self.chain.state, validator)
        return None if record is None else (record.height, record.strikes)

    def traded_wh(self, validator: bytes) -> int:
        return accounts.traded_wh(self.chain.state, address_of(validator))

    def interval_energy(self, validator: bytes, interval: int) -> tuple[int, int] | None:
        """(produced, consumed) over `interval` by the certified meters the validator owns, or
        None unless all of them reported it (`OwnerEnergy.complete`)."""
        energy = accounts.owner_energy(self.chain.state, address_of(validator), interval)
        return (energy.produced_wh, energy.consumed_wh) if energy.complete else None
