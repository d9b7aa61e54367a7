"""One contract suite for every database backend."""

from __future__ import annotations

import pytest

from ledger.database import Database


def test_put_get_delete(db: Database) -> None:
    with db.batch() as b:
        b.put(b"k1", b"v1")
        b.put(b"k2", b"v2")
    assert db.get(b"k1") == b"v1"
    with db.batch() as b:
        b.delete(b"k1")
    assert db.get(b"k1") is None
    assert db.get(b"k2") == b"v2"


def test_batch_is_atomic_on_exception(db: Database) -> None:
    with pytest.raises(RuntimeError):
        with db.batch() as b:
            b.put(b"a", b"1")
            raise RuntimeError("crash mid-batch")
    assert db.get(b"a") is None


def test_nothing_visible_before_the_batch_ends(db: Database) -> None:
    with db.batch() as b:
        b.put(b"x", b"1")
        assert db.get(b"x") is None
    assert db.get(b"x") == b"1"


def test_iterate_prefix_in_key_order(db: Database) -> None:
    with db.batch() as b:
        for k in (b"p:3", b"p:1", b"q:0", b"p:2", b"o:9"):
            b.put(k, k[-1:])
    assert [k for k, _ in db.iterate(b"p:")] == [b"p:1", b"p:2", b"p:3"]
