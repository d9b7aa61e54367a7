"""`make demo`: a four-node Proof-of-Energy cluster running a P2P market, then a report.

`pownode init` makes a 4-validator `poe` network (each validator a prosumer with a certified
meter, four funded consumer households), `cluster up` starts four node processes on loopback,
and a driver talks to them only through the HTTP API: it deploys the P2P forward-market
contract, has the operator certify it, registers everyone and funds their market credit, and for
a few settlement intervals sends each meter's signed reading, the prosumers' offers and the
consumers' demands for the next window, the clearing of the window that just closed, and the
real-time settlement of a delivered window against the meters. The report lists each window's
clearing price and trades, each participant's energy, payments and credit change, and for every
block which node proposed it and why: the CPF ranking of the last settled interval, recomputed
here with the nodes' own election code from the committed chain.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from consensus.election import PoeElection
from ledger.encoding import Record
from ledger.genesis import Genesis
from ledger.keys import PrivateKey
from ledger.transactions import CertifyMarket, ContractCall, ContractDeploy, MeterReading, Transaction, Transfer
from market.contracts import source
from pownode import cluster, demo_home
from pownode.config import init_network
from pownode.keyfile import read_key
from vm import values
from vm.machine import contract_address

INTERVAL_MS = 4_000  # settlement interval and market window, short so the demo takes seconds
FIT, TOU, ALPHA, P_SER = 5_000, 30_000, 800_000, 500
MERIT = 0  # p2p_market's mechanism: 000's merit order and pro-rata trades
CREDIT = 100_000_000  # each participant's market credit, milli-cents
GAS = 1_500_000
# The order of p2p_market.clear's return value.
RESULT_FIELDS = ("price", "volume_wh", "trades", "paid", "service", "to_grid_wh", "from_grid_wh")
FEE = 1 + GAS // 1000 + 1


def _post_txs(api: str, txs: list[Transaction]) -> list[dict]:
    req = urllib.request.Request(f"http://{api}/txs", data=json.dumps({"txs": [t.encoded.hex() for t in txs]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())["results"]


@dataclass
class _Net:
    api: str
    genesis: Genesis
    operator: PrivateKey
    validators: list[PrivateKey]
    meters: list[PrivateKey]
    consumers: list[PrivateKey]
    nonces: dict[bytes, int] = field(default_factory=dict)
    readings: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # hash -> (meter, interval, P, C)

    def tx(self, key: PrivateKey, body: Record, fee: int = FEE) -> Transaction:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return Transaction.create(key, self.genesis.chain_id, nonce, body, fee=fee)

    def send_and_wait(self, txs: list[Transaction], timeout_s: float = 20.0) -> list[dict]:
        results = _post_txs(self.api, txs)
        refused = [r for r in results if not r["accepted"]]
        if refused:
            raise RuntimeError(f"transactions refused: {refused[:3]}")
        deadline = time.monotonic() + timeout_s
        receipts = []
        for tx in txs:
            while True:
                found = cluster.api_get(self.api, f"/txs/{tx.hash.hex()}") or {}
                if found.get("status") == "committed":
                    receipts.append(found)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"transaction {tx.hash.hex()[:12]} not committed")
                time.sleep(0.05)
        return receipts


def _reading(i: int, interval: int) -> tuple[int, int]:
    """Meter i's (produced, consumed) Wh: the best self-consumer rotates with the interval."""
    best = interval % 4
    return 3_000, 3_000 - 400 * ((i - best) % 4)


