"""A state proof carries its key's sub-bucket, and a member can aim its contract's keys at the
sub-bucket of anyone's key (CRC-32 picks the bucket, one byte of SHA-256 the sub-bucket). The
proof carries the other entries as keys and digests, never their values, so large values aimed at
a victim's sub-bucket do not make its proofs large; and the node still refuses to build a proof
larger than MAX_STATE_PROOF_BYTES rather than hash and send it all."""

from __future__ import annotations

import hashlib
import json
import zlib

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ledger import schema
from ledger.proofs import StateProof, prove_state, verify_state
from ledger.state import BUCKETS, bucket_of, sub_of
from ledger.transactions import ContractDeploy
from pownode import proof_api
from pownode.http_common import NODE
from pownode.http_pacing import Pacing
from tests.market.helpers import GAS, NET, ContractChain
from vm.machine import contract_address

A, B = NET.users[1], NET.users[2]

CROWD = '''
def crowd(keys):
    big = b"x" * 65000
    for k in keys:
        put(k, big)
'''


def _aimed_at(target: bytes, contract: bytes, n: int) -> list[bytes]:
    """`n` storage keys of `contract` that fall in `target`'s sub-bucket."""
    prefix = schema.contract_storage_key(contract, b"b")  # a bytes key's place in the state
    bucket, sub, found, i = bucket_of(target), sub_of(target), [], 0
    crc = zlib.crc32(prefix)
    while len(found) < n:
        i += 1
        tail = i.to_bytes(4, "big")
        if zlib.crc32(tail, crc) & (BUCKETS - 1) == bucket and sub_of(prefix + tail) == sub:
            found.append(tail)
    return found


async def _state_proof(c: ContractChain, key: bytes) -> tuple[int, bytes]:
    app = web.Application()
    app[NODE] = type("Node", (), {"chain": c.chain})()
    app[proof_api.PROOF_PACING] = Pacing(1000, 1000, "proof requests")
    request = make_mocked_request("GET", f"/proofs/state/{key.hex()}", match_info={"key": key.hex()}, app=app)
    try:
        response = await proof_api.state_proof(request)
    except web.HTTPException as exc:
        return exc.status, exc.text.encode()
    return response.status, response.body


async def test_large_values_aimed_at_a_sub_bucket_leave_its_proofs_small_and_the_bound_holds(monkeypatch) -> None:
    c = ContractChain()
    assert c.block([(A, ContractDeploy(CROWD, GAS))])[0].status == 0
    hostile = contract_address(A.address, hashlib.sha256(CROWD.encode()).digest())
    victim = schema.account_key(B.address)
    keys = _aimed_at(victim, hostile, 17)  # 17 values of 65 KB: 1.1 MB of values in the victim's sub-bucket
    for k in range(0, len(keys), 6):
        c.run(hostile, A, "crowd", keys[k:k + 6], gas=5_000_000)
    status, body = await _state_proof(c, victim)
    # With the values inside it answered 2.2 MB of JSON; a member with more gas made it hundreds of MB.
    assert status == 200 and len(body) < 8 * 1024, (status, len(body))
    proof = StateProof.from_json(json.loads(body)["proof"])
    assert len(proof.others) == 17 and verify_state(c.chain.head.state_root, proof) == c.chain.state.get(victim)
    # Keys and digests still count against the bound: past it, refused before the proof is built.
    size = len(c.chain.state.get(victim)) + sum(len(k) + 32 for k, _ in proof.others)
    monkeypatch.setattr(proof_api, "MAX_STATE_PROOF_BYTES", size - 1)
    status, body = await _state_proof(c, victim)
    assert status == 413 and len(body) < 1024 and "no proof served" in json.loads(body)["error"], (status, len(body))


def test_a_sub_bucket_within_the_bound_is_still_proven() -> None:
    c = ContractChain()
    c.block([])
    key = schema.account_key(B.address)
    proof = prove_state(c.chain.state, key, proof_api.MAX_STATE_PROOF_BYTES)
    assert verify_state(c.chain.head.state_root, proof) == c.chain.state.get(key)
