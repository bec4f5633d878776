"""Lease renewal follows each work source's lease length, so long calls keep short leases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from rappel.clock import VirtualClock
from rappel.config import Settings
from rappel.engine.runtime import Engine
from rappel.store.db import Database
from rappel.store.migrate import upgrade
from rappel.telephony.sim import SimTelephony

CALL_S = 120.0


class LongCalls:
    """A work source whose one item is a call far longer than its lease (a hand-written fake)."""

    name = "long-calls"

    def __init__(self, clock: VirtualClock, lease_s: float) -> None:
        self.clock, self.lease_s = clock, lease_s
        self.claimed = False
        self.renewed_at: list[datetime] = []
        self.finished = False

    def next_due(self) -> datetime | None:
        return None if self.claimed else self.clock.now()

    def claim(self, limit: int) -> list[dict[str, Any]]:
        if self.claimed or limit <= 0:
            return []
        self.claimed = True
        return [{"tenant_id": "T", "id": "CALL"}]

    def key(self, item: dict[str, Any]) -> tuple[str, str]:
        return (item["tenant_id"], item["id"])

    async def run(self, item: dict[str, Any]) -> None:
        await self.clock.sleep(CALL_S)
        self.finished = True

    def renew(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        if list(keys):
            self.renewed_at.append(self.clock.now())
        return set()

    def hand_back(self, keys: Iterable[tuple[str, str]]) -> None:
        pass


def test_a_source_with_a_short_lease_is_renewed_every_third_of_it(tmp_path: Path) -> None:
    # The engine's own lease (callbacks) is 10 minutes; the source's is 6 seconds.
    db = Database(f"sqlite:///{tmp_path / 'hb.db'}")
    upgrade(db)
    clock = VirtualClock()
    settings = Settings(database_url=db.url, secret_key="test-secret", lease_s=600.0)
    source = LongCalls(clock, lease_s=6.0)

    async def main() -> None:
        engine = Engine(db, clock, settings, SimTelephony(clock), grace_s=0.0, idle_poll_s=1.0)
        engine.add_source(source)
        task = asyncio.create_task(engine.run())
        start = clock.now()
        while not source.finished:
            await clock.run_until(clock.now() + timedelta(seconds=0.5))
        engine.stop()
        await clock.advance(0)
        await asyncio.wait_for(task, timeout=10)
        beats = [start, *source.renewed_at]
        gaps = [(b - a).total_seconds() for a, b in pairwise(beats)]
        assert len(source.renewed_at) >= CALL_S / 2 - 1
        assert max(gaps) <= 6.0 / 3 + 0.5

    try:
        asyncio.run(main())
    finally:
        db.dispose()
