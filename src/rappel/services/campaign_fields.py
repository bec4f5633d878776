"""Use cases for a campaign's Nixxis "database structure" and its activities.

A field schema is an ordered list of `{"name", "meaning"}`. Names are XML
element names, matched case-sensitively by ContextData; a meaning of `phone`
marks the fields that may hold the number to call (at most three).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError

from rappel.clock import Clock
from rappel.domain.errors import Conflict, NotFound, ValidationFailed
from rappel.domain.ids import new_id, parse_id
from rappel.store import activities as store
from rappel.store.db import Database

MEANINGS = frozenset({"text", "phone", "number", "date", "email"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,99}$")
MAX_FIELDS = 100
MAX_PHONE_FIELDS = 3


def check_schema(fields: list[dict[str, Any]]) -> list[dict[str, str]]:
    if len(fields) > MAX_FIELDS:
        raise ValidationFailed("fields", f"at most {MAX_FIELDS} fields")
    seen: set[str] = set()
    checked = []
    for item in fields:
        name, meaning = str(item.get("name", "")), str(item.get("meaning", "text"))
        if not _NAME.match(name) or name.lower().startswith("xml"):
            raise ValidationFailed("name", f"{name[:40]!r} is not a usable XML element name")
        if name in seen:
            raise ValidationFailed("name", f"field {name!r} appears twice")
        if meaning not in MEANINGS:
            raise ValidationFailed("meaning", f"meaning must be one of {sorted(MEANINGS)}")
        seen.add(name)
        checked.append({"name": name, "meaning": meaning})
    if sum(f["meaning"] == "phone" for f in checked) > MAX_PHONE_FIELDS:
        raise ValidationFailed("meaning", f"at most {MAX_PHONE_FIELDS} fields mean phone")
    return checked


def put_field_schema(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, fields: list[dict[str, Any]]
) -> list[dict[str, str]]:
    schema = check_schema(fields)
    wanted = parse_id(campaign_id, "campaign_id")
    with db.begin() as conn:
        if store.get_campaign(conn, tenant_id, wanted) is None:
            raise NotFound(f"no campaign {campaign_id}")
        store.set_field_schema(conn, tenant_id, wanted, schema, clock.now())
    return schema


def get_field_schema(db: Database, tenant_id: str, campaign_id: str) -> list[dict[str, str]]:
    with db.read() as conn:
        row = store.get_campaign(conn, tenant_id, parse_id(campaign_id, "campaign_id"))
    if row is None:
        raise NotFound(f"no campaign {campaign_id}")
    return list(row["field_schema"] or [])


def add_activity(
    db: Database, tenant_id: str, campaign_id: str, values: dict[str, Any]
) -> dict[str, Any]:
    wanted = parse_id(campaign_id, "campaign_id")
    activity_id = parse_id(values["id"], "id") if values.get("id") else new_id()
    activity: dict[str, Any] = {
        "tenant_id": tenant_id,
        "id": activity_id,
        "campaign_id": wanted,
        "name": str(values.get("name") or "")[:200] or "Outbound",
        "enabled": bool(values.get("enabled", True)),
    }
    try:
        with db.begin() as conn:
            if store.get_campaign(conn, tenant_id, wanted) is None:
                raise NotFound(f"no campaign {campaign_id}")
            if store.get_activity(conn, tenant_id, activity_id) is not None:
                raise Conflict(f"activity {activity_id} exists already")
            store.insert_activity(conn, activity)
    except IntegrityError as exc:
        raise Conflict(f"activity {activity_id} exists already") from exc
    return {k: v for k, v in activity.items() if k != "tenant_id"}


def list_activities(db: Database, tenant_id: str, campaign_id: str) -> list[dict[str, Any]]:
    wanted = parse_id(campaign_id, "campaign_id")
    with db.read() as conn:
        if store.get_campaign(conn, tenant_id, wanted) is None:
            raise NotFound(f"no campaign {campaign_id}")
        rows = store.list_activities(conn, tenant_id, wanted)
    return [{k: r[k] for k in ("id", "campaign_id", "name", "enabled")} for r in rows]
