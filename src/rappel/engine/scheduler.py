"""Where due work is: the `ix_interactions_due` index, and guarded moves between states.

`interactions.due_at` is the one clock the engine reads. A waiting callback
carries its start (or retry) time; a callback parked for an agent carries its
expiry, or nothing; an offered callback carries the offer deadline; a callback
held by a worker carries the end of that worker's lease (see `leases`). So
"what must happen next, anywhere" is always `min(due_at)`, one index probe,
and a million pending callbacks cost disk, never memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, RowMapping, func, select, update

from rappel.clock import Clock
from rappel.domain.callback import STATUS_OF, TERMINAL, TRANSITIONS
from rappel.domain.calling_hours import CallingHours, customer_zone, next_allowed
from rappel.domain.codes import CallbackStatus
from rappel.domain.errors import InvalidTransition
from rappel.domain.results import CustomerResult, call_result_for
from rappel.domain.retry import AttemptOutcome, Redial, RetryPolicy, call_count, next_step
from rappel.engine import dialing
from rappel.services.webhooks import enqueue_webhook
from rappel.store.tables import campaigns, customers, interactions, tenants

_t = interactions
S = CallbackStatus


def next_due_at(conn: Connection) -> datetime | None:
    """The earliest due time of any interaction (one probe of `ix_interactions_due`)."""
    value: datetime | None = conn.execute(select(func.min(_t.c.due_at))).scalar()
    return value


def count_due(conn: Connection, now: datetime, limit: int = 10_000) -> int:
    """How many interactions are due now, counted up to `limit` (for metrics)."""
    inner = select(_t.c.id).where(_t.c.due_at <= now).limit(limit).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def move(
    conn: Connection,
    row: Mapping[str, Any],
    new: CallbackStatus,
    now: datetime,
    *,
    owner: str | None = None,
    **values: Any,
) -> bool:
    """Guarded update: `row`'s interaction goes to `new` only if still in `row`'s status.

    When `owner` is given the row must also still be leased to that worker, so
    a worker whose lease was taken over can never overwrite the new holder's
    work. Returns False when the row had moved on (the caller re-reads).
    """
    old = CallbackStatus(row["callback_status"])
    if new not in TRANSITIONS[old]:
        raise InvalidTransition(f"callback {row['id']} cannot go from {old.name} to {new.name}")
    changes: dict[str, Any] = {
        "callback_status": int(new),
        "status": int(STATUS_OF[new]),
        "updated_at": now,
        **values,
    }
    if new in TERMINAL:
        changes.update(due_at=None, lease_owner=None, lease_until=None, end_date=now)
    query = update(_t).where(
        _t.c.tenant_id == row["tenant_id"],
        _t.c.id == row["id"],
        _t.c.callback_status == int(old),
    )
    if owner is not None:
        query = query.where(_t.c.lease_owner == owner)
    done = conn.execute(query.values(**changes)).rowcount == 1
    if done and isinstance(row, dict):
        row.update(changes)
    return done


def moves(
    conn: Connection,
    row: dict[str, Any],
    path: tuple[CallbackStatus, ...],
    now: datetime,
    *,
    owner: str | None = None,
    **values: Any,
) -> bool:
    """Several guarded moves in one transaction; `values` go with the last one."""
    for i, new in enumerate(path):
        last = i == len(path) - 1
        if not move(conn, row, new, now, owner=owner, **(values if last else {})):
            return False
    return True


def set_due(
    conn: Connection,
    row: Mapping[str, Any],
    due_at: datetime | None,
    now: datetime,
    *,
    owner: str | None = None,
    release: bool = True,
) -> bool:
    """Keep the status, set the next look; `release` gives the lease back."""
    values: dict[str, Any] = {"due_at": due_at, "updated_at": now}
    if release:
        values.update(lease_owner=None, lease_until=None)
    query = update(_t).where(
        _t.c.tenant_id == row["tenant_id"],
        _t.c.id == row["id"],
        _t.c.callback_status == int(row["callback_status"]),
    )
    if owner is not None:
        query = query.where(_t.c.lease_owner == owner)
    done = conn.execute(query.values(**values)).rowcount == 1
    if done and isinstance(row, dict):
        row.update(values)
    return done


def load(conn: Connection, tenant_id: str, interaction_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(select(_t).where(_t.c.tenant_id == tenant_id, _t.c.id == interaction_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


# -- when to dial next, and what follows an attempt ------------------------------------


def policy_for(conn: Connection, row: Mapping[str, Any]) -> RetryPolicy:
    """The campaign's retry settings, or the defaults (RetryCount 3) for plain callbacks."""
    if row["campaign_id"] is None:
        return RetryPolicy()
    c = (
        conn.execute(
            select(campaigns).where(
                campaigns.c.tenant_id == row["tenant_id"], campaigns.c.id == row["campaign_id"]
            )
        )
        .mappings()
        .first()
    )
    if c is None:
        return RetryPolicy()
    return RetryPolicy(
        retry_count=c["retry_count"],
        busy_delay_s=c["busy_retry_delay_s"],
        no_answer_delay_s=c["no_answer_retry_delay_s"],
    )


def _customer(conn: Connection, row: Mapping[str, Any]) -> RowMapping | None:
    return (
        conn.execute(
            select(customers).where(
                customers.c.tenant_id == row["tenant_id"], customers.c.id == row["customer_id"]
            )
        )
        .mappings()
        .first()
    )


