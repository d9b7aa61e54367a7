"""A PoE proposer that includes its own meter reading and leaves the others' out: its share of
blocks against the rule's, on a real chain (real blocks, certificates and state).

PoE ranks a height by the CPF of the interval that ended before its parent's time. The first
block of interval t is ranked by interval t-2 and is the first that may hold t-1's readings.
A validator first by t-2 that commits its own reading of t-1 alone has the only CPF of t-1 and
stays first until another reading lands, which it never includes: first in one interval, it
is first in every later one, whatever its CPF. Only the request timer (`request_timeout_ms`)
replaces it, and it stays quiet while the proposer fills 90 % of its blocks' count with its own
transactions (README, "keep the timer quiet"); this harness leaves the timer out, so it shows
what that loophole is worth under PoE.

    python -m benchmarks.poe_reading_censor [--intervals 24] [--blocks 20]
"""

from __future__ import annotations

import argparse

from consensus.election import election_for
from ledger.application import LedgerApp
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.mempool import Mempool
from ledger.transactions import MeterReading, Transaction

INTERVAL_MS = 60_000
FIRST = [(1000, 1000), (2000, 1000), (1100, 1000), (1000, 1200)]  # interval 0: validator 0 the best
LATER = [(2000, 1000), (1000, 1000), (1100, 1000), (1000, 1200)]  # then the worst: e^-1 against 1


def attacker_share(intervals: int, blocks: int, censor: bool) -> float:
    """Validator 0's share of the blocks, every height's first-ranked validator proposing
    `blocks` blocks an interval, each including every pending reading, except validator 0's
    when `censor`: only its own. Validator 0 has the best CPF in interval 0, the worst after."""
    net = make_devnet(validators=4, users=1, meters=4, meter_owners="validators", consensus="poe",
                      label="poe-censor", params={"interval_ms": INTERVAL_MS, "poe_wh_per_unit": 1000})
    chain = Chain(MemoryDB(), net.genesis)
    app = LedgerApp(chain, Mempool(net.genesis, chain.cache))
    election, cid = election_for("poe"), net.genesis.chain_id
    attacker, own_meter = net.validators[0].public_key, net.meters[0]
    mine = total = 0
    for t in range(1, intervals + 1):
        readings = FIRST if t == 1 else LATER
        pending = [Transaction.create(m, cid, t - 1, MeterReading(t - 1, p, c)) for m, (p, c) in zip(net.meters, readings)]
        start = net.genesis.genesis_time_ms + t * INTERVAL_MS
        for b in range(blocks):
            proposer = election.ranking(app)[0]
            take = [tx for tx in pending if not (censor and proposer == attacker) or tx.sender == own_meter.public_key]
            block, _ = chain.build_block(take, proposer, start + 1 + b * (INTERVAL_MS // blocks))
            chain.commit_block(net.seal(block))
            pending = [tx for tx in pending if tx not in take]
            mine += proposer == attacker
            total += 1
    return mine / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=24)
    parser.add_argument("--blocks", type=int, default=20, help="blocks per interval")
    args = parser.parse_args()
    honest = attacker_share(args.intervals, args.blocks, censor=False)
    censoring = attacker_share(args.intervals, args.blocks, censor=True)
    print(f"share of blocks of a validator best in interval 0 only: honest {honest:.1%}, "
          f"censoring others' readings {censoring:.1%}")


if __name__ == "__main__":
    main()
