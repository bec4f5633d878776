"""Wake-ups between API nodes and engine workers.

A write that creates or moves due work calls `work_changed(conn)` inside its
transaction. On PostgreSQL this is a NOTIFY that every worker LISTENs to (it is
delivered only if the transaction commits); in one process the engine also
registers an in-process waker. Polling stays the fallback, so a lost wake-up
only delays work, never loses it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

CHANNEL = "rappel_work"

_local_wakers: list[Callable[[], None]] = []


def add_local_waker(waker: Callable[[], None]) -> None:
    _local_wakers.append(waker)


def remove_local_waker(waker: Callable[[], None]) -> None:
    if waker in _local_wakers:
        _local_wakers.remove(waker)


def work_changed(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {CHANNEL}"))
    # Local wakers run after the commit (Database.begin), so the engine sees the row.
    conn.info["rappel_wake"] = True


def fire_local_wakers() -> None:
    for waker in list(_local_wakers):
        waker()