def numbers_of(conn: Connection, row: Mapping[str, Any]) -> list[str]:
    """The customer's numbers in priority order (number1..3), else the interaction's."""
    c = _customer(conn, row)
    numbers = [c[n] for n in ("number1", "number2", "number3") if c and c[n]] if c else []
    return numbers or [row["customer_number"]]


def number_to_dial(conn: Connection, row: Mapping[str, Any], now: datetime) -> tuple[str, int]:
    """Which number the next attempt dials: the retry policy's rotation."""
    numbers = numbers_of(conn, row)
    outs = dialing.outcomes_of(dialing.attempt_rows(conn, row["tenant_id"], row["id"]))
    step = next_step(policy_for(conn, row), outs, numbers, now)
    index = step.number_index if isinstance(step, Redial) else 0
    return numbers[index], index


def next_dial_time(conn: Connection, row: Mapping[str, Any], now: datetime) -> datetime:
    """`now`, or when the tenant's hard limits open in the customer's local time.

    Equal start and end hours mean "no limit" (a tenant that dials round the clock).
    """
    tenant = conn.execute(
        select(tenants.c.hard_hours_start, tenants.c.hard_hours_end, tenants.c.time_zone).where(
            tenants.c.id == row["tenant_id"]
        )
    ).first()
    if tenant is None or tenant[0] == tenant[1]:
        return now
    c = _customer(conn, row)
    try:
        default = ZoneInfo(tenant[2])
    except (ZoneInfoNotFoundError, ValueError):
        default = ZoneInfo("UTC")
    zone = customer_zone(c["time_zone"] if c else None, row["customer_number"], default)
    limits = CallingHours.parse(tenant[0], tenant[1])
    return next_allowed(now, zone, None, limits, customer_requested=True)


def settle(
    conn: Connection,
    clock: Clock,
    row: dict[str, Any],
    prefix: tuple[CallbackStatus, ...],
    *,
    owner: str | None,
) -> CallbackStatus | None:
    """After an attempt (or a wrap-up): retry (TIMER), FINAL, or ENDTIME_EXPIRED.

    `prefix` are the states to pass through first (PROCESSED_BY_AGT after an
    agent had the call). A final state writes the customer's result and the
    webhook outbox row in this same transaction. Returns the new state, or
    None when the row had moved on.
    """
    now = clock.now()
    rows = dialing.attempt_rows(conn, row["tenant_id"], row["id"])
    outs = dialing.outcomes_of(rows, _callback_at(row))
    numbers = numbers_of(conn, row)
    step = next_step(policy_for(conn, row), outs, numbers, now)
    last_code = rows[-1]["call_result"] if rows else None
    if isinstance(step, Redial):
        at = step.at
        if row["end_time"] is None or at < row["end_time"]:
            done = moves(
                conn, row, (*prefix, S.TIMER), now, owner=owner,
                due_at=at, lease_owner=None, lease_until=None, call_result=last_code,
            )  # fmt: skip
            return S.TIMER if done else None
        return _stop(conn, clock, row, prefix, S.ENDTIME_EXPIRED, CustomerResult.EXPIRED,
                     last_code, outs, owner)  # fmt: skip
    code = call_result_for(step.result)
    final_code = int(code) if code is not None else last_code
    return _stop(conn, clock, row, prefix, S.FINAL, step.result, final_code, outs, owner)


def expire(conn: Connection, clock: Clock, row: dict[str, Any], *, owner: str | None) -> None:
    """The window (or the 8x8 expiration) passed: ENDTIME_EXPIRED, reported as abandoned."""
    rows = dialing.attempt_rows(conn, row["tenant_id"], row["id"])
    last_code = rows[-1]["call_result"] if rows else None
    outs = dialing.outcomes_of(rows)
    _stop(conn, clock, row, (), S.ENDTIME_EXPIRED, CustomerResult.EXPIRED, last_code, outs, owner)


def requeue_rejected(
    conn: Connection, row: dict[str, Any], now: datetime, *, owner: str | None
) -> bool:
    """An offer refused or timed out: REJECTED_BY_AGT, back to QUEUED for the next agent."""
    return moves(
        conn, row, (S.REJECTED_BY_AGT, S.QUEUED), now, owner=owner,
        agent_id=None, due_at=now, lease_owner=None, lease_until=None,
    )  # fmt: skip


def _callback_at(row: Mapping[str, Any]) -> datetime | None:
    disposition = row.get("disposition") or {}
    value = disposition.get("callback_at") if isinstance(disposition, dict) else None
    return datetime.fromisoformat(value) if value else None


def _stop(
    conn: Connection,
    clock: Clock,
    row: dict[str, Any],
    prefix: tuple[CallbackStatus, ...],
    final: CallbackStatus,
    result: CustomerResult,
    code: int | None,
    outs: list[AttemptOutcome],
    owner: str | None,
) -> CallbackStatus | None:
    now = clock.now()
    if not moves(
        conn, row, (*prefix, final), now, owner=owner, call_result=code, stopped_reason=result.value
    ):
        return None
    conn.execute(
        update(customers)
        .where(customers.c.tenant_id == row["tenant_id"], customers.c.id == row["customer_id"])
        .values(
            result=result.value,
            call_result=outs[-1].result.value if outs else None,
            call_count=call_count(outs),
            last_b_number=outs[-1].number_index if outs else 0,
            modified_at=now,
        )
    )
    enqueue_webhook(conn, clock, row["tenant_id"], row["id"])
    return final
