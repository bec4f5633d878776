"""Queries for tenants, tokens, channels, queues and dial plans. Every query names its tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from rappel.domain.tenancy import Channel, Queue, QueueDirection, Tenant
from rappel.store.db import upsert_into
from rappel.store.tables import api_tokens, channels, dial_plans, queues, tenants

#: The dialect modules whose `insert` has ON CONFLICT, by SQLAlchemy dialect name.


def _tenant(row: RowMapping) -> Tenant:
    return Tenant(
        id=row["id"],
        name=row["name"],
        enabled=row["enabled"],
        web_callback_enabled=row["web_callback_enabled"],
        time_zone=row["time_zone"],
        default_caller_id=row["default_caller_id"],
        default_dial_plan_id=row["default_dial_plan_id"],
        back_domains=list(row["back_domains"] or []),
        widget_origins=list(row["widget_origins"] or []),
        hard_hours_start=row["hard_hours_start"],
        hard_hours_end=row["hard_hours_end"],
        max_callbacks_per_number_hour=row["max_callbacks_per_number_hour"],
        max_callbacks_per_tenant_hour=row["max_callbacks_per_tenant_hour"],
        created_at=row["created_at"],
    )


def insert_tenant(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(tenants).values(**values))


def get_tenant(conn: Connection, tenant_id: str) -> Tenant | None:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
    return _tenant(row) if row else None


def get_tenant_by_name(conn: Connection, name: str) -> Tenant | None:
    row = conn.execute(select(tenants).where(tenants.c.name == name)).mappings().first()
    return _tenant(row) if row else None


def list_tenants(conn: Connection) -> list[Tenant]:
    rows = conn.execute(select(tenants).order_by(tenants.c.name)).mappings()
    return [_tenant(r) for r in rows]


def update_tenant(conn: Connection, tenant_id: str, values: dict[str, Any]) -> None:
    if values:
        conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))


# -- tokens ---------------------------------------------------------------


def insert_token(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(api_tokens).values(**values))


def find_token(conn: Connection, token_hash: str) -> RowMapping | None:
    return (
        conn.execute(
            select(api_tokens).where(
                api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
            )
        )
        .mappings()
        .first()
    )


def list_tokens(conn: Connection, tenant_id: str) -> list[RowMapping]:
    return list(
        conn.execute(
            select(api_tokens)
            .where(api_tokens.c.tenant_id == tenant_id)
            .order_by(api_tokens.c.created_at)
        ).mappings()
    )


def revoke_token(conn: Connection, tenant_id: str, token_id: str, at: datetime) -> bool:
    result = conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.tenant_id == tenant_id,
            api_tokens.c.id == token_id,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=at)
    )
    return result.rowcount == 1


# -- channels -------------------------------------------------------------


def _channel(row: RowMapping) -> Channel:
    return Channel(
        number=row["number"],
        name=row["name"],
        ivr_script=row["ivr_script"],
        enabled=row["enabled"],
        usable_as_caller_id=row["usable_as_caller_id"],
    )


def get_channel(conn: Connection, tenant_id: str, number: str) -> Channel | None:
    row = (
        conn.execute(
            select(channels).where(channels.c.tenant_id == tenant_id, channels.c.number == number)
        )
        .mappings()
        .first()
    )
    return _channel(row) if row else None


def list_channels(conn: Connection, tenant_id: str) -> list[Channel]:
    rows = conn.execute(
        select(channels).where(channels.c.tenant_id == tenant_id).order_by(channels.c.number)
    ).mappings()
    return [_channel(r) for r in rows]


def insert_channel(conn: Connection, tenant_id: str, channel: Channel) -> None:
    conn.execute(insert(channels).values(tenant_id=tenant_id, **channel.__dict__))


def update_channel(conn: Connection, tenant_id: str, number: str, values: dict[str, Any]) -> None:
    if not values:
        return  # UPDATE without SET is not SQL; an empty change changes nothing
    conn.execute(
        update(channels)
        .where(channels.c.tenant_id == tenant_id, channels.c.number == number)
        .values(**values)
    )


def delete_channel(conn: Connection, tenant_id: str, number: str) -> bool:
    result = conn.execute(
        delete(channels).where(channels.c.tenant_id == tenant_id, channels.c.number == number)
    )
    return result.rowcount == 1


# -- queues ---------------------------------------------------------------


def _queue(row: RowMapping) -> Queue:
    return Queue(
        id=row["id"],
        short_id=row["short_id"],
        name=row["name"],
        direction=QueueDirection(row["direction"]),
        enabled=row["enabled"],
    )


def get_queue(conn: Connection, tenant_id: str, queue_id: str) -> Queue | None:
    row = (
        conn.execute(select(queues).where(queues.c.tenant_id == tenant_id, queues.c.id == queue_id))
        .mappings()
        .first()
    )
    return _queue(row) if row else None


def get_queue_by_short_id(conn: Connection, tenant_id: str, short_id: int) -> Queue | None:
    row = (
        conn.execute(
            select(queues).where(queues.c.tenant_id == tenant_id, queues.c.short_id == short_id)
        )
        .mappings()
        .first()
    )
    return _queue(row) if row else None


def list_queues(conn: Connection, tenant_id: str) -> list[Queue]:
    rows = conn.execute(
        select(queues).where(queues.c.tenant_id == tenant_id).order_by(queues.c.short_id)
    ).mappings()
    return [_queue(r) for r in rows]


def next_queue_short_id(conn: Connection, tenant_id: str) -> int:
    rows = conn.execute(select(queues.c.short_id).where(queues.c.tenant_id == tenant_id))
    used = [r[0] for r in rows]
    return max(used, default=100) + 1


def insert_queue(conn: Connection, tenant_id: str, queue: Queue, created_at: datetime) -> None:
    conn.execute(
        insert(queues).values(
            tenant_id=tenant_id,
            id=queue.id,
            short_id=queue.short_id,
            name=queue.name,
            direction=queue.direction.value,
            enabled=queue.enabled,
            created_at=created_at,
        )
    )


def update_queue(conn: Connection, tenant_id: str, queue_id: str, values: dict[str, Any]) -> None:
    if not values:
        return  # UPDATE without SET is not SQL; an empty change changes nothing
    conn.execute(
        update(queues)
        .where(queues.c.tenant_id == tenant_id, queues.c.id == queue_id)
        .values(**values)
    )


def lock_queue(conn: Connection, tenant_id: str, queue_id: str) -> bool:
    """Lock the queue row until the transaction ends; False when there is no such queue.

    Writers of what hangs off a queue (its roster) take turns on this lock, so each
    sees what the one before committed. FOR NO KEY UPDATE does not hold up inserts
    whose foreign keys point at the queue; SQLite has no row locks and needs none
    (its writers take turns on the database).
    """
    found = conn.execute(
        select(queues.c.id)
        .where(queues.c.tenant_id == tenant_id, queues.c.id == queue_id)
        .with_for_update(key_share=True)
    ).first()
    return found is not None


def delete_queue(conn: Connection, tenant_id: str, queue_id: str) -> bool:
    result = conn.execute(
        delete(queues).where(queues.c.tenant_id == tenant_id, queues.c.id == queue_id)
    )
    return result.rowcount == 1


# -- dial plans -----------------------------------------------------------


def get_dial_plan(conn: Connection, tenant_id: str, plan_id: int) -> RowMapping | None:
    return (
        conn.execute(
            select(dial_plans).where(
                dial_plans.c.tenant_id == tenant_id, dial_plans.c.plan_id == plan_id
            )
        )
        .mappings()
        .first()
    )


def list_dial_plans(conn: Connection, tenant_id: str) -> list[RowMapping]:
    return list(
        conn.execute(
            select(dial_plans)
            .where(dial_plans.c.tenant_id == tenant_id)
            .order_by(dial_plans.c.plan_id)
        ).mappings()
    )


def upsert_dial_plan(conn: Connection, tenant_id: str, values: dict[str, Any]) -> None:
    """Create or replace a plan in one statement, so concurrent PUTs of one id both succeed."""
    upsert = upsert_into(conn, dial_plans)
    conn.execute(
        upsert.values(tenant_id=tenant_id, **values).on_conflict_do_update(
            index_elements=["tenant_id", "plan_id"],
            set_={k: upsert.excluded[k] for k in values if k != "plan_id"},
        )
    )


def delete_dial_plan(conn: Connection, tenant_id: str, plan_id: int) -> bool:
    result = conn.execute(
        delete(dial_plans).where(
            dial_plans.c.tenant_id == tenant_id, dial_plans.c.plan_id == plan_id
        )
    )
    return result.rowcount == 1
