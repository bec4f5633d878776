"""Webhooks of seed 002 (`ctl_callbackUrl`): the payload, the outbox row, and the delivery log.

When a callback reaches its final result, the engine calls `enqueue_webhook`
inside the transaction that records the result (a transactional outbox): the
webhook exists exactly when the result does, and the delivery worker
(`rappel.integrations.webhooks`) sends it at least once.

The payload is `application/x-www-form-urlencoded`, the 8x8 convention ("all
the userdata with system generated result and data will be passing to the URL
using POST method"):

1. every user-data pair of the interaction (names not starting `ctl_`), in
   the order given, every documented `$token$` in the values substituted;
2. then the system-generated fields, all named `ctl_...` so they can never
   collide with user data (8x8 reserves that prefix for system data).

Tokens are substituted once, when the webhook is enqueued, so every retry
sends the same bytes (and `$year$`..`$seconds$` say when the result was made).
docs/webhooks.md lists the fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from rappel.clock import Clock
from rappel.domain.errors import NotFound
from rappel.domain.ids import new_id, parse_id
from rappel.domain.results import Disposition
from rappel.domain.userdata import Pair, split_system_data
from rappel.domain.webhook_tokens import TokenContext, TransactionCode, substitute, substitute_pairs
from rappel.store import webhooks as store
from rappel.store.db import Database
from rappel.store.signals import work_changed
from rappel.store.webhooks import WebhookStatus

CONTENT_TYPE = "application/x-www-form-urlencoded"
EVENT = "callback.processed"

# System fields that repeat a token's value, named `ctl_<token>`.
_TOKEN_FIELDS = (
    "interaction_guid",
    "transaction_id",
    "caller_id",
    "call_answered_time",
    "call_hangup_time",
    "callAnsweredTenantTT",
    "callHangupTenantTT",
    "callDuration",
    "transaction_codes",
    "notes",
    "lastTclListName",
    "lastTclCodeDesc",
    "lastTclCodeShort",
)


# -- the disposition as stored on the interaction ------------------------------


def disposition_to_json(disposition: Disposition) -> dict[str, Any]:
    """The `interactions.disposition` JSON shape this module reads (docs/webhooks.md)."""
    return {
        "result": disposition.result.value,
        "classifier": disposition.classifier,
        "notes": disposition.notes,
        "amount": disposition.amount,
        "transaction_codes": [
            {"list_name": c.list_name, "code_short": c.code_short, "code_desc": c.code_desc}
            for c in disposition.transaction_codes
        ],
        "script_name": disposition.script_name,
        "answers": [{"question": a.question, "answer": a.answer} for a in disposition.answers],
        "callback_at": disposition.callback_at.isoformat() if disposition.callback_at else None,
    }


def transaction_codes_of(disposition: Mapping[str, Any] | None) -> tuple[TransactionCode, ...]:
    """The selected codes, in selection order; tolerant of the token module's spelling too."""
    codes = (disposition or {}).get("transaction_codes") or []
    return tuple(
        TransactionCode(
            list_name=str(code.get("list_name") or ""),
            short_code=str(code.get("code_short") or code.get("short_code") or ""),
            description=str(code.get("code_desc") or code.get("description") or ""),
        )
        for code in codes
        if isinstance(code, Mapping)
    )


# -- the payload (pure) ----------------------------------------------------------


def user_data_pairs(udata: Any) -> list[Pair]:
    """The interaction's user data: a JSON object, or a list of [name, value] pairs."""
    if isinstance(udata, Mapping):
        pairs = [(str(name), _text(value)) for name, value in udata.items()]
    elif isinstance(udata, Sequence) and not isinstance(udata, str):
        pairs = [(str(item[0]), _text(item[1])) for item in udata if len(item) == 2]
    else:
        pairs = []
    _system, user = split_system_data(pairs)
    return user


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def token_context(
    interaction: Mapping[str, Any],
    last_attempt: Mapping[str, Any] | None,
    tenant: Mapping[str, Any],
    now: datetime,
) -> TokenContext:
    disposition = interaction.get("disposition") or {}
    attempt = last_attempt or {}
    return TokenContext(
        caller_id=interaction.get("caller_id") or tenant.get("default_caller_id") or "",
        transaction_id=attempt.get("call_id") or "",
        interaction_guid=interaction["id"],
        tenant_time_zone=tenant.get("time_zone") or "UTC",
        now=now,
        answered_at=attempt.get("answered_at"),
        hangup_at=attempt.get("ended_at"),
        transaction_codes=transaction_codes_of(disposition),
        notes=disposition.get("notes") or "",
    )


