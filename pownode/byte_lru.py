"""A cache of what the API renders or builds from committed blocks, by height, bounded by what
its entries hold: a committed block never changes, so what many clients ask of it is made once,
and the least recently asked goes first once the bound is passed."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, TypeVar

V = TypeVar("V")


class ByteLru(Generic[V]):
    """Entries by height, `size(entry)` bytes each, at most `max_bytes` together (an entry
    larger than all of it is not kept)."""

    def __init__(self, max_bytes: int, size: Callable[[V], int]) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._size = size
        self._entries: OrderedDict[int, tuple[V, int]] = OrderedDict()

    def get(self, height: int) -> V | None:
        found = self._entries.get(height)
        if found is None:
            return None
        self._entries.move_to_end(height)
        return found[0]

    def put(self, height: int, entry: V) -> None:
        size = self._size(entry)
        if height in self._entries or size > self.max_bytes:
            return
        self._entries[height] = (entry, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, old) = self._entries.popitem(last=False)
            self.bytes -= old
