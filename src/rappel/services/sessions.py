"""User login sessions: an opaque cookie whose hash is stored with an expiry."""

from __future__ import annotations

import secrets
from datetime import timedelta

from rappel.clock import Clock
from rappel.domain.errors import Unauthenticated
from rappel.domain.tenancy import Role
from rappel.services.secrets import token_hash, verify_password
from rappel.services.tenancy import Principal
from rappel.store import tenancy as tenant_store
from rappel.store import users as user_store
from rappel.store.db import Database

SESSION_TTL = timedelta(hours=12)


def login(
    db: Database, clock: Clock, tenant_name: str, username: str, password: str
) -> tuple[str, Principal]:
    """Check the credentials and open a session; returns the cookie value and the principal."""
    with db.read() as conn:
        tenant = tenant_store.get_tenant_by_name(conn, tenant_name)
        row = user_store.get_user_row_by_username(conn, tenant.id, username) if tenant else None
    # Verify even for unknown users would be ideal against timing; the refusal text is the same.
    if tenant is None or row is None or not row["enabled"] or not tenant.enabled:
        raise Unauthenticated("wrong tenant, username or password")
    if not verify_password(row["password_hash"], password):
        raise Unauthenticated("wrong tenant, username or password")
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    with db.begin() as conn:
        user_store.insert_session(
            conn,
            {
                "tenant_id": tenant.id,
                "id": token_hash(secret),
                "user_id": row["id"],
                "created_at": now,
                "expires_at": now + SESSION_TTL,
            },
        )
    principal = Principal(
        tenant_id=tenant.id, tenant_name=tenant.name, role=Role(row["role"]), user_id=row["id"]
    )
    return f"{tenant.id}.{secret}", principal


def authenticate_session(db: Database, clock: Clock, cookie: str) -> Principal:
    tenant_id, _, secret = cookie.partition(".")
    if not tenant_id or not secret or len(cookie) > 200:
        raise Unauthenticated("not logged in")
    with db.read() as conn:
        session = user_store.find_session(conn, tenant_id, token_hash(secret), clock.now())
        if session is None:
            raise Unauthenticated("the session has expired; log in again")
        user = user_store.get_user(conn, tenant_id, session["user_id"])
        tenant = tenant_store.get_tenant(conn, tenant_id)
    if user is None or tenant is None or not user.enabled:
        raise Unauthenticated("the session has expired; log in again")
    return Principal(tenant_id=tenant_id, tenant_name=tenant.name, role=user.role, user_id=user.id)


def logout(db: Database, cookie: str) -> None:
    _, _, secret = cookie.partition(".")
    if secret:
        with db.begin() as conn:
            user_store.delete_session(conn, token_hash(secret))
