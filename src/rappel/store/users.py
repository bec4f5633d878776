"""Queries for users (admins, supervisors, agents), their queues and login sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from rappel.domain.tenancy import Role, User
from rappel.store.tables import agent_queues, user_sessions, users


def _user(row: RowMapping, queue_ids: tuple[str, ...]) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        enabled=row["enabled"],
        default_caller_id=row["default_caller_id"],
        queue_ids=queue_ids,
        phone=row["phone"],
    )


def _queue_ids(conn: Connection, tenant_id: str, user_id: str) -> tuple[str, ...]:
    rows = conn.execute(
        select(agent_queues.c.queue_id)
        .where(agent_queues.c.tenant_id == tenant_id, agent_queues.c.agent_id == user_id)
        .order_by(agent_queues.c.queue_id)
    )
    return tuple(r[0] for r in rows)


def get_user(conn: Connection, tenant_id: str, user_id: str) -> User | None:
    row = (
        conn.execute(select(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id))
        .mappings()
        .first()
    )
    return _user(row, _queue_ids(conn, tenant_id, user_id)) if row else None


def get_user_row_by_username(conn: Connection, tenant_id: str, username: str) -> RowMapping | None:
    return (
        conn.execute(
            select(users).where(users.c.tenant_id == tenant_id, users.c.username == username)
        )
        .mappings()
        .first()
    )


def list_users(conn: Connection, tenant_id: str, role: Role | None = None) -> list[User]:
    query = select(users).where(users.c.tenant_id == tenant_id)
    if role is not None:
        query = query.where(users.c.role == role.value)
    rows = list(conn.execute(query.order_by(users.c.username)).mappings())
    memberships: dict[str, list[str]] = {}
    for agent_id, queue_id in conn.execute(
        select(agent_queues.c.agent_id, agent_queues.c.queue_id).where(
            agent_queues.c.tenant_id == tenant_id
        )
    ):
        memberships.setdefault(agent_id, []).append(queue_id)
    return [_user(r, tuple(sorted(memberships.get(r["id"], [])))) for r in rows]


def list_queue_agents(conn: Connection, tenant_id: str, queue_id: str) -> list[str]:
    rows = conn.execute(
        select(agent_queues.c.agent_id).where(
            agent_queues.c.tenant_id == tenant_id, agent_queues.c.queue_id == queue_id
        )
    )
    return [r[0] for r in rows]


def insert_user(conn: Connection, tenant_id: str, values: dict[str, Any]) -> None:
    conn.execute(insert(users).values(tenant_id=tenant_id, **values))


def update_user(conn: Connection, tenant_id: str, user_id: str, values: dict[str, Any]) -> None:
    if values:
        conn.execute(
            update(users)
            .where(users.c.tenant_id == tenant_id, users.c.id == user_id)
            .values(**values)
        )


def set_user_queues(conn: Connection, tenant_id: str, user_id: str, queue_ids: list[str]) -> None:
    conn.execute(
        delete(agent_queues).where(
            agent_queues.c.tenant_id == tenant_id, agent_queues.c.agent_id == user_id
        )
    )
    if queue_ids:
        conn.execute(
            insert(agent_queues),
            [{"tenant_id": tenant_id, "agent_id": user_id, "queue_id": q} for q in queue_ids],
        )


def delete_user(conn: Connection, tenant_id: str, user_id: str) -> bool:
    result = conn.execute(
        delete(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
    )
    return result.rowcount == 1


def insert_session(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(user_sessions).values(**values))


def find_session(
    conn: Connection, tenant_id: str, session_hash: str, now: datetime
) -> RowMapping | None:
    return (
        conn.execute(
            select(user_sessions).where(
                user_sessions.c.tenant_id == tenant_id,
                user_sessions.c.id == session_hash,
                user_sessions.c.expires_at > now,
            )
        )
        .mappings()
        .first()
    )


def delete_session(conn: Connection, session_hash: str) -> None:
    conn.execute(delete(user_sessions).where(user_sessions.c.id == session_hash))
