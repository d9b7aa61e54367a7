"""A full node commits only certified blocks that execute to their state root, in order, and
bans a peer that sends anything else; a validator answers requests from its store, bounded."""

from __future__ import annotations

from ledger.application import LedgerApp
from ledger.blocks import Block, make_quorum, sign_commit
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.keys import PrivateKey
from ledger.mempool import Mempool
from ledger.transactions import Transaction, Transfer
from pownode.block_feed import BLOCK, REQUEST, SERVE_BLOCKS, BlockFollower, BlockServer, request_frame

NET = make_devnet(validators=4, users=2, meters=0, label="feed")
V = NET.validators
PEER = V[1].public_key


class Peers:
    """What the feed uses of a peer set, recording what it sends and whom it bans."""

    def __init__(self, members: list[bytes], followers: list[bytes] = ()) -> None:
        self._members, self._followers = list(members), list(followers)
        self.sent: list[tuple[bytes, int, bytes]] = []
        self.banned: dict[bytes, str] = {}

    def members(self) -> list[bytes]:
        return self._members

    def followers(self) -> list[bytes]:
        return self._followers

    def send(self, peer: bytes, channel: int, payload: bytes) -> None:
        self.sent.append((peer, channel, payload))

    def ban(self, peer: bytes, why: str) -> None:  # as the real set: dropped, so no longer linked
        self.banned[peer] = why
        self._members = [k for k in self._members if k != peer]

    def room(self, peer: bytes) -> int:
        return 64 * 1024 * 1024

    def __contains__(self, key: object) -> bool:
        return key in self._members or key in self._followers

    def __len__(self) -> int:
        return len(self._members) + len(self._followers)


def _app() -> LedgerApp:
    chain = Chain(MemoryDB(), NET.genesis)
    return LedgerApp(chain, Mempool(NET.genesis, chain.cache))


def _validators_chain(blocks: int) -> tuple[LedgerApp, list[Block]]:
    """A validator's chain of `blocks` sealed blocks, each with a transfer."""
    app, out = _app(), []
    user = NET.users[0]
    for n in range(blocks):
        tx = Transaction.create(user, NET.genesis.chain_id, n, Transfer(NET.users[1].address, 5 + n), fee=1)
        block, dropped = app.chain.build_block([tx], V[n % 4].public_key, app.chain.head.time_ms + 1000)
        assert not dropped
        sealed = NET.seal(block)
        app.commit(sealed)
        out.append(sealed)
    return app, out


def _frame(block: Block) -> bytes:
    return bytes([BLOCK]) + block.encoded


def test_a_full_node_commits_certified_blocks_in_order_and_fetches_a_gap() -> None:
    _, blocks = _validators_chain(5)
    follower_app = _app()
    peers = Peers([PEER])
    committed: list[int] = []
    follower = BlockFollower(follower_app, peers, lambda b: committed.append(b.height))
    follower.on_frame(PEER, _frame(blocks[2]))  # ahead: held, and the gap asked for
    assert committed == [] and peers.sent[-1] == (PEER, 4, request_frame(1))
    for block in blocks[:2] + blocks[3:]:
        follower.on_frame(PEER, _frame(block))
    follower.on_frame(PEER, _frame(blocks[0]))  # a push and an answer crossed: ignored
    assert committed == [1, 2, 3, 4, 5] and not peers.banned
    assert follower_app.chain.head.state_root == blocks[-1].header.state_root


def test_a_forged_block_is_refused_and_its_sender_banned() -> None:
    _, blocks = _validators_chain(1)
    block = blocks[0]
    outsider = PrivateKey.from_label("not-a-validator")
    forged = {
        # signed by one validator and an outsider: no quorum of the set the full node holds
        "certificate": block.replace(header=block.header.replace(proof=make_quorum(
            block.header, [sign_commit(k, block.header, 0) for k in (V[0], outsider)], 0))),
        "no certificate": block.replace(header=block.header.replace(proof=b"")),
        # a different state root: the validators' certificate no longer covers the hash
        "state root": block.replace(header=block.header.replace(state_root=bytes(32))),
        # re-sealed by every validator, but it does not execute to the root it claims
        "execution": NET.seal(Block(block.header.replace(state_root=bytes(32), proof=b""), block.txs)),
    }
    for what, bad in forged.items():
        app, peers = _app(), Peers([PEER])
        follower = BlockFollower(app, peers, lambda b: None)
        follower.on_frame(PEER, _frame(bad))
        assert app.chain.height == 0 and PEER in peers.banned, what
        assert follower.refused_blocks == 1, what
    for frame in (b"", bytes([REQUEST]) + bytes(8), bytes([BLOCK]) + b"\x93garbage"):
        app, peers = _app(), Peers([PEER])
        BlockFollower(app, peers, lambda b: None).on_frame(PEER, frame)
        assert app.chain.height == 0 and PEER in peers.banned, frame


