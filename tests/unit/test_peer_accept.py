"""Whom a validator accepts a link from (`PeerSet._dials_us`, asked in the handshake before it
signs anything): a member with a smaller key; a member with a larger key only when it has no
address for it (a validator added since its config was written, which it could never dial); an
admitted full node; never a stranger or a banned peer."""

from __future__ import annotations

from ledger.keys import PrivateKey
from pownode.config import NodeConfig, Peer
from pownode.peer_set import PeerSet


def _keys(count: int) -> list[bytes]:
    return sorted(PrivateKey.from_label(f"peer-accept-{i}").public_key for i in range(count))


def _peer_set(me: PrivateKey, addressed: list[bytes], members: set[bytes], followers: set[bytes] = frozenset()) -> PeerSet:
    config = NodeConfig(name="me", genesis="genesis.json", key="node.key",
                        peers=tuple(Peer(k.hex(), "127.0.0.1", 1) for k in addressed))
    return PeerSet(me, "chain", config, members.__contains__, lambda *a: None, lambda peer: None,
                   is_follower=followers.__contains__)


def test_a_member_with_a_larger_key_is_accepted_only_when_we_lack_its_address() -> None:
    me = PrivateKey.from_label("peer-accept-me")
    others = _keys(6)
    smaller = [k for k in others if k < me.public_key]
    larger = [k for k in others if k > me.public_key]
    assert smaller and larger  # the labels give both sides
    addressed_larger, newcomer = larger[0], larger[-1]
    peers = _peer_set(me, smaller[1:] + [addressed_larger], members=set(others))
    assert all(peers._dials_us(k) for k in smaller)  # with or without an address: they dial us
    assert not peers._dials_us(addressed_larger)  # we dial it: one link per pair
    assert peers._dials_us(newcomer)  # we could never dial it


def test_a_lacking_address_admits_no_stranger_and_no_banned_member() -> None:
    me = PrivateKey.from_label("peer-accept-me")
    stranger, follower, banned = _keys(3)
    peers = _peer_set(me, [], members={banned}, followers={follower})
    assert not peers._dials_us(stranger)
    assert peers._dials_us(follower)
    assert peers._dials_us(banned)  # a member whose address we lack, until it is banned
    peers.ban(banned, "forged a block")
    assert not peers._dials_us(banned)
