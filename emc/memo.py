"""A small bounded memo shared by a process's request threads: the least recently used entry goes first.

For what is a pure function of a stored, immutable row (a stored M&V result decoded, its charts drawn): the
key names the row's version (its fingerprint and when it was computed), so a changed input is a different
key and an entry is never stale, only unused. Bounded so a worker's memory does not grow with the portfolio.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``, made (outside the lock: two threads may both make it, one is kept) if absent."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
