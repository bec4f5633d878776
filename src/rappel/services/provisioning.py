"""Use cases for what a tenant provisions: channels, queues, dial plans, users."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.exc import IntegrityError

from rappel.clock import Clock
from rappel.domain.errors import Conflict, NotFound, ValidationFailed
from rappel.domain.ids import new_id, parse_id
from rappel.domain.tenancy import (
    Channel,
    Queue,
    QueueDirection,
    Role,
    User,
    check_agent_phone,
    check_number,
    check_password,
    check_username,
)
from rappel.services.secrets import hash_password
from rappel.store import tenancy as store
from rappel.store import users as user_store
from rappel.store.db import Database

# -- channels -------------------------------------------------------------


def create_channel(db: Database, tenant_id: str, values: dict[str, Any]) -> Channel:
    channel = Channel(
        number=check_number(str(values.get("number", "")), "number"),
        name=str(values.get("name") or ""),
        ivr_script=values.get("ivr_script"),
        enabled=bool(values.get("enabled", True)),
        usable_as_caller_id=bool(values.get("usable_as_caller_id", True)),
    )
    try:
        with db.begin() as conn:
            if store.get_channel(conn, tenant_id, channel.number):
                raise Conflict(f"channel {channel.number} exists already")
            store.insert_channel(conn, tenant_id, channel)
    except IntegrityError as exc:
        raise Conflict(f"channel {channel.number} exists already") from exc
    return channel


def _refuse_nulls(changes: dict[str, Any], *names: str) -> None:
    """A PATCH may not set these fields to null: they have no "none" value."""
    for name in names:
        if name in changes and changes[name] is None:
            raise ValidationFailed(name, f"{name} may not be null")


def update_channel(db: Database, tenant_id: str, number: str, values: dict[str, Any]) -> Channel:
    """Change the given fields; `ivr_script: null` removes the script, no field changes nothing."""
    allowed = {"name", "ivr_script", "enabled", "usable_as_caller_id"}
    changes = {k: v for k, v in values.items() if k in allowed}
    _refuse_nulls(changes, "name", "enabled", "usable_as_caller_id")
    with db.begin() as conn:
        if store.get_channel(conn, tenant_id, number) is None:
            raise NotFound(f"no channel {number}")
        store.update_channel(conn, tenant_id, number, changes)
        channel = store.get_channel(conn, tenant_id, number)
    assert channel is not None
    return channel


def list_channels(db: Database, tenant_id: str) -> list[Channel]:
    with db.read() as conn:
        return store.list_channels(conn, tenant_id)


def delete_channel(db: Database, tenant_id: str, number: str) -> None:
    with db.begin() as conn:
        if not store.delete_channel(conn, tenant_id, number):
            raise NotFound(f"no channel {number}")


# -- queues ---------------------------------------------------------------


def _direction(value: Any) -> QueueDirection:
    try:
        return QueueDirection(str(value).lower())
    except ValueError as exc:
        raise ValidationFailed("direction", "direction must be inbound or outbound") from exc


def create_queue(db: Database, clock: Clock, tenant_id: str, values: dict[str, Any]) -> Queue:
    name = str(values.get("name") or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("name", "a queue needs a name of at most 200 characters")
    queue_id = parse_id(values["id"], "id") if values.get("id") else new_id()
    short_id = values.get("short_id")
    if short_id is not None and (not isinstance(short_id, int) or not 0 < short_id < 10**9):
        raise ValidationFailed("short_id", "short_id must be a positive integer")
    try:
        with db.begin() as conn:
            if store.get_queue(conn, tenant_id, queue_id):
                raise Conflict(f"queue {queue_id} exists already")
            if short_id is None:
                short_id = store.next_queue_short_id(conn, tenant_id)
            elif store.get_queue_by_short_id(conn, tenant_id, short_id):
                raise Conflict(f"queue short id {short_id} is taken")
            queue = Queue(
                id=queue_id,
                short_id=short_id,
                name=name,
                direction=_direction(values.get("direction", "outbound")),
                enabled=bool(values.get("enabled", True)),
            )
            store.insert_queue(conn, tenant_id, queue, clock.now())
    except IntegrityError as exc:
        raise Conflict("that queue id or short id is taken") from exc
    return queue


def get_queue(db: Database, tenant_id: str, queue_id: str) -> Queue:
    with db.read() as conn:
        queue = store.get_queue(conn, tenant_id, parse_id(queue_id, "queue_id"))
    if queue is None:
        raise NotFound("no such queue")
    return queue


def update_queue(db: Database, tenant_id: str, queue_id: str, values: dict[str, Any]) -> Queue:
    """Change the given fields; no field changes nothing."""
    # bool(None) would quietly switch the queue off.
    _refuse_nulls(values, "enabled")
    changes: dict[str, Any] = {}
    if "name" in values:
        name = str(values["name"] or "").strip()
        if not name or len(name) > 200:
            raise ValidationFailed("name", "a queue needs a name of at most 200 characters")
        changes["name"] = name
    if "direction" in values:
        changes["direction"] = _direction(values["direction"]).value
    if "enabled" in values:
        changes["enabled"] = bool(values["enabled"])
    queue_id = parse_id(queue_id, "queue_id")
    with db.begin() as conn:
        if store.get_queue(conn, tenant_id, queue_id) is None:
            raise NotFound("no such queue")
        store.update_queue(conn, tenant_id, queue_id, changes)
        queue = store.get_queue(conn, tenant_id, queue_id)
    assert queue is not None
    return queue


def list_queues(db: Database, tenant_id: str) -> list[Queue]:
    with db.read() as conn:
        return store.list_queues(conn, tenant_id)


def delete_queue(db: Database, tenant_id: str, queue_id: str) -> None:
    try:
        with db.begin() as conn:
            if not store.delete_queue(conn, tenant_id, parse_id(queue_id, "queue_id")):
                raise NotFound("no such queue")
    except IntegrityError as exc:
        raise Conflict("the queue is still used by a campaign") from exc


# -- dial plans -----------------------------------------------------------

_REGION = re.compile(r"^[A-Z]{2}$")


def _checked_rules(rules: Any) -> list[dict[str, str]]:
    if not isinstance(rules, list):
        raise ValidationFailed("prefix_rules", "prefix_rules must be a list")
    checked = []
    for rule in rules:
        if (
            not isinstance(rule, dict)
            or not isinstance(rule.get("match"), str)
            or not isinstance(rule.get("replace", ""), str)
            or not re.fullmatch(r"\+?[0-9]{1,8}", rule["match"])
            or not re.fullmatch(r"\+?[0-9]{0,8}", rule.get("replace", ""))
        ):
            raise ValidationFailed(
                "prefix_rules", 'each rule is {"match": "<digits>", "replace": "<digits or +>"}'
            )
        checked.append({"match": rule["match"], "replace": rule.get("replace", "")})
    return checked


def put_dial_plan(db: Database, tenant_id: str, values: dict[str, Any]) -> dict[str, Any]:
    plan_id = values.get("plan_id")
    if not isinstance(plan_id, int) or not 0 < plan_id < 10**9:
        raise ValidationFailed("plan_id", "plan_id must be a positive integer")
    region = str(values.get("default_region", "")).upper()
    if not _REGION.match(region):
        raise ValidationFailed("default_region", "default_region must be an ISO country code")
    row = {
        "plan_id": plan_id,
        "name": str(values.get("name") or ""),
        "default_region": region,
        "prefix_rules": _checked_rules(values.get("prefix_rules", [])),
    }
    with db.begin() as conn:
        store.upsert_dial_plan(conn, tenant_id, row)
    return row


def list_dial_plans(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [
            {k: r[k] for k in ("plan_id", "name", "default_region", "prefix_rules")}
            for r in store.list_dial_plans(conn, tenant_id)
        ]


def delete_dial_plan(db: Database, tenant_id: str, plan_id: int) -> None:
    with db.begin() as conn:
        if not store.delete_dial_plan(conn, tenant_id, plan_id):
            raise NotFound(f"no dial plan {plan_id}")


# -- users ----------------------------------------------------------------


def _role(value: Any) -> Role:
    try:
        return Role(str(value).lower())
    except ValueError as exc:
        raise ValidationFailed("role", "role must be admin, supervisor or agent") from exc


def _checked_queue_ids(conn: Any, tenant_id: str, queue_ids: Any) -> list[str]:
    if not isinstance(queue_ids, list):
        raise ValidationFailed("queue_ids", "queue_ids must be a list of queue ids")
    checked = [parse_id(str(q), "queue_ids") for q in queue_ids]
    for q in checked:
        if store.get_queue(conn, tenant_id, q) is None:
            raise ValidationFailed("queue_ids", f"no queue {q}")
    return sorted(set(checked))


def _phone(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationFailed("phone", "phone must be a string")
    return check_agent_phone(value)


def create_user(
    db: Database,
    clock: Clock,
    tenant_id: str,
    values: dict[str, Any],
    password_hash: str | None = None,
) -> User:
    """Create a user; `password_hash` lets provisioning reuse a hash it already made."""
    username = check_username(str(values.get("username", "")))
    password = check_password(str(values.get("password", "")))
    role = _role(values.get("role", "agent"))
    user_id = parse_id(values["id"], "id") if values.get("id") else new_id()
    caller_id = values.get("default_caller_id")
    row = {
        "id": user_id,
        "username": username,
        "display_name": str(values.get("display_name") or username)[:200],
        "role": role.value,
        "password_hash": password_hash or hash_password(password),
        "enabled": bool(values.get("enabled", True)),
        "default_caller_id": check_number(caller_id, "default_caller_id") if caller_id else None,
        "created_at": clock.now(),
        "phone": _phone(values.get("phone")),
    }
    try:
        with db.begin() as conn:
            if user_store.get_user_row_by_username(conn, tenant_id, username):
                raise Conflict(f"user {username!r} exists already")
            queue_ids = _checked_queue_ids(conn, tenant_id, values.get("queue_ids", []))
            user_store.insert_user(conn, tenant_id, row)
            user_store.set_user_queues(conn, tenant_id, user_id, queue_ids)
            user = user_store.get_user(conn, tenant_id, user_id)
    except IntegrityError as exc:
        raise Conflict("that user id or username is taken") from exc
    assert user is not None
    return user


def update_user(db: Database, tenant_id: str, user_id: str, values: dict[str, Any]) -> User:
    user_id = parse_id(user_id, "user_id")
    # bool(None) would quietly lock the user out.
    _refuse_nulls(values, "enabled")
    changes: dict[str, Any] = {}
    if "display_name" in values:
        changes["display_name"] = str(values["display_name"] or "")[:200]
    if "role" in values:
        changes["role"] = _role(values["role"]).value
    if "enabled" in values:
        changes["enabled"] = bool(values["enabled"])
    if "password" in values:
        changes["password_hash"] = hash_password(check_password(str(values["password"])))
    if "default_caller_id" in values:
        caller_id = values["default_caller_id"]
        changes["default_caller_id"] = (
            check_number(caller_id, "default_caller_id") if caller_id else None
        )
    if "phone" in values:
        changes["phone"] = _phone(values["phone"])
    with db.begin() as conn:
        if user_store.get_user(conn, tenant_id, user_id) is None:
            raise NotFound("no such user")
        user_store.update_user(conn, tenant_id, user_id, changes)
        if "queue_ids" in values:
            queue_ids = _checked_queue_ids(conn, tenant_id, values["queue_ids"])
            user_store.set_user_queues(conn, tenant_id, user_id, queue_ids)
        user = user_store.get_user(conn, tenant_id, user_id)
    assert user is not None
    return user


def get_user(db: Database, tenant_id: str, user_id: str) -> User:
    with db.read() as conn:
        user = user_store.get_user(conn, tenant_id, parse_id(user_id, "user_id"))
    if user is None:
        raise NotFound("no such user")
    return user


def list_users(db: Database, tenant_id: str, role: Role | None = None) -> list[User]:
    with db.read() as conn:
        return user_store.list_users(conn, tenant_id, role)


def delete_user(db: Database, tenant_id: str, user_id: str) -> None:
    with db.begin() as conn:
        if not user_store.delete_user(conn, tenant_id, parse_id(user_id, "user_id")):
            raise NotFound("no such user")
