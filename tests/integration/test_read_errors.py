"""How `Database.read()` reports driver errors: bad values are the caller's, not the server's."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from rappel.domain.errors import ServiceUnavailable, ValidationFailed
from rappel.store.db import Database
from rappel.store.tables import interactions


def test_a_value_the_database_refuses_is_a_validation_error(db: Database) -> None:
    # Each database's own DataError: PostgreSQL text cannot hold NUL; SQLite refuses a
    # blob over its 1 GB length limit (before allocating it).
    if db.is_postgres:
        query = select(interactions.c.id).where(interactions.c.customer_number == "\x00")
    else:
        query = select(text("zeroblob(2000000000)"))
    with pytest.raises(ValidationFailed) as caught, db.read() as conn:
        conn.execute(query)
    assert "NUL character or out of range" in caught.value.message


def test_an_unusable_database_is_still_unavailable(db: Database) -> None:
    # SQLite: a malformed JSON path; PostgreSQL: a cancelled statement. Both OperationalError.
    if db.is_postgres:
        query = text("SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
    else:
        query = text("""SELECT json_extract('{}', '$."a')""")
    with pytest.raises(ServiceUnavailable), db.read() as conn:
        conn.execute(query)
