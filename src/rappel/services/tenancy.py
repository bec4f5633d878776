"""Use cases for tenants and their credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from rappel.clock import Clock
from rappel.domain.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from rappel.domain.ids import new_id
from rappel.domain.phone import DialPlan, fallback_plan, stored_plan
from rappel.domain.tenancy import (
    Role,
    Tenant,
    TokenKind,
    check_domains,
    check_hhmm,
    check_number,
    check_origins,
    check_tenant_name,
    check_time_zone,
)
from rappel.services.secrets import new_token, token_hash, token_hint
from rappel.store import tenancy as store
from rappel.store.db import Database
from rappel.store.tenancy_cache import DIRECT, TenancyReader


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant token, or a logged-in user of a tenant."""

    tenant_id: str
    tenant_name: str
    role: Role
    user_id: str | None = None
    token_id: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    id: str
    label: str
    kind: TokenKind
    token: str


_TENANT_FIELDS = {
    "name",
    "enabled",
    "web_callback_enabled",
    "time_zone",
    "default_caller_id",
    "default_dial_plan_id",
    "back_domains",
    "widget_origins",
    "hard_hours_start",
    "hard_hours_end",
    "max_callbacks_per_number_hour",
    "max_callbacks_per_tenant_hour",
}

#: Fields whose null has a meaning: no default caller id, no default dial plan (the
#: fallback plan of the tenant's time zone). Every other field needs a value; the hourly
#: limits have no "unlimited" (the largest is 1000000).
_NULLABLE_TENANT_FIELDS = {"default_caller_id", "default_dial_plan_id"}


def _checked_tenant_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - _TENANT_FIELDS
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], f"unknown tenant field {sorted(unknown)[0]!r}")
    for key, value in values.items():
        if value is None and key not in _NULLABLE_TENANT_FIELDS:
            raise ValidationFailed(key, f"{key} may not be null")
    checked = dict(values)
    plan_id = checked.get("default_dial_plan_id")
    if plan_id is not None and (
        not isinstance(plan_id, int) or isinstance(plan_id, bool) or not 0 < plan_id < 10**9
    ):
        # Dial plan ids are positive integers below 10**9 (put_dial_plan), which both
        # databases hold; a larger one would overflow SQLite's INTEGER.
        raise ValidationFailed(
            "default_dial_plan_id", "default_dial_plan_id must be a positive integer below 10**9"
        )
    if "name" in checked:
        check_tenant_name(checked["name"])
    if "time_zone" in checked:
        check_time_zone(checked["time_zone"])
    if checked.get("default_caller_id") is not None:
        checked["default_caller_id"] = check_number(
            checked["default_caller_id"], "default_caller_id"
        )
    if "back_domains" in checked:
        checked["back_domains"] = check_domains(list(checked["back_domains"]))
    if "widget_origins" in checked:
        checked["widget_origins"] = check_origins(list(checked["widget_origins"]))
    for key in ("hard_hours_start", "hard_hours_end"):
        if key in checked:
            check_hhmm(checked[key], key)
    for key in ("max_callbacks_per_number_hour", "max_callbacks_per_tenant_hour"):
        if key in checked and not (0 < int(checked[key]) <= 1_000_000):
            raise ValidationFailed(key, f"{key} must be between 1 and 1000000")
    return checked


def create_tenant(db: Database, clock: Clock, values: dict[str, Any]) -> Tenant:
    checked = _checked_tenant_values(values)
    if "name" not in checked:
        raise ValidationFailed("name", "a tenant needs a name")
    tenant_id = new_id()
    row = {
        "id": tenant_id,
        "enabled": True,
        "web_callback_enabled": True,
        "time_zone": "UTC",
        "back_domains": [],
        "widget_origins": [],
        "created_at": clock.now(),
        **checked,
    }
    try:
        with db.begin() as conn:
            if store.get_tenant_by_name(conn, checked["name"]) is not None:
                raise Conflict(f"a tenant named {checked['name']!r} exists already")
            store.insert_tenant(conn, row)
            tenant = store.get_tenant(conn, tenant_id)
    except IntegrityError as exc:
        raise Conflict(f"a tenant named {checked['name']!r} exists already") from exc
    assert tenant is not None
    return tenant


def update_tenant(db: Database, tenant_id: str, values: dict[str, Any]) -> Tenant:
    checked = _checked_tenant_values(values)
    try:
        with db.begin() as conn:
            if store.get_tenant(conn, tenant_id) is None:
                raise NotFound("no such tenant")
            store.update_tenant(conn, tenant_id, checked)
            tenant = store.get_tenant(conn, tenant_id)
    except IntegrityError as exc:
        raise Conflict("that tenant name is taken") from exc
    assert tenant is not None
    return tenant


