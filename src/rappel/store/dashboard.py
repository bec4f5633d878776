"""Reads for the agent desktop and the supervisor dashboard. Every query names its tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, RowMapping, func, select

from rappel.store.tables import attempts, campaigns, customers, interactions, users
from rappel.store.widget import WAITING_STATUSES

T = attempts.c


def oldest_waiting(
    conn: Connection, tenant_id: str, queue_id: str, now: datetime
) -> datetime | None:
    """Start time of the queue's longest-waiting due callback."""
    found = conn.execute(
        select(func.min(interactions.c.start_time)).where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.queue_id == queue_id,
            interactions.c.callback_status.in_(WAITING_STATUSES),
            interactions.c.start_time <= now,
        )
    ).scalar()
    return found if isinstance(found, datetime) else None


def last_attempt(conn: Connection, tenant_id: str, interaction_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(attempts)
            .where(T.tenant_id == tenant_id, T.interaction_id == interaction_id)
            .order_by(T.attempt_no.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def customer(conn: Connection, tenant_id: str, customer_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(customers).where(
                customers.c.tenant_id == tenant_id, customers.c.id == customer_id
            )
        )
        .mappings()
        .first()
    )


def agent_names(conn: Connection, tenant_id: str) -> dict[str, str]:
    rows = conn.execute(
        select(users.c.id, users.c.display_name, users.c.username).where(
            users.c.tenant_id == tenant_id, users.c.role == "agent"
        )
    )
    return {r.id: r.display_name or r.username for r in rows}


def abandon_targets(conn: Connection, tenant_id: str) -> list[float]:
    """abandonRate (percent) of the tenant's active campaigns."""
    rows = conn.execute(
        select(campaigns.c.abandon_rate).where(
            campaigns.c.tenant_id == tenant_id, campaigns.c.status == "Active"
        )
    )
    return [float(r[0]) for r in rows]
