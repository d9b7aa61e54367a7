"""A chain with the VM and the market precompiles, for contract tests: blocks of signed calls.

Settlement intervals last one second (genesis `interval_ms` 1000) and every user owns a
certified meter (`NET.meters[i]` belongs to `NET.users[i]`), so a test walks a market from
posting through delivery in a few blocks.

Every chain a test builds clears markets with the numba kernels, as a validator does, and is
replayed after the test by `replay_as_full_node` (tests/market/conftest.py), which clears with
the plain-Python reference as a full node does: each block must execute to the same roots.
"""

from __future__ import annotations

import hashlib

from ledger import accounts
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.encoding import unpack
from ledger.devnet import Devnet, make_devnet
from ledger.genesis import Genesis
from ledger.executor import contract_fee
from ledger.keys import PrivateKey
from ledger.receipts import Receipt
from ledger.transactions import FEE_EXEMPT_KINDS, CertifyMarket, ContractCall, ContractDeploy, MeterReading, Transaction
from market.contracts import source
from market import clearing
from market.precompiles import market_precompiles
from vm import values
from vm.machine import VM, contract_address

INTERVAL_MS = 1000
NET = make_devnet(validators=1, users=17, meters=17, label="market-contract", params={"interval_ms": INTERVAL_MS})
GAS = 1_500_000
FEE = contract_fee(NET.genesis, GAS)
T_GENESIS = NET.genesis.genesis_time_ms


def interval_time(interval: int, offset_ms: int = 1) -> int:
    """A block time inside settlement interval `interval`."""
    return T_GENESIS + interval * INTERVAL_MS + offset_ms


def replay_as_full_node(chain: Chain) -> Chain:
    """Re-execute `chain`'s blocks as a full node does (`clearing.PURE`): a block whose state,
    receipts or validator set come out different raises InvalidBlock."""
    follower = Chain(MemoryDB(), NET.genesis, runtime=VM(market_precompiles(clearing.PURE)))
    for height in range(1, chain.height + 1):
        follower.commit_block(chain.store.block(height))
    assert follower.state.root() == chain.state.root()
    return follower


class ContractChain:
    built: list["ContractChain"] = []  # this test's chains, for the conftest to replay

    def __init__(self) -> None:
        self.chain = Chain(MemoryDB(), NET.genesis, runtime=VM(market_precompiles(clearing.KERNEL)))
        ContractChain.built.append(self)
        self.nonces: dict[bytes, int] = {}
        self.fees: dict[bytes, int] = {}
        self.time_ms = T_GENESIS

    def block(self, calls: list[tuple[PrivateKey, object]], time_ms: int | None = None) -> list[Receipt]:
        self.time_ms = max(self.time_ms + 1, time_ms or 0)
        txs = []
        for key, body in calls:
            nonce = self.nonces.get(key.address, 0)
            self.nonces[key.address] = nonce + 1
            fee = 0 if isinstance(body, FEE_EXEMPT_KINDS) else contract_fee(NET.genesis, getattr(body, "gas_limit", 0))
            self.fees[key.address] = self.fees.get(key.address, 0) + fee
            txs.append(Transaction.create(key, NET.genesis.chain_id, nonce, body, fee=fee))
        block, dropped = self.chain.build_block(txs, NET.validators[0].public_key, self.time_ms)
        assert not dropped, [(tx.kind, exc.reason, str(exc)) for tx, exc in dropped]
        self.chain.commit_block(NET.seal(block))
        return [self.chain.store.tx_location(t.hash).receipt for t in txs]

    def deploy(self, name: str, key: PrivateKey) -> bytes:
        receipt = self.block([(key, ContractDeploy(source(name), GAS))])[0]
        assert receipt.status == 0, receipt.reason
        return contract_address(key.address, hashlib.sha256(source(name).encode()).digest())

    @staticmethod
    def call(contract: bytes, key: PrivateKey, function: str, *args, value: int = 0, gas: int = GAS) -> tuple:
        return key, ContractCall(contract, function, tuple(args), gas, value)

    def run(self, contract: bytes, key: PrivateKey, function: str, *args, value: int = 0, gas: int = GAS):
        receipt = self.block([self.call(contract, key, function, *args, value=value, gas=gas)])[0]
        assert receipt.status == 0, receipt.reason
        return None if receipt.output == b"" else values.decode(receipt.output)

    def readings(self, interval: int, energy: dict[int, tuple[int, int]], time_ms: int | None = None) -> None:
        """Certified readings for `interval`: user index -> (produced Wh, consumed Wh), in a
        block at `time_ms` or, if that is earlier, once the interval has ended."""
        calls = [(NET.meters[i], MeterReading(interval, p, c)) for i, (p, c) in sorted(energy.items())]
        self.block(calls, max(time_ms or 0, NET.genesis.interval_start_ms(interval + 1)))

    def balance(self, address: bytes) -> int:
        return accounts.get_account(self.chain.state, address).balance

    def total_money(self) -> int:
        """Every balance on the ledger: conserved by anything but block incentives."""
        return sum(accounts.Account.from_wire(unpack(v)).balance
                   for _, v in self.chain.state.scan(b"a"))