def get_tenant(db: Database, tenant_id: str) -> Tenant:
    with db.read() as conn:
        tenant = store.get_tenant(conn, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant")
    return tenant


def dial_plan(
    conn: Connection,
    tenant: Tenant,
    plan_id: int | None = None,
    tenancy: TenancyReader = DIRECT,
) -> DialPlan:
    """The dial plan `plan_id` names, else the tenant's default one, else `fallback_plan`.

    NotFound when `plan_id` names no plan of the tenant; a default that names none
    (its plan was deleted) falls back like no default at all.
    """
    wanted = plan_id if plan_id is not None else tenant.default_dial_plan_id
    row = tenancy.dial_plan(conn, tenant.id, wanted) if wanted is not None else None
    if row is None and plan_id is not None:
        raise NotFound(f"no dial plan {plan_id}")
    if row is None:
        return fallback_plan(tenant.time_zone)
    return stored_plan(row["plan_id"], row["default_region"], row["prefix_rules"] or [])


def find_tenant_by_name(db: Database, name: str) -> Tenant | None:
    with db.read() as conn:
        return store.get_tenant_by_name(conn, name)


def list_tenants(db: Database) -> list[Tenant]:
    with db.read() as conn:
        return store.list_tenants(conn)


def create_token(
    db: Database,
    clock: Clock,
    tenant_id: str,
    label: str = "",
    kind: TokenKind = TokenKind.API,
    secret: str | None = None,
) -> IssuedToken:
    """Issue a token; its secret is returned once and only its hash is kept.

    `secret` lets provisioning fix a known value (the documented demo token).
    """
    if len(label) > 200:
        raise ValidationFailed("label", "label must be at most 200 characters")
    token = secret or new_token()
    if len(token) < 16:
        raise ValidationFailed("token", "a token must have at least 16 characters")
    token_id = new_id()
    try:
        with db.begin() as conn:
            if store.get_tenant(conn, tenant_id) is None:
                raise NotFound("no such tenant")
            store.insert_token(
                conn,
                {
                    "tenant_id": tenant_id,
                    "id": token_id,
                    "kind": kind.value,
                    "label": label,
                    "token_hash": token_hash(token),
                    "hint": token_hint(token),
                    "created_at": clock.now(),
                },
            )
    except IntegrityError as exc:
        raise Conflict("that token exists already") from exc
    return IssuedToken(id=token_id, label=label, kind=kind, token=token)


def list_tokens(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = store.list_tokens(conn, tenant_id)
    return [
        {
            "id": r["id"],
            "label": r["label"],
            "kind": r["kind"],
            "hint": "…" + r["hint"],
            "created_at": r["created_at"],
            "revoked_at": r["revoked_at"],
        }
        for r in rows
    ]


def revoke_token(db: Database, clock: Clock, tenant_id: str, token_id: str) -> None:
    with db.begin() as conn:
        if not store.revoke_token(conn, tenant_id, token_id, clock.now()):
            raise NotFound("no such active token")


def token_exists(db: Database, tenant_id: str, token: str) -> bool:
    with db.read() as conn:
        row = store.find_token(conn, token_hash(token))
    return row is not None and row["tenant_id"] == tenant_id


def authenticate_token(
    db: Database, token: str, kind: TokenKind = TokenKind.API, tenancy: TenancyReader = DIRECT
) -> Principal:
    """The principal a token stands for; a revoked, unknown or wrong-kind token is refused.

    `tenancy`: the container's cache, so a request pays one version check instead of
    two lookups; a revocation still counts from the next transaction.
    """
    with db.read() as conn:
        return authenticate_token_on(conn, token, kind, tenancy)


def authenticate_token_on(
    conn: Connection,
    token: str,
    kind: TokenKind = TokenKind.API,
    tenancy: TenancyReader = DIRECT,
) -> Principal:
    """`authenticate_token` on a connection the caller holds (one checkout per request)."""
    if not token or len(token) > 200:
        raise Unauthenticated("a valid token is required")
    row = tenancy.token(conn, token_hash(token))
    tenant = tenancy.tenant(conn, row["tenant_id"]) if row else None
    if row is None or tenant is None or row["kind"] != kind.value:
        raise Unauthenticated("the token is not valid")
    return Principal(
        tenant_id=tenant.id, tenant_name=tenant.name, role=Role.ADMIN, token_id=row["id"]
    )
