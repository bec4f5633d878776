"""Loads attempt records, customers and agent state changes for `domain.statistics`.

Nothing here counts: rows are read and handed to the domain functions, which
define every statistic. Windows are [start, end) in UTC; attempts are read from
the window's start on (later ones decide whether a customer's *last* attempt
fell in the window), agent state changes up to its end (time accounting needs
the state each agent was in when the window opened).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from rappel.domain.agent import AgentState, AgentStateChange
from rappel.domain.codes import CallResult
from rappel.domain.results import CustomerResult
from rappel.domain.statistics import AttemptRecord, CustomerRecord, Window
from rappel.store.tables import agent_state_log, attempts, customers

T = attempts.c
U = customers.c
L = agent_state_log.c
_CHUNK = 500


def _result(value: str | None, default: CustomerResult) -> CustomerResult:
    try:
        return CustomerResult(value) if value else default
    except ValueError:
        return default


def _call_result(value: int | None) -> CallResult | None:
    try:
        return None if value is None else CallResult(value)
    except ValueError:
        return None


def load_attempts(
    conn: Connection,
    tenant_id: str,
    campaign_ids: Sequence[str] | None,
    since: datetime | None,
    *,
    campaigns_only: bool = True,
) -> list[AttemptRecord]:
    """Attempts started at or after `since` (all when None).

    OBI counts campaign attempts only; the dashboard's charts pass
    `campaigns_only=False` to count queue callbacks with the same computations.
    """
    query = select(
        T.campaign_id,
        T.customer_id,
        T.agent_id,
        T.placed_at,
        T.call_result,
        T.customer_result,
        T.amount,
        T.dialed,
    ).where(T.tenant_id == tenant_id)
    if campaigns_only:
        query = query.where(T.campaign_id.is_not(None))
    if campaign_ids is not None:
        query = query.where(T.campaign_id.in_(list(campaign_ids)))
    if since is not None:
        query = query.where(T.placed_at >= since)
    return [
        AttemptRecord(
            campaign_id=r.campaign_id,
            customer_id=r.customer_id,
            agent_id=r.agent_id,
            started_at=r.placed_at,
            call_result=_call_result(r.call_result),
            # An attempt still in progress has no result yet: it is dialling.
            customer_result=_result(r.customer_result, CustomerResult.DIALING),
            amount=r.amount,
            dialed=bool(r.dialed),
        )
        for r in conn.execute(query)
    ]


def load_customers(
    conn: Connection, tenant_id: str, customer_ids: Iterable[str]
) -> list[CustomerRecord]:
    wanted = sorted(set(customer_ids))
    out: list[CustomerRecord] = []
    for start in range(0, len(wanted), _CHUNK):
        query = select(
            U.id,
            U.campaign_id,
            U.result,
            U.created_at,
            U.call_result,
            U.classifier,
            U.call_count,
            U.next_call_at,
        ).where(U.tenant_id == tenant_id, U.id.in_(wanted[start : start + _CHUNK]))
        out += [_customer(r) for r in conn.execute(query)]
    return out


def load_campaign_customers(
    conn: Connection, tenant_id: str, campaign_id: str
) -> list[CustomerRecord]:
    """Every customer of one campaign (tests and small campaigns)."""
    query = select(
        U.id,
        U.campaign_id,
        U.result,
        U.created_at,
        U.call_result,
        U.classifier,
        U.call_count,
        U.next_call_at,
    ).where(U.tenant_id == tenant_id, U.campaign_id == campaign_id)
    return [_customer(r) for r in conn.execute(query)]


def _customer(r: Any) -> CustomerRecord:
    return CustomerRecord(
        customer_id=r.id,
        campaign_id=r.campaign_id,
        result=_result(r.result, CustomerResult.DIALING),
        created_at=r.created_at,
        call_result=_result(r.call_result, CustomerResult.DIALING) if r.call_result else None,
        classifier=r.classifier,
        call_count=r.call_count,
        next_call_at=r.next_call_at,
    )


def customers_created(
    conn: Connection, tenant_id: str, campaign_ids: Sequence[str], window: Window
) -> dict[str, int]:
    """Customers created in the window, per campaign (OBI numberOfCustomers)."""
    query = select(U.campaign_id, func.count()).where(
        U.tenant_id == tenant_id, U.campaign_id.in_(list(campaign_ids))
    )
    if window.start is not None:
        query = query.where(U.created_at >= window.start)
    if window.end is not None:
        query = query.where(U.created_at < window.end)
    return {r[0]: int(r[1]) for r in conn.execute(query.group_by(U.campaign_id))}


def load_state_changes(
    conn: Connection, tenant_id: str, until: datetime | None, agent_ids: Sequence[str] | None
) -> list[AgentStateChange]:
    query = select(L.agent_id, L.state, L.reason, L.at, L.interaction_id, L.campaign_id).where(
        L.tenant_id == tenant_id
    )
    if until is not None:
        query = query.where(L.at < until)
    if agent_ids is not None:
        query = query.where(L.agent_id.in_(list(agent_ids)))
    out = []
    for r in conn.execute(query.order_by(L.agent_id, L.seq)):
        try:
            state = AgentState(r.state)
        except ValueError:
            continue
        out.append(
            AgentStateChange(r.agent_id, state, r.reason, r.at, r.interaction_id, r.campaign_id)
        )
    return out


def result_counts(conn: Connection, tenant_id: str, campaign_id: str) -> list[Any]:
    """Customers grouped by (result, callResult, classifier), in SQL."""
    query = (
        select(U.result, U.call_result, U.classifier, func.count().label("count"))
        .where(and_(U.tenant_id == tenant_id, U.campaign_id == campaign_id))
        .group_by(U.result, U.call_result, U.classifier)
    )
    rows = list(conn.execute(query))
    return sorted(rows, key=lambda r: (r.result, r.call_result or "", r.classifier or ""))
