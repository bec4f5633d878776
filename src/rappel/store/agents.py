"""Queries for agents: the state log (the agent's current state is its last line) and routing.

Every state change is one new log line whose `seq` is the previous line's plus
one. The primary key (tenant, agent, seq) makes that an optimistic lock: two
writers that both read line n and both append n + 1 cannot both commit, so an
agent can never be reserved by two workers at once.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, and_, insert, select, union_all, update
from sqlalchemy.exc import IntegrityError

from rappel.domain.agent import AgentState, AgentStateChange
from rappel.domain.codes import CallbackStatus
from rappel.domain.errors import Conflict
from rappel.store.tables import agent_queues, agent_state_log, interactions, users


@dataclass(frozen=True)
class AgentLine:
    """An agent's last log line and its sequence number."""

    seq: int
    change: AgentStateChange


def _change(row: RowMapping) -> AgentStateChange:
    return AgentStateChange(
        agent_id=row["agent_id"],
        state=AgentState(row["state"]),
        reason=row["reason"],
        at=row["at"],
        interaction_id=row["interaction_id"],
        campaign_id=row["campaign_id"],
    )


def last_line(conn: Connection, tenant_id: str, agent_id: str) -> AgentLine | None:
    row = (
        conn.execute(
            select(agent_state_log)
            .where(agent_state_log.c.tenant_id == tenant_id, agent_state_log.c.agent_id == agent_id)
            .order_by(agent_state_log.c.seq.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return AgentLine(row["seq"], _change(row)) if row else None


def append(conn: Connection, tenant_id: str, seq: int, changes: Sequence[AgentStateChange]) -> int:
    """Append changes after line `seq`; Conflict when someone else appended first."""
    for change in changes:
        seq += 1
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(agent_state_log).values(
                        tenant_id=tenant_id,
                        agent_id=change.agent_id,
                        seq=seq,
                        state=change.state.value,
                        reason=change.reason,
                        at=change.at,
                        interaction_id=change.interaction_id,
                        campaign_id=change.campaign_id,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"agent {change.agent_id} changed state meanwhile; try again") from exc
    return seq


def log_of(
    conn: Connection, tenant_id: str, agent_id: str | None = None, since: datetime | None = None
) -> list[AgentStateChange]:
    query = select(agent_state_log).where(agent_state_log.c.tenant_id == tenant_id)
    if agent_id is not None:
        query = query.where(agent_state_log.c.agent_id == agent_id)
    if since is not None:
        query = query.where(agent_state_log.c.at >= since)
    rows = conn.execute(query.order_by(agent_state_log.c.agent_id, agent_state_log.c.seq))
    return [_change(r) for r in rows.mappings()]


#: Agents looked up per statement by `current_lines` (keeps statements short).
_LINES_PER_STATEMENT = 200


def current_lines(
    conn: Connection, tenant_id: str, agent_ids: Collection[str] | None = None
) -> dict[str, AgentLine]:
    """The last line of each agent of the tenant (or of `agent_ids`), by agent id.

    Each agent's last line is one backward probe of the primary key (a UNION
    ALL of `ORDER BY seq DESC LIMIT 1`), so the cost grows with the number of
    agents and never with the length of the log. A join against a grouped
    `max(seq)` made PostgreSQL's planner, misjudging a young log from stale
    statistics, rescan the whole log once per log line: routing became
    quadratic in the day's state changes and the engine stalled.
    """
    if agent_ids is None:
        agent_ids = [
            r[0] for r in conn.execute(select(users.c.id).where(users.c.tenant_id == tenant_id))
        ]
    wanted = list(dict.fromkeys(agent_ids))
    lines: dict[str, AgentLine] = {}
    for start in range(0, len(wanted), _LINES_PER_STATEMENT):
        probes = [
            _last_line_probe(tenant_id, a) for a in wanted[start : start + _LINES_PER_STATEMENT]
        ]
        query = probes[0] if len(probes) == 1 else union_all(*probes)
        for r in conn.execute(query).mappings():
            lines[r["agent_id"]] = AgentLine(r["seq"], _change(r))
    return lines


def _last_line_probe(tenant_id: str, agent_id: str) -> Select[Any]:
    last = (
        select(agent_state_log)
        .where(agent_state_log.c.tenant_id == tenant_id, agent_state_log.c.agent_id == agent_id)
        .order_by(agent_state_log.c.seq.desc())
        .limit(1)
        .subquery()
    )
    # Wrapped, since SQLite refuses ORDER BY/LIMIT directly inside a compound select.
    return select(last)


def agents_of_queue(conn: Connection, tenant_id: str, queue_id: str | None) -> list[str]:
    """The agents who take calls from `queue_id`; every agent of the tenant when it is None."""
    if queue_id is None:
        query = select(users.c.id).where(
            users.c.tenant_id == tenant_id, users.c.role == "agent", users.c.enabled.is_(True)
        )
    else:
        query = select(agent_queues.c.agent_id).where(
            agent_queues.c.tenant_id == tenant_id, agent_queues.c.queue_id == queue_id
        )
    return [r[0] for r in conn.execute(query)]


def queues_of_agent(conn: Connection, tenant_id: str, agent_id: str) -> list[str]:
    rows = conn.execute(
        select(agent_queues.c.queue_id).where(
            agent_queues.c.tenant_id == tenant_id, agent_queues.c.agent_id == agent_id
        )
    )
    return [r[0] for r in rows]


def wake_waiting(
    conn: Connection, tenant_id: str, queue_ids: Sequence[str], agent_id: str, now: datetime
) -> int:
    """Make the oldest callback waiting for an agent in these queues due now.

    The agent's personal callbacks come first. Only a parked row (no lease
    owner) is touched, so a live call held by a worker is never disturbed.
    Returns how many rows were woken (0 or 1).
    """
    waiting = and_(
        interactions.c.tenant_id == tenant_id,
        interactions.c.callback_status == int(CallbackStatus.QUEUED),
        interactions.c.lease_owner.is_(None),
    )
    for condition in (
        interactions.c.agent_id == agent_id,
        interactions.c.queue_id.in_(list(queue_ids)) if queue_ids else None,
        interactions.c.queue_id.is_(None),
    ):
        if condition is None:
            continue
        row = conn.execute(
            select(interactions.c.id)
            .where(waiting, condition)
            .order_by(interactions.c.start_time)
            .limit(1)
        ).first()
        if row is not None:
            result = conn.execute(
                update(interactions)
                .where(interactions.c.tenant_id == tenant_id, interactions.c.id == row[0])
                .values(due_at=now)
            )
            return int(result.rowcount or 0)
    return 0