def metered_devnet(label: str, people: int, owners: list[int]) -> Devnet:
    """A devnet of `people` funded keys and one certified meter for each entry of `owners` (the
    index of its owner among the people), for the worst cases: owners of up to
    MAX_METERS_PER_OWNER meters, more keys than NET has."""
    operator = PrivateKey.from_label(f"{label}/operator")
    validator = PrivateKey.from_label(f"{label}/validator/0")
    keys = tuple(PrivateKey.from_label(f"{label}/user/{i}") for i in range(people))
    meters = tuple(PrivateKey.from_label(f"{label}/meter/{i}") for i in range(len(owners)))
    genesis = Genesis.from_json({
        "chain_id": "pownode-dev", "genesis_time_ms": 1_767_225_600_000, "operator": operator.public_key.hex(),
        "min_fee": 1, "validators": [{"name": "validator-0", "public_key": validator.public_key.hex(), "power": 1}],
        "balances": [{"address": k.address.hex(), "amount": 10**12} for k in keys],
        "meters": [{"public_key": m.public_key.hex(), "meter_type": "smart-meter", "serial": f"SM-{i:05d}",
                    "owner": keys[o].address.hex()} for i, (m, o) in enumerate(zip(meters, owners))],
        "consensus": "pbft", "params": {"interval_ms": INTERVAL_MS}})
    return Devnet(genesis, operator, (validator,), keys, meters)


class DevnetChain:
    """A chain of its own devnet (`make_devnet`, `metered_devnet`): blocks of signed transactions,
    each in a given settlement interval."""

    def __init__(self, net: Devnet) -> None:
        self.net = net
        self.chain = Chain(MemoryDB(), net.genesis, runtime=VM(market_precompiles(clearing.KERNEL)))
        self.nonces: dict[bytes, int] = {}

    def block(self, calls: list[tuple[PrivateKey, object]], interval: int) -> list[Receipt]:
        txs = []
        for key, body in calls:
            self.nonces[key.address] = self.nonces.get(key.address, -1) + 1
            fee = 0 if isinstance(body, FEE_EXEMPT_KINDS) else contract_fee(self.net.genesis, body.gas_limit)
            txs.append(Transaction.create(key, self.net.genesis.chain_id, self.nonces[key.address], body, fee=fee))
        time_ms = self.net.genesis.interval_start_ms(interval) + self.chain.height + 1
        built, dropped = self.chain.build_block(txs, self.net.validators[0].public_key, time_ms)
        assert not dropped
        self.chain.commit_block(self.net.seal(built))
        return [self.chain.store.tx_location(t.hash).receipt for t in txs]

    def balance(self, address: bytes) -> int:
        return accounts.get_account(self.chain.state, address).balance


def accepted_ces_offer(chain: ContractChain, utility: PrivateKey, participant: PrivateKey, interval: int) -> bytes:
    """A certified `ces_incentives` run by `utility` (10-interval periods, a 100,000 budget) with
    `participant` enrolled and its accepted offer for 1 kWh in `interval` (12,000 escrowed, 2,000
    of them incentive); returns the contract's address."""
    ces = chain.deploy("ces_incentives", utility)
    for function, args, value in (("setup", (10, 0, 1_000_000, utility.address), 0), ("fund", (), 100_000),
                                  ("enrol", (participant.address, 5), 0)):
        chain.run(ces, utility, function, *args, value=value)
    assert chain.block([(NET.operator, CertifyMarket(ces, 1))])[0].status == 0
    offer = chain.run(ces, utility, "offer", participant.address, interval, 1_000, 10_000, 2_000)
    chain.run(ces, participant, "accept", offer)
    return ces