def payload_pairs(
    webhook_id: str,
    interaction: Mapping[str, Any],
    last_attempt: Mapping[str, Any] | None,
    tenant: Mapping[str, Any],
    now: datetime,
) -> list[Pair]:
    """User data with tokens substituted, then the `ctl_` system fields."""
    ctx = token_context(interaction, last_attempt, tenant, now)
    disposition = interaction.get("disposition") or {}
    pairs = substitute_pairs(user_data_pairs(interaction.get("udata")), ctx)
    pairs += [
        ("ctl_event", EVENT),
        ("ctl_webhook_id", webhook_id),
        ("ctl_processed_at", now.isoformat()),
        ("ctl_customer_number", _text(interaction.get("customer_number"))),
        ("ctl_callback_type", _text(interaction.get("callback_type"))),
        ("ctl_callback_status", _text(interaction.get("callback_status"))),
        ("ctl_status", _text(interaction.get("status"))),
        ("ctl_call_result", _text(interaction.get("call_result"))),
        ("ctl_attempts", _text(interaction.get("attempts"))),
        ("ctl_external_id", _text(interaction.get("external_id"))),
        # The agent's result, else the engine's (EXPIRED, MAXCALLS, ...) kept in stopped_reason.
        ("ctl_result", _text(disposition.get("result") or interaction.get("stopped_reason"))),
        ("ctl_classifier", _text(disposition.get("classifier"))),
        ("ctl_tenant_time_zone", ctx.tenant_time_zone),
    ]
    pairs += [(f"ctl_{name}", substitute(f"${name}$", ctx)) for name in _TOKEN_FIELDS]
    return pairs


def encode_payload(pairs: Sequence[Pair]) -> str:
    return urlencode(list(pairs))


# -- use cases ----------------------------------------------------------------------


def enqueue_webhook(
    conn: Connection, clock: Clock, tenant_id: str, interaction_id: str
) -> str | None:
    """Write the interaction's webhook into the outbox, in the caller's transaction.

    Returns the webhook id, or None when the interaction has no webhook URL.
    """
    source = store.load_source(conn, tenant_id, interaction_id)
    if source is None:
        raise NotFound(f"interaction {interaction_id} not found")
    url = source.interaction["webhook_url"]
    if not url:
        return None
    now = clock.now()
    webhook_id = new_id()
    pairs = payload_pairs(webhook_id, source.interaction, source.last_attempt, source.tenant, now)
    store.insert_webhook(
        conn,
        {
            "tenant_id": tenant_id,
            "id": webhook_id,
            "interaction_id": interaction_id,
            "url": url,
            "payload": encode_payload(pairs),
            "status": WebhookStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )
    work_changed(conn)
    return webhook_id


@dataclass(frozen=True)
class WebhookAttempt:
    attempt_no: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook with its whole attempt log."""

    id: str
    interaction_id: str
    url: str
    status: WebhookStatus
    payload: str
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[WebhookAttempt]


def _delivery(row: Mapping[str, Any], attempts: list[WebhookAttempt]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        interaction_id=row["interaction_id"],
        url=row["url"],
        status=WebhookStatus(row["status"]),
        payload=row["payload"],
        created_at=row["created_at"],
        next_attempt_at=row["next_attempt_at"] if row["status"] == WebhookStatus.PENDING else None,
        delivered_at=row["delivered_at"],
        last_error=row["last_error"],
        attempts=attempts,
    )


def _with_attempts(conn: Connection, tenant_id: str, rows: list[Any]) -> list[WebhookDelivery]:
    by_id: dict[str, list[WebhookAttempt]] = {row["id"]: [] for row in rows}
    for a in store.list_attempts(conn, tenant_id, list(by_id)):
        by_id[a["webhook_id"]].append(
            WebhookAttempt(a["attempt_no"], a["at"], a["status_code"], a["error"], a["duration_ms"])
        )
    return [_delivery(row, by_id[row["id"]]) for row in rows]


def list_webhooks(
    db: Database, tenant_id: str, interaction_id: str | None = None, limit: int = 100
) -> list[WebhookDelivery]:
    """The tenant's webhooks, newest first, optionally of one interaction."""
    wanted = parse_id(interaction_id, "interaction_id") if interaction_id is not None else None
    with db.read() as conn:
        rows = store.list_webhooks(conn, tenant_id, wanted, max(1, min(limit, 500)))
        return _with_attempts(conn, tenant_id, rows)


def get_webhook(db: Database, tenant_id: str, webhook_id: str) -> WebhookDelivery:
    with db.read() as conn:
        row = store.get_webhook(conn, tenant_id, parse_id(webhook_id, "webhook_id"))
        if row is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return _with_attempts(conn, tenant_id, [row])[0]


def redeliver_webhook(
    db: Database, clock: Clock, tenant_id: str, webhook_id: str
) -> WebhookDelivery:
    """Send the same payload again now, with a fresh retry schedule; the history is kept."""
    wanted = parse_id(webhook_id, "webhook_id")
    with db.begin() as conn:
        if not store.requeue(conn, tenant_id, wanted, clock.now()):
            raise NotFound(f"webhook {webhook_id} not found")
        work_changed(conn)
    return get_webhook(db, tenant_id, wanted)