def test_a_validator_serves_stored_blocks_bounded_and_paced() -> None:
    app, blocks = _validators_chain(SERVE_BLOCKS + 6)
    full = PrivateKey.from_label("a-full-node").public_key
    peers = Peers([PEER], [full])
    server = BlockServer(app, peers)
    server.on_frame(full, request_frame(3))
    served = [Block.decode(p[1:]).height for _, _, p in peers.sent]
    assert served == list(range(3, 3 + SERVE_BLOCKS))
    assert peers.sent[0][2] == _frame(blocks[2])  # the stored bytes, certificate included
    peers.sent.clear()
    server.on_frame(full, request_frame(3 + SERVE_BLOCKS))  # at once again: paced, not answered
    server.on_frame(full, b"\x01short")  # malformed: ignored
    assert peers.sent == []
    server.on_commit(blocks[-1])
    assert peers.sent == [(full, 4, _frame(blocks[-1]))]  # pushed to full nodes only


def test_held_blocks_are_certified_first_come_and_go_with_a_banned_sender() -> None:
    _, blocks = _validators_chain(3)
    other = V[2].public_key
    app, peers = _app(), Peers([PEER, other])
    follower = BlockFollower(app, peers, lambda b: None)
    uncertified = blocks[2].replace(header=blocks[2].header.replace(proof=b""))
    follower.on_frame(PEER, _frame(uncertified))  # made up: not held, whoever sent it
    assert follower._ahead == {}
    follower.on_frame(other, _frame(blocks[2]))
    follower.on_frame(PEER, _frame(blocks[2]))  # the same height again: the first stays
    assert follower._ahead[3][0] == other
    bad_first = NET.seal(Block(blocks[0].header.replace(state_root=bytes(32), proof=b""), blocks[0].txs))
    peers.sent.clear()
    follower.on_frame(other, _frame(bad_first))  # certified, but does not execute: `other` is banned
    assert other in peers.banned and follower._ahead == {} and app.chain.height == 0
    assert peers.sent == [(PEER, 4, request_frame(1))]  # the height asked of another validator at once


def test_a_validator_reads_nothing_a_full_links_queue_could_not_take() -> None:
    app, _ = _validators_chain(4)
    full = PrivateKey.from_label("a-slow-full-node").public_key

    class Full(Peers):
        def room(self, peer: bytes) -> int:
            return 0

    peers = Full([PEER], [full])
    BlockServer(app, peers).on_frame(full, request_frame(1))
    assert peers.sent == []


def test_held_blocks_are_bounded_in_what_they_hold_decoded(monkeypatch) -> None:  # noqa: ANN001
    """Blocks kept above the next height count what they hold decoded, not their bytes: a
    member's valid block of nested-list calls holds 70 times its bytes."""
    from pownode import block_feed

    _, blocks = _validators_chain(4)
    each = block_feed.held_memory(blocks[1])
    assert each > len(blocks[1].encoded) + 2000  # its transaction's objects count, beyond its bytes
    monkeypatch.setattr(block_feed, "AHEAD_MEMORY", 2 * each + each // 2)  # room for two such blocks
    app, peers = _app(), Peers([PEER])
    follower = BlockFollower(app, peers, lambda b: None)
    for block in blocks[1:]:
        follower.on_frame(PEER, _frame(block))
    assert sorted(follower._ahead) == [2, 3] and follower._ahead_memory <= block_feed.AHEAD_MEMORY
    follower.on_frame(PEER, _frame(blocks[0]))  # the gap filled: the held ones follow
    assert app.chain.height == 3 and follower._ahead == {} and follower._ahead_memory == 0


def test_a_block_not_wanted_is_refused_on_its_header_before_it_is_decoded(monkeypatch) -> None:  # noqa: ANN001
    """A validator sends, again and again, blocks a full node has no use for: one of a height it
    committed, one ahead whose certificate is made up, one too far ahead to hold, and a copy of a
    block already held. Each was decoded whole before (a block of nested-list calls costs some
    0.3 s per 0.5 MB), without a ban; now the header refuses them before their transactions are
    decoded, and a wanted block is still decoded and followed."""
    from pownode import block_feed

    _, blocks = _validators_chain(3)
    decoded: list[int] = []
    real = block_feed.decode_bounded

    def counting(cls, data, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        decoded.append(len(data))
        return real(cls, data, *args, **kwargs)

    monkeypatch.setattr(block_feed, "decode_bounded", counting)
    app, peers = _app(), Peers([PEER])
    follower = BlockFollower(app, peers, lambda b: None)
    follower.on_frame(PEER, _frame(blocks[0]))
    follower.on_frame(PEER, _frame(blocks[2]))  # held
    assert app.chain.height == 1 and sorted(follower._ahead) == [3] and len(decoded) == 2
    made_up = blocks[1].replace(header=blocks[1].header.replace(height=3, proof=b""))
    far = blocks[1].replace(header=blocks[1].header.replace(height=1 + block_feed.AHEAD + 1))
    for _ in range(5):
        for block in (blocks[0], made_up, far, blocks[2]):
            follower.on_frame(PEER, _frame(block))
    assert len(decoded) == 2 and not peers.banned
    follower.on_frame(PEER, _frame(blocks[1]))
    assert app.chain.height == 3 and len(decoded) == 3
