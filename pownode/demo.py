"""`pownode demo --local`: one day of a small energy community trading on its own chain, in one
process: the real ledger, VM and market on one validator (`make demo` runs the cluster demo).
The operator deploys the P2P forward-market contract (000) and registers the households. Every
15-minute interval is one block holding: each certified meter's signed reading, the households'
orders for the next window (prosumers offer their forecast surplus, consumers bid for their
deficit, which locks its worst-case cost in their market credit), the clearing of the window that
just closed, which runs the market kernels as VM precompiles and pays every seller from the
buyers' credit, and the real-time settlement of the window delivered before it, which prices each
household's deviation from its trades on its certified meter's reading. Transactions
pass the mempool (signature checked once), the validator builds and seals each block, and the
block is committed to LevelDB in one synced batch. At the end the store is reopened and every
block is replayed from genesis.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ledger import accounts
from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.devnet import Devnet, make_devnet
from ledger.encoding import Record
from ledger.errors import LedgerError
from ledger.executor import contract_fee
from ledger.keys import PrivateKey
from ledger.mempool import Mempool
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading, Transaction
from market import clearing
from market.contracts import source
from market.precompiles import MARKET_PRECOMPILES
from pownode import demo_home
from vm import values
from vm.machine import VM, contract_address

INTERVAL_MS = 15 * 60 * 1000
INTERVALS_PER_DAY = 96
GAS = 2_000_000
FIT, TOU, ALPHA_PPM, P_SER = 5_000, 30_000, 800_000, 500  # milli-cents/kWh; alpha * TOU = 24,000
CAP = TOU * ALPHA_PPM // 1_000_000
CREDIT = 5_000_000  # each household's market credit, milli-cents
MERIT = 0  # p2p_market's mechanism: 000's merit order and pro-rata trades


def pv_wh(interval: int, peak_wh: int) -> int:
    """Integer PV output for a 15-minute interval: a triangle from 06:00 to 18:00."""
    slot = interval % INTERVALS_PER_DAY
    if not 24 <= slot < 72:
        return 0
    return peak_wh * (24 - abs(slot - 48)) // 24


def load_wh(interval: int, base_wh: int) -> int:
    """Household consumption: a base load with a morning and a larger evening peak."""
    slot = interval % INTERVALS_PER_DAY
    bump = 0
    if 28 <= slot < 36:
        bump = base_wh // 2
    if 68 <= slot < 88:
        bump = base_wh
    return base_wh + bump


@dataclass
class DemoReport:
    blocks: int = 0
    txs: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    failed_calls: int = 0
    windows: list[tuple[int, int, int, int]] = field(default_factory=list)  # (window, price, Wh, trades)
    paid: int = 0  # milli-cents moved from buyers to sellers by the market contract
    settled: int = 0  # windows whose deviations were settled against the meters
    seconds: float = 0.0


class _Community:
    """The households, their meters, and the transactions they send each interval."""

    def __init__(self, net: Devnet, chain: Chain) -> None:
        self.net = net
        self.chain = chain
        self.nonces: dict[bytes, int] = {}
        self.fee = contract_fee(net.genesis, GAS)
        self.operator = net.users[0]
        self.market = contract_address(self.operator.address, hashlib.sha256(source("p2p_market").encode()).digest())

    def sign(self, key: PrivateKey, body: Record, fee: int) -> Transaction:
        nonce = self.nonces.get(key.address, accounts.get_account(self.chain.state, key.address).nonce)
        self.nonces[key.address] = nonce + 1
        return Transaction.create(key, self.net.genesis.chain_id, nonce, body, fee=fee)

    def call(self, key: PrivateKey, function: str, *args, value: int = 0) -> Transaction:
        return self.sign(key, ContractCall(self.market, function, tuple(args), GAS, value), self.fee)

    def opening(self) -> list[Transaction]:
        txs = [self.sign(self.operator, ContractDeploy(source("p2p_market"), GAS), self.fee),
               self.call(self.operator, "setup", MERIT, FIT, TOU, ALPHA_PPM, P_SER, 1, 3, self.operator.address, 1,
                         b"", 0, self.operator.address)]
        for i, user in enumerate(self.net.users):
            txs.append(self.call(self.operator, "register", user.address, i % 3, 1 if self.has_pv(i) else 0))
            txs.append(self.call(user, "deposit", value=CREDIT))
        return txs

    def has_pv(self, i: int) -> bool:
        return i < len(self.net.meters)

    def net_wh(self, i: int, interval: int) -> int:
        produced = pv_wh(interval, 600 + 150 * i) if self.has_pv(i) else 0
        return produced - load_wh(interval, 120 + 20 * i)

    def interval(self, interval: int) -> list[Transaction]:
        """The block of chain interval `interval` + 1: readings of `interval`, orders for the next
        window, clearing of this one, settlement of the one delivered two intervals ago."""
        txs = []
        for i, meter in enumerate(self.net.meters):
            produced = pv_wh(interval, 600 + 150 * i)
            txs.append(self.sign(meter, MeterReading(interval, produced, load_wh(interval, 120 + 20 * i)), 0))
        now = interval + 1  # the block's settlement interval
        for i, user in enumerate(self.net.users):
            forecast = self.net_wh(i, now + 1)
            if forecast > 0:
                txs.append(self.call(user, "post", now + 1, 1, forecast, 9_000 + 400 * i, interval))
            elif forecast < 0:
                txs.append(self.call(user, "post", now + 1, 0, -forecast, 0, interval))
        if interval == 0:  # certified (once deployed), the market settles against the meters
            txs.append(self.sign(self.net.operator, CertifyMarket(self.market, 1), 0))
        if interval > 0:
            txs.append(self.call(self.operator, "clear", now, 4096))
        if interval > 2:  # its readings arrived in the previous block: complete, or late after grace
            txs.append(self.call(self.operator, "settle", now - 2, 256))
        return txs


def run_demo(home: Path, intervals: int = INTERVALS_PER_DAY, users: int = 8, show: bool = True) -> DemoReport:
    demo_home.clear(home, print if show else (lambda *a: None))
    net = make_devnet(validators=1, users=users, meters=max(1, users // 2), chain_id="pownode-demo",
                      params={"interval_ms": INTERVAL_MS})
    validator = net.validators[0]
    clearing.self_check()  # kernel == reference before any market clears (numba loads here)
    vm = VM(MARKET_PRECOMPILES)
    chain = Chain(LevelDB(home / "chain", create=True), net.genesis, runtime=vm)
    demo_home.mark(home)
    net.genesis.save(home / "genesis.json")  # for `pownode check --db HOME/chain --genesis HOME/genesis.json`
    pool = Mempool(net.genesis, chain.cache, runtime=vm)
    community = _Community(net, chain)
    report = DemoReport()
    say: Callable[..., None] = print if show else (lambda *a, **k: None)
    say(f"pownode demo: chain {net.genesis.chain_id}, {users} households ({len(net.meters)} with PV and certified "
        f"meters), 1 validator, LevelDB at {home / 'chain'}")
    say(f"market contract {community.market.hex()[:16]}..: FIT {FIT}, TOU {TOU}, alpha*TOU {CAP} milli-cents/kWh, "
        f"15-minute windows, orders one window ahead")
    say(f"{'height':>6} {'time':>5} {'txs':>4} {'readings':>8} {'orders':>6} {'price':>7} {'traded Wh':>9} "
        f"{'trades':>6} {'block hash':>18}")
    started = time.perf_counter()
    for step in range(intervals + 1):
        batch = community.opening() if step == 0 else community.interval(step - 1)
        for tx in batch:
            try:
                pool.add(tx.encoded, chain.state)
            except LedgerError as exc:
                report.rejected[exc.reason] = report.rejected.get(exc.reason, 0) + 1
        block_time = net.genesis.genesis_time_ms + step * INTERVAL_MS + 1
        block, dropped = chain.build_block(pool.select(chain.state, 10_000), validator.public_key, block_time)
        for tx, exc in dropped:
            pool.drop(tx, exc.reason)
            report.rejected[exc.reason] = report.rejected.get(exc.reason, 0) + 1
        chain.commit_block(net.seal(block))
        pool.remove_committed(list(block.txs), chain.state)
        report.blocks += 1
        report.txs += len(block.txs)
        readings = orders = 0
        cleared = None
        for tx in block.txs:
            report.kinds[tx.kind] = report.kinds.get(tx.kind, 0) + 1
            receipt = chain.store.tx_location(tx.hash).receipt
            if tx.kind == "ContractCall":
                report.failed_calls += receipt.status != 0
                if tx.body.function == "post":
                    orders += 1
                elif tx.body.function == "clear" and receipt.status == 0:
                    price, volume, trades, paid = values.decode(receipt.output)[:4]
                    cleared = (tx.body.args[0], price, volume, trades)
                    report.windows.append(cleared)
                    report.paid += paid
                elif tx.body.function == "settle" and receipt.status == 0:
                    report.settled += values.decode(receipt.output)[1]
            elif tx.kind == "MeterReading":
                readings += 1
        slot = (step - 1) % INTERVALS_PER_DAY
        clock = f"{slot // 4:02d}:{slot % 4 * 15:02d}" if step else "setup"
        price_col = f"{cleared[1]:>7} {cleared[2]:>9} {cleared[3]:>6}" if cleared else f"{'-':>7} {'-':>9} {'-':>6}"
        say(f"{block.height:>6} {clock:>5} {len(block.txs):>4} {readings:>8} {orders:>6} {price_col} "
            f"{block.hash.hex()[:16]}..")
    report.seconds = time.perf_counter() - started
    market_balance = accounts.get_account(chain.state, community.market).balance
    chain.store.db.close()
    reopened = Chain(LevelDB(home / "chain"), net.genesis, runtime=VM(MARKET_PRECOMPILES))
    audited = reopened.audit()
    reopened.store.db.close()
    disk = sum(p.stat().st_size for p in (home / "chain").rglob("*") if p.is_file())
    traded = sum(w[2] for w in report.windows)
    priced = [w for w in report.windows if w[2]]
    say("")
    say(f"committed {report.blocks} blocks, {report.txs} transactions in {report.seconds:.2f} s "
        f"({report.txs / report.seconds:.0f} tx/s including signing and clearing)")
    say(f"by kind: {report.kinds}; failed contract calls: {report.failed_calls}; rejected: {report.rejected or 'none'}")
    say(f"market: {len(report.windows)} windows cleared, {len(priced)} with trades, {traded} Wh traded peer to peer"
        + (f" at {min(w[1] for w in priced)}..{max(w[1] for w in priced)} milli-cents/kWh" if priced else "")
        + f"; {report.paid} milli-cents paid from buyers' credit to sellers; {report.settled} windows settled "
        f"against the meters")
    say(f"held by the market contract: {market_balance} milli-cents (the households' credit, open locks, and "
        f"sellers' proceeds and collateral until their window is settled)")
    say(f"reopened the store and replayed all {audited} blocks from genesis: state root matches; "
        f"{disk / 1024:.0f} KiB on disk")
    return report
