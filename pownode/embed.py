"""Embedding a node in a program of one's own, such as a smart-meter gateway's.

The gateway's program owns the asyncio loop: `EmbeddedNode` runs the node (P2P, consensus,
ledger, and the HTTP API unless turned off) as tasks on that loop, and `MeterFeed` signs the
gateway meter's readings with the meter's key and hands them to the node directly, with no HTTP
in between. `pownode run` is this plus signal handling.

    async with EmbeddedNode("gateway-home") as node:
        meter = MeterFeed(node, read_key("meter.key"))
        receipt = await meter.reading(interval, produced_wh=1200, consumed_wh=300)
        outcome = await node.send(any_signed_transaction)  # a TxOutcome, as `tx send --wait` prints

`examples/embed_gateway.py` is a whole program doing this; a test runs it.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from pathlib import Path

from aiohttp import web

from ledger.errors import LedgerError
from ledger.keys import PrivateKey, address_of
from ledger.receipts import Receipt
from ledger.transactions import MeterReading, Transaction
from pownode.api import make_app
from pownode.http_guard import ConnectionGuard
from pownode.config import NodeConfig
from pownode.events import BlockCommitted, NodeEvent
from pownode.node import Node
from pownode.tx_outcome import TxOutcome, TxStatus

log = logging.getLogger("pownode.embed")


class EmbeddedNode:
    """A node living in the caller's running asyncio loop, with or without its HTTP API."""

    def __init__(self, home: str | Path, *, api: bool = True, resync: bool = False) -> None:
        self.home = Path(home)
        self.config = NodeConfig.load(self.home)
        self.node = Node(self.config, self.home, resync=resync)
        self._api = api
        self._runner: web.AppRunner | None = None
        self._waiters: dict[bytes, list[asyncio.Future]] = {}  # tx hash -> futures of (height, receipt)

    async def start(self) -> "EmbeddedNode":
        self.node.events.subscribe(self._on_event)
        try:
            try:
                await self.node.start()
            except OSError as exc:
                raise self._port_in_use(exc, "listen_port", self.config.listen_host, self.config.listen_port) from None
            await self._start_api()
        except BaseException:
            await self.stop()  # the database closed, the peers' links dropped: nothing left half-started
            raise
        return self

    def _port_in_use(self, exc: OSError, field: str, host: str, port: int) -> OSError:
        """A bind refused because the port is taken, as an error naming the config field to change;
        any other error as it is."""
        if exc.errno != errno.EADDRINUSE:
            return exc
        return OSError(f"{host}:{port} ({field} in {self.home / 'config.json'}) is in use by another process: stop "
                       "it, or give this node another port")

    async def _start_api(self) -> None:
        if self._api:
            # The keep-alive timer also closes a connection whose request headers are not
            # complete in time (aiohttp arms it when the connection opens).
            # A refused request's unread body is not drained (lingering_time 0): the connection
            # is closed instead, so a flood of refused uploads costs no reading.
            self._runner = web.AppRunner(make_app(self.node), access_log=None, lingering_time=0,
                                         keepalive_timeout=self.config.api_header_timeout_ms / 1000)
            await self._runner.setup()
            assert self._runner.server is not None
            ConnectionGuard(self.config.api_connections_per_client, self.config.api_connections).install(
                self._runner.server)
            try:
                await web.TCPSite(self._runner, self.config.api_host, self.config.api_port).start()
            except OSError as exc:
                raise self._port_in_use(exc, "api_port", self.config.api_host, self.config.api_port) from None
            log.info("%s API on http://%s:%d", self.config.name, self.config.api_host, self.config.api_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self.node.events.unsubscribe(self._on_event)
        await self.node.stop()
        for futures in self._waiters.values():
            for future in futures:
                future.cancel()

    async def __aenter__(self) -> "EmbeddedNode":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def height(self) -> int:
        return self.node.chain.height

    def submit(self, tx: Transaction) -> bytes:
        """Admit a signed transaction to the mempool (and gossip it); its hash, or a LedgerError
        saying why it was refused."""
        result = self.node.txs.submit([tx.encoded])[0]
        if not result["accepted"]:
            raise LedgerError(result["detail"], reason=result["reason"])
        return tx.hash

    def next_nonce(self, public_key: bytes) -> int:
        return self.node.mempool.next_nonce(self.node.chain.state, address_of(public_key))

    async def wait_committed(self, tx_hash: bytes, timeout_s: float = 30.0) -> Receipt:
        """The receipt of a transaction once a block holding it is committed."""
        return (await self._committed(tx_hash, timeout_s))[1]

    async def _committed(self, tx_hash: bytes, timeout_s: float) -> tuple[int, Receipt]:
        """(height, receipt) of a transaction once committed: from the block's event, or from the
        store when it committed before we listened."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_hash, []).append(future)
        where = self.node.chain.store.tx_location(tx_hash)
        if where is not None:
            self._waiters.pop(tx_hash, None)
            return where.height, where.receipt
        return await asyncio.wait_for(future, timeout_s)

    async def send(self, tx: Transaction, timeout_s: float = 30.0) -> TxOutcome:
        """Submit `tx` and wait for its block: committed, reverted (its receipt failed), refused
        (with the reason) or timed out; the same result `pownode tx send --wait` prints."""
        try:
            self.submit(tx)
        except LedgerError as exc:
            return TxOutcome(tx.hash, TxStatus.REFUSED, f"{exc.reason}: {exc}")
        try:
            height, receipt = await self._committed(tx.hash, timeout_s)
        except asyncio.TimeoutError:
            return TxOutcome(tx.hash, TxStatus.TIMEOUT, f"not committed within {timeout_s:g} s")
        status = TxStatus.COMMITTED if receipt.status == 0 else TxStatus.REVERTED
        return TxOutcome(tx.hash, status, receipt.reason, height, receipt.gas_used, receipt.output)

    def _on_event(self, event: NodeEvent) -> None:
        if not isinstance(event, BlockCommitted):
            return
        for tx_hash, receipt in zip(event.tx_hashes, event.receipts):
            for future in self._waiters.pop(tx_hash, ()):
                if not future.done():
                    future.set_result((event.block.height, receipt))


class MeterFeed:
    """A certified meter's readings, signed with the meter's own key and fed to an embedded node."""

    def __init__(self, node: EmbeddedNode, meter_key: PrivateKey) -> None:
        self.node = node
        self.key = meter_key

    async def reading(self, interval: int, produced_wh: int, consumed_wh: int, *, wait: bool = True,
                      timeout_s: float = 30.0) -> Receipt | bytes:
        """Submit one interval's reading: its receipt once committed, or its hash if not `wait`."""
        chain_id = self.node.node.genesis.chain_id
        tx = Transaction.create(self.key, chain_id, self.node.next_nonce(self.key.public_key),
                                MeterReading(interval, produced_wh, consumed_wh))
        tx_hash = self.node.submit(tx)
        return await self.node.wait_committed(tx_hash, timeout_s) if wait else tx_hash
