"""Hypothesis strategies derived from the records' own schemas, so every type is covered."""

from __future__ import annotations

from hypothesis import strategies as st

from ledger.encoding import Bin, Codec, ListOf, Nested, Record, SInt, Tagged, Text, UInt, Value


def for_codec(codec: Codec) -> st.SearchStrategy:
    if isinstance(codec, UInt):
        return st.integers(0, codec.max)
    if isinstance(codec, SInt):
        return st.integers(codec.min, codec.max)
    if isinstance(codec, Bin):
        return st.binary(min_size=codec.min_len, max_size=max(codec.min_len, min(codec.max_len, 48)))
    if isinstance(codec, Text):
        return st.text(min_size=codec.min_len, max_size=min(codec.max_bytes // 4, 24)).filter(
            lambda s: codec.min_len <= len(s.encode()) <= codec.max_bytes
        )
    if isinstance(codec, ListOf):
        return st.lists(for_codec(codec.item), max_size=min(codec.max_items, 4)).map(tuple)
    if isinstance(codec, Nested):
        return records(codec.cls)
    if isinstance(codec, Tagged):
        return st.one_of([records(cls) for cls in codec.by_tag.values()])
    if isinstance(codec, Value):
        return _values(codec.max_depth)
    raise TypeError(f"no strategy for {codec!r}")


def _values(depth: int) -> st.SearchStrategy:
    scalar = st.one_of(st.integers(Value.INT_MIN, Value.INT_MAX), st.binary(max_size=16), st.text(max_size=8))
    if depth == 0:
        return scalar
    return st.one_of(scalar, st.lists(_values(depth - 1), max_size=3).map(tuple))


def records(cls: type[Record]) -> st.SearchStrategy:
    return st.builds(cls, *[for_codec(c) for c in cls._codecs])


def all_record_types() -> list[type[Record]]:
    found: list[type[Record]] = []
    todo = list(Record.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)
