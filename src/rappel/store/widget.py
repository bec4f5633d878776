"""Queries for public widget keys, agent rosters and the booked load of a queue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select, update

from rappel.store.db import upsert_into
from rappel.store.tables import (
    agent_queues,
    agent_schedules,
    agent_state_log,
    attempts,
    interactions,
    widget_keys,
)

#: callback_status codes of a callback still waiting to be handled (RECEIVED..SUBMITTED_TO_AGT,
#: REJECTED_BY_AGT which goes back to the queue, AGT_TRANSFER).
OPEN_STATUSES = (1, 2, 3, 4, 5, 6, 13)
#: callback_status codes of a callback waiting in the queue for an agent (RECEIVED, QUEUED,
#: REJECTED_BY_AGT) once its start time has come.
WAITING_STATUSES = (1, 3, 6)
#: The dialect modules whose `insert` has ON CONFLICT, by SQLAlchemy dialect name.


# -- widget keys ----------------------------------------------------------


def insert_widget_key(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(widget_keys).values(**values))


def find_widget_key(conn: Connection, key: str) -> RowMapping | None:
    """A key row by its public value, whatever its tenant (keys are globally unique)."""
    return conn.execute(select(widget_keys).where(widget_keys.c.key == key)).mappings().first()


def list_widget_keys(conn: Connection, tenant_id: str) -> list[RowMapping]:
    return list(
        conn.execute(
            select(widget_keys)
            .where(widget_keys.c.tenant_id == tenant_id)
            .order_by(widget_keys.c.created_at, widget_keys.c.key)
        ).mappings()
    )


def update_widget_key(conn: Connection, tenant_id: str, key: str, values: dict[str, Any]) -> bool:
    result = conn.execute(
        update(widget_keys)
        .where(widget_keys.c.tenant_id == tenant_id, widget_keys.c.key == key)
        .values(**values)
    )
    return result.rowcount == 1


# -- agent schedules ------------------------------------------------------


def list_schedules(
    conn: Connection, tenant_id: str, queue_id: str, weekday: int | None = None
) -> list[RowMapping]:
    query = select(agent_schedules).where(
        agent_schedules.c.tenant_id == tenant_id, agent_schedules.c.queue_id == queue_id
    )
    if weekday is not None:
        query = query.where(agent_schedules.c.weekday == weekday)
    order = (agent_schedules.c.weekday, agent_schedules.c.start)
    return list(conn.execute(query.order_by(*order)).mappings())


def replace_schedules(
    conn: Connection, tenant_id: str, queue_id: str, rows: Iterable[dict[str, Any]]
) -> None:
    """Replace the queue's roster; the caller holds the queue's lock (`lock_queue`)."""
    conn.execute(
        delete(agent_schedules).where(
            agent_schedules.c.tenant_id == tenant_id, agent_schedules.c.queue_id == queue_id
        )
    )
    values = [{"tenant_id": tenant_id, "queue_id": queue_id, **row} for row in rows]
    if values:
        # The queue's lock makes replacements take turns; the upsert is the second guard,
        # so a writer that reaches here without it overwrites a row instead of failing.
        upsert = upsert_into(conn, agent_schedules)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=["tenant_id", "queue_id", "weekday", "start"],
                set_={"end": upsert.excluded.end, "agents": upsert.excluded.agents},
            ),
            values,
        )


# -- queue load -----------------------------------------------------------


def booked_start_times(
    conn: Connection, tenant_id: str, queue_id: str, start: datetime, end: datetime
) -> list[datetime]:
    """Start times of open callbacks on the queue starting in [start, end)."""
    rows = conn.execute(
        select(interactions.c.start_time).where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.queue_id == queue_id,
            interactions.c.callback_status.in_(OPEN_STATUSES),
            interactions.c.start_time >= start,
            interactions.c.start_time < end,
        )
    )
    return [r[0] for r in rows]


def count_waiting(conn: Connection, tenant_id: str, queue_id: str, now: datetime) -> int:
    """Callbacks on the queue that are due and waiting for an agent."""
    found = conn.execute(
        select(func.count()).where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.queue_id == queue_id,
            interactions.c.callback_status.in_(WAITING_STATUSES),
            interactions.c.start_time <= now,
        )
    ).scalar_one()
    return int(found)


def handle_seconds_since(
    conn: Connection, tenant_id: str, queue_id: str, since: datetime
) -> list[float]:
    """Talk seconds (answer to hang-up) of answered attempts of the queue's callbacks."""
    rows = conn.execute(
        select(attempts.c.answered_at, attempts.c.ended_at)
        .select_from(
            attempts.join(
                interactions,
                (interactions.c.tenant_id == attempts.c.tenant_id)
                & (interactions.c.id == attempts.c.interaction_id),
            )
        )
        .where(
            attempts.c.tenant_id == tenant_id,
            interactions.c.queue_id == queue_id,
            attempts.c.placed_at >= since,
            attempts.c.answered_at.is_not(None),
            attempts.c.ended_at.is_not(None),
        )
    )
    return [(ended - answered).total_seconds() for answered, ended in rows]


def count_logged_in_agents(conn: Connection, tenant_id: str, queue_id: str) -> int:
    """Agents of the queue whose last logged state is not LOGGED_OUT."""
    last = (
        select(agent_state_log.c.agent_id, func.max(agent_state_log.c.seq).label("seq"))
        .where(agent_state_log.c.tenant_id == tenant_id)
        .group_by(agent_state_log.c.agent_id)
        .subquery()
    )
    found = conn.execute(
        select(func.count())
        .select_from(
            agent_state_log.join(
                last,
                (agent_state_log.c.agent_id == last.c.agent_id)
                & (agent_state_log.c.seq == last.c.seq),
            ).join(
                agent_queues,
                (agent_queues.c.tenant_id == agent_state_log.c.tenant_id)
                & (agent_queues.c.agent_id == agent_state_log.c.agent_id),
            )
        )
        .where(
            agent_state_log.c.tenant_id == tenant_id,
            agent_queues.c.queue_id == queue_id,
            agent_state_log.c.state != "LOGGED_OUT",
        )
    ).scalar_one()
    return int(found)
