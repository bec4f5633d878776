"""Group commit: many requests' writes share one transaction and one commit.

Each job is a function over a Connection. One writer thread takes every job
waiting in the queue (up to `max_batch`), runs them in one transaction (a
failing job rolls back alone, the others stay), commits once, and only then
resolves the callers' futures. So an answer still means "committed": the
durability setting of the database is untouched; what is shared is the commit
(one WAL sync on SQLite, one fsync on PostgreSQL) and the write lock.

Batches form by themselves: while the writer commits, new jobs queue up; under
light load a batch holds one job and no latency is added.

Jobs first run without savepoints, which would cost every job two more
statements (two round trips on PostgreSQL). A failed job that may have left
something behind sends the whole batch round again with one SAVEPOINT per job:
on SQLite, a job that fails after changing rows (the connection's change
counter moved); on PostgreSQL, which aborts the transaction on any error and
keeps no such counter, any failed job. Most failures (bad input) are found
before a job writes, so on SQLite they cost nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, OperationalError

from rappel.domain.errors import RappelError, ServiceUnavailable
from rappel.store.db import Database, value_not_stored

T = TypeVar("T")
Job = Callable[[Connection], Any]
log = logging.getLogger("rappel.store.group_commit")


@dataclass
class _Pending:
    job: Job
    future: Future[Any]


class GroupCommitter:
    """A batching write queue in front of one Database."""

    def __init__(self, db: Database, *, max_batch: int = 128) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.jobs = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._thread = threading.Thread(target=self._loop, name="rappel-group-commit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout=10)
        self._thread = None

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        if not self.running:
            future.set_exception(ServiceUnavailable("the writer is not running"))
            return future
        self._queue.put(_Pending(job, future))
        return future

    async def run(self, job: Callable[[Connection], T]) -> T:
        """Run `job` in the next batch; returns once its batch is committed."""
        return await asyncio.wrap_future(self.submit(job))

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            try:
                outcomes = self._attempt(batch, guarded=False)
            except _PartialWrite:
                outcomes = self._attempt(batch, guarded=True)
        except RappelError as exc:
            _fail_all(batch, exc)
            return
        except Exception as exc:  # the commit itself failed: nothing of the batch is stored
            log.exception("group commit failed")
            _fail_all(batch, ServiceUnavailable(f"the database refused the commit: {exc}"))
            return
        self.batches += 1
        self.jobs += len(batch)
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                pending.future.set_result(value)
            else:
                pending.future.set_exception(value)

    def _attempt(self, batch: list[_Pending], *, guarded: bool) -> list[tuple[bool, Any]]:
        with self.db.begin() as conn:
            if guarded:
                return [_run_one(conn, pending.job) for pending in batch]
            counter = None if self.db.is_postgres else conn.connection.dbapi_connection
            return [_run_bare(conn, counter, pending.job) for pending in batch]


class _PartialWrite(Exception):
    """A job failed after changing rows, and had no savepoint to undo them."""


def _run_bare(conn: Connection, counter: Any | None, job: Job) -> tuple[bool, Any]:
    """`counter`: the sqlite3 connection (its `total_changes`), or None when there is none."""
    before = counter.total_changes if counter is not None else 0
    try:
        return True, job(conn)
    except Exception as exc:
        if counter is None or counter.total_changes != before:
            raise _PartialWrite from exc
        return False, _answer_for(exc)


def _run_one(conn: Connection, job: Job) -> tuple[bool, Any]:
    try:
        with conn.begin_nested():
            return True, job(conn)
    except Exception as exc:  # one job's failure is that job's answer, not the batch's
        return False, _answer_for(exc)


def _answer_for(exc: Exception) -> Exception:
    if isinstance(exc, OperationalError):
        return ServiceUnavailable(f"the database is not available: {exc.orig}")
    if isinstance(exc, DataError | OverflowError):
        # As Database.begin answers it: a value the database cannot hold is bad input
        # (PostgreSQL says DataError; SQLite's driver, OverflowError for a huge integer).
        return value_not_stored()
    return exc


def _fail_all(batch: list[_Pending], error: BaseException) -> None:
    for pending in batch:
        if not pending.future.done():
            pending.future.set_exception(error)


async def run_write(
    db: Database, committer: GroupCommitter | None, job: Callable[[Connection], T]
) -> T:
    """Run `job` in a committed transaction: grouped when a committer runs, else on its own."""
    if committer is not None and committer.running:
        return await committer.run(job)

    def alone() -> T:
        with db.begin() as conn:
            return job(conn)

    return await asyncio.to_thread(alone)
