"""Queries of the campaign dialer: running campaigns, due customers, claims and guarded updates.

Due customers are found through `ix_customers_campaign_due` (tenant, campaign,
result, next_call_at): one range probe per open result, never a scan of the
campaign. A claim writes the dialer's name and a deadline on the customer's
lease columns; on PostgreSQL the candidates are locked `FOR UPDATE SKIP
LOCKED`, so several workers claim disjoint customers. Every later write on a
claimed customer is guarded by `lease_owner`, so a dialer whose lease was
taken over can never overwrite the new holder's work.

Each campaign customer has one interaction, created on its first dial, whose
id is the customer's id (interactions are their own table), so the dialer
finds it by primary key. Its `due_at` stays NULL: campaign work is driven by
`customers.next_call_at`, not by the callback engine's due index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, tuple_, update

from rappel.domain.callback import STATUS_OF
from rappel.domain.codes import CallbackStatus, CallbackType, CampaignStatus
from rappel.domain.results import CustomerResult, is_final
from rappel.store.tables import (
    attempts,
    campaigns,
    customers,
    dialers,
    interactions,
    tenants,
)

C = customers.c
K = campaigns.c
I = interactions.c  # noqa: E741 - the table's conventional alias
S = CallbackStatus

#: `interactions.flow` of a campaign customer's interaction.
CAMPAIGN_FLOW = "CAMPAIGN"
#: `interactions.source` of the same.
CAMPAIGN_SOURCE = "campaign"
#: Nixxis record state "Callback": such customers are dialled by their callback interaction.
CALLBACK_STATE = 15
#: Results the dialer may dial again (everything not handled and not closed).
OPEN_RESULTS: tuple[str, ...] = tuple(r.value for r in CustomerResult if not is_final(r))


def running_campaigns(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Active campaigns inside their start and end dates, with their tenant's hours and zone."""
    query = (
        select(
            campaigns,
            dialers.c.dialer_type.label("dialer_type"),
            tenants.c.time_zone.label("tenant_time_zone"),
            tenants.c.hard_hours_start.label("hard_hours_start"),
            tenants.c.hard_hours_end.label("hard_hours_end"),
        )
        .join(tenants, tenants.c.id == K.tenant_id)
        .join(dialers, and_(dialers.c.tenant_id == K.tenant_id, dialers.c.id == K.dialer_id))
        .where(
            K.status == CampaignStatus.ACTIVE.value,
            tenants.c.enabled.is_(True),
            or_(K.start_date.is_(None), K.start_date <= now),
            or_(K.end_date.is_(None), K.end_date > now),
        )
        .order_by(K.tenant_id, K.id)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def _due(campaign: dict[str, Any], now: datetime) -> Any:
    """Open and due, or MAXCALLS with calls left under a raised RetryCount; not leased."""
    open_due = and_(
        C.result.in_(OPEN_RESULTS), or_(C.next_call_at.is_(None), C.next_call_at <= now)
    )
    reopened = and_(
        C.result == CustomerResult.MAXCALLS.value,
        C.call_count < int(campaign["retry_count"]) + 1,
    )
    return and_(
        C.tenant_id == campaign["tenant_id"],
        C.campaign_id == campaign["id"],
        or_(open_due, reopened),
        C.state != CALLBACK_STATE,
        or_(C.lease_until.is_(None), C.lease_until < now),
    )


def claim_customers(
    conn: Connection,
    campaign: dict[str, Any],
    now: datetime,
    limit: int,
    owner: str,
    lease_until: datetime,
    *,
    postgres: bool,
) -> list[dict[str, Any]]:
    """Lease up to `limit` due customers of `campaign`, highest priority first, then oldest due."""
    if limit <= 0:
        return []
    due = (
        select(C.tenant_id, C.id)
        .where(_due(campaign, now))
        .order_by(C.priority.desc(), C.next_call_at, C.id)
        .limit(limit)
    )
    if postgres:
        due = due.with_for_update(skip_locked=True)
    query = (
        update(customers)
        .where(tuple_(C.tenant_id, C.id).in_(due.scalar_subquery()))
        .values(lease_owner=owner, lease_until=lease_until)
        .returning(*customers.c)
    )
    rows = [dict(r) for r in conn.execute(query).mappings()]
    rows.sort(key=lambda r: (-int(r["priority"]), r["next_call_at"] or now, r["id"]))
    return rows


def count_due(conn: Connection, campaign: dict[str, Any], now: datetime, cap: int = 1000) -> int:
    """Due customers of a campaign, counted up to `cap`."""
    inner = select(C.id).where(_due(campaign, now)).limit(cap).subquery()
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def renew_customers(
    conn: Connection, keys: Iterable[tuple[str, str]], owner: str, until: datetime
) -> set[tuple[str, str]]:
    """Extend the leases this dialer holds; returns the keys it no longer holds."""
    wanted = set(keys)
    if not wanted:
        return set()
    held: set[tuple[str, str]] = set()
    chunk = sorted(wanted)
    for start in range(0, len(chunk), 500):
        result = conn.execute(
            update(customers)
            .where(tuple_(C.tenant_id, C.id).in_(chunk[start : start + 500]))
            .where(C.lease_owner == owner)
            .values(lease_until=until)
            .returning(C.tenant_id, C.id)
        )
        held |= {(r[0], r[1]) for r in result}
    return wanted - held


def hand_back_customers(conn: Connection, keys: Iterable[tuple[str, str]], owner: str) -> None:
    """Give leases back (shutdown): the customers are claimable again at once."""
    chunk = sorted(set(keys))
    for start in range(0, len(chunk), 500):
        conn.execute(
            update(customers)
            .where(tuple_(C.tenant_id, C.id).in_(chunk[start : start + 500]))
            .where(C.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )


def update_customer(
    conn: Connection, tenant_id: str, customer_id: str, owner: str, **values: Any
) -> bool:
    """Guarded update of a customer this dialer holds."""
    done = conn.execute(
        update(customers)
        .where(C.tenant_id == tenant_id, C.id == customer_id, C.lease_owner == owner)
        .values(**values)
    )
    return done.rowcount == 1


def release_customer(
    conn: Connection, tenant_id: str, customer_id: str, owner: str, now: datetime, **values: Any
) -> bool:
    """Write `values` and give the lease back."""
    return update_customer(
        conn,
        tenant_id,
        customer_id,
        owner,
        lease_owner=None,
        lease_until=None,
        modified_at=now,
        **values,
    )


def load_customer(conn: Connection, tenant_id: str, customer_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(select(customers).where(C.tenant_id == tenant_id, C.id == customer_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


# -- the customer's interaction ------------------------------------------------------


def load_interaction(
    conn: Connection, tenant_id: str, interaction_id: str
) -> dict[str, Any] | None:
    row = (
        conn.execute(select(interactions).where(I.tenant_id == tenant_id, I.id == interaction_id))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def take_interaction(
    conn: Connection,
    customer: dict[str, Any],
    campaign: dict[str, Any],
    number: str,
    owner: str,
    now: datetime,
) -> dict[str, Any]:
    """The customer's interaction, created QUEUED or taken back to QUEUED, leased to `owner`.

    A FINAL interaction reopens when its customer does (RetryCount raised,
    do-not-call entry removed): the customer, not the interaction, is what
    OBI reports.
    """
    tenant_id, interaction_id = customer["tenant_id"], customer["id"]
    queued = {
        "callback_status": int(S.QUEUED),
        "status": int(STATUS_OF[S.QUEUED]),
        "customer_number": number,
        "lease_owner": owner,
        "lease_until": None,
        "due_at": None,
        "end_date": None,
        "agent_id": None,
        "disposition": None,
        "updated_at": now,
    }
    taken = conn.execute(
        update(interactions)
        .where(I.tenant_id == tenant_id, I.id == interaction_id, I.flow == CAMPAIGN_FLOW)
        .values(**queued)
    )
    if taken.rowcount != 1:
        conn.execute(
            insert(interactions).values(
                tenant_id=tenant_id,
                id=interaction_id,
                customer_id=customer["id"],
                campaign_id=campaign["id"],
                queue_id=campaign["queue_id"],
                channel_number=campaign["custom_ivr_number"],
                flow=CAMPAIGN_FLOW,
                callback_type=int(CallbackType.ASAP),
                desired_response_type="Voice",
                start_time=customer["next_call_at"] or now,
                attempts=0,
                external_id=customer["external_id"],
                creator_app_id=0,
                start_date=now,
                udata={},
                ext_transaction_data=[],
                caller_id=campaign["custom_ivr_number"],
                source=CAMPAIGN_SOURCE,
                **queued,
            )
        )
    row = load_interaction(conn, tenant_id, interaction_id)
    assert row is not None
    return row


def set_interaction(
    conn: Connection,
    row: dict[str, Any],
    owner: str,
    status: CallbackStatus,
    now: datetime,
    **values: Any,
) -> bool:
    """Guarded move of a campaign interaction this dialer holds."""
    changes = {
        "callback_status": int(status),
        "status": int(STATUS_OF[status]),
        "updated_at": now,
        **values,
    }
    done = conn.execute(
        update(interactions)
        .where(I.tenant_id == row["tenant_id"], I.id == row["id"], I.lease_owner == owner)
        .values(**changes)
    )
    if done.rowcount == 1:
        row.update(changes)
    return done.rowcount == 1


def close_interaction(
    conn: Connection, row: dict[str, Any], final: bool, call_result: int | None, now: datetime
) -> None:
    """After a settle: TIMER until the next dial, or FINAL; the lease is given back."""
    status = S.FINAL if final else S.TIMER
    conn.execute(
        update(interactions)
        .where(I.tenant_id == row["tenant_id"], I.id == row["id"])
        .values(
            callback_status=int(status),
            status=int(STATUS_OF[status]),
            call_result=call_result,
            due_at=None,
            lease_owner=None,
            lease_until=None,
            agent_id=None,
            end_date=now if final else None,
            updated_at=now,
        )
    )


def insert_undialled_attempt(
    conn: Connection,
    row: dict[str, Any],
    number: str,
    number_index: int,
    agent_id: str | None,
    result: CustomerResult,
    now: datetime,
) -> int | None:
    """An attempt that placed no call (SKIP, OPER_LOGOUT in preview); None if the row moved."""
    attempt_no = int(row["attempts"]) + 1
    guard = conn.execute(
        update(interactions)
        .where(
            I.tenant_id == row["tenant_id"],
            I.id == row["id"],
            I.attempts == attempt_no - 1,
        )
        .values(attempts=attempt_no, updated_at=now)
    )
    if guard.rowcount != 1:
        return None
    conn.execute(
        insert(attempts).values(
            tenant_id=row["tenant_id"],
            interaction_id=row["id"],
            attempt_no=attempt_no,
            call_id=f"{row['id']}-{attempt_no}",
            campaign_id=row["campaign_id"],
            customer_id=row["customer_id"],
            agent_id=agent_id,
            number=number,
            number_index=number_index,
            placed_at=now,
            ended_at=now,
            customer_result=result.value,
            dialed=False,
        )
    )
    row["attempts"] = attempt_no
    return attempt_no


def attempts_of(conn: Connection, tenant_id: str, interaction_id: str) -> list[dict[str, Any]]:
    """The interaction's attempts, oldest first."""
    rows = conn.execute(
        select(attempts)
        .where(attempts.c.tenant_id == tenant_id, attempts.c.interaction_id == interaction_id)
        .order_by(attempts.c.attempt_no)
    ).mappings()
    return [dict(r) for r in rows]


def set_attempt(
    conn: Connection, tenant_id: str, interaction_id: str, attempt_no: int, **values: Any
) -> None:
    conn.execute(
        update(attempts)
        .where(
            attempts.c.tenant_id == tenant_id,
            attempts.c.interaction_id == interaction_id,
            attempts.c.attempt_no == attempt_no,
        )
        .values(**values)
    )


def waiting_callbacks(conn: Connection, tenant_id: str, queue_id: str, now: datetime) -> int:
    """Callbacks of the queue waiting for an agent (`ix_interactions_queue_wait`), up to 100."""
    inner = (
        select(I.id)
        .where(
            I.tenant_id == tenant_id,
            I.queue_id == queue_id,
            I.callback_status == int(S.QUEUED),
            I.start_time <= now,
            I.flow != CAMPAIGN_FLOW,
        )
        .limit(100)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def write_ratio(conn: Connection, tenant_id: str, campaign_id: str, ratio: float) -> None:
    """The tuned `increasePredictiveRatio`, for OBI to report."""
    conn.execute(
        update(campaigns)
        .where(K.tenant_id == tenant_id, K.id == campaign_id)
        .values(increase_predictive_ratio=round(ratio, 3))
    )


def preview_customer_of(
    conn: Connection, tenant_id: str, customer_ids: Sequence[str]
) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(customers).where(C.tenant_id == tenant_id, C.id.in_(list(customer_ids)))
    ).mappings()
    return [dict(r) for r in rows]
