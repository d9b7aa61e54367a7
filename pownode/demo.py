"""`make demo`: one day of a small energy community on a single-validator chain.

Until the cluster (issue 6) and market (issue 5) land, the demo runs the real ledger path on one
node: every 15-minute settlement interval, each certified meter signs its reading, prosumers
offer their surplus and consumers bid for their deficit in the forward market, households pay
each other, and one household pays into a community-battery fund run as a contract in the VM;
transactions go through the mempool (signature checked once), into a block built and executed
by the validator, sealed with its commit signature, and committed to LevelDB in one synced
batch. At the end the store is reopened and every block is replayed from genesis.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ledger import accounts
from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.devnet import Devnet, make_devnet
from ledger.errors import LedgerError
from ledger.executor import contract_fee
from ledger.mempool import Mempool
from ledger.transactions import (BUY, SELL, ContractCall, ContractDeploy, MarketOrder, MeterReading,
                                 Transaction, Transfer)
from vm import values
from vm.machine import VM, contract_address

INTERVAL_MS = 15 * 60 * 1000
INTERVALS_PER_DAY = 96
CONTRACT_GAS = 200_000

FUND = """
def contribute(interval):
    require(value() > 0, "send some currency")
    put(sender(), get(sender(), 0) + value())
    put("total", get("total", 0) + value())
    put("last_interval", interval)
    emit("contribution", sender(), value(), interval)
    return get("total")

def total():
    return get("total", 0)
