"""Each tenant's Standard Webhooks signing secret: made on first use, shown once, rotated.

The secret must be usable to sign, so it cannot be hashed; it is encrypted at
rest (AES-GCM under a key derived from the application secret). It is shown
to the tenant once, by `reveal_webhook_secret`; after that only a rotation
shows a (new) secret. After a rotation the previous secret keeps signing
beside the new one for `ROTATION_GRACE` (Standard Webhooks allows several
signatures), so receivers can switch without losing deliveries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rappel.clock import Clock
from rappel.domain.errors import Conflict, NotFound
from rappel.integrations.signing import new_secret
from rappel.store import webhooks as store
from rappel.store.db import Database

ROTATION_GRACE = timedelta(hours=24)
_PURPOSE = b"rappel webhook signing secret v1"


@dataclass(frozen=True)
class ShownSecret:
    """What the secret endpoints answer; `secret` is None once it has been shown."""

    secret: str | None
    revealed_at: datetime | None
    rotated_at: datetime | None
    previous_valid_until: datetime | None


def _cipher(app_secret: str) -> AESGCM:
    return AESGCM(hashlib.sha256(_PURPOSE + app_secret.encode()).digest())


def seal(app_secret: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = nonce + _cipher(app_secret).encrypt(nonce, secret.encode(), _PURPOSE)
    return base64.b64encode(sealed).decode("ascii")


def unseal(app_secret: str, sealed: str) -> str:
    try:
        raw = base64.b64decode(sealed, validate=True)
        return _cipher(app_secret).decrypt(raw[:12], raw[12:], _PURPOSE).decode()
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise Conflict(
            "the webhook secret cannot be decrypted with this server's secret key; rotate it"
        ) from exc


def signing_secrets(db: Database, clock: Clock, app_secret: str, tenant_id: str) -> list[str]:
    """The secrets to sign with now: the current one (made if absent), then a recent previous."""
    with db.begin() as conn:
        row = store.get_secret_row(conn, tenant_id)
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found")
        if row["webhook_secret"] is None:
            store.set_secret_if_absent(conn, tenant_id, seal(app_secret, new_secret()))
            row = store.get_secret_row(conn, tenant_id)
            assert row is not None
    keys = [unseal(app_secret, row["webhook_secret"])]
    rotated = row["webhook_secret_rotated_at"]
    previous = row["webhook_secret_previous"]
    if previous and rotated and clock.now() < rotated + ROTATION_GRACE:
        keys.append(unseal(app_secret, previous))
    return keys


def reveal_webhook_secret(
    db: Database, clock: Clock, app_secret: str, tenant_id: str
) -> ShownSecret:
    """The current secret the first time it is asked for; afterwards only its dates."""
    current = signing_secrets(db, clock, app_secret, tenant_id)[0]
    now = clock.now()
    with db.begin() as conn:
        shown_now = store.mark_secret_revealed(conn, tenant_id, now)
        row = store.get_secret_row(conn, tenant_id)
        assert row is not None
    return _shown(
        current if shown_now else None,
        row["webhook_secret_revealed_at"],
        row["webhook_secret_rotated_at"],
    )


def rotate_webhook_secret(
    db: Database, clock: Clock, app_secret: str, tenant_id: str
) -> ShownSecret:
    """A new secret, shown in this answer; the old one signs too for ROTATION_GRACE."""
    now = clock.now()
    fresh = new_secret()
    with db.begin() as conn:
        row = store.get_secret_row(conn, tenant_id)
        if row is None:
            raise NotFound(f"tenant {tenant_id} not found")
        store.update_secret(
            conn,
            tenant_id,
            {
                "webhook_secret": seal(app_secret, fresh),
                "webhook_secret_previous": row["webhook_secret"],
                "webhook_secret_rotated_at": now,
                "webhook_secret_revealed_at": now,
            },
        )
    return _shown(fresh, now, now)


def _shown(secret: str | None, revealed: datetime | None, rotated: datetime | None) -> ShownSecret:
    return ShownSecret(secret, revealed, rotated, rotated + ROTATION_GRACE if rotated else None)
