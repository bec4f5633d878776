"""Queries for what callback intake reads of campaigns: field schema, activities.

Campaigns themselves belong to the OBI surface; these queries touch only the
`field_schema` column and the `activities` table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from rappel.store.tables import activities, campaigns


def get_campaign(conn: Connection, tenant_id: str, campaign_id: str) -> RowMapping | None:
    query = select(
        campaigns.c.id,
        campaigns.c.queue_id,
        campaigns.c.time_zone,
        campaigns.c.field_schema,
        campaigns.c.status,
    ).where(campaigns.c.tenant_id == tenant_id, campaigns.c.id == campaign_id)
    return conn.execute(query).mappings().first()


def set_field_schema(
    conn: Connection, tenant_id: str, campaign_id: str, schema: list[dict[str, str]], at: datetime
) -> None:
    conn.execute(
        update(campaigns)
        .where(campaigns.c.tenant_id == tenant_id, campaigns.c.id == campaign_id)
        .values(field_schema=schema, modified_at=at)
    )


def get_activity(conn: Connection, tenant_id: str, activity_id: str) -> RowMapping | None:
    query = select(activities).where(
        activities.c.tenant_id == tenant_id, activities.c.id == activity_id
    )
    return conn.execute(query).mappings().first()


def list_activities(conn: Connection, tenant_id: str, campaign_id: str) -> list[RowMapping]:
    query = (
        select(activities)
        .where(activities.c.tenant_id == tenant_id, activities.c.campaign_id == campaign_id)
        .order_by(activities.c.name, activities.c.id)
    )
    return list(conn.execute(query).mappings())


def insert_activity(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(activities).values(**values))
