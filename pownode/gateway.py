"""`pownode gateway`: a smart meter's MQTT bridge to the chain.

The meter publishes each interval's reading on `TOPIC/reading` (QoS 1; the forms are in
`gateway_readings`). The gateway keeps it in its outbox (`gateway_outbox`, synced to disk)
before it acknowledges the message, signs it with the meter's certified key, submits it to a
node's API and waits for the block, then publishes the outcome on `TOPIC/receipt` (QoS 1): the
same `TxOutcome` as `pownode tx send --wait`, with the interval. A message that is not a reading
(or is one of an interval that has not ended) is acknowledged and answered on `TOPIC/error`,
once; a second reading of an interval with other energies also raises an alarm on `TOPIC/alarm`.

Nothing is lost or sent twice. The MQTT session is persistent (a fixed client id, no clean
session), so the broker keeps QoS 1 readings for the gateway while it is away (brokers such as
amqtt keep them only for a client that logged in: `mqtt://USER@HOST:PORT`, with the password in
the URL or in POWNODE_MQTT_PASSWORD); a message is
acknowledged only once it is on disk (paho's manual acknowledgement); a signed transaction is on
disk before it is sent, and a restarted gateway asks the node what became of it before signing
another; and the chain refuses a second reading for an interval (the gateway stops sending it, and its
receipt says the chain kept the first). Broker and node connections are retried with exponential backoff (0.5 s to 30 s, with
jitter).

The gateway talks to a node over HTTP. Given the chain's genesis file (`--light --genesis`), it
trusts that node for nothing: its light client (`pownode.light`) follows the headers from the
genesis and proves each reading's transaction and receipt against them before the receipt is
published (with `"verified": true`); a node whose answer does not verify leaves the reading
pending, and says why in the log. With `--full HOME` the gateway runs that home's node (a full
node the operator admitted) in its own process and talks to its API.

Given a market contract and the household's address (`--market`, `--owner`), the gateway also
publishes on `TOPIC/window` (QoS 1) the household's view of each market window once it clears
and again once it is settled against the meters (`gateway_windows`), kept in the outbox until
published. Given an aggregator contract and the household's address (`--aggregator`, `--owner`),
it publishes on `TOPIC/setpoint` (QoS 1) its battery's set-point for each upcoming delivery
interval, once it is known and again whenever it changes: the energy the household's accepted
orders in the aggregator's closed rounds oblige it to export or import, and the mean power that
takes (`gateway_setpoints`), kept in the outbox until published. These come from the node's
market and aggregator APIs as they are (`"verified": false`); an answer that is not shaped as
theirs is refused and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable, TypeVar
from urllib.parse import urlparse

from ledger.errors import LedgerError
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import MeterReading, Transaction
from pownode import answer_bounds, node_http
from pownode.node_http import Bound
from pownode.gateway_outbox import Conflict, Entry, Outbox, Status
from pownode.gateway_readings import BadReading, parse
from pownode.gateway_setpoints import NotObligations, Obligation, parse_page, set_points
from pownode.gateway_windows import REPORTED, owners_page, owners_view
from pownode.ratelimit import ThrottledLog
from pownode.tx_outcome import TxOutcome, TxStatus

log = logging.getLogger("pownode.gateway")
T = TypeVar("T")
BACKOFF_S = (0.5, 30.0)
REFUSED_RETRY_S = (30.0, 900.0)  # a light gateway asks again about a refused reading after 30 s, doubling
COMMIT_WAIT_S = 30
ALREADY_ON_CHAIN = "duplicate-reading"  # the chain has this meter's reading of the interval
RESIGN = frozenset({"stale-nonce", "nonce-taken", "nonce-gap"})  # sign again with the account's nonce
# Refusals no retry can change; any other (a full mempool, an internal error) only makes it wait.
PERMANENT = frozenset({"unknown-meter", "meter-revoked", "reading-before-certification", "reading-out-of-range",
                       "wrong-chain", "bad-signature", "non-canonical", "out-of-range"})
MAX_PENDING = 4 * 96  # readings waiting for the chain; beyond this new ones are refused on the error topic
RECENT_WINDOWS = 8  # market windows looked at behind the current one (a cleared one waits for its settlement)
WINDOW_PAGE = 1024  # the market API's page
MAX_WINDOW_PAGES = 16
ROUND_PAGE = 64  # the aggregator API's page of rounds
MAX_ROUND_PAGES = 256  # rounds an aggregator has ever opened that the gateway reads per look: 16,384
MAX_WAITING_MESSAGES = 64  # QoS 0 messages from the broker waiting for the gateway; more are dropped


@dataclass(frozen=True)
class GatewayConfig:
    broker_host: str
    broker_port: int
    api: str  # the node's API, HOST:PORT
    meter: PrivateKey
    home: Path  # the outbox lives here
    topic: str
    username: str | None = None  # the broker login, if it asks for one
    password: str | None = None
    genesis_file: Path | None = None  # given: a light client proves every receipt from this genesis
    market: bytes | None = None  # given, with `owner`: the household's view of each window is published
    owner: bytes | None = None
    aggregator: bytes | None = None  # given, with `owner`: the battery's set-points are published
    node_home: Path | None = None  # given: this home's node runs in the gateway's process, `api` is its API

    @property
    def client_id(self) -> str:
        return f"pownode-gateway-{self.meter.address.hex()[:16]}"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None


def broker_address(url: str, password: str | None = None) -> BrokerAddress:
    """mqtt://[USER[:PASSWORD]@]HOST[:PORT] (port 1883 by default); `password` is used when the
    URL names a user but no password (so it need not appear in a process list)."""
    found = urlparse(url)
    if found.scheme != "mqtt" or not found.hostname:
        raise ValueError(f"--mqtt: expected mqtt://[USER@]HOST[:PORT], not {url!r}")
    try:
        port = found.port or 1883
    except ValueError:
        raise ValueError(f"--mqtt: bad port in {url!r}") from None
    return BrokerAddress(found.hostname, port, found.username, found.password or (password if found.username else None))


def honour_cancellation() -> None:
    """Raise CancelledError if the current task was asked to stop. Python 3.11's asyncio.wait_for
    (aiomqtt's publish, subscribe and connect wait with it) returns the awaited result instead of
    raising when the task is cancelled just as that result arrives (python/cpython#86296, fixed in
    3.12): the cancellation is lost, but the task still counts it in `cancelling()`. A loop that
    went on would never stop, and whoever cancelled it (the TaskGroup in `Gateway.run`, the
    publisher's `gather`) would wait for it for ever. Called after each such await."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Backoff:
    def __init__(self) -> None:
        self.delay = BACKOFF_S[0]

    async def wait(self) -> None:
        await asyncio.sleep(self.delay * random.uniform(0.5, 1.0))
        self.delay = min(self.delay * 2, BACKOFF_S[1])

    def reset(self) -> None:
        self.delay = BACKOFF_S[0]


@dataclass(frozen=True)
class Refusal:
    """Why a message on the reading topic was not kept, and the alarm to raise when it
    contradicts the meter's reading of its interval (the meter is faulty, or someone else
    publishes on its topic)."""

    error: str
    alarm: dict | None = None


class NodeUnavailable(Exception):
    """The node did not answer; the reading stays pending."""


class NodeApi:
    """A node's HTTP API, one request at a time in a thread of its own: the gateway sends one
    reading at a time, and plain http.client keeps a household's gateway small (no HTTP client
    library). Each answer comes whole within the call's timeout, and within the bound of an
    honest answer to the request (`pownode.node_http`: a node dripping it cannot hold the
    gateway's one request, nor a large one fill its memory). The thread is a daemon, so stopping the
    gateway never waits for a request in flight; proxies from the environment are ignored (the
    node is addressed directly)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def _request(self, method: str, path: str, bound: Bound, body: dict | None, timeout: float) -> tuple[int, object]:
        data = None if body is None else json.dumps(body).encode()
        try:
            status, answer = node_http.request(self.address, method, path, data, timeout, bound.max_bytes)
        except node_http.NoAnswer as exc:
            raise NodeUnavailable(str(exc)) from None
        try:
            return status, node_http.parse_json(answer, bound, f"{method} {path}")
        except (ValueError, RecursionError, node_http.OverBound) as exc:
            if status >= 400:  # an error's body is only its explanation
                return status, {}
            raise NodeUnavailable(f"{method} {path}: {exc}") from None

    async def call(self, method: str, path: str, bound: Bound, body: dict | None = None,
                   timeout: float = 10.0) -> tuple[int, object]:
        """(status, JSON answer) of `method path`; `bound`: what an honest answer to it holds
        (`pownode.answer_bounds`)."""
        return await in_daemon_thread(lambda: self._request(method, path, bound, body, timeout))


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """`work()` in a daemon thread of its own: stopping the gateway never waits for it (a
    request in flight, or a light client's header sync from the genesis)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(outcome: object, failed: bool) -> None:
        if future.done():
            return  # the caller was cancelled meanwhile
        if failed:
            future.set_exception(outcome)  # type: ignore[arg-type]
        else:
            future.set_result(outcome)

    def run() -> None:
        try:
            outcome, failed = work(), False
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting coroutine
            outcome, failed = exc, True
        try:
            loop.call_soon_threadsafe(settle, outcome, failed)
        except RuntimeError:
            pass  # the loop has closed: nobody is waiting

    threading.Thread(target=run, name="pownode-gateway-worker", daemon=True).start()
    return await future


class MeterMessages(asyncio.Queue):
    """The broker's messages waiting for the gateway, at most MAX_WAITING_MESSAGES of QoS 0.

    Anyone who can publish on the reading topic can send QoS 0 messages faster than the gateway
    reads them, and nothing else bounds them: a QoS 0 message beyond the bound is dropped (QoS 0
    promises no delivery; `on_drop` counts it). A QoS 1 or 2 message is always kept: the broker
    holds those back while its in-flight window to the gateway is full, so they are bounded there."""

    def __init__(self, maxsize: int = 0, *, on_drop: Callable[[], None]) -> None:
        super().__init__(maxsize)
        self._on_drop = on_drop

    def put_nowait(self, item) -> None:  # noqa: ANN001 - an aiomqtt.Message
        if item.qos == 0 and self.qsize() >= MAX_WAITING_MESSAGES:
            self._on_drop()
            return
        super().put_nowait(item)


class Gateway:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.outbox = Outbox(config.home / "outbox.sqlite")
        self.genesis: Genesis | None = None
        self.wake_sender = asyncio.Event()
        self.wake_publisher = asyncio.Event()
        self.connected = asyncio.Event()
        self.api = NodeApi(config.api)
        self.light = None  # a pownode.light.LightClient, given a genesis file
        self._window_log = ThrottledLog(log, 60.0)
        self._setpoint_log = ThrottledLog(log, 60.0)
        self._flood_log = ThrottledLog(log, 60.0)
        self._refusal_log = ThrottledLog(log, 10.0)
        # interval -> (monotonic time to ask again, delay): readings a node refused to a light gateway
        self._refused: dict[int, tuple[float, float]] = {}
        self.dropped_messages = 0

    # --- the node ------------------------------------------------------------------------------

    async def _get(self, path: str, bound: Bound, missing_ok: bool = False) -> dict:
        """The node's answer, within `bound`; anything but a 200 (or a 404 when `missing_ok`) is
        the node being unavailable for now, and the reading waits."""
        status, doc = await self.api.call("GET", path, bound)
        if status == 200 or (missing_ok and status == 404):
            return doc if isinstance(doc, dict) else {}
        raise NodeUnavailable(f"GET {path}: HTTP {status}: {doc}")

    async def _genesis(self) -> Genesis:
        backoff = Backoff()
        while True:
            try:
                return Genesis.from_json(await self._get("/genesis", answer_bounds.GENESIS))
            except NodeUnavailable as exc:
                log.warning("node %s not available (%s); retrying", self.config.api, exc)
            await backoff.wait()

    async def _sign(self, entry: Entry) -> Transaction:
        assert self.genesis is not None
        account = await self._get(f"/accounts/{self.config.meter.address.hex()}", answer_bounds.ACCOUNT)
        if type(account.get("nonce")) is not int:
            raise NodeUnavailable(f"the node's account answer has no nonce: {account}")
        tx = Transaction.create(self.config.meter, self.genesis.chain_id, account["nonce"],
                                MeterReading(entry.interval, entry.produced_wh, entry.consumed_wh))
        self.outbox.signed(entry.interval, tx.encoded)  # on disk before it is sent
        return tx

    async def _settle(self, entry: Entry) -> None:
        """Take one pending reading as far as it goes: known committed, committed now, refused
        for good, or still pending (the node is away or busy, or the block has not come)."""
        if entry.tx is not None:  # sent before (perhaps by a gateway that was then stopped)
            tx = Transaction.decode(entry.tx)
            found = await self._get(f"/txs/{tx.hash.hex()}", answer_bounds.TX_STATUS, missing_ok=True)
            if found.get("status") == "committed":
                return await self._done(entry, tx, found)
            if found.get("status") == "pending":
                return
            tx = await self._sign(entry)  # unknown or dropped: its nonce may be stale
        else:
            tx = await self._sign(entry)
        status, answer = await self.api.call("POST", f"/txs?wait=commit&timeout_s={COMMIT_WAIT_S}",
                                             answer_bounds.POSTED, {"txs": [tx.encoded.hex()]},
                                             timeout=COMMIT_WAIT_S + 15)
        if status != 200:  # 429, 503: the node is busy; the reading waits
            raise NodeUnavailable(f"POST /txs: HTTP {status}: {answer}")
        result = (answer.get("results") or [{}])[0] if isinstance(answer, dict) else {}
        if result.get("accepted") and result.get("durable"):
            return await self._done(entry, tx, await self._get(f"/txs/{tx.hash.hex()}", answer_bounds.TX_STATUS))
        reason = result.get("reason", "")
        if result.get("accepted") or reason == "duplicate":
            return  # not committed in time, or already pending there: asked again on the next round
        if reason == ALREADY_ON_CHAIN:  # done: nothing more to send, but this transaction is not the one on chain
            verified = await self._prove_reading_exists(entry)
            log.warning("interval %d: the chain already holds a reading of this meter", entry.interval)
            outcome = TxOutcome(tx.hash, TxStatus.REFUSED, f"{reason}: the chain already holds this meter's reading "
                                "of the interval, and keeps the first")
            return self._finish(entry, Status.DONE, outcome, verified=verified)
        if reason in RESIGN:
            self.outbox.unsign(entry.interval)  # signed anew with a fresh nonce next round
            return
        if reason in PERMANENT and self.light is not None and await self._refusal_is_final(entry, reason):
            log.warning("reading of interval %d refused, proven final: %s: %s", entry.interval, reason,
                        result.get("detail"))
            return self._finish(entry, Status.REFUSED, TxOutcome(tx.hash, TxStatus.REFUSED,
                                                                 f"{reason}: {result.get('detail')}"), verified=True)
        if reason in PERMANENT and self.light is not None:  # the node's word: nothing proves it
            delay = min(2 * self._refused.get(entry.interval, (0.0, REFUSED_RETRY_S[0] / 2))[1], REFUSED_RETRY_S[1])
            self._refused[entry.interval] = (time.monotonic() + delay, delay)
            log.warning("interval %d: the node refuses the reading (%s: %s); a light gateway cannot prove a refusal, "
                        "so it keeps the reading and asks again in %.0f s", entry.interval, reason,
                        result.get("detail"), delay)
            return
        if reason in PERMANENT:
            log.warning("reading of interval %d refused: %s: %s", entry.interval, reason, result.get("detail"))
            return self._finish(entry, Status.REFUSED,
                                TxOutcome(tx.hash, TxStatus.REFUSED, f"{reason}: {result.get('detail')}"))
        raise NodeUnavailable(f"reading of interval {entry.interval} not admitted for now: {reason or answer}")

    async def _refusal_is_final(self, entry: Entry, reason: str) -> bool:
        """With the light client, whether the chain's state proves a refusal final: a reading of
        an interval before the meter's certification, which no later block can take (a meter is
        certified from the interval of the block that certifies it on, and later ones only raise
        it). Without that, a light gateway kept such readings for ever, and anyone who can publish
        on the reading topic could fill its MAX_PENDING with them (a new meter's last two weeks)."""
        if reason != "reading-before-certification":
            return False
        try:
            _, meter = await in_daemon_thread(lambda: self.light.meter(self.config.meter.public_key))
        except (LedgerError, OSError) as exc:
            log.warning("interval %d: the meter's certification is unproven (%s)", entry.interval, exc)
            return False
        return meter is not None and entry.interval < meter.since

    async def _prove_reading_exists(self, entry: Entry) -> bool:
        """Without a light client, False (the node's word is taken); with one, True once the
        chain's state is proven to hold this meter's reading of the interval."""
        if self.light is None:
            return False
        try:
            _, reading = await in_daemon_thread(lambda: self.light.reading(entry.interval,
                                                                           self.config.meter.public_key))
        except (LedgerError, OSError) as exc:
            raise NodeUnavailable(f"interval {entry.interval}: the node's 'already on chain' is unproven ({exc})") from None
        if reading is None:
            raise NodeUnavailable(f"interval {entry.interval}: the node says the chain holds a reading the state "
                                  "proves it does not")
        return True

    async def _done(self, entry: Entry, tx: Transaction, found: dict) -> None:
        """Finish a committed reading: with the node's word for its receipt, or, with a light
        client, with the receipt proven against the chain's certified headers."""
        if self.light is not None:
            try:
                height, _, receipt = await in_daemon_thread(lambda: self.light.transaction(tx.hash))
            except LedgerError as exc:  # a forged header, certificate or receipt
                log.error("interval %d: the node's answer does not verify (%s: %s); the reading stays pending",
                          entry.interval, exc.reason, exc)
                raise NodeUnavailable(f"unverifiable answer: {exc}") from None
            except OSError as exc:  # the node did not answer the light client
                raise NodeUnavailable(str(exc)) from None
            ok = receipt.status == 0
            outcome = TxOutcome(tx.hash, TxStatus.COMMITTED if ok else TxStatus.REVERTED, receipt.reason, height,
                                receipt.gas_used, receipt.output)
            return self._finish(entry, Status.DONE if ok else Status.REFUSED, outcome, verified=True)
        r = found["receipt"]
        outcome = TxOutcome(tx.hash, TxStatus.COMMITTED if r["ok"] else TxStatus.REVERTED, r["reason"],
                            found["height"], r["gas_used"], bytes.fromhex(r["output"]))
        self._finish(entry, Status.DONE if r["ok"] else Status.REFUSED, outcome)

    def _finish(self, entry: Entry, status: Status, outcome: TxOutcome, verified: bool = False) -> None:
        self._refused.pop(entry.interval, None)
        self.outbox.finish(entry.interval, status, {"interval": entry.interval, **outcome.to_json(),
                                                    "verified": verified})
        self.wake_publisher.set()

    async def _send_loop(self) -> None:
        backoff = Backoff()
        while True:
            try:
                for entry in self.outbox.pending():
                    if self._refused.get(entry.interval, (0.0, 0.0))[0] > time.monotonic():
                        continue  # refused a moment ago: the meter's later readings go first
                    try:
                        await self._settle(entry)
                    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                        raise NodeUnavailable(f"an answer that is not what a node answers ({exc!r})") from None
                backoff.reset()
            except NodeUnavailable as exc:
                log.warning("node %s not reachable (%s); readings stay in the outbox", self.config.api, exc)
                await backoff.wait()
                continue
            self.wake_sender.clear()
            try:  # asyncio.timeout, not wait_for: a cancellation is never lost (see honour_cancellation)
                async with asyncio.timeout(1.0 if self.outbox.pending() else None):
                    await self.wake_sender.wait()
            except TimeoutError:
                pass

    # --- the broker ----------------------------------------------------------------------------

    def _on_message(self, payload: bytes) -> Refusal | None:
        """Keep a reading in the outbox; the refusal when the message is not one (or cannot be
        kept: the outbox holds MAX_PENDING readings waiting for the chain), with an alarm when it
        contradicts the reading kept for its interval."""
        assert self.genesis is not None
        try:
            reading = parse(payload, self.genesis, int(time.time() * 1000))
            if self.outbox.pending_count() >= MAX_PENDING and not self.outbox.has(reading.interval):
                return Refusal(f"{MAX_PENDING} readings are waiting for the chain: this one is not kept")
            if self.outbox.add(reading):
                self.wake_sender.set()
        except BadReading as exc:
            return Refusal(str(exc))
        except Conflict as exc:
            return Refusal(str(exc), exc.alarm())
        except Exception as exc:  # noqa: BLE001 - whatever a hostile payload provokes, it is only refused
            log.exception("unexpected error on a meter message")
            return Refusal(f"not a reading ({type(exc).__name__})")
        return None

    async def _publish_loop(self, client) -> None:  # noqa: ANN001 - an aiomqtt.Client
        while True:
            self.wake_publisher.clear()  # before reading the outbox: a receipt finished meanwhile wakes it again
            for entry in self.outbox.unpublished():
                await client.publish(f"{self.config.topic}/receipt", json.dumps(entry.outcome), qos=1)
                self.outbox.mark_published(entry.interval)
                honour_cancellation()
            for kind, reports in (("window", self.outbox.windows), ("setpoint", self.outbox.setpoints)):
                for key, report in reports.unpublished():
                    await client.publish(f"{self.config.topic}/{kind}", json.dumps(report), qos=1)
                    reports.mark_published(key, report)
                    honour_cancellation()
            await self.wake_publisher.wait()

    # --- the market and the aggregator ---------------------------------------------------------

    async def _poll_loop(self, what: str, scan: Callable[[], Awaitable[None]]) -> None:
        """Run `scan` a few times per chain interval (a market window's report, the battery's
        set-points), backing off while the node does not answer."""
        assert self.genesis is not None
        every_s = min(60.0, max(1.0, self.genesis.interval_ms / 3000))
        backoff = Backoff()
        while True:
            try:
                await scan()
                backoff.reset()
            except NodeUnavailable as exc:
                log.warning("%s not readable (%s); asking again", what, exc)
                await backoff.wait()
                continue
            await asyncio.sleep(every_s)

    async def _scan_windows(self) -> None:
        """Look at the current window (by this gateway's clock) and the RECENT_WINDOWS before
        it. A window whose answer is not a market window is logged and skipped: the others are
        still reported."""
        assert self.genesis is not None
        now = self.genesis.interval_of(int(time.time() * 1000))
        first = max(0, now - RECENT_WINDOWS)
        self.outbox.windows.forget_before(first - RECENT_WINDOWS)
        for window in range(first, now + 1):
            if self._window_status(window) == REPORTED[-1]:
                continue  # settled and reported: nothing more will change
            try:
                report = owners_view(await self._window_pages(window), self.config.owner)
                if report is not None and self._window_status(window) != report.status:
                    self.outbox.windows.keep(window, {**report.to_json(), "verified": False})
                    self.wake_publisher.set()
            except NodeUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever a node's answer provokes, that window waits
                self._window_log.warning("window %d: the node's answer is not a market window (%r)", window, exc)

    def _window_status(self, window: int) -> str | None:
        """The status of the window's last report (cleared, settled), None before any."""
        return (self.outbox.windows.get(window) or {}).get("status")

    async def _window_pages(self, window: int) -> list[dict]:
        market, pages = self.config.market.hex(), []
        for page in range(MAX_WINDOW_PAGES):
            doc = await self._get(f"/market/{market}/windows/{window}?offset={page * WINDOW_PAGE}&limit={WINDOW_PAGE}",
                                   answer_bounds.window_page(WINDOW_PAGE))
            pages.append(owners_page(doc, self.config.owner))  # the household's records: not every page whole
            if all(isinstance(doc.get(k), list) and len(doc[k]) < WINDOW_PAGE for k in ("orders", "trades", "settlements")):
                break
        return pages

    async def _scan_setpoints(self) -> None:
        """Keep to publish the set-point of each delivery interval from the current one (by this
        gateway's clock) on that is new or changed. A node answer that is not the aggregator
        API's is logged and nothing is kept from it."""
        assert self.genesis is not None and self.config.owner is not None
        now = self.genesis.interval_of(int(time.time() * 1000))
        self.outbox.setpoints.forget_before(now)
        try:
            obligations = await self._obligations(now)
        except NotObligations as exc:
            self._setpoint_log.warning("aggregator %s: the node's answer is refused (%s)", self.config.aggregator.hex(),
                                       exc)
            return
        for point in set_points(obligations, self.genesis):
            if self.outbox.setpoints.keep(point.interval, {**point.to_json(), "verified": False}):
                self.wake_publisher.set()

    async def _obligations(self, first: int) -> list[Obligation]:
        """The household's obligations delivering in `first` or later, from every page of rounds."""
        path = f"/aggregator/{self.config.aggregator.hex()}/obligations/{self.config.owner.hex()}"
        found: list[Obligation] = []
        after = None
        for _ in range(MAX_ROUND_PAGES):
            cursor = "" if after is None else f"&after={after}"
            doc = await self._get(f"{path}?from={first}&limit={ROUND_PAGE}{cursor}", answer_bounds.OBLIGATIONS)
            page = parse_page(doc, self.config.owner, first, after)
            found += page.obligations
            if not page.more:
                return found
            after = page.last_round
        raise NotObligations(f"the aggregator has more than {MAX_ROUND_PAGES * ROUND_PAGE} rounds: the set-points "
                             "would be missing some")

    @contextlib.asynccontextmanager
    async def broker_session(self):  # noqa: ANN201 - yields an aiomqtt.Client, imported only by a gateway that runs
        """A session with the broker: persistent, under the meter's fixed client id, acknowledging
        each message itself."""
        import socket

        import aiomqtt

        client = aiomqtt.Client(self.config.broker_host, self.config.broker_port, identifier=self.config.client_id,
                                clean_session=False, keepalive=10, username=self.config.username,
                                password=self.config.password,
                                queue_type=functools.partial(MeterMessages, on_drop=self._dropped))  # type: ignore[arg-type]
        # Acknowledge a reading only once it is on disk. aiomqtt has no switch for paho's
        # manual acknowledgement yet (empicano/aiomqtt#345); this is the workaround given there.
        client._client.manual_ack_set(True)
        async with client:
            # The gateway answers a message with small packets one after the other (a refusal,
            # then the acknowledgement): with Nagle's algorithm each waited for the broker's
            # delayed TCP acknowledgement, 40 ms a message.
            client._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            yield client

    def _dropped(self) -> None:
        self.dropped_messages += 1
        self._flood_log.warning("QoS 0 messages on %s/reading come faster than the gateway reads them: dropped",
                                self.config.topic)

    async def _mqtt_loop(self) -> None:
        import aiomqtt

        backoff = Backoff()
        while True:
            try:
                async with self.broker_session() as client:
                    await client.subscribe(f"{self.config.topic}/reading", qos=1)
                    honour_cancellation()  # connecting and subscribing wait with asyncio.wait_for
                    log.info("subscribed to %s/reading at %s:%d", self.config.topic, self.config.broker_host,
                             self.config.broker_port)
                    backoff.reset()
                    self.connected.set()
                    publisher = asyncio.create_task(self._publish_loop(client))
                    try:
                        async for message in client.messages:
                            refusal = self._on_message(bytes(message.payload))
                            if refusal is not None:  # each on the error topic; in the log, one every 10 s
                                self._refusal_log.warning("message on %s refused: %s", message.topic, refusal.error)
                                await client.publish(f"{self.config.topic}/error", json.dumps({"error": refusal.error}),
                                                     qos=1)
                            if refusal is not None and refusal.alarm is not None:  # each logged and published
                                log.error("alarm on %s: %s", message.topic, refusal.error)
                                await client.publish(f"{self.config.topic}/alarm", json.dumps(refusal.alarm), qos=1)
                            client._client.ack(message.mid, message.qos)
                            honour_cancellation()
                    finally:
                        publisher.cancel()
                        await asyncio.gather(publisher, return_exceptions=True)
            except aiomqtt.MqttError as exc:
                # A cancelled session's disconnect that times out raises MqttError in place of
                # the CancelledError: stop, do not reconnect.
                honour_cancellation()
                log.warning("broker %s:%d: %s; reconnecting", self.config.broker_host, self.config.broker_port, exc)
            self.connected.clear()
            await backoff.wait()

    async def run(self) -> None:
        """Run until cancelled; if either loop fails, the other is cancelled and the error raised."""
        if self.config.genesis_file is not None:
            from pownode.light import LightClient, http_fetch, require_same_chain  # only a light gateway holds one

            self.genesis = Genesis.load(self.config.genesis_file)
            require_same_chain(self.genesis, await self._genesis(), self.config.genesis_file, self.config.api)
            self.light = LightClient(self.genesis, http_fetch(self.config.api), self.config.home / "light.json")
        else:
            self.genesis = await self._genesis()
        log.info("gateway for meter %s: chain %s via %s%s", self.config.meter.public_key.hex()[:16],
                 self.genesis.chain_id, self.config.api, ", proving receipts with a light client" if self.light else "")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._send_loop())
                group.create_task(self._mqtt_loop())
                if self.config.market is not None:
                    group.create_task(self._poll_loop(f"market {self.config.market.hex()}", self._scan_windows))
                if self.config.aggregator is not None:
                    group.create_task(self._poll_loop(f"aggregator {self.config.aggregator.hex()}",
                                                      self._scan_setpoints))
        finally:
            self.outbox.close()


def serve(config: GatewayConfig) -> int:
    """Run until SIGTERM or Ctrl-C (0), or until the gateway fails (1, with the error logged)."""
    import signal

    async def main() -> int:
        async with contextlib.AsyncExitStack() as stack:
            if config.node_home is not None:  # only then are the node, its VM and numba loaded
                from pownode.embed import EmbeddedNode

                node = await stack.enter_async_context(EmbeddedNode(config.node_home))
                log.info("running %s (%s) in the gateway's process", node.config.name, node.config.role)
            gateway = asyncio.create_task(Gateway(config).run())
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await asyncio.wait([gateway, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            if gateway.done():
                error = gateway.exception()
                log.error("the gateway stopped: %r", error, exc_info=error)
                return 1
            gateway.cancel()
            await asyncio.gather(gateway, return_exceptions=True)
            return 0

    return asyncio.run(main())
