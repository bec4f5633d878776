"""Wake-ups between API nodes and engine workers.

A write that creates or moves due work calls `work_changed(conn)` inside its
transaction. On PostgreSQL the transaction then ends with one NOTIFY that every
worker LISTENs to (delivered only if the transaction commits), however many
writes of a grouped commit asked for it; in one process the engine also
registers an in-process waker, fired after the commit. Polling stays the
fallback, so a lost wake-up only delays work, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from sqlalchemy import Connection, text

CHANNEL = "rappel_work"
#: The transaction's flag, in its connection's info, that work changed.
WAKE = "rappel_wake"

_local_wakers: list[Callable[[], None]] = []


def add_local_waker(waker: Callable[[], None]) -> None:
    _local_wakers.append(waker)


def remove_local_waker(waker: Callable[[], None]) -> None:
    if waker in _local_wakers:
        _local_wakers.remove(waker)


def work_changed(conn: Connection) -> None:
    # Database.begin sends the NOTIFY before the commit and runs the local wakers after
    # it, so a woken engine sees the row.
    conn.info[WAKE] = True


def notify(conn: Connection) -> None:
    conn.execute(text(f"NOTIFY {CHANNEL}"))


def fire_local_wakers() -> None:
    for waker in list(_local_wakers):
        waker()


def threadsafe_waker(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> Callable[[], None]:
    """A callable that sets `event` on `loop` from any thread."""

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
            if _running_in(loop):
                event.set()
            else:
                loop.call_soon_threadsafe(event.set)

    return wake


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
