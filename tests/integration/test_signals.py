"""Wake-ups: a committed change wakes the engine once; a rolled-back one never does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection

from rappel.store.db import Database
from rappel.store.group_commit import GroupCommitter
from rappel.store.signals import CHANNEL, add_local_waker, remove_local_waker, work_changed

Listener = psycopg.Connection[Any] | None


class Boom(Exception):
    pass


@pytest.fixture
def wakes() -> Iterator[list[int]]:
    seen: list[int] = []

    def waker() -> None:
        seen.append(1)

    add_local_waker(waker)
    yield seen
    remove_local_waker(waker)


@pytest.fixture
def listener(db: Database) -> Iterator[Listener]:
    if not db.is_postgres:
        yield None
        return
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


def notifications(listener: Listener) -> int | None:
    if listener is None:
        return None
    return sum(1 for _ in listener.notifies(timeout=0.3))


def test_a_committed_change_wakes_once(db: Database, wakes: list[int], listener: Listener) -> None:
    with db.begin() as conn:
        work_changed(conn)
        work_changed(conn)
    assert wakes == [1]
    assert notifications(listener) in (None, 1)


def test_a_rolled_back_change_wakes_nobody_then_or_later(
    db: Database, wakes: list[int], listener: Listener
) -> None:
    def failing() -> None:
        with db.begin() as conn:
            work_changed(conn)
            raise Boom

    with pytest.raises(Boom):
        failing()
    for _ in range(12):  # every pooled connection, the failed one's included: no change
        with db.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
    assert wakes == []
    assert notifications(listener) in (None, 0)


def test_a_grouped_commit_wakes_once_for_all_its_writes(
    db: Database, wakes: list[int], listener: Listener
) -> None:
    committer = GroupCommitter(db)
    committer.start()
    try:

        def job(conn: Connection) -> None:
            work_changed(conn)

        async def submit_together() -> None:
            await asyncio.gather(*(committer.run(job) for _ in range(5)))

        asyncio.run(submit_together())
    finally:
        committer.stop()
    assert 1 <= len(wakes) <= 5
    assert len(wakes) == committer.batches
    assert notifications(listener) in (None, *range(1, committer.batches + 1))
