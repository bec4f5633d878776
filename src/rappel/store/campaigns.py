"""Queries for campaigns and dialers, and the SQL form of the OBI campaign counts.

`counts_by_campaign` mirrors `rappel.domain.statistics.campaign_counts` in one
aggregate query; the integration tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    and_,
    case,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)

from rappel.domain.results import HANDLED_RESULTS, CustomerResult
from rappel.domain.statistics import CampaignCounts
from rappel.store.tables import (
    agent_queues,
    agent_state_log,
    campaigns,
    customers,
    dialers,
    queues,
)

K = campaigns.c
#: OBI campaign fields searchable in SQL, and their columns.
TEXT_FIELDS: dict[str, Any] = {
    "name": K.name,
    "dialerName": dialers.c.name,
    "dialingMode": K.dialing_mode,
    "queueName": queues.c.name,
    "customIvrNumber": K.custom_ivr_number,
    "timeZone": K.time_zone,
}
ID_FIELDS: dict[str, Any] = {"dialerId": K.dialer_id, "queueId": K.queue_id}
DATE_FIELDS: dict[str, Any] = {
    "startDate": K.start_date,
    "endDate": K.end_date,
    "registered": K.registered,
}


def _base() -> Any:
    return (
        select(
            campaigns,
            dialers.c.name.label("dialer_name"),
            dialers.c.dialer_type.label("dialer_type"),
            queues.c.name.label("queue_name"),
        )
        .join(dialers, and_(dialers.c.tenant_id == K.tenant_id, dialers.c.id == K.dialer_id))
        .join(queues, and_(queues.c.tenant_id == K.tenant_id, queues.c.id == K.queue_id))
    )


def get_campaign(conn: Connection, tenant_id: str, campaign_id: str) -> RowMapping | None:
    query = _base().where(K.tenant_id == tenant_id, K.id == campaign_id)
    return conn.execute(query).mappings().first()


def existing_ids(conn: Connection, tenant_id: str, ids: Sequence[str]) -> set[str]:
    """Those of `ids` that are campaigns of the tenant."""
    if not ids:
        return set()
    query = select(K.id).where(K.tenant_id == tenant_id, K.id.in_(ids))
    return set(conn.execute(query).scalars())


def list_campaigns(
    conn: Connection, tenant_id: str, conditions: Sequence[ColumnElement[bool]]
) -> list[RowMapping]:
    query = _base().where(K.tenant_id == tenant_id, *conditions).order_by(K.name, K.id)
    return list(conn.execute(query).mappings())


def insert_campaign(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(campaigns).values(**values))


def update_campaign(
    conn: Connection, tenant_id: str, campaign_id: str, values: dict[str, Any]
) -> bool:
    done = conn.execute(
        update(campaigns).where(K.tenant_id == tenant_id, K.id == campaign_id).values(**values)
    )
    return done.rowcount == 1


def get_dialer(conn: Connection, tenant_id: str, dialer_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(dialers).where(dialers.c.tenant_id == tenant_id, dialers.c.id == dialer_id)
        )
        .mappings()
        .first()
    )


def insert_dialer(conn: Connection, tenant_id: str, dialer_id: str, name: str, kind: str) -> None:
    conn.execute(
        insert(dialers).values(tenant_id=tenant_id, id=dialer_id, name=name, dialer_type=kind)
    )


def first_dialer(conn: Connection, tenant_id: str, dialer_type: str) -> RowMapping | None:
    return (
        conn.execute(
            select(dialers)
            .where(dialers.c.tenant_id == tenant_id, dialers.c.dialer_type == dialer_type)
            .order_by(dialers.c.id)
        )
        .mappings()
        .first()
    )


def counts_by_campaign(
    conn: Connection, tenant_id: str, campaign_ids: Sequence[str], now: datetime
) -> dict[str, CampaignCounts]:
    """OBI total/handled/notHandled/callable/maxCalls/filtered per campaign, in SQL."""
    if not campaign_ids:
        return {}
    U = customers.c
    handled = U.result.in_(sorted(r.value for r in HANDLED_RESULTS))
    filtered = U.result == CustomerResult.FILTERED.value
    max_calls = and_(U.result == CustomerResult.MAXCALLS.value, U.call_count >= K.retry_count + 1)
    due = or_(U.next_call_at.is_(None), U.next_call_at <= now)
    callable_ = and_(not_(handled), not_(filtered), not_(max_calls), due)

    def tally(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = (
        select(
            U.campaign_id,
            func.count().label("total"),
            tally(handled).label("handled"),
            tally(callable_).label("callable"),
            tally(max_calls).label("max_calls"),
            tally(filtered).label("filtered"),
        )
        .join(campaigns, and_(K.tenant_id == U.tenant_id, K.id == U.campaign_id))
        .where(U.tenant_id == tenant_id, U.campaign_id.in_(list(campaign_ids)))
        .group_by(U.campaign_id)
    )
    out = {cid: CampaignCounts(0, 0, 0, 0, 0, 0) for cid in campaign_ids}
    for row in conn.execute(query).mappings():
        total, done = int(row["total"]), int(row["handled"])
        out[row["campaign_id"]] = CampaignCounts(
            total=total,
            handled=done,
            notHandled=total - done,
            callable=int(row["callable"]),
            maxCalls=int(row["max_calls"]),
            filtered=int(row["filtered"]),
        )
    return out


def logged_on_by_queue(conn: Connection, tenant_id: str) -> dict[str, int]:
    """Agents whose latest state is not LOGGED_OUT, counted per queue they belong to."""
    L = agent_state_log.c
    latest = (
        select(L.agent_id, func.max(L.seq).label("seq"))
        .where(L.tenant_id == tenant_id)
        .group_by(L.agent_id)
        .subquery()
    )
    on = (
        select(L.agent_id)
        .join(latest, and_(latest.c.agent_id == L.agent_id, latest.c.seq == L.seq))
        .where(L.tenant_id == tenant_id, L.state != "LOGGED_OUT")
        .subquery()
    )
    Q = agent_queues.c
    query = (
        select(Q.queue_id, func.count())
        .where(Q.tenant_id == tenant_id, Q.agent_id.in_(select(on.c.agent_id)))
        .group_by(Q.queue_id)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query)}
