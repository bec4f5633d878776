"""User login sessions: an opaque cookie whose hash is stored with an expiry.

The cookie seals the tenant id and a random secret with AES-GCM under a key
derived from the application secret, so its value tells nothing (not even the
tenant) to whoever sees it; the stored row holds only the secret's hash.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from rappel.clock import Clock
from rappel.domain.errors import Unauthenticated
from rappel.domain.tenancy import Role
from rappel.services.secrets import verify_password
from rappel.services.tenancy import Principal
from rappel.store import tenancy as tenant_store
from rappel.store import users as user_store
from rappel.store.db import Database

SESSION_TTL = timedelta(hours=12)
#: Checks a password against a stored hash; None stands for an account that does not exist.
PasswordCheck = Callable[[str | None, str], bool]

_NONCE = 12
_SECRET = 32
_TENANT = 16  # a tenant id is 32 hex digits
_CONTEXT = b"rappel session cookie"
_REFUSED = "wrong tenant, username or password"


@functools.cache
def cookie_key(app_secret: str) -> bytes:
    """The AES key for session cookies, derived from the application secret."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return kdf.derive(app_secret.encode("utf-8"))


def seal(key: bytes, tenant_id: str, secret: bytes) -> str:
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, bytes.fromhex(tenant_id) + secret, _CONTEXT)
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")


def unseal(key: bytes, cookie: str) -> tuple[str, bytes] | None:
    """(tenant id, secret) from a cookie, or None when it was not sealed with `key`."""
    if len(cookie) > 200 or not cookie.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
        opened = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _CONTEXT)
    except (binascii.Error, ValueError, InvalidTag):
        return None
    if len(opened) != _TENANT + _SECRET:
        return None
    return opened[:_TENANT].hex().upper(), opened[_TENANT:]


def _session_id(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def login(
    db: Database,
    clock: Clock,
    key: bytes,
    credentials: tuple[str, str, str],
    check: PasswordCheck = verify_password,
) -> tuple[str, Principal]:
    """Check (tenant, username, password) and open a session; returns the cookie and principal.

    The password is checked whether or not the tenant and user exist (against a
    dummy hash when they do not), so the answer takes as long either way.
    """
    tenant_name, username, password = credentials
    with db.read() as conn:
        tenant = tenant_store.get_tenant_by_name(conn, tenant_name)
        row = user_store.get_user_row_by_username(conn, tenant.id, username) if tenant else None
    matches = check(row["password_hash"] if row else None, password)
    if tenant is None or row is None or not matches or not row["enabled"] or not tenant.enabled:
        raise Unauthenticated(_REFUSED)
    secret = secrets.token_bytes(_SECRET)
    now = clock.now()
    with db.begin() as conn:
        user_store.insert_session(
            conn,
            {
                "tenant_id": tenant.id,
                "id": _session_id(secret),
                "user_id": row["id"],
                "created_at": now,
                "expires_at": now + SESSION_TTL,
            },
        )
    principal = Principal(
        tenant_id=tenant.id, tenant_name=tenant.name, role=Role(row["role"]), user_id=row["id"]
    )
    return seal(key, tenant.id, secret), principal


def authenticate_session(db: Database, clock: Clock, key: bytes, cookie: str) -> Principal:
    opened = unseal(key, cookie)
    if opened is None:
        raise Unauthenticated("not logged in")
    tenant_id, secret = opened
    with db.read() as conn:
        session = user_store.find_session(conn, tenant_id, _session_id(secret), clock.now())
        if session is None:
            raise Unauthenticated("the session has expired; log in again")
        user = user_store.get_user(conn, tenant_id, session["user_id"])
        tenant = tenant_store.get_tenant(conn, tenant_id)
    if user is None or tenant is None or not user.enabled:
        raise Unauthenticated("the session has expired; log in again")
    return Principal(tenant_id=tenant_id, tenant_name=tenant.name, role=user.role, user_id=user.id)


def logout(db: Database, key: bytes, cookie: str) -> None:
    opened = unseal(key, cookie)
    if opened is not None:
        with db.begin() as conn:
            user_store.delete_session(conn, _session_id(opened[1]))
