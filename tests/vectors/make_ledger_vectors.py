"""Regenerate tests/vectors/ledger.json. Only do this for an intended, announced format change:
every value here is consensus-critical (a node with different bytes forks the network)."""

from __future__ import annotations

import json
from pathlib import Path

from consensus.messages import CompactProposal, Envelope, TxRequest
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.merkle import merkle_root
from ledger.transactions import MarketOrder, MeterReading, Transaction, Transfer

OUT = Path(__file__).with_name("ledger.json")


def compute() -> dict[str, str]:
    net = make_devnet(validators=4, users=4, meters=2, label="vectors")
    cid = net.genesis.chain_id
    u = net.users
    txs = [
        Transaction.create(u[0], cid, 0, Transfer(u[1].address, 123_456), fee=2),
        Transaction.create(net.meters[1], cid, 0, MeterReading(42, 1_850, 730)),
        Transaction.create(u[2], cid, 0, MarketOrder(46, 1, 1_120, 11_500, 3, 7), fee=1),
    ]
    chain = Chain(MemoryDB(), net.genesis)
    # Proposed in a later view (validator 2 was ranked above the proposer and passed over), in
    # interval 43, once the reading's interval 42 has ended.
    block, dropped = chain.build_block(txs, net.validators[0].public_key, net.genesis.interval_start_ms(43),
                                       skipped=[net.validators[2].public_key])
    assert not dropped
    sealed = net.seal(block)
    hashes = tuple(t.hash for t in txs)
    compact = Envelope.seal(net.validators[0], cid, CompactProposal(1, 2, block.header, hashes))
    request = Envelope.seal(net.validators[1], cid, TxRequest(1, 2, hashes[1:]))
    return {
        "genesis_hash": net.genesis.hash.hex(),
        "genesis_state_root": net.genesis.initial_state().root().hex(),
        "transfer_tx": txs[0].encoded.hex(),
        "reading_tx": txs[1].encoded.hex(),
        "order_tx": txs[2].encoded.hex(),
        "tx_root": merkle_root([t.hash for t in txs]).hex(),
        "block_hash": block.hash.hex(),
        "block_state_root": block.header.state_root.hex(),
        "block_receipts_root": block.header.receipts_root.hex(),
        "block_validators_hash": block.header.validators_hash.hex(),
        "sealed_block": sealed.encoded.hex(),
        # consensus messages whose bytes every validator must agree on
        "compact_proposal_envelope": compact.encoded.hex(),
        "tx_request_envelope": request.encoded.hex(),
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(compute(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {OUT}")
