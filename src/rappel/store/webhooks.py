"""Queries for the webhook outbox, its attempts, and what a webhook payload is built from.

An outbox row is `pending` until delivered or given up. A worker claims due
rows by writing its name and a lease deadline on them; a row whose lease has
passed is due again, so a crashed worker's deliveries are taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, or_, select, tuple_, update

from rappel.store.tables import attempts, interactions, tenants, webhook_attempts, webhook_outbox

_outbox = webhook_outbox


class WebhookStatus(StrEnum):
    """Where one webhook delivery stands."""

    PENDING = "pending"  #: waiting for its next attempt (possibly leased to a worker now)
    DELIVERED = "delivered"  #: the receiver answered 2xx
    FAILED = "failed"  #: a permanent failure, or the retries ran out


@dataclass(frozen=True)
class WebhookSource:
    """The rows a payload is built from."""

    interaction: dict[str, Any]
    last_attempt: dict[str, Any] | None
    tenant: dict[str, Any]


def load_source(conn: Connection, tenant_id: str, interaction_id: str) -> WebhookSource | None:
    interaction = (
        conn.execute(
            select(interactions).where(
                interactions.c.tenant_id == tenant_id, interactions.c.id == interaction_id
            )
        )
        .mappings()
        .first()
    )
    tenant = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).mappings().first()
    if interaction is None or tenant is None:
        return None
    last_attempt = (
        conn.execute(
            select(attempts)
            .where(attempts.c.tenant_id == tenant_id, attempts.c.interaction_id == interaction_id)
            .order_by(attempts.c.attempt_no.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return WebhookSource(
        dict(interaction), dict(last_attempt) if last_attempt else None, dict(tenant)
    )


# -- outbox -----------------------------------------------------------------


def insert_webhook(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(_outbox).values(**values))


def get_webhook(conn: Connection, tenant_id: str, webhook_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(_outbox).where(_outbox.c.tenant_id == tenant_id, _outbox.c.id == webhook_id)
        )
        .mappings()
        .first()
    )


def list_webhooks(
    conn: Connection, tenant_id: str, interaction_id: str | None, limit: int
) -> list[RowMapping]:
    query = select(_outbox).where(_outbox.c.tenant_id == tenant_id)
    if interaction_id is not None:
        query = query.where(_outbox.c.interaction_id == interaction_id)
    query = query.order_by(_outbox.c.created_at.desc(), _outbox.c.id).limit(limit)
    return list(conn.execute(query).mappings())


def list_attempts(conn: Connection, tenant_id: str, webhook_ids: list[str]) -> list[RowMapping]:
    if not webhook_ids:
        return []
    query = (
        select(webhook_attempts)
        .where(
            webhook_attempts.c.tenant_id == tenant_id,
            webhook_attempts.c.webhook_id.in_(webhook_ids),
        )
        .order_by(webhook_attempts.c.webhook_id, webhook_attempts.c.attempt_no)
    )
    return list(conn.execute(query).mappings())


def claim_due(
    conn: Connection, now: datetime, owner: str, lease_until: datetime, limit: int
) -> list[RowMapping]:
    """Lease up to `limit` due rows to `owner`; rows leased by others are skipped, not awaited."""
    due = (
        select(_outbox.c.tenant_id, _outbox.c.id)
        .where(
            _outbox.c.status == WebhookStatus.PENDING.value,
            _outbox.c.next_attempt_at <= now,
            or_(_outbox.c.lease_until.is_(None), _outbox.c.lease_until <= now),
        )
        .order_by(_outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(_outbox)
        .where(tuple_(_outbox.c.tenant_id, _outbox.c.id).in_(due))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(*_outbox.c)
    )
    return list(conn.execute(claim).mappings())


def record_attempt(
    conn: Connection,
    tenant_id: str,
    webhook_id: str,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
) -> int:
    """Store one attempt; returns its number (1, 2, ... over the webhook's whole life)."""
    last = conn.execute(
        select(func.max(webhook_attempts.c.attempt_no)).where(
            webhook_attempts.c.tenant_id == tenant_id, webhook_attempts.c.webhook_id == webhook_id
        )
    ).scalar()
    attempt_no = int(last or 0) + 1
    conn.execute(
        insert(webhook_attempts).values(
            tenant_id=tenant_id,
            webhook_id=webhook_id,
            attempt_no=attempt_no,
            at=at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )
    return attempt_no


def settle(
    conn: Connection, tenant_id: str, webhook_id: str, owner: str, values: dict[str, Any]
) -> bool:
    """Write an attempt's consequence and drop the lease, if `owner` still holds it."""
    result = conn.execute(
        update(_outbox)
        .where(
            _outbox.c.tenant_id == tenant_id,
            _outbox.c.id == webhook_id,
            _outbox.c.lease_owner == owner,
            _outbox.c.status == WebhookStatus.PENDING.value,
        )
        .values(lease_owner=None, lease_until=None, **values)
    )
    return result.rowcount == 1


def requeue(conn: Connection, tenant_id: str, webhook_id: str, now: datetime) -> bool:
    """Make a webhook due now with a fresh retry schedule (its attempt history is kept)."""
    result = conn.execute(
        update(_outbox)
        .where(_outbox.c.tenant_id == tenant_id, _outbox.c.id == webhook_id)
        .values(
            status=WebhookStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            delivered_at=None,
            lease_owner=None,
            lease_until=None,
        )
    )
    return result.rowcount == 1


# -- the tenant's signing secret ----------------------------------------------


def get_secret_row(conn: Connection, tenant_id: str) -> RowMapping | None:
    query = select(
        tenants.c.webhook_secret,
        tenants.c.webhook_secret_previous,
        tenants.c.webhook_secret_rotated_at,
        tenants.c.webhook_secret_revealed_at,
    ).where(tenants.c.id == tenant_id)
    return conn.execute(query).mappings().first()


def set_secret_if_absent(conn: Connection, tenant_id: str, sealed: str) -> bool:
    """First use: only one of several racing writers gets to set the secret."""
    result = conn.execute(
        update(tenants)
        .where(tenants.c.id == tenant_id, tenants.c.webhook_secret.is_(None))
        .values(webhook_secret=sealed)
    )
    return result.rowcount == 1


def mark_secret_revealed(conn: Connection, tenant_id: str, at: datetime) -> bool:
    """True for the one caller that shows the secret; every later caller gets False."""
    result = conn.execute(
        update(tenants)
        .where(tenants.c.id == tenant_id, tenants.c.webhook_secret_revealed_at.is_(None))
        .values(webhook_secret_revealed_at=at)
    )
    return result.rowcount == 1


def update_secret(conn: Connection, tenant_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(tenants).where(tenants.c.id == tenant_id).values(**values))
