"""Child process for the crash test: commits blocks to a LevelDB store until killed.

Prints `ready <height>` once open, then `committed <height>` after each commit returns (that is,
after the synced batch is on disk). Transactions depend only on the state, so a restarted
committer continues the same chain wherever the last one stopped.
"""

from __future__ import annotations

import sys

from ledger import accounts
from ledger.chain import Chain
from ledger.database import LevelDB
from ledger.devnet import make_devnet
from ledger.transactions import MarketOrder, MeterReading, Transaction, Transfer

NET = make_devnet(validators=4, users=12, meters=3, label="crash")
TXS_PER_BLOCK = 30


def block_transactions(chain: Chain) -> list[Transaction]:
    height = chain.height + 1
    cid = NET.genesis.chain_id
    txs = []
    for i in range(TXS_PER_BLOCK):
        sender = NET.users[(height + i) % len(NET.users)]
        nonce = accounts.get_account(chain.state, sender.address).nonce + sum(1 for t in txs if t.sender == sender.public_key)
        if i % 10 == 9:
            body = MarketOrder(height, i % 2, 100 + i, 9000 + height, i % 4, height * 100 + i)
        else:
            body = Transfer(NET.users[(height * 7 + i) % len(NET.users)].address, 1 + (height * i) % 97)
        txs.append(Transaction.create(sender, cid, nonce, body, fee=1 + i % 3))
    meter = NET.meters[height % len(NET.meters)]
    ended = height - 1  # block h is in interval h (one interval per block): interval h - 1 has ended
    if accounts.get_reading(chain.state, ended, meter.public_key) is None:
        txs.append(Transaction.create(meter, cid, accounts.get_account(chain.state, meter.address).nonce,
                                      MeterReading(ended, 500 + height, 300 + height)))
    return txs


def main(path: str, max_blocks: int) -> None:
    chain = Chain(LevelDB(path, create=True), NET.genesis)
    print(f"ready {chain.height}", flush=True)
    for _ in range(max_blocks):
        block, dropped = chain.build_block(block_transactions(chain), NET.validators[0].public_key,
                                           chain.head.time_ms + NET.genesis.interval_ms)
        assert not dropped, dropped
        chain.commit_block(NET.seal(block))
        print(f"committed {chain.height}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
