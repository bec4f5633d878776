"""The Clock port: wall time in production, virtual time in tests and simulations.

Every component that needs "now" or needs to wait takes a Clock, so that a whole
simulated day runs in seconds with the same code.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time (timezone-aware UTC) and waits."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when told to.

    `sleep` parks the caller until `advance` (or `run_until`) moves time past its
    wake-up; sleepers wake in time order, and the event loop gets to run between
    wake-ups so that work they trigger happens at the right virtual instant.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self._origin = self._now
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return (self._now - self._origin).total_seconds()

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake = self._now + timedelta(seconds=max(0.0, seconds))
        heapq.heappush(self._sleepers, (wake, next(self._seq), future))
        await future

    def next_wakeup(self) -> datetime | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, when: datetime) -> None:
        """Jump without waking anyone (for synchronous tests)."""
        self._now = when

    async def advance(self, seconds: float) -> None:
        await self.run_until(self._now + timedelta(seconds=seconds))

    async def run_until(self, target: datetime) -> None:
        await _settle()
        while True:
            wake = self.next_wakeup()
            if wake is None or wake > target:
                break
            _, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, wake)
            if not future.done():
                future.set_result(None)
            await _settle()
        self._now = max(self._now, target)
        await _settle()


async def _settle(rounds: int = 20) -> None:
    # Let woken tasks run until they park again on the clock or on I/O.
    for _ in range(rounds):
        await asyncio.sleep(0)
