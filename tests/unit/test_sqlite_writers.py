"""Writers of one process take turns on SQLite's single write lock."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rappel.domain.errors import ServiceUnavailable
from rappel.store import db as db_module
from rappel.store.db import Database


def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path}/w.db")
    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO counter VALUES (0)")
    return db


def test_concurrent_writers_each_see_the_commit_before_theirs(tmp_path: Path) -> None:
    db = _database(tmp_path)
    errors: list[BaseException] = []

    def add(times: int) -> None:
        try:
            for _ in range(times):
                with db.begin() as conn:
                    n = conn.exec_driver_sql("SELECT n FROM counter").scalar_one()
                    conn.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    writers = [threading.Thread(target=add, args=(25,)) for _ in range(6)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    try:
        assert errors == []
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT n FROM counter").scalar_one() == 150
    finally:
        db.dispose()


def test_a_writer_that_gets_no_turn_is_refused_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database(tmp_path)
    monkeypatch.setattr(db_module, "SQLITE_LOCK_WAIT_S", 0.2)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.begin() as conn:
            conn.exec_driver_sql("UPDATE counter SET n = 1")
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(ServiceUnavailable), db.begin() as conn:
            conn.exec_driver_sql("UPDATE counter SET n = 99")
    finally:
        release.set()
        holder.join()
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("SELECT n FROM counter").scalar_one() == 1
    finally:
        db.dispose()
