"""Test databases: a SQLite file and a throw-away PostgreSQL database, both migrated."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from rappel.store.db import Database
from rappel.store.migrate import upgrade
from rappel.store.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "RAPPEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards.

    In CI an unreachable PostgreSQL fails the run; elsewhere the PostgreSQL half is skipped.
    """
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"rappel_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI and did not answer: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def migrated(backend: str, tmp_dir: Path) -> Iterator[Database]:
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_dir / 'rappel-test.db'}")
        upgrade(db)
        yield db
        db.dispose()
        return
    with postgres_database() as url:
        db = Database(url)
        upgrade(db)
        yield db
        db.dispose()


def wipe(db: Database) -> None:
    """Empty every table, children first, so each test starts from nothing.

    `tenancy_version` is the triggers' counter, not data: it keeps its row.
    """
    names = [t.name for t in reversed(metadata.sorted_tables) if t.name != "tenancy_version"]
    with db.begin() as conn:
        if db.is_postgres:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE"))
        else:
            for name in names:
                conn.execute(text(f'DELETE FROM "{name}"'))
