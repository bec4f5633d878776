"""The trunk's limits and health: how many calls at once, how many new calls a second, alive or not.

Plain code on an injected monotonic time, so the rules are tested without a
network. A call the limits refuse is never placed (`TrunkBusy`): the engine
keeps the attempt as not dialled, so it does not count against the customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rappel.telephony.port import TrunkBusy


@dataclass
class TrunkLimits:
    """At most `max_calls` calls at once, and `calls_per_second` starts (a token bucket).

    The bucket holds at most one second's worth of starts, so a burst never
    exceeds what the carrier allows in any one second.
    """

    max_calls: int
    calls_per_second: float
    active: int = 0
    _tokens: float = field(default=-1.0, repr=False)
    _refilled_at: float | None = field(default=None, repr=False)

    def take(self, now_mono: float) -> None:
        """Reserve room for one new call; raise `TrunkBusy` when there is none."""
        burst = max(1.0, self.calls_per_second)
        if self._refilled_at is None:
            self._tokens, self._refilled_at = burst, now_mono
        elapsed = max(0.0, now_mono - self._refilled_at)
        self._tokens = min(burst, self._tokens + elapsed * self.calls_per_second)
        self._refilled_at = now_mono
        if self.active >= self.max_calls:
            raise TrunkBusy(f"the trunk has {self.active} calls, its limit")
        if self._tokens < 1.0:
            raise TrunkBusy(f"the trunk takes {self.calls_per_second:g} new calls a second")
        self._tokens -= 1.0
        self.active += 1

    def release(self) -> None:
        """A call through the trunk is over."""
        self.active = max(0, self.active - 1)


@dataclass
class TrunkHealth:
    """What the last OPTIONS probe of the trunk saw; read by /readyz and /metrics."""

    uri: str = ""
    #: None until the first probe has answered or timed out.
    alive: bool | None = None
    last_status: int | None = None
    checked_at: datetime | None = None
    active_calls: int = 0

    def record(self, status: int | None, at: datetime) -> None:
        # Any answer, even 404 or 405, shows the trunk is there and speaking SIP.
        self.alive = status is not None
        self.last_status = status
        self.checked_at = at

    def as_dict(self) -> dict[str, object]:
        state = "unknown" if self.alive is None else ("up" if self.alive else "down")
        return {
            "trunk": state,
            "last_status": self.last_status,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "active_calls": self.active_calls,
        }
