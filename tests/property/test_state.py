"""The state root depends on content only; snapshots and blocks undo exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.state import State

entries_st = st.dictionaries(st.binary(min_size=1, max_size=24), st.binary(max_size=24), max_size=60)


@settings(max_examples=100)
@given(entries=entries_st, seed=st.randoms(use_true_random=False))
def test_root_independent_of_insertion_order(entries: dict[bytes, bytes], seed) -> None:
    items = list(entries.items())
    a = State(items)
    seed.shuffle(items)
    b = State()
    for k, v in items:
        b.put(k, v)
    assert a.root() == b.root()


@settings(max_examples=100)
@given(entries=entries_st, extra=st.binary(min_size=1, max_size=24))
def test_write_then_delete_restores_root(entries: dict[bytes, bytes], extra: bytes) -> None:
    s = State(entries.items())
    before = s.root()
    if extra not in entries:
        s.put(extra, b"v")
        assert s.root() != before
        s.delete(extra)
        assert s.root() == before


ops_st = st.lists(st.tuples(st.booleans(), st.binary(min_size=1, max_size=4), st.binary(max_size=4)), max_size=30)


@settings(max_examples=100)
@given(entries=entries_st, first=ops_st, second=ops_st)
def test_nested_snapshots_roll_back_exactly(entries, first, second) -> None:
    s = State(entries.items())
    s.begin_block()
    root0, content0 = s.root(), dict(s.items())
    outer = s.snapshot()
    _apply(s, first)
    s.release(s.snapshot())  # an empty inner snapshot changes nothing
    content1 = dict(s.items())
    inner = s.snapshot()
    _apply(s, second)
    s.rollback(inner)
    assert dict(s.items()) == content1
    s.rollback(outer)
    assert dict(s.items()) == content0
    s.abort_block()
    assert s.root() == root0


@settings(max_examples=50)
@given(entries=entries_st, ops=ops_st)
def test_changes_rebuild_the_same_state(entries, ops) -> None:
    """What take_changes reports, applied to a copy of the old content, gives the new content."""
    s = State(entries.items())
    s.take_changes()
    _apply(s, ops)
    changes = s.take_changes()
    rebuilt = dict(entries)
    for k, v in changes.items():
        if v is None:
            rebuilt.pop(k, None)
        else:
            rebuilt[k] = v
    assert rebuilt == dict(s.items())
    assert State(rebuilt.items()).root() == s.root()


def _apply(s: State, ops) -> None:
    for is_put, k, v in ops:
        if is_put:
            s.put(k, v)
        else:
            s.delete(k)


@settings(max_examples=150)
@given(entries=entries_st, ops=ops_st, more=ops_st, prefix=st.binary(max_size=10), limit=st.integers(1, 20),
       start=st.binary(max_size=10))
def test_scan_equals_brute_force(entries, ops, more, prefix: bytes, limit: int, start: bytes) -> None:
    """The prefix index answers exactly what a full walk would, through writes and rollbacks,
    from any `start` (a page's first key)."""
    s = State(entries.items())
    _apply(s, ops)
    s.begin_block()
    _apply(s, more)
    s.abort_block()
    expected = sorted((k, v) for k, v in s.items() if k.startswith(prefix))
    assert s.scan(prefix) == expected
    assert s.scan(prefix, limit) == expected[:limit]
    assert s.copy().scan(prefix) == expected
    assert s.scan(prefix, limit, start) == [(k, v) for k, v in expected if k >= start][:limit]
    if expected:  # pages from a key that exists, as a contract's scan or the API pages
        middle = expected[len(expected) // 2][0]
        assert s.scan(prefix, None, middle) == [(k, v) for k, v in expected if k >= middle]


def test_a_write_rehashes_its_entry_not_its_bucket(monkeypatch) -> None:
    """Keys aimed at one bucket (CRC-32 is easy to aim) with large values made every later
    write into that bucket rehash all of them at every block: a 551-gas contract store cost every
    node 33 ms. A write now digests its own entry and hashes its sub-bucket's digests."""
    import zlib

    from ledger import state as state_module

    target = zlib.crc32(b"aim") & (state_module.BUCKETS - 1)
    aimed = [k for k in (b"k%d" % i for i in range(2_000_000)) if zlib.crc32(k) & (state_module.BUCKETS - 1) == target]
    s = State()
    for key in aimed[:200]:
        s.put(key, b"v" * 10_000)
    s.root()
    hashed: list[int] = []
    original = state_module.entry_digest
    monkeypatch.setattr(state_module, "entry_digest", lambda k, v: hashed.append(len(v)) or original(k, v))
    s.put(aimed[200], b"poke")
    root = s.root()
    assert hashed == [4]
    assert root == State(s.items()).root()  # the same content from scratch gives the same root
