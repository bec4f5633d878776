"""Database engine: SQLite (WAL) by default, PostgreSQL for scale-out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.pool import QueuePool

from rappel.config import SQLITE_SYNCHRONOUS
from rappel.domain.errors import ServiceUnavailable, ValidationFailed
from rappel.store import signals


def normalise_url(url: str) -> str:
    """Map plain postgresql:// URLs onto the psycopg 3 driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


WAL_CHECKPOINT_PAGES = 10_000
#: Seconds a SQLite writer waits for the write lock, in this process and in SQLite.
SQLITE_LOCK_WAIT_S = 10


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    if synchronous not in SQLITE_SYNCHRONOUS:
        raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL syncs the WAL at every commit, so an acknowledged write survives a power
        # cut; group commit makes that one sync per batch of requests, not per request.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_WAIT_S * 1000}")
        # Checkpoint every ~40 MB of WAL rather than SQLite's 4 MB: a page written by
        # many small commits (an index leaf) is copied back once, not once per 4 MB.
        # OBI customers/list at 200,000 customers: +25 % rows/s.
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        cursor.close()

    return on_connect


def value_not_stored() -> ValidationFailed:
    """A write the database refused as data (NUL in text, out-of-range numbers): bad input."""
    return ValidationFailed("body", "a value cannot be stored (NUL character or out of range)")


class Database:
    """One engine and the transactions opened on it."""

    def __init__(self, url: str, *, pool_size: int = 10, sqlite_synchronous: str = "FULL") -> None:
        self.url = normalise_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.dialect == "sqlite":
            self.engine: Engine = create_engine(
                self.url,
                poolclass=QueuePool,
                pool_size=pool_size,
                connect_args={"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT_S},
            )
            event.listen(self.engine, "connect", _sqlite_pragmas(sqlite_synchronous))
            # SQLite's driver opens transactions lazily; BEGIN IMMEDIATE avoids upgrade deadlocks.
            event.listen(self.engine, "begin", _begin)
        elif self.dialect == "postgresql":
            self.engine = create_engine(self.url, pool_size=pool_size, pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported database: {self.dialect} (use sqlite or postgresql)")
        # SQLite has one write lock, and a writer that finds it taken sleeps in SQLite's
        # busy handler (1, 2, 5, 10 ... ms) and retries, so concurrent writers of one
        # process lost turns and time. They queue on this lock instead, and each gets the
        # database as the one before commits (other processes still meet the handler).
        self._writer = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on error."""
        with self._write_turn():
            with self._transaction() as conn:
                yield conn

    @contextmanager
    def _write_turn(self) -> Iterator[None]:
        if self._writer is None:
            yield
            return
        if not self._writer.acquire(timeout=SQLITE_LOCK_WAIT_S):
            raise ServiceUnavailable(
                f"the database is busy: no write turn in {SQLITE_LOCK_WAIT_S} s"
            )
        try:
            yield
        finally:
            self._writer.release()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        wake = False
        try:
            with self.engine.begin() as conn:
                conn.info.pop(signals.WAKE, None)  # left by a transaction that failed
                yield conn
                wake = bool(conn.info.pop(signals.WAKE, False))
                if wake and self.is_postgres:
                    signals.notify(conn)
        except OperationalError as exc:
            raise ServiceUnavailable("the database is not available") from exc
        except DataError as exc:
            raise value_not_stored() from exc
        if wake:
            signals.fire_local_wakers()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect().execution_options(rappel_read=True) as conn:
                yield conn
        except OperationalError as exc:
            raise ServiceUnavailable("the database is not available") from exc
        except DataError as exc:
            # A value the database cannot compare (NUL in text, out of range) is bad input,
            # as it is for a write (see _transaction): not a server fault.
            raise ValidationFailed(
                "request", "a value cannot be looked up (NUL character or out of range)"
            ) from exc

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except OperationalError:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _begin(conn: Connection) -> None:
    # Writers take the write lock up front so two writers never deadlock on lock upgrade.
    if conn.get_execution_options().get("rappel_read"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def upsert_into(conn: Connection, table: Table) -> Any:
    """An INSERT of `table` that takes ON CONFLICT, in the dialect of `conn`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
