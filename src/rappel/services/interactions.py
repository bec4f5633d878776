"""Reading and managing stored callbacks: the use cases behind the interaction resource.

Each change loads the interaction, applies the domain transition of its Callback
aggregate and writes the result with a guarded update (the status it was read
in), so a concurrent change is answered 409 rather than lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from rappel.clock import Clock
from rappel.domain.callback import Callback
from rappel.domain.codes import (
    CallbackFlow,
    CallbackStatus,
    CallbackType,
    CallResult,
    DesiredResponseType,
    InteractionStatus,
)
from rappel.domain.errors import Conflict, NotFound, ValidationFailed
from rappel.domain.ids import parse_id
from rappel.services.webhooks import enqueue_webhook
from rappel.store import interactions as store
from rappel.store.db import Database
from rappel.store.signals import work_changed


def get_interaction(db: Database, tenant_id: str, interaction_id: str) -> dict[str, Any]:
    with db.read() as conn:
        row = store.get_interaction(conn, tenant_id, parse_id(interaction_id, "interaction_id"))
    if row is None:
        raise NotFound(f"no interaction {interaction_id}")
    return dict(row)


def list_interactions(
    db: Database,
    tenant_id: str,
    where: store.InteractionFilter,
    limit: int = 50,
    after: store.Cursor | None = None,
) -> list[dict[str, Any]]:
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit", "limit must be between 1 and 500")
    with db.read() as conn:
        return [dict(r) for r in store.list_interactions(conn, tenant_id, where, limit, after)]


def cancel_callback(
    db: Database, clock: Clock, tenant_id: str, interaction_id: str, reason: str = "CANCELED"
) -> dict[str, Any]:
    """Stop a callback through the API: FINAL with call_result CANCEL_RECORD.

    A final result like any other: its webhook, if it has a URL, leaves with the change.
    """
    return _change(
        db, clock, tenant_id, interaction_id, lambda cb, now: cb.cancel(reason, now), final=True
    )


def reschedule_callback(
    db: Database,
    clock: Clock,
    tenant_id: str,
    interaction_id: str,
    start_time: datetime,
    end_time: datetime | None,
) -> dict[str, Any]:
    """A new window, allowed only while the callback is still waiting."""
    return _change(
        db,
        clock,
        tenant_id,
        interaction_id,
        lambda cb, now: cb.reschedule(start_time, end_time, now),
    )


def _change(
    db: Database,
    clock: Clock,
    tenant_id: str,
    interaction_id: str,
    transition: Callable[[Callback, datetime], None],
    *,
    final: bool = False,
) -> dict[str, Any]:
    wanted = parse_id(interaction_id, "interaction_id")
    now = clock.now()
    with db.begin() as conn:
        row = store.get_interaction(conn, tenant_id, wanted)
        if row is None:
            raise NotFound(f"no interaction {interaction_id}")
        callback = aggregate(row)
        transition(callback, now)
        values = _state_values(callback, now)
        if not store.update_interaction_guarded(
            conn, tenant_id, wanted, row["callback_status"], values
        ):
            raise Conflict("the callback changed meanwhile; read it again")
        if final:
            enqueue_webhook(conn, clock, tenant_id, wanted)
        work_changed(conn)
        return {**dict(row), **values}


def aggregate(row: RowMapping) -> Callback:
    """The domain Callback of a stored interaction."""
    return Callback(
        interaction_id=row["id"],
        tenant_id=row["tenant_id"],
        customer_id=row["customer_id"],
        customer_number=row["customer_number"],
        flow=CallbackFlow(row["flow"]),
        callback_type=CallbackType(row["callback_type"]),
        start_time=row["start_time"],
        end_time=row["end_time"],
        start_date=row["start_date"],
        callback_status=CallbackStatus(row["callback_status"]),
        status=InteractionStatus(row["status"]),
        desired_response_type=DesiredResponseType(row["desired_response_type"]),
        not_before=row["due_at"] or row["start_time"],
        attempts=row["attempts"],
        call_result=CallResult(row["call_result"]) if row["call_result"] is not None else None,
        stopped_reason=row["stopped_reason"],
        end_date=row["end_date"],
        agent_id=row["agent_id"],
    )


def _state_values(cb: Callback, now: datetime) -> dict[str, Any]:
    return {
        "callback_status": int(cb.callback_status),
        "status": int(cb.status),
        "callback_type": int(cb.callback_type),
        "start_time": cb.start_time,
        "end_time": cb.end_time,
        "call_result": int(cb.call_result) if cb.call_result is not None else None,
        "stopped_reason": cb.stopped_reason,
        "end_date": cb.end_date,
        "due_at": cb.due_at,
        "updated_at": now,
    }
