"""Claims: a worker takes due interactions with a short lease, and hears about new work.

A claim writes the worker's name and a deadline on the row, and moves `due_at`
to that deadline. While the worker holds the row it renews the lease (a
heartbeat); if the worker dies, the row simply becomes due again when the
lease runs out and the next claim takes it over. There are no locks held
across calls and no separate "expired lease" sweep.

PostgreSQL: `UPDATE ... WHERE (tenant_id, id) IN (SELECT ... FOR UPDATE SKIP
LOCKED LIMIT n) RETURNING *`, so any number of workers claim disjoint rows;
workers LISTEN on `rappel_work` and poll as the fallback. SQLite: one writer
at a time (BEGIN IMMEDIATE) and one worker process, so at start every lease
found is a dead process's and is taken over at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update

from rappel.clock import Clock
from rappel.store.db import Database
from rappel.store.signals import CHANNEL
from rappel.store.tables import interactions

log = logging.getLogger(__name__)
_t = interactions


class Leases:
    """Claims, renewals and releases of interactions for one worker (`owner`)."""

    def __init__(self, db: Database, clock: Clock, owner: str, lease_s: float) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.db, self.clock, self.owner = db, clock, owner
        self.lease = timedelta(seconds=lease_s)

    def claim(self, limit: int) -> list[dict[str, Any]]:
        """Take up to `limit` due interactions, earliest due first."""
        if limit <= 0:
            return []
        now = self.clock.now()
        until = now + self.lease
        due = select(_t.c.tenant_id, _t.c.id).where(_t.c.due_at <= now).order_by(_t.c.due_at)
        due = due.limit(limit)
        if self.db.is_postgres:
            due = due.with_for_update(skip_locked=True)
        query = (
            update(_t)
            .where(tuple_(_t.c.tenant_id, _t.c.id).in_(due.scalar_subquery()))
            .values(lease_owner=self.owner, lease_until=until, due_at=until)
            .returning(*_t.c)
        )
        with self.db.begin() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        rows.sort(key=lambda r: r["updated_at"])
        return rows

    def renew(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Extend the leases on `keys`; returns the keys this worker no longer holds."""
        wanted = set(keys)
        if not wanted:
            return set()
        until = self.clock.now() + self.lease
        held: set[tuple[str, str]] = set()
        with self.db.begin() as conn:
            result = conn.execute(
                update(_t)
                .where(tuple_(_t.c.tenant_id, _t.c.id).in_(list(wanted)))
                .where(_t.c.lease_owner == self.owner)
                .values(lease_until=until, due_at=until)
                .returning(_t.c.tenant_id, _t.c.id)
            )
            held = {(r[0], r[1]) for r in result}
        return wanted - held

    def take_over_all(self) -> int:
        """SQLite only: at start, every lease belongs to a process that is gone."""
        now = self.clock.now()
        with self.db.begin() as conn:
            result = conn.execute(
                update(_t)
                .where(_t.c.lease_owner.is_not(None), _t.c.lease_owner != self.owner)
                .values(due_at=now)
            )
            return int(result.rowcount or 0)


class PostgresListener:
    """LISTEN on `rappel_work` in a thread; each notification calls `wake` (thread-safe)."""

    def __init__(self, url: str, wake: Callable[[], None]) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rappel-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake()  # anything sent while we were not listening
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=64):
                            self._wake()
            except psycopg.Error as exc:
                # Polling still finds the work; LISTEN comes back when the database does.
                log.warning("LISTEN connection lost (%s); polling until it is back", exc)
                self._stop.wait(1.0)


def lease_deadline(row: dict[str, Any]) -> datetime | None:
    value: datetime | None = row.get("lease_until")
    return value
