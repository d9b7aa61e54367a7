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


def test_a_certified_block_and_a_new_views_requests_read_from_the_route_equal_the_decoded() -> None:
    """`sync_header`, `prepared_head` and `new_view_changes` read what decoding would give,
    without building a block's transactions; garbage is a DecodeError, never another error."""
    import pytest

    from consensus.messages import PreparedCert, new_view_changes, prepared_head, sync_header
    from ledger.blocks import CommitSig
    from ledger.errors import DecodeError

    net = make_devnet(validators=4, users=2, meters=0, label="peek-heads")
    cid, key = net.genesis.chain_id, net.validators[1]
    chain = Chain(MemoryDB(), net.genesis)
    block = net.seal(chain.build_block([], key.public_key, net.genesis.genesis_time_ms + 1000)[0])
    cert = PreparedCert(3, block, tuple(CommitSig(k.public_key, bytes([i]) * 64) for i, k in enumerate(net.validators)))
    with_cert = Envelope.seal(key, cid, ViewChange(1, 4, (cert,))).encoded
    without = Envelope.seal(key, cid, ViewChange(1, 4, ())).encoded
    assert sync_header(peek(Envelope.seal(key, cid, SyncResponse(block)).encoded)) == block.header
    head = prepared_head(peek(with_cert))
    assert head is not None and (head.view, head.sigs, head.block.hash) == (3, cert.sigs, block.hash)
    assert prepared_head(peek(without)) is None
    assert new_view_changes(peek(Envelope.seal(key, cid, NewView(1, 4, (with_cert, without), block)).encoded)) == (
        with_cert, without)
    rng = random.Random(11)
    for raw in (with_cert, Envelope.seal(key, cid, NewView(1, 4, (with_cert,), block)).encoded):
        for _ in range(500):
            noisy = bytearray(raw)
            for _ in range(rng.randint(1, 4)):
                noisy[rng.randrange(35, len(noisy) - 66)] = rng.randrange(256)
            route = peek(bytes(noisy))
            if route is None:
                continue
            for read in (sync_header, prepared_head, new_view_changes):
                try:
                    read(route)
                except DecodeError:
                    pass
    with pytest.raises(DecodeError):
        sync_header(peek(without))
