"""A light gateway cannot take a node's refusal on its word, so it keeps a refused reading and
asks again; but a reading of an interval before its meter was certified can never be taken, and
anyone who can publish on the reading topic could send the gateway such readings (a new meter's
last two weeks) until its MAX_PENDING waiting readings were all of them: every genuine reading
after that was refused, for good. The chain's state proves that refusal final (the meter's
certification interval), so the gateway finishes such a reading. Against a real node: a meter
certified on a running chain, its readings signed and refused for real, the proof checked by the
light client."""

from __future__ import annotations

import time
from pathlib import Path

from ledger.genesis import Genesis
from pownode import cluster, cluster_gateways
from pownode.gateway import Gateway, GatewayConfig
from pownode.gateway_outbox import Status
from pownode.gateway_readings import MeterMessage
from pownode.keyfile import read_key
from pownode.light import LightClient, http_fetch
from tests.cluster.test_local_cluster import _free_base


async def test_a_reading_from_before_the_meters_certification_is_refused_for_good(tmp_path: Path) -> None:
    net = tmp_path / "net"
    procs: list = []
    try:
        cluster.start(net, 1, "pbft", _free_base(4), procs)
        cluster.wait_in_step(net, procs=procs, timeout_s=120)
        api = cluster.addresses(net)[0][1]
        [home] = cluster_gateways.add_gateways(net, 1, api)
        genesis = Genesis.load(net / "genesis.json")
        before = genesis.interval_of(int(time.time() * 1000)) - 5  # ended, and before the certification
        gateway = Gateway(GatewayConfig("127.0.0.1", 1, api, read_key(home / "meter.key"), tmp_path / "gw", "t",
                                        genesis_file=net / "genesis.json"))
        gateway.genesis = genesis
        gateway.light = LightClient(genesis, http_fetch(api))
        gateway.outbox.add(MeterMessage(before, 100, 50))
        [entry] = gateway.outbox.pending()
        await gateway._settle(entry)
        [entry] = gateway.outbox.all()
        assert entry.status is Status.REFUSED and entry.outcome["verified"] is True, entry
        assert entry.outcome["reason"].startswith("reading-before-certification")
        assert gateway.outbox.pending_count() == 0
        gateway.outbox.close()
    finally:
        cluster.stop(procs)
