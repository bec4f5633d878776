"""When to try an outbound delivery again: exponential backoff with jitter.

Pure: the random source and "now" are passed in, so a seeded `random.Random`
gives the same schedule every run.

After the n-th failed attempt (n = 1, 2, ...), the base delay is
`min(cap_s, base_s * factor ** (n - 1))`, then spread uniformly by
`+/- jitter` of itself (so many deliveries failing together do not retry in
lockstep), and capped again. After `max_attempts` attempts there is no next one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff schedule; `random` returns floats in [0, 1)."""

    random: Callable[[], float]
    base_s: float = 10.0
    factor: float = 2.0
    cap_s: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 10

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("retry policy needs 0 < base_s <= cap_s")
        if self.factor < 1:
            raise ValueError("retry policy factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry policy jitter must be between 0 and 1")
        if self.max_attempts < 1:
            raise ValueError("retry policy needs at least one attempt")

    def delay_s(self, attempt_no: int) -> float:
        """Seconds to wait after failed attempt `attempt_no` (1-based)."""
        base = self.base_s
        for _ in range(min(max(attempt_no - 1, 0), 64)):
            base = min(self.cap_s, base * self.factor)
        spread = 1 + self.jitter * (2 * self.random() - 1)
        return min(self.cap_s, base * spread)

    def next_attempt_at(self, attempt_no: int, now: datetime) -> datetime | None:
        """When to make attempt `attempt_no + 1`, or None when attempts are used up."""
        if attempt_no >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay_s(attempt_no))
