"""`GET /election`: who proposes the next block and why, as the consensus module reads it from
the committed chain: the validators in their ranking order for the next height, each with its
voting power, whether leader reputation demotes it, and its module's figures: PoS its wealth W
(alpha*E + beta*A + gamma*B) and U in (0, 1] (u / 2^64, from the height's seed), ranked
by W/U; PoE its consumption-production function (CPF, in parts per million) over the last
settled interval; PBFT rotates after the last proposer. The same functions the engine ranks
with compute it (N validators' state entries), so a page and the chain cannot disagree.
"""

from __future__ import annotations

from aiohttp import web

from consensus.election import (DEFAULT_REPUTATION_WINDOW, PoeElection, PosElection, Reputation,
                                election_for)
from pownode.http_common import NODE

U_SCALE = 1 << 64


async def election(request: web.Request) -> web.Response:
    node = request.app[NODE]
    app = node.app
    consensus = node.genesis.consensus
    height = app.last_header().height + 1
    order = election_for(consensus).ranking(app)
    window = app.int_param("reputation_window", DEFAULT_REPUTATION_WINDOW)
    demoted = Reputation.demoted(app, order, height, window) if window > 0 else set()
    power = dict(app.validators())
    details: dict[bytes, dict] = {key: {} for key in order}
    extra: dict = {}
    if consensus == "pos":
        for key, w, u in PosElection().scores(app):
            details[key] = {"w": w, "u": u / U_SCALE, "u_int": u}
    elif consensus == "poe":
        for key, cpf in PoeElection().cpf_values(app):
            details[key] = {"cpf_ppm": cpf}
        extra["settled_interval"] = PoeElection.settled_interval(app)
    return web.json_response({"consensus": consensus, "height": height, **extra, "ranking": [
        {"public_key": key.hex(), "rank": i + 1, "power": power.get(key, 0), "demoted": key in demoted, **details[key]}
        for i, key in enumerate(order)]})


def add_routes(app: web.Application) -> None:
    app.add_routes([web.get("/election", election)])