def run_cluster_demo(home: Path, windows: int = 4, base_port: int = 26600, show: bool = True) -> dict:
    say = print if show else (lambda *a, **k: None)
    demo_home.clear(home, say)
    start_ms = (int(time.time() * 1000) // INTERVAL_MS) * INTERVAL_MS
    init_network(home, 4, "poe", base_port=base_port, genesis_time_ms=start_ms - 2 * INTERVAL_MS,
                 params={"interval_ms": INTERVAL_MS, "poe_wh_per_unit": 1000}, block_interval_ms=800)
    demo_home.mark(home)
    procs = cluster.start(home, 4, "poe", base_port)
    try:
        cluster.wait_in_step(home, min_height=1, timeout_s=60)
        names = {}
        validators = []
        for node_home in sorted(home.glob("node*")):
            key = read_key(node_home / "node.key")
            validators.append(key)
            names[key.public_key] = node_home.name
        net = _Net(cluster.addresses(home)[0][1], Genesis.load(home / "genesis.json"), read_key(home / "operator.key"),
                   validators, [read_key(home / "meters" / f"meter{i}.key") for i in range(4)],
                   [read_key(home / "clients" / f"client{i}.key") for i in range(4)])
        say(f"4-node Proof-of-Energy cluster up; driving it through {net.api}; logs in {home}/node*/node.log")
        report = _drive(net, windows, say)
        report["proposers"] = _explain(net, names, say)
    finally:
        cluster.stop(procs)
        (home / "cluster.json").unlink(missing_ok=True)  # nothing of the demo runs any more
    _export(home, net.genesis, report, say)
    say(f"to look at this chain in the dashboard: `pownode cluster up --home {home}`, then open "
        f"http://{cluster.addresses(home)[0][1]}/")
    return report


def _clock(genesis: Genesis, window: int) -> str:
    """Window `window`'s interval on the wall clock (UTC), HH:MM:SS-HH:MM:SS."""
    start = genesis.genesis_time_ms + window * INTERVAL_MS
    return "-".join(time.strftime("%H:%M:%S", time.gmtime(t / 1000)) for t in (start, start + INTERVAL_MS))


def _cents(milli_cents: int) -> str:
    return f"{milli_cents / 1000:,.3f} ct"


def _export(home: Path, genesis: Genesis, report: dict, say: Callable[..., None]) -> None:
    """report.json, trades.csv and demo.png (each window's price and volume) in the demo's folder,
    and the one-line summary."""
    windows = report["windows"]
    (home / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    with open(home / "trades.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["window", "utc", "price_mc_per_kwh", "seller", "buyer", "energy_wh", "payment_mc"])
        for w in windows:
            for t in w["trade_list"]:
                out.writerow([w["window"], _clock(genesis, w["window"]), w["price"], t["seller"], t["buyer"],
                              t["energy_wh"], t["payment"]])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, price = plt.subplots(figsize=(7, 3.5))
    labels = [f"{w['window']}\n{_clock(genesis, w['window'])[:8]}" for w in windows]
    volume = price.twinx()
    volume.bar(labels, [w["volume_wh"] / 1000 for w in windows], alpha=0.3, color="tab:green", label="kWh traded")
    price.plot(labels, [w["price"] / 1000 for w in windows], marker="o", color="tab:blue", label="price")
    price.set_ylabel("clearing price, cents/kWh")
    volume.set_ylabel("kWh traded")
    price.set_title("pownode demo: each window's clearing (merit order, 000)")
    fig.tight_layout()
    fig.savefig(home / "demo.png", dpi=110)
    plt.close(fig)
    traded = sum(w["volume_wh"] for w in windows)
    paid = sum(w["paid"] for w in windows)
    wrong = sum(p["proposer"] != p["expected"] for p in report["proposers"])
    say(f"summary: {len(windows)} windows cleared, {traded / 1000:.1f} kWh traded for {_cents(paid)} "
        f"(average {paid / traded:,.1f} ct/kWh), {len(report['settlements'])} windows settled against the meters, "
        f"{len(report['proposers']) - wrong} of {len(report['proposers'])} blocks proposed as PoE ranked; "
        f"{home}/report.json, trades.csv and demo.png" if traded else
        f"summary: {len(windows)} windows cleared, nothing traded; {home}/report.json")


def _drive(net: _Net, windows: int, say: Callable[..., None]) -> dict:
    market = contract_address(net.operator.address, hashlib.sha256(source("p2p_market").encode()).digest())
    people = net.validators + net.consumers
    setup = (MERIT, FIT, TOU, ALPHA, P_SER, 1, 3, net.operator.address, 1, b"", 0, net.operator.address)
    opening = [net.tx(net.operator, ContractDeploy(source("p2p_market"), GAS)),
               net.tx(net.operator, ContractCall(market, "setup", setup, GAS, 0))]
    opening += [net.tx(net.operator, Transfer(v.address, 10**9), fee=1) for v in net.validators]
    opening += [net.tx(net.operator, ContractCall(market, "register", (k.address, i % 2, 1 if i < 4 else 0), GAS, 0))
                for i, k in enumerate(people)]
    net.send_and_wait(opening)
    # Certified, the market reports delivered energy to the chain: the TE part of PoE's incentive.
    net.send_and_wait([net.tx(net.operator, CertifyMarket(market, 1), fee=0)]
                      + [net.tx(k, ContractCall(market, "deposit", (), GAS, CREDIT)) for k in people])
    say(f"market contract {market.hex()} deployed and certified (while the demo runs: `pownode query market "
        f"{market.hex()} --api {net.api}`); "
        f"4 prosumers (the validators) and 4 consumers "
        f"registered with {CREDIT:,} milli-cents of market credit each")
    names = {k.address.hex(): f"prosumer node{i}" if i < 4 else f"consumer client{i - 4}" for i, k in enumerate(people)}
    before = {k.address: cluster.api_get(net.api, f"/accounts/{k.address.hex()}")["balance"] for k in people}
    results = []
    settled = []
    pending: list[int] = []  # cleared windows not yet settled
    for step in range(windows + 3):
        now = int(time.time() * 1000)
        time.sleep((INTERVAL_MS - now % INTERVAL_MS) / 1000 + 0.05)  # into the next interval
        interval = net.genesis.interval_of(int(time.time() * 1000))  # window w is settlement interval w
        txs = []
        for i, m in enumerate(net.meters):
            produced, consumed = _reading(i, interval - 1)
            txs.append(net.tx(m, MeterReading(interval - 1, produced, consumed), fee=0))
            net.readings[txs[-1].hash.hex()] = (i, interval - 1, produced, consumed)
        if step < windows:
            txs += [net.tx(v, ContractCall(market, "post", (interval + 1, 1, 1_000 + 200 * i, 8_000 + 1_000 * i, step),
                                           GAS, 0)) for i, v in enumerate(net.validators)]
            txs += [net.tx(c, ContractCall(market, "post", (interval + 1, 0, 900 + 100 * j, 0, step), GAS, 0))
                    for j, c in enumerate(net.consumers)]
        clear = net.tx(net.operator, ContractCall(market, "clear", (interval, 4096), GAS, 0)) if 0 < step <= windows else None
        # A cleared window is settled once its interval's readings had an interval to arrive; the
        # grace period (1) is over by then, so one call settles every member.
        due = [w for w in pending if w <= interval - 2]
        pending = [w for w in pending if w > interval - 2]
        settles = [net.tx(net.operator, ContractCall(market, "settle", (w, 256), GAS, 0)) for w in due]
        receipts = net.send_and_wait(txs + ([clear] if clear else []) + settles)
        if clear:
            receipt = receipts[len(txs)]["receipt"]
            if not receipt["ok"]:
                raise RuntimeError(f"clearing window {interval} failed: {receipt['reason']}")
            results.append(_window_report(net, market, interval, names, say))
            if list(values.decode(bytes.fromhex(receipt["output"]))) != [results[-1][k] for k in RESULT_FIELDS]:
                raise RuntimeError(f"the market API and the clearing receipt disagree on window {interval}")
            pending.append(interval)
        for w, found in zip(due, receipts[len(receipts) - len(due):]):
            if not found["receipt"]["ok"]:
                raise RuntimeError(f"settling window {w} failed: {found['receipt']['reason']}")
            settled.append(_settlement_report(net, market, w, names, say))
    after = {a: cluster.api_get(net.api, f"/accounts/{a.hex()}")["balance"] for a in before}
    credit = {m["address"]: m["credit"] for m in cluster.api_get(net.api, f"/market/{market.hex()}")["members"]}
    say("participant        sold Wh  bought Wh   received (ct)   paid (ct)  credit change (ct)  balance change "
        "(ct: fees, incentives)")
    for k in people:
        a = k.address.hex()
        sold = sum(t["energy_wh"] for w in results for t in w["trade_list"] if t["seller"] == a)
        bought = sum(t["energy_wh"] for w in results for t in w["trade_list"] if t["buyer"] == a)
        received = sum(t["payment"] for w in results for t in w["trade_list"] if t["seller"] == a)
        paid = sum(t["payment"] for w in results for t in w["trade_list"] if t["buyer"] == a)
        say(f"  {names[a]:<17}{sold:>7}{bought:>11}{received / 1000:>16,.3f}{paid / 1000:>12,.3f}"
            f"{(credit[a] - CREDIT) / 1000:>+20,.3f}{(after[k.address] - before[k.address]) / 1000:>+16,.3f}")
    return {"windows": results, "settlements": settled,
            "balance_changes": {a.hex(): after[a] - before[a] for a in before},
            "credit_changes": {k.address.hex(): credit[k.address.hex()] - CREDIT for k in people}}


def _settlement_report(net: _Net, market: bytes, window: int, names: dict[str, str], say: Callable[..., None]) -> dict:
    """A window's real-time settlement as the market API reports it: each member's committed
    and metered net export and what it paid (-) or received (+) from the utility."""
    found = cluster.api_get(net.api, f"/market/{market.hex()}/windows/{window}")
    if not found or found["status"] != "settled":
        raise RuntimeError(f"window {window} is not reported settled by the market API: {found}")
    say(f"window {window} ({_clock(net.genesis, window)} UTC) settled against the meters "
        f"(TOU {TOU / 1000:g}, FIT {FIT / 1000:g} ct/kWh):")
    for s in found["settlements"]:
        how = {"metered": "metered", "no-meter": "no meter, so no export:",
               "readings-missing": "readings missing, provisional:"}[s["metering"]]
        say(f"    {names[s['member']]:<17} committed {s['committed_net_wh']:>+6} Wh, {how} {s['metered_net_wh']:>+6} Wh"
            f" -> {s['amount'] / 1000:>+10,.3f} ct")
    return {"window": window, "settlements": found["settlements"]}


def _window_report(net: _Net, market: bytes, window: int, names: dict[str, str], say: Callable[..., None]) -> dict:
    """A cleared window as the node's market API reports it: the result and every trade line."""
    found = cluster.api_get(net.api, f"/market/{market.hex()}/windows/{window}")
    if not found or found["status"] != "cleared":
        raise RuntimeError(f"window {window} is not reported cleared by the market API: {found}")
    result = found["result"]
    say(f"window {window} ({_clock(net.genesis, window)} UTC): cleared at {result['price'] / 1000:,.3f} ct/kWh, "
        f"{result['volume_wh']:,} Wh in {result['trades']} trades, {_cents(result['paid'])} paid, "
        f"{_cents(result['service'])} service charge; {len(found['orders'])} orders")
    for t in found["trades"]:
        say(f"    {names[t['seller']]:<16} -> {names[t['buyer']]:<17} {t['energy_wh']:>5} Wh  {_cents(t['payment']):>12}")
    return {"window": window, **result, "trade_list": found["trades"]}


def _explain(net: _Net, names: dict[bytes, str], say: Callable[..., None]) -> list[dict]:
    """Recompute every block's PoE ranking with the nodes' election code and compare.

    A reading committed at height h counts for the rankings of blocks after h, exactly as on the
    nodes, which rank from the committed state below the block being proposed.
    """
    election = PoeElection()
    keys = [v.public_key for v in net.validators]
    head = cluster.api_get(net.api, "/status")["height"]
    blocks = {h: cluster.api_get(net.api, f"/blocks/{h}") for h in range(0, head + 1)}
    committed: dict[tuple[int, int], tuple[int, int, int]] = {}  # (validator, interval) -> (P, C, height)
    out = []
    mismatches = 0
    say("height proposer view   CPF (ppm) node0 .. node3          why")
    for h in range(1, head + 1):
        parent = blocks[h - 1]
        settled = (parent["time_ms"] - net.genesis.genesis_time_ms) // INTERVAL_MS - 1

        def energy(key: bytes, interval: int) -> tuple[int, int] | None:
            found = committed.get((keys.index(key), interval))
            return None if found is None else found[:2]

        app = SimpleNamespace(
            chain_id=net.genesis.chain_id,
            last_header=lambda parent=parent: SimpleNamespace(hash=bytes.fromhex(parent["hash"]), height=parent["height"],
                                                              time_ms=parent["time_ms"]),
            validators=lambda: [(k, 1) for k in sorted(keys)],
            block_at=lambda height: SimpleNamespace(header=SimpleNamespace(time_ms=net.genesis.genesis_time_ms)),
            int_param=net.genesis.int_param,
            str_param=lambda name, default: net.genesis.param(name, default),
            interval_energy=energy,
        )
        ranking = election.ranking(app)
        cpfs = dict(election.cpf_values(app))
        block = blocks[h]
        view = block["proof"].get("round", 0)
        proposer = bytes.fromhex(block["proposer"])
        # Committed in view v, a block was proposed in v by the (v mod n)th-ranked candidate, or
        # in an earlier view and prepared there: a new view carries a prepared block as it is.
        candidates = [ranking[v % len(ranking)] for v in range(view + 1)]
        expected = proposer if proposer in candidates else candidates[-1]
        mismatches += proposer != expected
        if view and proposer != candidates[-1]:
            why = f"view {view}: the block prepared in view {candidates.index(proposer)}, carried into view {view}"
        elif view:
            why = f"view {view}: the {view + 1}th-ranked candidate, the ones above were silent"
        elif cpfs[proposer]:
            why = f"best CPF over interval {settled}"
        else:
            why = "no reading settled yet: tie broken by the height's seed"
        cells = " ".join(f"{cpfs[k]:>7}" for k in keys)
        say(f"{h:>6} {names[proposer]:>8} {view:>4}  {cells}  {why}")
        out.append({"height": h, "proposer": names[proposer], "view": view, "expected": names[expected]})
        for tx_hash in block["txs"]:
            if tx_hash in net.readings:
                i, interval, produced, consumed = net.readings[tx_hash]
                committed[i, interval] = (produced, consumed, h)
    say(f"{mismatches} of {len(out)} blocks proposed by someone the nodes' own ranking did not name")
    return out
