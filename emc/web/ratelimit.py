"""Failed-login throttling: a sliding window per username, and a looser one per client address
(a whole office may sit behind one NAT address, so it gets four times the allowance).

In-process: with several web workers each keeps its own window, so the effective limit is
``workers × max_failures`` (documented in the README's operations section).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    def __init__(self, max_failures: int, window_s: int) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        window = self._failures[key]
        while window and window[0] <= now - self.window_s:
            window.popleft()
        return window

    def _limit(self, key: str) -> int:
        return self.max_failures * 4 if key.startswith("ip:") else self.max_failures

    def retry_after(self, *keys: str) -> int:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [int(w[-self._limit(k)] + self.window_s - now) + 1 for k in keys
                     if len(w := self._recent(k, now)) >= self._limit(k)]
        return max(waits, default=0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
