"""`consensus.messages.peek`: an envelope's route read from its bytes equals the decoded one,
its signature checks without decoding, and no input makes it raise."""

from __future__ import annotations

import random

from consensus.messages import (
    Envelope,
    NewView,
    Prepare,
    Proposal,
    SyncRequest,
    SyncResponse,
    TxRequest,
    ViewChange,
    peek,
)
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet


def test_the_route_of_each_kind_is_its_decoded_sender_kind_height_and_view() -> None:
    net = make_devnet(validators=4, users=2, meters=0, label="peek")
    cid, key = net.genesis.chain_id, net.validators[1]
    chain = Chain(MemoryDB(), net.genesis)
    block = net.seal(chain.build_block([], key.public_key, net.genesis.genesis_time_ms + 1000)[0])
    cases = [(Proposal(1, 7, block), 1, 7), (NewView(1, 3, (), block), 1, 3), (ViewChange(5, 9, ()), 5, 9),
             (SyncResponse(block), 1, 0), (SyncRequest(12), 12, 0), (TxRequest(2, 4, (b"\1" * 32,)), 2, 4)]
    for payload, height, view in cases:
        raw = Envelope.seal(key, cid, payload).encoded
        route = peek(raw)
        assert route is not None
        assert (route.sender, route.kind, route.height, route.view) == (key.public_key, type(payload), height, view)
        assert route.signature_ok(cid) and not route.signature_ok("another-chain")
        tampered = peek(raw[:-1] + bytes([raw[-1] ^ 1]))
        assert tampered is not None and not tampered.signature_ok(cid)
    vote = peek(Envelope.seal(key, cid, Prepare(1, 0, b"\2" * 32)).encoded)
    assert vote is not None and not vote.signature_ok(cid)  # votes are never judged by it


def test_garbage_and_truncations_give_no_route_and_never_raise() -> None:
    net = make_devnet(validators=4, users=2, meters=0, label="peek-garbage")
    raw = Envelope.seal(net.validators[0], net.genesis.chain_id, ViewChange(1, 2, ())).encoded
    rng = random.Random(7)
    for cut in range(len(raw)):
        peek(raw[:cut])
    for _ in range(2000):
        noisy = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            noisy[rng.randrange(len(noisy))] = rng.randrange(256)
        peek(bytes(noisy))
        peek(raw[:35] + bytes(rng.randrange(256) for _ in range(rng.randint(0, 80))) + raw[-66:])
    assert peek(b"") is None and peek(b"\x93" + b"\0" * 200) is None
