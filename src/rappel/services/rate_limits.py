"""In-process sliding-window counters, shared by the widget limits and the sign-in throttle.

Each process counts on its own: with N API nodes behind a load balancer a
client may get up to N times a limit.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque

from rappel.clock import Clock

#: Keys a limiter remembers at most; past this the idle ones go, then the oldest.
MAX_KEYS = 100_000


class SlidingWindowLimiter:
    """At most `limit` hits per key in any `window_s` seconds (timestamps kept per key)."""

    def __init__(self, limit: int, window_s: float, clock: Clock) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> bool:
        """Count one hit for `key`; False (and nothing counted) when the limit is reached."""
        now = self._clock.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            self._expire(hits, now)
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > MAX_KEYS:
                self._trim(now)
            return True

    def retry_after(self, key: str) -> int:
        """Seconds until `key` may hit again (0 when it may now)."""
        now = self._clock.monotonic()
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                self._expire(hits, now)
            if not hits or len(hits) < self.limit:
                return 0
            return max(1, int(hits[0] + self.window_s - now) + 1)

    def forget(self, key: str) -> None:
        """Drop every hit counted for `key`."""
        with self._lock:
            self._hits.pop(key, None)

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()

    def _trim(self, now: float) -> None:
        # Keeps memory bounded under a flood of distinct keys. When they are all live,
        # the oldest go too, so this scan runs once per tenth of MAX_KEYS new keys.
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
            del self._hits[key]
        excess = len(self._hits) - MAX_KEYS * 9 // 10
        for key in list(itertools.islice(self._hits, max(0, excess))):
            del self._hits[key]
