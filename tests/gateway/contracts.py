"""A community for the gateway tests: a one-validator chain with 2-second intervals whose
clients have certified meters, run in the test's process, beside a real broker; and contracts on
it: deploy one, call it, and wait for the block."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

from ledger.executor import contract_fee
from ledger.keys import PrivateKey
from ledger.transactions import ContractCall, ContractDeploy, Transaction
from market.contracts import source
from pownode.config import init_network
from pownode.embed import EmbeddedNode
from pownode.gateway import Gateway, GatewayConfig
from pownode.keyfile import read_key
from pownode.tx_outcome import TxOutcome, TxStatus
from tests.cluster.test_local_cluster import _free_base
from pownode import mqtt_broker as brokers
from vm import values
from vm.machine import contract_address

GAS = 1_500_000


async def commit(node: EmbeddedNode, key: PrivateKey, body: ContractCall | ContractDeploy) -> TxOutcome:
    """Sign `body` with the account's next nonce and wait until it commits without error."""
    genesis = node.node.genesis
    tx = Transaction.create(key, genesis.chain_id, node.next_nonce(key.public_key), body,
                            fee=contract_fee(genesis, GAS))
    outcome = await node.send(tx)
    assert outcome.status is TxStatus.COMMITTED, (body, outcome)
    return outcome


async def deploy(node: EmbeddedNode, key: PrivateKey, name: str) -> bytes:
    """Deploy market contract `name`; its address."""
    await commit(node, key, ContractDeploy(source(name), GAS))
    return contract_address(key.address, hashlib.sha256(source(name).encode()).digest())


async def call(node: EmbeddedNode, contract: bytes, key: PrivateKey, function: str, *args: object,
               value: int = 0) -> object:
    """Call `function` of `contract` and wait until it commits; what it returned."""
    outcome = await commit(node, key, ContractCall(contract, function, args, GAS, value))
    return values.decode(outcome.output) if outcome.output else None

async def stop(*tasks: asyncio.Task, timeout_s: float = 30) -> None:
    """Cancel the test's tasks (a gateway's run, a listener) and wait for them to end, for at most
    `timeout_s`: a task that ignores its cancellation fails the test instead of hanging it. A
    task that failed (rather than ended or was cancelled) raises its error here."""
    for task in tasks:
        task.cancel()
    _, running = await asyncio.wait(tasks, timeout=timeout_s)
    assert not running, f"still running {timeout_s:g} s after their cancellation: {running}"
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def until_interval(node: EmbeddedNode, interval: int, timeout_s: float = 60) -> None:
    """Wait until the chain's head is dated in `interval` or later (a block every 200 ms, an
    interval every 2 s), for at most `timeout_s`."""
    genesis = node.node.genesis
    try:
        async with asyncio.timeout(timeout_s):
            while genesis.interval_of(node.node.chain.head.time_ms) < interval:
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"after {timeout_s:g} s the chain's head (height {node.height}) is in interval "
                             f"{genesis.interval_of(node.node.chain.head.time_ms)}, not yet {interval}") from None


CREDIT = 100_000_000  # each member's market credit, milli-cents


async def p2p_market(node: EmbeddedNode, operator: PrivateKey, members: dict[PrivateKey, int], span: int = 3,
                     lead: int = 1) -> bytes:
    """Deploy and set up a merit-order P2P market (FIT 5, TOU 30 ct/kWh, alpha 0.8, orders `lead`
    windows ahead for `span` windows), register `members` (key -> 1 for a prosumer, 0 for a
    consumer) and fund each one's credit; the market's address."""
    market = await deploy(node, operator, "p2p_market")
    await call(node, market, operator, "setup", 0, 5_000, 30_000, 800_000, 500, lead, span, operator.address, 1, b"",
               0, operator.address)
    for key, prosumer in members.items():
        await call(node, market, operator, "register", key.address, 0, prosumer)
        await call(node, market, key, "deposit", value=CREDIT)
    return market


@dataclass(frozen=True)
class Community:
    node: EmbeddedNode
    net: Path  # the network's folder: operator.key, clients/, meters/
    api: str
    broker_port: int

    def key(self, name: str) -> PrivateKey:
        """operator, client0, client1, ...: the network's keys."""
        return read_key(self.net / ("operator.key" if name == "operator" else f"clients/{name}.key"))

    def gateway(self, home: Path, topic: str, **options: object) -> Gateway:
        """client0's meter's gateway, logged in to the broker."""
        return Gateway(GatewayConfig("127.0.0.1", self.broker_port, self.api, read_key(self.net / "meters" / "client0.key"),
                                     home, topic, brokers.USER, brokers.PASSWORD, **options))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def community(tmp_path: Path) -> AsyncIterator[Community]:
    base = _free_base(3)
    broker = brokers.start(brokers.best_available(), base + 2)
    home = init_network(tmp_path / "net", 1, "pbft", base_port=base, params={"interval_ms": 2000},
                        client_meters=True)[0]
    try:
        async with EmbeddedNode(home) as node:
            yield Community(node, home.parent, f"127.0.0.1:{base + 1}", base + 2)
    finally:
        brokers.stop(broker)
