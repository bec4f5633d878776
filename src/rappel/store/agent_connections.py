"""Queries for agents' nailed-up phone calls and which worker holds each (see tables.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from rappel.store.tables import agent_connections as t


def claim(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    owner: str,
    call_id: str,
    now: datetime,
    until: datetime,
) -> bool:
    """Hold the agent's connection for `owner`; False while another worker's lease runs."""
    taken = conn.execute(
        update(t)
        .where(t.c.tenant_id == tenant_id, t.c.agent_id == agent_id, t.c.lease_until < now)
        .values(owner=owner, call_id=call_id, since=now, lease_until=until)
    )
    if taken.rowcount == 1:
        return True
    try:
        with conn.begin_nested():
            conn.execute(
                insert(t).values(
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    owner=owner,
                    call_id=call_id,
                    since=now,
                    lease_until=until,
                )
            )
    except IntegrityError:
        return False
    return True


def renew(conn: Connection, owner: str, until: datetime) -> None:
    conn.execute(update(t).where(t.c.owner == owner).values(lease_until=until))


def release(conn: Connection, tenant_id: str, agent_id: str, owner: str) -> None:
    conn.execute(
        delete(t).where(t.c.tenant_id == tenant_id, t.c.agent_id == agent_id, t.c.owner == owner)
    )


def release_all(conn: Connection, owner: str) -> None:
    conn.execute(delete(t).where(t.c.owner == owner))


def held_elsewhere(
    conn: Connection, tenant_id: str, agent_ids: Collection[str], owner: str, now: datetime
) -> set[str]:
    """The agents among `agent_ids` whose connection another worker holds now."""
    if not agent_ids:
        return set()
    rows = conn.execute(
        select(t.c.agent_id).where(
            t.c.tenant_id == tenant_id,
            t.c.agent_id.in_(list(agent_ids)),
            t.c.owner != owner,
            t.c.lease_until >= now,
        )
    )
    return {r[0] for r in rows}
