"""The BFT engine: a sans-IO state machine that decides one block per height.

Castro & Liskov's PBFT, specialised to a blockchain (one sequence number in flight, = height):

* Normal case: the proposer of (height, view) sends a CompactProposal (pre-prepare: the header
  and the transactions' hashes); a replica fills the block from the transactions gossip brought
  it, asks the proposer for any it lacks (TxRequest / TxResponse, once per view: a proposer that
  withholds them is a silent proposer, and the view times out), and once it validates the
  block broadcasts Prepare; with prepares of a quorum (> 2/3 of voting power) the block is
  *prepared* and the replica broadcasts Commit, whose signature is the ledger's commit vote; with
  commits of a quorum the replica commits the block, the commit signatures becoming its quorum
  certificate.
* View change: a replica whose view timer fires broadcasts ViewChange(view + 1) with its highest
  prepared certificate. The new view's proposer, holding a quorum of them, broadcasts NewView
  with those messages as proof and re-proposes the block of the highest prepared certificate (or
  a fresh block if none), which is what keeps a block that may have committed somewhere from
  being replaced. A replica that sees view changes from more than a third of the power for
  higher views joins the smallest of them; timeouts double with each failed view.
* Pacemaker: the view timer runs from the view's start until the replica accepts a valid
  proposal of it, and starts again then and once the block is prepared; its base follows the
  replica's measured pace within a floor and a cap (`EngineConfig.max_paced_timeout_ms`), so
  honest but slow heights (large blocks, many replicas per core) do not cost a view change
  while a silent proposer is still replaced within the base.
* Checkpoints: every `checkpoint_interval` heights replicas sign their state root; a quorum makes
  the checkpoint stable and the engine drops its certificate log up to it.
* Sync: a replica that sees messages from a height above its own asks the sender for the block
  it is missing; committed blocks travel with their certificates, which it verifies.

Which validator proposes at (height, view) comes from an `Election` (PBFT round robin, PoS, PoE),
so `pos` and `poe` finalise with the same vote rounds and fall back to the next-ranked candidate
when the elected one is silent. The engine never touches sockets, clocks, threads or disks: the
host feeds it events with the current time and carries out the actions it returns.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from consensus.application import Application
from consensus.election import Election
from consensus.messages import (
    MAX_ENVELOPE,
    Checkpoint,
    Commit,
    CompactProposal,
    Envelope,
    NewView,
    Prepare,
    PreparedCert,
    Proposal,
    Route,
    SyncRequest,
    SyncResponse,
    TxRequest,
    TxResponse,
    ViewChange,
    carried_body_matches,
    new_view_changes,
    peek,
    prepare_message,
    prepared_head,
    seal_sync_response,
    sync_header,
)
from ledger.blocks import (BODY_MISMATCH, Block, CommitSig, Header, QuorumCertificate, make_quorum, quorum_power,
                           skipped_bitmap, verify_quorum)
from ledger.bounded_decode import decode_bounded
from ledger.encoding import Record
from ledger.errors import DecodeError, InvalidBlock
from ledger.keys import PrivateKey, VerifiedCache, verify
from ledger.transactions import Transaction

log = logging.getLogger(__name__)


# --- events in, actions out --------------------------------------------------------------


@dataclass(frozen=True)
class Timer:
    kind: str  # "view" (view timeout), "resend" (repeat a view change), "propose" (batching delay),
    # "request" (PBFT's request timer: look for starved transactions), "fill" (ask for what a
    # compact proposal still lacks)
    height: int
    view: int
    seq: int = 0  # only the latest view timer counts; earlier ones are stale when they fire


@dataclass(frozen=True)
class Broadcast:
    data: bytes


@dataclass(frozen=True)
class Send:
    to: bytes  # validator public key
    data: bytes


@dataclass(frozen=True)
class SetTimer:
    timer: Timer
    delay_ms: int


@dataclass(frozen=True)
class Committed:
    block: Block  # with its proof; already executed and persisted by the application


@dataclass(frozen=True)
class ViewChanged:
    height: int
    view: int


@dataclass(frozen=True)
class Persist:
    """A record the host makes durable (its write-ahead log, synced) before it carries out any
    later action: what this replica signed at the current height, or the prepared certificate
    it holds. After a restart the host hands the records back (`Engine.start(restored=...)`), so
    the replica never signs a second, different message for a (height, view) it signed for.
    The host may drop records of heights below the current one (on `Committed`)."""

    record: bytes


Action = Broadcast | Send | SetTimer | Committed | ViewChanged | Persist

MESSAGE_OVERHEAD = 256 * 1024  # a block's header and proof, a certificate's signatures, framing
UNBOUNDED_MEMORY = 1 << 62  # `max_block_memory` 0: no bound but the encoding's own
# Messages this large are judged by their route before decoding, and remembered by digest once
# refused or handled. Decoding a block's nested-list calls costs some 0.5 us a byte, so at this
# size a decode costs a few signature checks; votes and checkpoints are always smaller.
REMEMBER_REFUSED_ABOVE = 1024
REMEMBER_REFUSED = 1024
# `sync_sent` is also pruned of entries older than a view timeout (the only window its checks
# look back) once it holds this many: a stalled height commits nothing to prune it at, while
# peers may keep asking for other heights and views.
SYNC_SENT_PRUNE_AT = 4096
# Large messages whose copies are answered again (within rates): a replica stuck in a view or at
# a height repeats its view change, and one filling a compact proposal may ask again.
ANSWERED_AGAIN = (ViewChange, TxRequest)
_OWN = b"E"  # record tag: one of our signed envelopes
_PREPARED = b"P"  # record tag: our prepared certificate
_PROPOSED = b"B"  # record tag: the block we proposed (a Proposal record, unsigned), to answer TxRequests


@dataclass(frozen=True)
class EngineConfig:
    view_timeout_ms: int = 1000
    max_timeout_ms: int = 60_000
    propose_delay_ms: int = 0  # batching window before proposing; `on_txs_available` cuts it short
    checkpoint_interval: int = 16
    max_future_heights: int = 2  # buffer messages this far ahead, drop beyond
    max_future_per_sender: int = 16  # buffered messages per sender and future height
    # and their bytes per sender over all future heights: a message may be as large as a new
    # view with a block per validator, and 32 of them would hold gigabytes
    max_future_bytes_per_sender: int = 16 * 1024 * 1024
    # Votes (prepares, commits) are kept for views up to this far above ours, dropped beyond: a
    # voter could otherwise leave an entry for every view number. An honest replica this far
    # ahead is followed through its view changes (one kept per voter), not its votes.
    max_future_views: int = 16
    max_served_per_window: int = 256  # blocks served to one peer per view timeout (catch-up pace)
    max_served_bytes_per_window: int = 64 * 1024 * 1024  # and their bytes
    # PBFT's request timer: transactions ready for the next block that stayed out of blocks for
    # `request_timeout_ms` and at least `request_min_blocks` blocks, none of them full (or full:
    # for what the application says is always due, a meter reading), mean the proposer censors
    # them: ask for the next view. Checked every `request_check_ms`; 0 = off.
    request_timeout_ms: int = 0
    request_min_blocks: int = 3
    request_check_ms: int = 3000
    # The chain's bound on a block's transaction bytes (genesis max_block_bytes); 0 = only the
    # encoding's own bound. Messages larger than any honest one could be are dropped undecoded.
    max_block_bytes: int = 0
    # The chain's bound on what a block's transactions hold decoded (genesis max_block_memory);
    # 0 = none. A block inside a message is refused as soon as its transactions pass it, before
    # the rest is decoded: a member's nested-list calls cost the bound, not 70x their bytes.
    max_block_memory: int = 0
    # A replica does not vote for a fresh proposal whose block time is further from its own clock
    # than this, ahead or behind: a proposer can neither push the chain's clock (its intervals,
    # market windows and PoE's settled interval) ahead of real time nor hold it back (a stable
    # PBFT primary dating every block a millisecond after its parent would keep every interval
    # open, and every reading out). A prepared block re-proposed after a view change keeps its
    # time. Validators' clocks must agree within it (NTP does, by orders of magnitude). 0 = off.
    max_clock_skew_ms: int = 5_000
    # A compact proposal often outruns the gossip of its newest transactions (they left the
    # proposer moments before it, or wait in this replica's admission queue): wait this long,
    # or until the host reports admissions that complete it (`on_txs_admitted`), before asking
    # the proposer for what is still missing. 0 = ask at once.
    fill_wait_ms: int = 200
    # The pacemaker's base timeout adapts to this replica's measured pace (local time, never
    # hashed): the slowest of its last `pace_window` views that committed undisturbed (view start
    # to commit) plus `view_timeout_ms` as headroom, at most this cap; 0 = a fixed base of
    # `view_timeout_ms`. Honest heights slow down with load, block size and the cores each
    # replica gets (16 replicas on two cores take seconds per block); a fixed base then expires
    # on every honest height. The headroom is added, not multiplied, and the cap bounds what a
    # Byzantine proposer gains by proposing as late as it dares: its views stretch the base
    # toward the cap by at most one `view_timeout_ms` per height.
    max_paced_timeout_ms: int = 0
    pace_window: int = 8


@dataclass
class _Height:
    """Everything the engine knows about the height being decided; dropped on commit."""

    proposals: dict[int, Block] = field(default_factory=dict)  # view -> accepted proposal
    blocks: dict[bytes, Block] = field(default_factory=dict)  # validated blocks by hash
    prepares: dict[tuple[int, bytes], dict[bytes, bytes]] = field(default_factory=dict)
    prepare_of: dict[tuple[int, bytes], bytes] = field(default_factory=dict)  # (view, voter) -> hash
    commits: dict[tuple[int, bytes], dict[bytes, bytes]] = field(default_factory=dict)
    commit_of: dict[tuple[int, bytes], bytes] = field(default_factory=dict)
    # voter -> (view, raw ViewChange): each voter's highest only, so a voter asking for view
    # after view costs one entry, and every scan of them is O(validators).
    view_changes: dict[bytes, tuple[int, bytes]] = field(default_factory=dict)
    new_views: dict[int, bytes] = field(default_factory=dict)  # view -> raw NewView envelope
    prepared: PreparedCert | None = None
    sent_prepare: set[int] = field(default_factory=set)
    sent_commit: set[int] = field(default_factory=set)
    sent_new_view: set[int] = field(default_factory=set)
    invalid: set[bytes] = field(default_factory=set)  # hashes of blocks that failed validation
    tried_views: set[int] = field(default_factory=set)  # views whose proposal we validated ahead
    ranking: list[bytes] = field(default_factory=list)
    # view -> a compact proposal waiting for transactions this replica asked its proposer for
    filling: dict[int, "_Filling"] = field(default_factory=dict)
    # senders whose sync response for this height was handled: a valid one commits the height,
    # and an invalid one stays invalid, so each sender is heard once
    synced_from: set[bytes] = field(default_factory=set)
    new_view_tried: set[int] = field(default_factory=set)  # views whose new view was handled
    # (sender, slot, view) of the large messages decoded at this height, recorded before decoding:
    # each such slot is decoded once, whatever the message turns out to be (one a decoding refuses,
    # or one refused after it, changes nothing else, and its sender could send it again, altered)
    heard: set[tuple[bytes, str, int]] = field(default_factory=set)
    vc_heard: dict[bytes, int] = field(default_factory=dict)  # voter -> highest view change decoded


def _slot(kind: type[Record]) -> str:
    """The slot a large message of `kind` takes at a height (with its sender and view): a
    proposal, full or compact, is one."""
    return "proposal" if kind in (Proposal, CompactProposal) else kind.__name__


@dataclass
class _Filling:
    """A compact proposal of the current view being filled: its transactions in block order
    (None where still missing) and, for each missing hash, its position."""

    proposal: CompactProposal
    txs: list
    missing: dict[bytes, int]
    asked: bool = False

    def take(self, txs: Iterable[Transaction]) -> None:
        """Put those of `txs` it lacks in their places."""
        missing = self.missing
        for tx in txs:
            index = missing.pop(tx.hash, None)
            if index is not None:
                self.txs[index] = tx


class Engine:
    def __init__(self, app: Application, key: PrivateKey, election: Election,
                 config: EngineConfig | None = None, cache: VerifiedCache | None = None) -> None:
        self.app = app
        self.key = key
        self.election = election
        self.config = config or EngineConfig()
        self.cache = cache if cache is not None else VerifiedCache()
        self.chain_id = app.chain_id
        self.view = 0
        self.view_changing = False
        self.view_timer_armed = False
        self.failed_views = 0
        self.view_started_ms: int | None = None  # local time the current view started (pacemaker)
        self.paces: deque[int] = deque(maxlen=self.config.pace_window)  # recent undisturbed view durations
        self.future: dict[int, dict[bytes, list[bytes]]] = {}  # height -> sender -> raw messages
        self.peer_heights: dict[bytes, int] = {}
        self.sync_sent: dict[tuple, int] = {}  # (peer, what) -> time last sent
        self._sync_sent_prune_at = SYNC_SENT_PRUNE_AT
        self.served: dict[bytes, tuple[int, int, int]] = {}  # peer -> (window start, blocks, bytes served)
        self.timer_seq = 0
        self.checkpoints: dict[int, dict[bytes, tuple[bytes, bytes]]] = {}  # h -> voter -> (root, sig)
        self.stable_checkpoint: tuple[int, bytes] = (0, app.last_header().state_root)
        self.certificate_log: dict[int, tuple[bytes, int]] = {}  # height -> (block hash, commit view)
        self.ready_since: dict[bytes, tuple[int, int]] = {}  # request -> (time, height) first seen ready
        self.full_height = 0  # the last committed block that was full: waiting before it was a backlog
        self._refused: OrderedDict[bytes, None] = OrderedDict()  # digests of large messages refused or handled
        self._out: list[Action] = []
        self._enter_height()

    # --- public event handlers --------------------------------------------------------

    @property
    def height(self) -> int:
        """The height being decided (one above the last committed block)."""
        return self.app.last_header().height + 1

    def start(self, now_ms: int, restored: list[bytes] | tuple[bytes, ...] = ()) -> list[Action]:
        """Begin, after replaying what this replica persisted before a restart (`Persist`)."""
        for record in restored:
            self._restore(record)
        if self.config.request_timeout_ms:
            self._out.append(SetTimer(Timer("request", 0, 0), self.config.request_check_ms))
        if self.view_changing:
            self._out.append(SetTimer(Timer("resend", self.height, self.view), self.config.view_timeout_ms))
        else:
            self._start_view(now_ms)
        return self._flush()

    def _restore(self, record: bytes) -> None:
        """Take back one persisted record of the current height: remember what we signed (so we
        never sign otherwise) and send the same bytes again (peers may never have had them)."""
        tag, body = record[:1], record[1:]
        if tag == _PROPOSED:
            proposed = Proposal.decode(body, max_size=MAX_ENVELOPE)
            if proposed.height == self.height:
                self.round.blocks[proposed.block.hash] = proposed.block
                self.round.proposals[proposed.view] = proposed.block
            return
        if tag == _PREPARED:
            cert = PreparedCert.decode(body)
            if cert.block.height == self.height and (self.round.prepared is None or self.round.prepared.view < cert.view):
                self.round.prepared = cert
                self.round.blocks[cert.block.hash] = cert.block
            return
        env = Envelope.decode(body)
        p = env.payload
        if env.sender != self.key.public_key or getattr(p, "height", None) != self.height:
            return
        self.cache.add(env.hash)
        me, r = self.key.public_key, self.round
        if isinstance(p, (Proposal, CompactProposal, Prepare, Commit)) and p.view > self.view:
            self.view, self.view_changing = p.view, False  # we took part in that view: never go back
        if isinstance(p, Proposal):
            r.blocks[p.block.hash] = p.block
            r.proposals[p.view] = p.block
        elif isinstance(p, Prepare):
            r.sent_prepare.add(p.view)
            r.prepare_of[(p.view, me)] = p.block_hash
            r.prepares.setdefault((p.view, p.block_hash), {})[me] = env.signature
        elif isinstance(p, Commit):
            r.sent_commit.add(p.view)
            r.commit_of[(p.view, me)] = p.block_hash
            r.commits.setdefault((p.view, p.block_hash), {})[me] = env.signature
        elif isinstance(p, ViewChange):
            if p.new_view > r.view_changes.get(me, (-1, b""))[0]:
                r.view_changes[me] = (p.new_view, body)
            if p.new_view > self.view:
                self.view, self.view_changing, self.failed_views = p.new_view, True, p.new_view
        elif isinstance(p, NewView):
            r.sent_new_view.add(p.view)
            r.new_views[p.view] = body
            r.blocks[p.block.hash] = p.block
            r.proposals[p.view] = p.block
            if p.view >= self.view:
                self.view, self.view_changing = p.view, False
        self._out.append(Broadcast(body))

    def on_message(self, data: bytes, now_ms: int) -> list[Action]:
        """A message from the network. Anything malformed or unauthenticated is dropped; so is,
        before decoding, anything larger than an honest message can be (a new view carries at
        most one prepared block per validator and its own), and a large message already refused
        or handled costs a hash, not another decode."""
        self._receive(data, now_ms)
        return self._flush()

    def _receive(self, data: bytes, now_ms: int) -> None:
        if self.config.max_block_bytes and len(data) > (len(self.powers) + 2) * (
                self.config.max_block_bytes + MESSAGE_OVERHEAD):
            return
        digest = hashlib.sha256(data).digest() if len(data) > REMEMBER_REFUSED_ABOVE else None
        if digest is not None and not self._large_worth_decoding(data, digest, now_ms):
            return
        try:
            env = self._decode(data)
        except DecodeError as exc:
            log.debug("dropping undecodable message: %s", exc)
            self._remember_refused(digest)
            return
        if env.sender not in self.powers or not self._authentic(env, data):
            self._remember_refused(digest)
            return
        self._dispatch(env, data, now_ms)
        if not isinstance(env.payload, ANSWERED_AGAIN):
            # Handled for good: a copy would find the same state or one that makes it moot.
            self._remember_refused(digest)

    def _decode(self, data: bytes) -> Envelope:
        """An envelope from a peer, decoded along its schema: a block in it is refused as soon as
        its transactions hold more decoded than the chain allows (`decode_bounded`)."""
        return decode_bounded(Envelope, data, self.config.max_block_memory or UNBOUNDED_MEMORY)

    def _large_worth_decoding(self, data: bytes, digest: bytes, now_ms: int) -> bool:
        """Cost before work for a large message (a block's worth to decode): its route, read
        from its first bytes, must be one the engine would use now, and its signature must
        verify, before its payload is decoded. Otherwise a member could make this replica decode
        a block per message it sends (a proposal for a view it does not lead, a copy of a message
        already handled), or anyone a block per forgery naming a member as its sender."""
        if digest in self._refused:
            return False
        route = peek(data)
        if route is None or route.sender not in self.powers or self._oversized(route):
            self._remember_refused(digest)
            return False
        if not self._wanted(route, now_ms):
            return False
        if digest not in self.cache:
            if not route.signature_ok(self.chain_id):
                self._remember_refused(digest)
                return False
            self.cache.add(digest)  # `_authentic` finds it: the envelope's hash is this digest
        return self._take_large(route, data, digest, now_ms)

    def _take_large(self, r: Route, data: bytes, digest: bytes, now_ms: int) -> bool:
        """Act on an authentic large message of a wanted route without decoding it where its
        route is enough, and otherwise record its slot before it is decoded (returns whether to
        decode it). A future height's message is buffered as it is, decoded only once its height
        comes and its route is judged again; a past height's view change only asks for the
        block; a view change this replica would only answer is answered. A certificate (a sync
        response's proof, a view change's prepared certificate) is checked on its header first,
        and the block it carries on its transactions' hashes against the header's root."""
        sender, r_ = r.sender, self.round
        if r.height > self.height:
            self._buffer_future(sender, r.height, data, now_ms)
            return False
        if r.height < self.height:
            self._serve_block(sender, r.height, now_ms)
            return False
        if r.kind is ViewChange and r.view <= r_.view_changes.get(sender, (-1, b""))[0]:
            self._help_view(sender, r.view, now_ms)
            return False
        if r.kind is ViewChange:
            r_.vc_heard[sender] = r.view
        elif r.kind is TxRequest:
            self._mark_sent((sender, "heard", self.height, r.view), now_ms)
        else:
            r_.heard.add((sender, _slot(r.kind), r.view))
        if not self._head_certified(r) or not self._body_of_header(r):
            self._remember_refused(digest)
            return False
        return True

    def _head_certified(self, r: Route) -> bool:
        """Whether what certifies the block a message carries holds, read without decoding the
        block: a sync response's proof and a view change's prepared certificate from the header
        alone, a new view's quorum of view changes from their bytes; other kinds pass."""
        try:
            if r.kind is SyncResponse:
                header = sync_header(r)
                qc = verify_quorum(header, list(self.powers.items()))
                return header.height == self.height and self._proposer_plausible(header, qc)
            if r.kind is ViewChange:
                cert = prepared_head(r)
                return cert is None or self._valid_cert(cert)
            if r.kind is NewView:
                return self._new_view_proof(new_view_changes(r), r.view)[0]
        except (DecodeError, InvalidBlock):
            return False
        return True

    @staticmethod
    def _body_of_header(r: Route) -> bool:
        """Whether the block the message carries is the one its header commits to, judged on
        its bytes (`carried_body_matches`): a genuine certificate makes a header worth reading,
        never a body sent with it."""
        try:
            return carried_body_matches(r)
        except DecodeError:
            return False

    def _new_view_proof(self, raws: Sequence[bytes], view: int) -> tuple[bool, bytes | None]:
        """Whether `raws` are view changes for `view` at this height, signed by distinct
        validators holding a quorum, each prepared certificate valid; and the hash of the
        highest prepared block among them (None: none). Judged from their bytes (route,
        signature, the certificate's header and signatures): no block they carry is decoded."""
        voters: set[bytes] = set()
        highest: tuple[int, bytes | None] = (-1, None)
        for raw in raws:
            r = peek(raw)
            if (r is None or r.kind is not ViewChange or r.height != self.height or r.view != view
                    or r.sender not in self.powers or r.sender in voters or not self._route_signed(r, raw)):
                return False, None
            try:
                cert = prepared_head(r)
            except DecodeError:
                return False, None
            if cert is not None:
                if not self._valid_cert(cert):
                    return False, None
                if cert.view > highest[0]:
                    highest = (cert.view, cert.block.hash)
            voters.add(r.sender)
        return self._power(voters) >= self.quorum, highest[1]

    def _route_signed(self, r: Route, raw: bytes) -> bool:
        """Whether the envelope `raw` (of route `r`) is signed by its sender: a verification once
        per envelope, its digest then in the cache as `_authentic` keeps it."""
        digest = hashlib.sha256(raw).digest()
        if digest in self.cache:
            return True
        if not r.signature_ok(self.chain_id):
            return False
        self.cache.add(digest)
        return True

    def _wanted(self, r: Route, now_ms: int) -> bool:
        """Whether `_dispatch` would act on a message of this route (the same rules, asked
        before decoding): for the current height, only what its sender may send now and has
        not already had handled; a future height's within the buffer's bounds; a past height's
        only a view change this replica would answer with the block."""
        height, view, sender, r_ = self.height, r.view, r.sender, self.round
        if r.kind is SyncResponse:
            return (r.height == height and sender not in r_.synced_from
                    and (sender, _slot(SyncResponse), 0) not in r_.heard)
        if r.height < height:
            return r.kind is ViewChange and not self._recent((sender, "serve", r.height), now_ms)
        if r.height > height:
            return (r.height - height <= self.config.max_future_heights
                    and len(self.future.get(r.height, {}).get(sender, ())) < self.config.max_future_per_sender
                    and self._future_room(sender, len(r.payload)))
        if r.kind not in (ViewChange, TxRequest) and (sender, _slot(r.kind), view) in r_.heard:
            return False
        if r.kind in (Proposal, CompactProposal):
            return (sender == self.proposer(view) and view not in r_.proposals and view not in r_.filling
                    and view not in r_.tried_views and abs(view - self.view) <= 1)
        if r.kind is NewView:
            return (sender == self.proposer(view) and view not in r_.new_view_tried
                    and view <= self.view + self.config.max_future_views
                    and (view > self.view or (view == self.view and self.view_changing)))
        if r.kind is ViewChange:
            if view > r_.view_changes.get(sender, (-1, b""))[0]:
                # the sender's newest request, kept: each view decoded once, as far ahead as votes
                return view > r_.vc_heard.get(sender, -1) and view <= self.view + self.config.max_future_views
            helped = view < self.view or (view == self.view and not self.view_changing)
            return helped and not self._recent((sender, "view", view), now_ms)  # `_help_view` answers it
        if r.kind is TxResponse:
            filling = r_.filling.get(view)
            return filling is not None and filling.proposal.header.proposer == sender
        if r.kind is TxRequest:
            block = r_.proposals.get(view)
            return (block is not None and block.header.proposer == self.key.public_key
                    and not self._recent((sender, "txs", height, view), now_ms)
                    and not self._recent((sender, "heard", height, view), now_ms))
        return True  # small kinds: a large one fails `signature_ok` or its decoding

    def _buffer_future(self, sender: bytes, height: int, data: bytes, now_ms: int) -> None:
        """Keep an authentic message of a height above ours, within the buffer's bounds, for
        when that height comes (`_commit` receives it again then), and ask its sender for the
        block we lack."""
        self.peer_heights[sender] = max(self.peer_heights.get(sender, 0), height)
        if height - self.height <= self.config.max_future_heights and self._future_room(sender, len(data)):
            queued = self.future.setdefault(height, {}).setdefault(sender, [])
            if len(queued) < self.config.max_future_per_sender and data not in queued:
                queued.append(data)
        self._ask_sync(sender, now_ms)

    def _future_room(self, sender: bytes, size: int) -> bool:
        """Whether `sender`'s messages buffered for future heights leave room for `size` bytes
        more within `max_future_bytes_per_sender` (at most a few dozen messages to add up)."""
        held = sum(len(raw) for by_sender in self.future.values() for raw in by_sender.get(sender, ()))
        return held + size <= self.config.max_future_bytes_per_sender

    def _oversized(self, r: Route) -> bool:
        """Larger than its kind can be: a message carries at most one block with its header and
        proof, except a new view (with the view changes of a quorum, each with its prepared
        block). Decoding builds whatever the bytes hold before the schema is checked (some 70
        bytes of memory per byte of nested empty arrays): the bound per kind is the bound on that."""
        bound = self.config.max_block_bytes
        return bool(bound) and r.kind is not NewView and len(r.payload) > bound + MESSAGE_OVERHEAD

    def _recent(self, key: tuple, now_ms: int) -> bool:
        """Whether `_rate_ok(key)` would refuse now (without recording anything)."""
        last = self.sync_sent.get(key)
        return last is not None and now_ms - last < self.config.view_timeout_ms

    def _remember_refused(self, digest: bytes | None) -> None:
        if digest is None:
            return
        self._refused[digest] = None
        if len(self._refused) > REMEMBER_REFUSED:
            self._refused.popitem(last=False)

    def on_timer(self, timer: Timer, now_ms: int) -> list[Action]:
        if timer.kind == "request":
            self._check_requests(now_ms)
            self._out.append(SetTimer(timer, self.config.request_check_ms))
            return self._flush()
        if timer.height != self.height:
            return []
        if timer.kind == "fill":
            filling = self.round.filling.get(timer.view)
            if filling is not None and not filling.asked and not self._refill(timer.view, now_ms):
                filling.asked = True
                self._send(filling.proposal.header.proposer, TxRequest(self.height, timer.view, tuple(filling.missing)))
        elif timer.kind == "propose" and timer.view == self.view and not self.view_changing:
            self._propose(now_ms)
        elif timer.kind == "view" and timer.seq == self.timer_seq:
            self._start_view_change(self.view + 1, now_ms)
        elif timer.kind == "resend" and timer.view == self.view and self.view_changing:
            # PBFT assumes eventual delivery: repeat our view change until the new view starts.
            view, mine = self.round.view_changes.get(self.key.public_key, (-1, b""))
            if view == self.view:
                self._out.append(Broadcast(mine))
            self._out.append(SetTimer(Timer("resend", self.height, self.view), self.config.view_timeout_ms))
        return self._flush()

    def _check_requests(self, now_ms: int) -> None:
        """PBFT's request timer (see EngineConfig): a proposer that leaves valid transactions out
        of its blocks is asked to be replaced. One replica alone cannot force it: a view changes
        when more than a third of the power asks."""
        committed = self.height - 1
        seen: dict[bytes, tuple[int, int]] = {}
        starved = 0
        for request in self.app.ready_requests():
            since = seen[request] = self.ready_since.get(request, (now_ms, committed))
            if (now_ms - since[0] >= self.config.request_timeout_ms
                    and committed - since[1] >= self.config.request_min_blocks
                    and (since[1] >= self.full_height or self.app.always_due(request))):
                starved += 1
        self.ready_since = seen
        if not starved or self.view_changing or self._am_proposer(self.view) or len(self.powers) < 2:
            return
        log.warning("%d valid transactions left out of %d blocks: asking for a new proposer", starved,
                    self.config.request_min_blocks)
        self.ready_since = {r: (now_ms, committed) for r in seen}  # the next proposer gets its time
        self._start_view_change(self.view + 1, now_ms)

    @property
    def filling(self) -> bool:
        """Whether a compact proposal waits for transactions (`on_txs_admitted` may complete it)."""
        return bool(self.round.filling)

    def on_txs_admitted(self, txs: Sequence[Transaction], now_ms: int) -> list[Action]:
        """The host admitted `txs`: a compact proposal waiting for them may be whole now. Only
        they are looked for, so each admission costs what it brought, not a pass over all a
        proposal still lacks (thousands, when it outran its transactions' gossip)."""
        for view, filling in list(self.round.filling.items()):
            filling.take(txs)
            if not filling.missing:
                self._go_on_filled(view, now_ms)
        return self._flush()

    def awaits_own_proposal(self) -> bool:
        """This node proposes the current view and has not yet: the host may cut its batching
        window short (`on_txs_available`)."""
        return self._am_proposer(self.view) and not self.view_changing and self.view not in self.round.proposals

    def on_txs_available(self, now_ms: int) -> list[Action]:
        """The host has a full batch waiting: a proposer in its batching window proposes now."""
        if self.awaits_own_proposal():
            self._propose(now_ms)
        return self._flush()

    # --- bookkeeping ------------------------------------------------------------------

    def _flush(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _enter_height(self) -> None:
        validators = self.app.validators()
        self.powers = dict(validators)
        self.total_power = sum(self.powers.values())
        self.quorum = quorum_power(self.total_power)
        self.round = _Height(ranking=self.election.ranking(self.app))

    def proposer(self, view: int) -> bytes:
        ranking = self.round.ranking
        return ranking[view % len(ranking)]

    def _am_proposer(self, view: int) -> bool:
        return self.proposer(view) == self.key.public_key

    def _power(self, voters) -> int:
        return sum(self.powers.get(v, 0) for v in voters)

    def _authentic(self, env: Envelope, data: bytes) -> bool:
        digest = env.hash  # sha256 of the exact bytes: sender, payload and signature
        if digest in self.cache:
            return True
        if not verify(env.sender, env.signing_bytes(self.chain_id), env.signature):
            log.debug("dropping message with a bad signature from %s", env.sender.hex()[:12])
            return False
        self.cache.add(digest)
        return True

    def _broadcast(self, payload: Record, now_ms: int) -> None:
        env = Envelope.seal(self.key, self.chain_id, payload)
        data = env.encoded
        self.cache.add(env.hash)
        if not isinstance(payload, Checkpoint):  # a checkpoint signs a root that cannot differ
            self._out.append(Persist(_OWN + data))
        self._out.append(Broadcast(data))
        self._dispatch(env, data, now_ms)  # a replica counts its own messages

    def _send(self, to: bytes, payload: Record) -> None:
        self._out.append(Send(to, Envelope.seal(self.key, self.chain_id, payload).encoded))

    def _set_view_timer(self) -> None:
        """(Re)arm the view timer for the current view from the paced base; timeouts double per
        failed view."""
        self.timer_seq += 1
        delay = min(self.base_timeout_ms() << min(self.failed_views, 16), self.config.max_timeout_ms)
        self._out.append(SetTimer(Timer("view", self.height, self.view, self.timer_seq), delay))

    def base_timeout_ms(self) -> int:
        """The view timeout before any failure: `view_timeout_ms` above the recent pace, within
        `EngineConfig.max_paced_timeout_ms`."""
        headroom, cap = self.config.view_timeout_ms, self.config.max_paced_timeout_ms
        if not cap or not self.paces:
            return headroom
        return max(headroom, min(max(self.paces) + headroom, cap))

    def _note_pace(self, view: int, now_ms: int) -> None:
        """Record how long the view that just committed took, if it ran undisturbed from its
        start (a commit certificate of an older view, arriving mid view change, says nothing
        about the pace)."""
        if self.view_started_ms is not None and view == self.view and not self.view_changing:
            self.paces.append(max(0, now_ms - self.view_started_ms))

    def _serve_ok(self, peer: bytes, height: int, now_ms: int) -> bool:
        """Whether to send `peer` the committed block at `height`: one we have, not sent to it
        within a view timeout, and within `max_served_per_window` blocks and
        `max_served_bytes_per_window` bytes per peer per view timeout (a peer catching up asks
        one height at a time and keeps pace; one asking for everything again and again is held
        to that budget). Nothing is recorded for a refusal."""
        if not 0 < height < self.height:
            return False
        last = self.sync_sent.get((peer, "serve", height))
        if last is not None and now_ms - last < self.config.view_timeout_ms:
            return False
        start, count, size = self.served.get(peer, (now_ms, 0, 0))
        if now_ms - start >= self.config.view_timeout_ms:
            start, count, size = now_ms, 0, 0
        if count >= self.config.max_served_per_window or size >= self.config.max_served_bytes_per_window:
            return False
        self.served[peer] = (start, count + 1, size)
        self._mark_sent((peer, "serve", height), now_ms)
        return True

    def _rate_ok(self, key: tuple, now_ms: int) -> bool:
        """At most one catch-up message per peer and subject per view timeout (retries under loss)."""
        last = self.sync_sent.get(key)
        if last is not None and now_ms - last < self.config.view_timeout_ms:
            return False
        self._mark_sent(key, now_ms)
        return True

    def _mark_sent(self, key: tuple, now_ms: int) -> None:
        self.sync_sent[key] = now_ms
        if len(self.sync_sent) > self._sync_sent_prune_at:
            recent = now_ms - self.config.view_timeout_ms
            self.sync_sent = {k: t for k, t in self.sync_sent.items() if t > recent}
            self._sync_sent_prune_at = max(SYNC_SENT_PRUNE_AT, 2 * len(self.sync_sent))  # amortised

    # --- dispatch ---------------------------------------------------------------------

    def _dispatch(self, env: Envelope, data: bytes, now_ms: int) -> None:
        p = env.payload
        if isinstance(p, SyncRequest):
            self._serve_block(env.sender, p.height, now_ms)
            return
        if isinstance(p, SyncResponse):
            self._on_sync_response(env.sender, p, now_ms)
            return
        if isinstance(p, Checkpoint):
            self._on_checkpoint(env, p)
            return
        height = p.height
        if height < self.height:
            # A view change for a height we committed means its sender is stuck there: send it
            # the block. (A late vote only means it is slower; it will ask if it needs to.)
            if isinstance(p, ViewChange):
                self._serve_block(env.sender, height, now_ms)
            return
        if height > self.height:
            self._buffer_future(env.sender, height, data, now_ms)
            return
        if isinstance(p, CompactProposal):
            self._on_compact_proposal(env.sender, p, now_ms)
        elif isinstance(p, TxRequest):
            self._on_tx_request(env.sender, p, now_ms)
        elif isinstance(p, TxResponse):
            self._on_tx_response(env.sender, p, now_ms)
        elif isinstance(p, Proposal):
            self._on_proposal(env.sender, p, now_ms)
        elif isinstance(p, (Prepare, Commit)) and p.view > self.view + self.config.max_future_views:
            return
        elif isinstance(p, Prepare):
            self._on_prepare(env.sender, p, env.signature, now_ms)
        elif isinstance(p, Commit):
            self._on_commit(env.sender, p, env.signature, now_ms)
        elif isinstance(p, ViewChange):
            self._on_view_change(env.sender, p, data, now_ms)
        elif isinstance(p, NewView):
            self._on_new_view(env.sender, p, data, now_ms)

    # --- normal case ------------------------------------------------------------------

    def _start_view(self, now_ms: int) -> None:
        self.view_started_ms = now_ms
        self._set_view_timer()
        if self._am_proposer(self.view) and self.view not in self.round.proposals:
            if self.config.propose_delay_ms:
                self._out.append(SetTimer(Timer("propose", self.height, self.view), self.config.propose_delay_ms))
            else:
                self._propose(now_ms)

    def _propose(self, now_ms: int) -> None:
        if self.view in self.round.proposals:
            return
        block = self.app.propose(self.key.public_key, now_ms, self._ranked_above(self.key.public_key))
        self.round.blocks[block.hash] = block
        # Kept across a restart, so the compact proposal sent again can still be filled.
        self._out.append(Persist(_PROPOSED + Proposal(self.height, self.view, block).encoded))
        compact = CompactProposal(self.height, self.view, block.header, tuple(tx.hash for tx in block.txs))
        self._broadcast(compact, now_ms)

    def _valid(self, block: Block) -> Block | None:
        """The valid block of `block`'s hash, validated once: a valid one is kept and returned
        as kept whatever body came with its header this time, an invalid one remembered by hash,
        so a replayed garbage proposal costs a lookup, not another execution. A body that is not
        its header's (the ledger judges that first, `BODY_MISMATCH`) is refused and not
        remembered: it is its sender's fault, and remembering the hash would refuse the genuine
        block with that header from every peer (a member holding the header's certificate could
        stop a replica at a height for good)."""
        held = self.round.blocks.get(block.hash)
        if held is not None:
            return held
        if block.hash in self.round.invalid:
            return None
        try:
            self._check_skipped(block)
            self.app.validate(block)
        except InvalidBlock as exc:
            log.info("rejecting block at height %d: %s", block.height, exc)
            if exc.reason not in BODY_MISMATCH:  # the header's fault: refused with any body
                self.round.invalid.add(block.hash)
            return None
        self.round.blocks[block.hash] = block
        return block

    def _on_proposal(self, sender: bytes, p: Proposal, now_ms: int) -> None:
        if sender != self.proposer(p.view) or p.block.height != self.height:
            return
        if p.view != self.view or self.view_changing:
            # Not our view: keep the block (if valid) so a commit certificate can still use it,
            # for a view next to ours only (a late proposal of the view we left, or one of a view
            # we are behind in) and once per view: a validator proposes in every n-th view, and
            # could otherwise make us execute a block for each of them.
            if (abs(p.view - self.view) <= 1 and p.block.header.proposer == sender
                    and p.view not in self.round.tried_views):
                self.round.tried_views.add(p.view)
                self._valid(p.block)
            return
        if p.view in self.round.proposals or p.block.header.proposer != sender:
            return  # a second proposal for this view is equivocation: the first one stands
        skew = self.config.max_clock_skew_ms
        if skew and abs(p.block.header.time_ms - now_ms) > skew:
            log.info("not voting for the block at height %d: its time is %d ms off this clock",
                     p.block.height, p.block.header.time_ms - now_ms)
            return  # no prepare: the view times out and the next proposer dates its block honestly
        block = self._valid(p.block)
        if block is not None:
            self._accept_proposal(p.view, block, now_ms)

    def _on_compact_proposal(self, sender: bytes, p: CompactProposal, now_ms: int) -> None:
        """Fill the block from pending transactions; ask its proposer for the missing ones, once
        per view and only for the current view. A hash list that repeats a hash or disagrees
        with the header's count is refused before any lookup (no valid block holds a
        transaction twice); the list itself is bounded by the encoding (MAX_BLOCK_TXS)."""
        header = p.header
        if sender != self.proposer(p.view) or header.height != self.height or header.proposer != sender:
            return
        if sender == self.key.public_key:  # our own, dispatched to ourselves: we hold the block
            block = self.round.blocks.get(header.hash)
            if block is not None:
                self._on_proposal(sender, Proposal(p.height, p.view, block), now_ms)
            return
        if p.view in self.round.filling or p.view in self.round.proposals:
            return  # the first proposal of a view stands
        hashes = p.tx_hashes
        if len(hashes) != header.tx_count or len(set(hashes)) != len(hashes):
            return
        txs = self.app.pending_txs(hashes)
        missing = {h: i for i, (h, tx) in enumerate(zip(hashes, txs)) if tx is None}
        if not missing:
            self._on_proposal(sender, Proposal(p.height, p.view, Block(header, tuple(txs))), now_ms)
            return
        if p.view != self.view or self.view_changing:
            return  # another view's block is only kept if it fills from what we hold
        filling = self.round.filling[p.view] = _Filling(p, txs, missing)
        if self.config.fill_wait_ms:
            self._out.append(SetTimer(Timer("fill", self.height, p.view), self.config.fill_wait_ms))
        else:
            filling.asked = True
            self._send(sender, TxRequest(p.height, p.view, tuple(missing)))

    def _refill(self, view: int, now_ms: int) -> bool:
        """Look again for what the compact proposal of `view` lacks; go on with it once whole.
        Returns whether it is."""
        filling = self.round.filling[view]
        filling.take(tx for tx in self.app.pending_txs(list(filling.missing)) if tx is not None)
        if filling.missing:
            return False
        self._go_on_filled(view, now_ms)
        return True

    def _go_on_filled(self, view: int, now_ms: int) -> None:
        """The compact proposal of `view` is whole: take it as the full proposal it stands for."""
        filling = self.round.filling.pop(view)
        compact = filling.proposal
        block = Block(compact.header, tuple(filling.txs))
        self._on_proposal(compact.header.proposer, Proposal(compact.height, compact.view, block), now_ms)

    def _on_tx_request(self, sender: bytes, p: TxRequest, now_ms: int) -> None:
        """Answer a replica filling our compact proposal: once per peer, height and view per view
        timeout, with at most the asked transactions our block holds."""
        block = self.round.proposals.get(p.view)
        if (block is None or block.header.proposer != self.key.public_key or sender == self.key.public_key
                or not self._rate_ok((sender, "txs", p.height, p.view), now_ms)):
            return
        by_hash = {tx.hash: tx for tx in block.txs}
        found = tuple(tx for tx in (by_hash.get(h) for h in p.tx_hashes) if tx is not None)
        self._send(sender, TxResponse(p.height, p.view, found))

    def _on_tx_response(self, sender: bytes, p: TxResponse, now_ms: int) -> None:
        filling = self.round.filling.get(p.view)
        if filling is None or sender != filling.proposal.header.proposer:
            return
        filling.take(p.txs)
        self._refill(p.view, now_ms)  # what is still missing and never comes: the view times out

    def _accept_proposal(self, view: int, block: Block, now_ms: int) -> None:
        """Take the valid proposal of our current view (its first one, or the new view's block)
        and vote for it. The view timer starts again here (PBFT's and Tendermint's pacemakers
        time what a replica waits for, not its own work): the proposer has done its part, so
        building and validating the block, however long that took on a loaded machine, no
        longer counts against the rounds that remain. A faulty proposer gains nothing by it:
        once per view, and only for a block this replica validated."""
        mine = self.round.prepare_of.get((view, self.key.public_key))
        if mine is not None and mine != block.hash:
            return  # we prepared another block in this view (before a restart): never both
        self.round.proposals[view] = block
        self._set_view_timer()
        if view not in self.round.sent_prepare:
            self.round.sent_prepare.add(view)
            self._broadcast(Prepare(self.height, view, block.hash), now_ms)
        self._check_prepared(view, block.hash, now_ms)
        for (v, h), _ in list(self.round.commits.items()):
            self._check_committed(v, h, now_ms)

    def _on_prepare(self, sender: bytes, p: Prepare, signature: bytes, now_ms: int) -> None:
        key = (p.view, sender)
        if self.round.prepare_of.setdefault(key, p.block_hash) != p.block_hash:
            return  # a conflicting vote from the same replica in the same view: ignore it
        self.round.prepares.setdefault((p.view, p.block_hash), {})[sender] = signature
        self._check_prepared(p.view, p.block_hash, now_ms)

    def _check_prepared(self, view: int, block_hash: bytes, now_ms: int) -> None:
        block = self.round.proposals.get(view)
        if block is None or block.hash != block_hash or view != self.view or self.view_changing:
            return
        sigs = self.round.prepares.get((view, block_hash), {})
        if self._power(sigs) < self.prepare_quorum():
            return
        if self.round.prepared is None or self.round.prepared.view < view:
            cert_sigs = tuple(CommitSig(k, s) for k, s in sorted(sigs.items()))
            self.round.prepared = PreparedCert(view, block, cert_sigs)
            # A view change must carry it after a restart too, or a block that may have
            # committed elsewhere could be replaced in the next view.
            self._out.append(Persist(_PREPARED + self.round.prepared.encoded))
            # Progress again (once per view): a quorum validated the block, only the commit round
            # remains. The proposer, whose own acceptance came first, needs this one: until now it
            # was waiting on the others' validation.
            self._set_view_timer()
        if view not in self.round.sent_commit:
            self.round.sent_commit.add(view)
            self._broadcast(Commit(self.height, view, block_hash), now_ms)

    def prepare_quorum(self) -> int:
        return self.quorum

    def commit_quorum(self) -> int:
        return self.quorum

    def _on_commit(self, sender: bytes, p: Commit, signature: bytes, now_ms: int) -> None:
        key = (p.view, sender)
        if self.round.commit_of.setdefault(key, p.block_hash) != p.block_hash:
            return
        self.round.commits.setdefault((p.view, p.block_hash), {})[sender] = signature
        self._check_committed(p.view, p.block_hash, now_ms)

    def _check_committed(self, view: int, block_hash: bytes, now_ms: int) -> None:
        sigs = self.round.commits.get((view, block_hash), {})
        if self._power(sigs) < self.commit_quorum():
            return
        block = self.round.blocks.get(block_hash)
        if block is None:
            # A quorum committed a block we have not seen: fetch it from them.
            for voter in sorted(sigs):
                self._ask_sync(voter, now_ms)
            return
        commit_sigs = [CommitSig(k, s) for k, s in sigs.items()]
        proof = make_quorum(block.header, commit_sigs, view)
        self._commit(block.replace(header=block.header.replace(proof=proof)), view, now_ms)

    def _commit(self, block: Block, view: int, now_ms: int) -> None:
        """Commit a block certified in `view`, then start the next height at view 0."""
        root = self.app.commit(block)
        self._note_pace(view, now_ms)
        height = block.height
        if self.app.is_full(block):
            self.full_height = height
        self.certificate_log[height] = (block.hash, view)
        self._out.append(Committed(block))
        self.failed_views = 0
        self.view = 0
        self.view_changing = False
        self._enter_height()
        if height % self.config.checkpoint_interval == 0:
            self._broadcast(Checkpoint(height, root), now_ms)
        self._start_view(now_ms)
        for queued in self.future.pop(self.height, {}).values():
            for data in queued:
                self._receive(data, now_ms)  # judged again, by this height's rules
        for h in [h for h in self.future if h < self.height]:
            del self.future[h]
        stale = now_ms - self.config.max_timeout_ms
        self.sync_sent = {k: t for k, t in self.sync_sent.items() if t >= stale}
        # Ask the peers ahead in turn: one that claims a height it will not serve (a Byzantine
        # message says anything) gets only its share of the requests.
        ahead = sorted(peer for peer, h in self.peer_heights.items() if h > self.height)
        if ahead:
            self._ask_sync(ahead[self.height % len(ahead)], now_ms)

    # --- view change ------------------------------------------------------------------

    def _start_view_change(self, new_view: int, now_ms: int) -> None:
        """Move to `new_view` and ask for it. The view timer is *not* armed here: as in PBFT it
        starts only once a quorum asked for the same view (`_on_view_change`), so a replica cut
        off from the others does not race through views the rest can never join."""
        if new_view <= self.view:
            return
        self.view = new_view
        self.view_changing = True
        self.view_timer_armed = False
        self.timer_seq += 1  # the old view's timer is void
        self.failed_views += 1
        self._out.append(ViewChanged(self.height, new_view))
        self._out.append(SetTimer(Timer("resend", self.height, new_view), self.config.view_timeout_ms))
        prepared = (self.round.prepared,) if self.round.prepared is not None else ()
        self._broadcast(ViewChange(self.height, new_view, prepared), now_ms)

    def _valid_cert(self, cert: PreparedCert) -> bool:
        block = cert.block
        if block.height != self.height:
            return False
        message = prepare_message(self.chain_id, self.height, cert.view, block.hash)
        voters = [s.validator for s in cert.sigs]
        if len(set(voters)) != len(voters) or self._power(voters) < self.prepare_quorum():
            return False
        return all(s.validator in self.powers and self.cache.verify(s.validator, message, s.signature)
                   for s in cert.sigs)

    def _on_view_change(self, sender: bytes, p: ViewChange, data: bytes, now_ms: int) -> None:
        # A certificate over a body not its header's is refused as a forged one is: kept, it
        # could be the highest a new primary re-proposes, a block every replica refuses.
        if p.prepared and not (self._valid_cert(p.prepared[0]) and p.prepared[0].block.body_matches()):
            return
        if p.new_view < self.view or (p.new_view == self.view and not self.view_changing):
            self._help_view(sender, p.new_view, now_ms)
        if p.new_view <= self.round.view_changes.get(sender, (-1, b""))[0]:
            return  # a repeat, or superseded by a higher view this voter asked for
        self.round.view_changes[sender] = (p.new_view, data)
        # PBFT liveness: when replicas holding more than a third of the power ask for views above
        # ours, at least one honest replica is among them: join the smallest such view.
        ahead = {voter: view for voter, (view, _) in self.round.view_changes.items() if view > self.view}
        if self._power(ahead) * 3 > self.total_power:
            self._start_view_change(min(ahead.values()), now_ms)
        if not self.view_changing:
            return
        view = self.view
        # A voter asking for a higher view has given up this one too: it counts toward arming the
        # timer (only its highest request is kept), while a NewView needs requests for exactly it.
        if self._power([v for v, (asked, _) in self.round.view_changes.items() if asked >= view]) < self.quorum:
            return
        if not self.view_timer_armed:
            self.view_timer_armed = True  # a quorum wants this view: now it must start in time
            self._set_view_timer()
        voters = self._view_change_voters(view)
        if self._am_proposer(view) and view not in self.round.sent_new_view and self._power(voters) >= self.quorum:
            self._send_new_view(view, voters, now_ms)

    def _view_change_voters(self, view: int) -> dict[bytes, bytes]:
        """Voter -> raw ViewChange of those whose highest request is for `view`."""
        return {voter: raw for voter, (v, raw) in self.round.view_changes.items() if v == view}

    def _help_view(self, peer: bytes, view: int, now_ms: int) -> None:
        """`peer` still asks for a view we have left or installed: it missed messages that were
        lost (PBFT relies on retransmission). Forward the signed view changes and the NewView we
        hold for that view, so it can complete it or follow us past it."""
        if not self._rate_ok((peer, "view", view), now_ms):
            return
        for voter, raw in sorted(self._view_change_voters(view).items()):
            if voter != peer:
                self._out.append(Send(peer, raw))
        if view in self.round.new_views:
            self._out.append(Send(peer, self.round.new_views[view]))

    def _highest_prepared(self, raws: list[bytes]) -> PreparedCert | None:
        best = None
        for raw in raws:
            vc = self._decode(raw).payload
            if vc.prepared and (best is None or vc.prepared[0].view > best.view):
                best = vc.prepared[0]
        return best

    def _send_new_view(self, view: int, voters: dict[bytes, bytes], now_ms: int) -> None:
        self.round.sent_new_view.add(view)
        raws = [voters[k] for k in sorted(voters)]
        cert = self._highest_prepared(raws)
        block = cert.block if cert is not None else self.app.propose(self.key.public_key, now_ms,
                                                                      self._ranked_above(self.key.public_key))
        self.round.blocks[block.hash] = block
        self._broadcast(NewView(self.height, view, tuple(raws), block), now_ms)

    def _on_new_view(self, sender: bytes, p: NewView, data: bytes, now_ms: int) -> None:
        """Install the view of a valid new view. Its proposer is heard once per view (whether
        it succeeds depends only on this height, so a second one is equivocation or garbage),
        and only for views up to `max_future_views` ahead, as votes are."""
        if p.view < self.view or (p.view == self.view and not self.view_changing):
            return
        if (sender != self.proposer(p.view) or p.block.height != self.height
                or p.view > self.view + self.config.max_future_views or p.view in self.round.new_view_tried):
            return
        self.round.new_view_tried.add(p.view)
        proven, highest = self._new_view_proof(p.view_changes, p.view)
        if not proven:
            return
        if highest is not None and highest != p.block.hash:
            return  # the new primary must re-propose the highest prepared block
        if highest is None and p.block.header.proposer != sender:
            return
        block = self._valid(p.block)
        if block is None:
            return
        self.round.new_views[p.view] = data
        self.view = p.view
        self.view_changing = False
        self.view_started_ms = now_ms
        self._set_view_timer()  # armed even if we cannot vote for its block (`_accept_proposal`)
        self._accept_proposal(p.view, block, now_ms)

    # --- checkpoints ------------------------------------------------------------------

    def _on_checkpoint(self, env: Envelope, p: Checkpoint) -> None:
        interval = self.config.checkpoint_interval
        if p.height <= self.stable_checkpoint[0] or p.height % interval or p.height > self.height + 2 * interval:
            return  # settled, not a checkpoint height, or too far ahead to hold votes for
        votes = self.checkpoints.setdefault(p.height, {})
        votes[env.sender] = (p.state_root, env.signature)
        agreeing = [k for k, (root, _) in votes.items() if root == p.state_root]
        if self._power(agreeing) >= self.quorum:
            self.stable_checkpoint = (p.height, p.state_root)
            # Garbage-collect: everything at or below a stable checkpoint is settled for good.
            for h in [h for h in self.checkpoints if h <= p.height]:
                del self.checkpoints[h]
            for h in [h for h in self.certificate_log if h <= p.height]:
                del self.certificate_log[h]

    # --- block sync -------------------------------------------------------------------

    def _ask_sync(self, peer: bytes, now_ms: int) -> None:
        if peer != self.key.public_key and self._rate_ok((peer, self.height), now_ms):
            self._send(peer, SyncRequest(self.height))

    def _serve_block(self, peer: bytes, height: int, now_ms: int) -> None:
        if self._serve_ok(peer, height, now_ms):
            raw = self.app.block_bytes_at(height)
            if raw is not None:
                start, count, size = self.served[peer]
                self.served[peer] = (start, count, size + len(raw))
                self._out.append(Send(peer, seal_sync_response(self.key, self.chain_id, raw)))

    def _on_sync_response(self, sender: bytes, p: SyncResponse, now_ms: int) -> None:
        block = p.block
        if block.height != self.height or sender in self.round.synced_from:
            return
        self.round.synced_from.add(sender)
        try:
            qc = verify_quorum(block.header, list(self.powers.items()))
        except InvalidBlock:
            return
        if not self._proposer_plausible(block.header, qc):
            return
        held = self._valid(block)
        if held is not None:
            self._commit(held.replace(header=block.header), qc.round, now_ms)  # the header with its proof

    def _ranked_above(self, proposer: bytes) -> list[bytes]:
        ranking = self.round.ranking
        return ranking[:ranking.index(proposer)] if proposer in ranking else list(ranking)

    def _check_skipped(self, block: Block) -> None:
        """The block must record exactly the validators this height's ranking put above its
        proposer: what leader reputation reads, so a proposer cannot demote or spare anyone."""
        expected = skipped_bitmap(list(self.powers), self._ranked_above(block.header.proposer))
        if block.header.skipped != expected:
            raise InvalidBlock(f"height {block.height}: skipped does not match the election's ranking",
                               reason="bad-skipped")

    def _proposer_plausible(self, header: Header, qc: QuorumCertificate) -> bool:
        """Election evidence: the proposer must be ranked for one of the views up to the commit's."""
        ranking = self.round.ranking
        return header.proposer in {ranking[v % len(ranking)] for v in range(min(qc.round + 1, len(ranking)))}