"""


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
    seconds: float = 0.0
    fund_total: int = 0


def _interval_txs(net: Devnet, chain: Chain, interval: int, nonces: dict[bytes, int], fund: bytes) -> list[Transaction]:
    cid = net.genesis.chain_id
    txs: list[Transaction] = []

    def sign(key, body, fee: int = 1) -> None:
        nonce = nonces.get(key.address, accounts.get_account(chain.state, key.address).nonce)
        nonces[key.address] = nonce + 1
        txs.append(Transaction.create(key, cid, nonce, body, fee=fee))

    for i, user in enumerate(net.users):
        produced = pv_wh(interval, 600 + 150 * i) if i < len(net.meters) else 0
        consumed = load_wh(interval, 120 + 20 * i)
        if i < len(net.meters):
            sign(net.meters[i], MeterReading(interval, produced, consumed), fee=0)
        forward = interval + 4  # orders for the window one hour ahead (000: T_f = t+m..t+m+n)
        net_wh = pv_wh(forward, 600 + 150 * i) if i < len(net.meters) else 0
        net_wh -= load_wh(forward, 120 + 20 * i)
        if net_wh > 0:
            sign(user, MarketOrder(forward, SELL, net_wh, 9_000 + 100 * i, i % 3, interval))
        elif net_wh < 0:
            sign(user, MarketOrder(forward, BUY, -net_wh, 14_000 - 100 * i, i % 3, interval))
        if interval % 8 == i % 8:  # settle a bill now and then
            sign(user, Transfer(net.users[(i + 1) % len(net.users)].address, 250 + interval))
    payer = net.users[interval % len(net.users)]
    sign(payer, ContractCall(fund, "contribute", (interval,), CONTRACT_GAS, 100 + interval),
         fee=contract_fee(net.genesis, CONTRACT_GAS))
    return txs


def _last_contract_call(chain: Chain) -> bytes:
    for height in range(chain.height, 0, -1):
        for tx in reversed(chain.store.block(height).txs):
            if tx.kind == "ContractCall":
                return tx.hash
    return b""


def run_demo(home: Path, intervals: int = INTERVALS_PER_DAY, users: int = 8, show: bool = True) -> DemoReport:
    if home.exists():
        shutil.rmtree(home)
    net = make_devnet(validators=1, users=users, meters=max(1, users // 2), chain_id="pownode-demo")
    validator = net.validators[0]
    vm = VM()
    chain = Chain(LevelDB(home / "chain"), net.genesis, runtime=vm)
    pool = Mempool(net.genesis, chain.cache, runtime=vm)
    report = DemoReport()
    say = print if show else (lambda *a, **k: None)
    say(f"pownode demo: chain {net.genesis.chain_id}, {users} households, {len(net.meters)} with PV meters, "
        f"1 validator, LevelDB at {home / 'chain'}")
    say(f"{'height':>6} {'time':>5} {'txs':>4} {'readings':>8} {'orders':>6} {'transfers':>9} {'contract':>8} "
        f"{'block hash':>18} {'state root':>18}")
    started = time.perf_counter()
    nonces: dict[bytes, int] = {}
    operator = net.users[0]
    deploy = Transaction.create(operator, net.genesis.chain_id, 0, ContractDeploy(FUND, CONTRACT_GAS),
                                fee=contract_fee(net.genesis, CONTRACT_GAS))
    nonces[operator.address] = 1
    pool.add(deploy.encoded, chain.state)
    fund = contract_address(operator.address, hashlib.sha256(FUND.encode()).digest())
    for interval in range(intervals):
        for tx in _interval_txs(net, chain, interval, nonces, fund):
            try:
                pool.add(tx.encoded, chain.state)
            except LedgerError as exc:
                report.rejected[exc.reason] = report.rejected.get(exc.reason, 0) + 1
        block_time = net.genesis.genesis_time_ms + (interval + 1) * INTERVAL_MS
        block, dropped = chain.build_block(pool.select(chain.state, 10_000), validator.public_key, block_time)
        for tx, exc in dropped:
            pool.drop(tx)
            report.rejected[exc.reason] = report.rejected.get(exc.reason, 0) + 1
        chain.commit_block(net.seal(block))
        pool.remove_committed(list(block.txs), chain.state)
        counts = {k: sum(1 for t in block.txs if t.kind == k)
                  for k in ("MeterReading", "MarketOrder", "Transfer", "ContractCall", "ContractDeploy")}
        for k, v in counts.items():
            report.kinds[k] = report.kinds.get(k, 0) + v
        report.blocks += 1
        report.txs += len(block.txs)
        slot = interval % INTERVALS_PER_DAY
        say(f"{block.height:>6} {slot // 4:02d}:{slot % 4 * 15:02d} {len(block.txs):>4} "
            f"{counts['MeterReading']:>8} {counts['MarketOrder']:>6} {counts['Transfer']:>9} "
            f"{counts['ContractCall'] + counts['ContractDeploy']:>8} "
            f"{block.hash.hex()[:16]}.. {block.header.state_root.hex()[:16]}..")
    report.seconds = time.perf_counter() - started
    last_call = chain.store.tx_location(_last_contract_call(chain))
    fund_total = values.decode(last_call.receipt.output) if last_call and last_call.receipt.status == 0 else 0
    report.fund_total = fund_total
    failed_calls = report.kinds.get("ContractCall", 0) - sum(
        1 for h in range(1, chain.height + 1) for t in chain.store.block(h).txs
        if t.kind == "ContractCall" and chain.store.tx_location(t.hash).receipt.status == 0)
    chain.store.db.close()
    reopened = Chain(LevelDB(home / "chain"), net.genesis, runtime=VM())
    audited = reopened.audit()
    orders = sum(len(accounts.orders(reopened.state, w)) for w in range(intervals + 5))
    readings = sum(len(accounts.readings(reopened.state, w)) for w in range(intervals))
    reopened.store.db.close()
    disk = sum(p.stat().st_size for p in (home / "chain").rglob("*") if p.is_file())
    say("")
    say(f"committed {report.blocks} blocks, {report.txs} transactions in {report.seconds:.2f} s "
        f"({report.txs / report.seconds:.0f} tx/s including signing)")
    say(f"by kind: {report.kinds}; rejected: {report.rejected or 'none'}")
    say(f"state: {readings} meter readings and {orders} forward-market orders on chain "
        f"(clearing arrives with the market issue)")
    say(f"community fund contract {fund.hex()[:16]}..: {report.kinds.get('ContractCall', 0)} contributions, "
        f"{failed_calls} failed, total {fund_total} (read from the last call's receipt)")
    say(f"reopened the store and replayed all {audited} blocks from genesis: state root matches; "
        f"{disk / 1024:.0f} KiB on disk")
    return report
