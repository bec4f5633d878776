"""What a SQLite connection promises about acknowledged commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from rappel.store.db import WAL_CHECKPOINT_PAGES, Database

# PRAGMA synchronous reads back as a number.
_LEVEL = {"NORMAL": 1, "FULL": 2, "EXTRA": 3}


@pytest.mark.parametrize("mode", ["NORMAL", "FULL", "EXTRA"])
def test_every_pooled_connection_uses_the_configured_sync_mode(tmp_path: Path, mode: str) -> None:
    db = Database(f"sqlite:///{tmp_path}/d.db", sqlite_synchronous=mode)
    try:
        with db.begin() as one, db.read() as two:
            for conn in (one, two):
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == _LEVEL[mode]
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                checkpoint = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
                assert checkpoint == WAL_CHECKPOINT_PAGES
    finally:
        db.dispose()


def test_the_default_syncs_every_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/d.db")
    try:
        with db.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == _LEVEL["FULL"]
    finally:
        db.dispose()


def test_an_unknown_mode_is_refused_before_any_connection(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="OFF"):
        Database(f"sqlite:///{tmp_path}/d.db", sqlite_synchronous="OFF")
