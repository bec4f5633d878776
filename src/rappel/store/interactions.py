"""Queries for callback interactions and the customer records behind them.

Every query names its tenant. List filters ride on the indexes of
`interactions` ((tenant, start_date), (tenant, customer_number, start_date),
(tenant, idempotency_key)) and of `session_parameters` ((tenant, name, value)).
Intake's duplicate check and per-number limit read one number's open and recent
requests; the per-tenant limit reads and bumps one row of `intake_counts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from rappel.domain.codes import InteractionStatus
from rappel.store.customers import attribute_rows
from rappel.store.tables import (
    customer_attributes,
    customers,
    intake_counts,
    interactions,
    session_parameters,
)

_STOPPED = int(InteractionStatus.STOPPED)


@dataclass(frozen=True)
class InteractionFilter:
    """What `list_interactions` may filter on; every field is optional."""

    status: int | None = None
    callback_status: int | None = None
    customer_number: str | None = None
    start_date_from: datetime | None = None
    start_date_to: datetime | None = None
    start_time_from: datetime | None = None
    start_time_to: datetime | None = None
    #: user data key -> value (`udata.<key>=<value>`)
    udata: dict[str, str] = field(default_factory=dict)
    #: saved data-dip parameter name -> value (`param.<name>=<value>`)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the (start_date, id) of the last row of the previous page."""

    start_date: datetime
    interaction_id: str


# Statements built once with bind parameters: SQLAlchemy then reuses their compiled
# form, which matters on the intake path (a fresh `.values(**row)` costs more than the SQL).
_INSERT_CUSTOMER = insert(customers)
_INSERT_INTERACTION = insert(interactions)
# A number's open requests and its recent ones, oldest first: the duplicate check and
# the per-number limit read them in one pass over ix_interactions_number.
_NUMBER_REQUESTS = (
    select(interactions)
    .where(
        interactions.c.tenant_id == bindparam("tenant_id"),
        interactions.c.customer_number == bindparam("number"),
        or_(interactions.c.status != _STOPPED, interactions.c.start_date >= bindparam("since")),
    )
    .order_by(interactions.c.start_date)
)


def insert_customer(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(_INSERT_CUSTOMER, values)


def insert_customer_attributes(
    conn: Connection,
    tenant_id: str,
    customer_id: str,
    pairs: Sequence[tuple[str, str]],
    *,
    campaign_id: str | None,
    external_id: str,
) -> None:
    """The customer's attribute rows; `campaign_id` and `external_id` are the customer's."""
    if not pairs:
        return
    rows = attribute_rows(
        tenant_id, customer_id, pairs, campaign_id=campaign_id, external_id=external_id
    )
    conn.execute(insert(customer_attributes), rows)


def insert_interaction(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(_INSERT_INTERACTION, values)


def get_interaction(conn: Connection, tenant_id: str, interaction_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(interactions).where(
                interactions.c.tenant_id == tenant_id, interactions.c.id == interaction_id
            )
        )
        .mappings()
        .first()
    )


def find_by_idempotency_key(conn: Connection, tenant_id: str, key: str) -> RowMapping | None:
    return (
        conn.execute(
            select(interactions).where(
                interactions.c.tenant_id == tenant_id, interactions.c.idempotency_key == key
            )
        )
        .mappings()
        .first()
    )


def requests_for_number(
    conn: Connection, tenant_id: str, customer_number: str, since: datetime
) -> list[RowMapping]:
    """A number's requests that are still open or started at or after `since`, oldest first."""
    args = {"tenant_id": tenant_id, "number": customer_number, "since": since}
    return list(conn.execute(_NUMBER_REQUESTS, args).mappings())


def _count_upsert(dialect: Any) -> Any:
    row = {"tenant_id": bindparam("tenant_id"), "hour": bindparam("hour"), "requests": 1}
    return (
        dialect.insert(intake_counts)
        .values(row)
        .on_conflict_do_update(
            index_elements=["tenant_id", "hour"],
            set_={"requests": intake_counts.c.requests + 1},
            # At the limit the row is left alone and nothing is returned: a refusal writes nothing.
            where=intake_counts.c.requests < bindparam("limit"),
        )
        .returning(intake_counts.c.requests)
    )


_COUNT_UPSERT = {"postgresql": _count_upsert(postgresql), "sqlite": _count_upsert(sqlite)}
#: Hour counts older than this are dropped when a tenant starts a new hour.
COUNT_RETENTION = timedelta(days=2)


def count_tenant_request(conn: Connection, tenant_id: str, hour: datetime, limit: int) -> bool:
    """Count one more request of a tenant in the clock hour `hour`, unless `limit` is reached.

    True when counted; False (and nothing written) when the hour already holds `limit`.
    """
    if limit < 1:
        return False
    args = {"tenant_id": tenant_id, "hour": hour, "limit": limit}
    total = conn.execute(_COUNT_UPSERT[conn.dialect.name], args).scalar()
    if total is None:
        return False
    if total == 1:
        old = intake_counts.c.hour < hour - COUNT_RETENTION
        conn.execute(delete(intake_counts).where(intake_counts.c.tenant_id == tenant_id, old))
    return True


def update_interaction_guarded(
    conn: Connection,
    tenant_id: str,
    interaction_id: str,
    expected_callback_status: int,
    values: dict[str, Any],
) -> bool:
    """Apply `values` only if the row is still in `expected_callback_status`."""
    result = conn.execute(
        update(interactions)
        .where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.id == interaction_id,
            interactions.c.callback_status == expected_callback_status,
        )
        .values(**values)
    )
    return result.rowcount == 1


def update_customer(
    conn: Connection, tenant_id: str, customer_id: str, values: dict[str, Any]
) -> None:
    conn.execute(
        update(customers)
        .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
        .values(**values)
    )


def list_interactions(
    conn: Connection,
    tenant_id: str,
    where: InteractionFilter,
    limit: int,
    after: Cursor | None = None,
) -> list[RowMapping]:
    """Newest first by (start_date, id); `after` continues a previous page."""
    c = interactions.c
    clauses: list[Any] = [c.tenant_id == tenant_id]
    if where.status is not None:
        clauses.append(c.status == where.status)
    if where.callback_status is not None:
        clauses.append(c.callback_status == where.callback_status)
    if where.customer_number is not None:
        clauses.append(c.customer_number == where.customer_number)
    for column, low, high in (
        (c.start_date, where.start_date_from, where.start_date_to),
        (c.start_time, where.start_time_from, where.start_time_to),
    ):
        if low is not None:
            clauses.append(column >= low)
        if high is not None:
            clauses.append(column < high)
    for key, value in where.udata.items():
        clauses.append(c.udata[key].as_string() == value)
    for name, value in where.params.items():
        saved = select(session_parameters.c.interaction_id).where(
            session_parameters.c.tenant_id == tenant_id,
            session_parameters.c.name == name,
            session_parameters.c.value == value,
        )
        clauses.append(c.id.in_(saved))
    if after is not None:
        clauses.append(
            or_(
                c.start_date < after.start_date,
                and_(c.start_date == after.start_date, c.id < after.interaction_id),
            )
        )
    query = select(interactions).where(*clauses).order_by(c.start_date.desc(), c.id.desc())
    return list(conn.execute(query.limit(limit)).mappings())
