"""A smart-meter gateway's own program embedding a pownode node (the README's example, whole).

It makes a one-validator network in a folder of its own (a real gateway would join its
community's network with the home `pownode init` gave it), runs the node inside its own asyncio
loop, signs its meter's reading of the interval that just ended and waits for the block, then
sends a transfer and prints the typed outcome `pownode tx send --wait` prints too.

    python examples/embed_gateway.py [--home DIR] [--base-port PORT]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from ledger.genesis import Genesis
from ledger.transactions import Transaction, Transfer
from pownode.config import init_network
from pownode.embed import EmbeddedNode, MeterFeed
from pownode.keyfile import read_key
from pownode.tx_outcome import TxStatus


async def gateway(network: Path) -> int:
    genesis = Genesis.load(network / "genesis.json")
    household = read_key(network / "clients" / "client0.key")
    async with EmbeddedNode(network / "node0", api=False) as node:
        meter = MeterFeed(node, read_key(network / "meters" / "client0.key"))
        interval = genesis.interval_of(int(time.time() * 1000)) - 1  # the one that just ended
        receipt = await meter.reading(interval, produced_wh=1200, consumed_wh=300)
        print(f"reading of interval {interval} committed at height {node.height}: ok={receipt.status == 0}")
        neighbour = read_key(network / "clients" / "client1.key").address
        tx = Transaction.create(household, genesis.chain_id, node.next_nonce(household.public_key),
                                Transfer(neighbour, 5_000), fee=genesis.min_fee)
        outcome = await node.send(tx, timeout_s=30)
        print(f"transfer {outcome.tx_hash.hex()[:16]}..: {outcome.status.value} at height {outcome.height}")
        return 0 if receipt.status == 0 and outcome.status is TxStatus.COMMITTED else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="an empty folder for the example's network (default: a temporary one)")
    parser.add_argument("--base-port", type=int, default=26980, help="the node's P2P port")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pownode-gateway-") as scratch:
        network = Path(args.home or scratch)
        init_network(network, 1, "pbft", base_port=args.base_port, client_meters=True,
                     genesis_time_ms=int(time.time() * 1000) - 3_600_000)
        return asyncio.run(gateway(network))


if __name__ == "__main__":
    raise SystemExit(main())
