"""A peer's gossip frame is decoded element by element: nested msgpack costs no more memory than
its bytes, and a well-formed batch decodes as before."""

from __future__ import annotations

import tracemalloc

import pytest

from ledger.encoding import pack
from ledger.errors import DecodeError
from pownode.tx_reactor import TX_BATCH, decode_batch


def _nested_empty_arrays(outer: int, width: int = 20_000) -> bytes:
    """An array of `outer` arrays of `width` empty arrays: one byte each on the wire."""
    inner = b"\xdc" + width.to_bytes(2, "big") + b"\x90" * width
    return b"\xdd" + outer.to_bytes(4, "big") + inner * outer


@pytest.mark.parametrize("payload", [
    _nested_empty_arrays(100),  # 2 MB of nested empty arrays: 130 MB of lists when built
    b"\xdd" + (2_000_000).to_bytes(4, "big") + b"\x00" * 2_000_000,  # two million integers
    pack([b"\1" * 10] * 5 + [[b"\2"] * 60_000]),  # a list inside a list
])
def test_a_frame_of_nested_or_huge_msgpack_is_refused_without_building_it(payload: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            decode_batch(payload, 64 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(payload) + 1024 * 1024


def test_a_batch_decodes_to_its_encoded_transactions() -> None:
    raws = [bytes([i]) * (i + 1) for i in range(200)]
    assert decode_batch(pack(TX_BATCH.wire(raws)), 1 << 20) == raws
    for bad in (pack(raws) + b"\0", pack([1, 2]), pack(b"x"), pack(["text"]), pack([b"\0" * (80 * 1024 + 1)])):
        with pytest.raises(DecodeError):
            decode_batch(bad, 1 << 20)
    with pytest.raises(DecodeError):
        decode_batch(pack(raws), 100)  # over the frame's bound
