"""Bulk writes: many rows into one table with the least work per row.

SQLite runs one prepared INSERT over all rows inside the driver (in-process,
no round trips). PostgreSQL streams the rows with `COPY ... FROM STDIN`, one
round trip per table instead of one statement per row. Either way the values
go through the columns' own bind processors first (JSON serialisation,
UTC time handling), so a row is stored exactly as `insert(table)` would store
it, without SQLAlchemy building a parameter dictionary per row.

Driver errors are raised as SQLAlchemy's DBAPIError subclasses, as from any
other statement, so `Database.begin` maps them the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import psycopg
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

Processor = Callable[[Any], Any]
_UNSEEN = object()


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dictionaries with the same keys, column names) into `table`."""
    if not rows:
        return
    names = list(rows[0])
    values = _bound_values(conn, table, names, rows)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    if conn.dialect.name == "postgresql":
        _copy(conn, f"COPY {quote(table.name)} ({columns}) FROM STDIN", values)
    else:
        marks = ", ".join("?" for _ in names)
        conn.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", values
        )


def _bound_values(
    conn: Connection, table: Table, names: list[str], rows: Sequence[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    dialect = conn.dialect
    processors: list[tuple[int, Processor]] = []
    for index, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors.append((index, processor))
    get = itemgetter(*names)
    if len(names) == 1:
        return [(get(row),) for row in rows]
    if not processors:
        return [get(row) for row in rows]
    # Rows of one batch share values (the batch's timestamps, None): process each
    # distinct object once per column instead of once per row.
    last: list[Any] = [_UNSEEN] * len(processors)
    done: list[Any] = [None] * len(processors)
    out = []
    for row in rows:
        value = list(get(row))
        for slot, (index, process) in enumerate(processors):
            given = value[index]
            if given is not last[slot]:
                last[slot], done[slot] = given, process(given)
            value[index] = done[slot]
        out.append(tuple(value))
    return out


def _copy(conn: Connection, statement: str, values: list[tuple[Any, ...]]) -> None:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for value in values:
                copy.write_row(value)
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            statement, None, exc, psycopg.Error, dialect=conn.dialect
        ) from exc
