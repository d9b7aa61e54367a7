"""A proposer chooses its block's time (any millisecond after its parent's, within the replicas'
clock skew) and so its block's hash. Whatever the next height's election draws from that hash
(PoS's U_k, PoE's tie-break and lottery) the proposer can grind: it tries times until the
election it foresees ranks it first again. These tests run that attack on a real chain (real
blocks, certificates and state) and compare the grinder's share of blocks with the rule's."""

from __future__ import annotations

import pytest

from consensus.application import Application
from consensus.election import election_for
from ledger.application import LedgerApp
from ledger.blocks import Header
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.mempool import Mempool
from ledger.transactions import MeterReading, Transaction

GRINDS = 1000  # times a grinder tries: 1 ms apart, a second of its clock skew
HEIGHTS = 120


class _Foreseen:
    """The committed state as it will be once `header` (the grinder's candidate) commits, as far
    as the next height's election reads it: the new head, and the grinder's proposer record."""

    def __init__(self, app: Application, header: Header) -> None:
        self._app, self._header = app, header

    def __getattr__(self, name: str):  # noqa: ANN204 - every other query as the chain answers it
        return getattr(self._app, name)

    def last_header(self) -> Header:
        return self._header

    def proposer_history(self, key: bytes) -> tuple[int, int]:
        last, blocks = self._app.proposer_history(key)
        return (self._header.height, blocks + 1) if key == self._header.proposer else (last, blocks)

    def skip_record(self, key: bytes) -> tuple[int, int] | None:
        return None if key == self._header.proposer else self._app.skip_record(key)


def _grinder_share(consensus: str, params: dict, readings: list[tuple[int, int]], grinds: int) -> float:
    """The share of HEIGHTS blocks validator 0 proposes when every height's first-ranked
    validator proposes, validator 0 grinding its blocks' times over `grinds` milliseconds."""
    net = make_devnet(validators=4, users=1, meters=4, meter_owners="validators", consensus=consensus,
                      label=f"grind-{consensus}", params=params)
    chain = Chain(MemoryDB(), net.genesis)
    app = LedgerApp(chain, Mempool(net.genesis, chain.cache))
    election = election_for(consensus)
    cid, start = net.genesis.chain_id, net.genesis.genesis_time_ms
    if readings:  # interval 0's readings, settled from interval 1 on
        txs = [Transaction.create(m, cid, 0, MeterReading(0, p, c)) for m, (p, c) in zip(net.meters, readings)]
        block, _ = chain.build_block(txs, net.validators[0].public_key, start + params["interval_ms"] + 1)
        chain.commit_block(net.seal(block))
    grinder = net.validators[0].public_key
    mine = 0
    for _ in range(HEIGHTS):
        proposer = election.ranking(app)[0]
        block, _ = chain.build_block([], proposer, chain.head.time_ms + 1000)
        if proposer == grinder:
            mine += 1
            for t in range(grinds):
                header = block.header.replace(time_ms=block.header.time_ms + t)
                if election.ranking(_Foreseen(app, header))[0] == grinder:
                    block = block.replace(header=header)  # its state does not depend on the millisecond
                    break
        chain.commit_block(net.seal(block))
    return mine / HEIGHTS


POE = {"interval_ms": 900_000, "poe_wh_per_unit": 1000}
CASES = {
    # PoE, four validators with the best CPF (P = C): the rule ties them, a quarter each
    "poe-argmax-tie": ("poe", {**POE, "poe_mode": "argmax"}, [(1000, 1000)] * 4, 0.25),
    # PoE lottery, CPF 0.37, 0.37, 0.37, 1 (|P-C| = 1 kWh for the first three): 0.37 / 2.1 = 18 %
    "poe-lottery": ("poe", {**POE, "poe_mode": "lottery"}, [(2000, 1000)] * 3 + [(500, 500)], 0.175),
    # PoS, four validators with no settled energy: equal wealth, a quarter each
    "pos": ("pos", {}, [], 0.25),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_grinding_the_block_time_does_not_win_the_next_election(case: str) -> None:
    consensus, params, readings, fair = CASES[case]
    honest = _grinder_share(consensus, params, readings, grinds=0)
    ground = _grinder_share(consensus, params, readings, grinds=GRINDS)
    assert honest <= fair + 0.15, (case, honest)  # the harness runs the rule
    assert ground <= fair + 0.15, (case, honest, ground)
