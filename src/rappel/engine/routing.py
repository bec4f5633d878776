"""Routing: which agent gets a callback, and the offer that reserves that agent.

* Among the queue's agents who are READY, the one idle longest (READY since
  the earliest instant) gets it; ties go to the smaller agent id, so the
  choice never depends on row order.
* A personal callback (its `agent_id` set) goes to that agent first whenever
  that agent is READY. A personal callback rejected by its agent loses the
  preference (the domain clears `agent_id` on rejection), so it is not offered
  back and forth.
* An offer puts the agent in PREVIEW with the interaction and the callback in
  SUBMITTED_TO_AGT, both in one transaction. The agent's log line is an
  optimistic lock (see `store.agents`): two workers cannot reserve one agent.
* An offer not accepted within `offer_timeout_s` counts as REJECTED_BY_AGT:
  the agent goes back to READY (now the most recently idle, so the next
  routing picks somebody else when anyone else is free).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from rappel.domain.agent import AgentState
from rappel.domain.codes import CallbackStatus
from rappel.domain.errors import Conflict
from rappel.engine import scheduler
from rappel.services import agents as agent_service
from rappel.store import agents as agent_store
from rappel.store.agents import AgentLine

S = CallbackStatus


def pick_agent(
    lines: Mapping[str, AgentLine], candidates: Sequence[str], personal: str | None
) -> list[str]:
    """READY candidates in the order they should be tried."""
    ready = [
        (line.change.at, agent_id)
        for agent_id in candidates
        if (line := lines.get(agent_id)) is not None and line.change.state is AgentState.READY
    ]
    ordered = [agent_id for _, agent_id in sorted(ready)]
    if personal is not None and personal in ordered:
        ordered.remove(personal)
        ordered.insert(0, personal)
    return ordered


def has_ready_agent(conn: Connection, row: Mapping[str, Any]) -> bool:
    candidates = agent_store.agents_of_queue(conn, row["tenant_id"], row["queue_id"])
    if row["agent_id"] is not None:
        candidates.append(row["agent_id"])
    lines = agent_store.current_lines(conn, row["tenant_id"], candidates)
    return bool(pick_agent(lines, candidates, None))


def offer(
    conn: Connection, row: dict[str, Any], now: datetime, owner: str | None, deadline: datetime
) -> str | None:
    """Offer `row` (QUEUED or DISTRIBUTED) to the best READY agent; the agent's id or None.

    A parked row is left leased to nobody with `due_at` at the offer deadline; a
    row held by a live call (customer first) stays with its worker.
    """
    tenant_id = row["tenant_id"]
    candidates = agent_store.agents_of_queue(conn, tenant_id, row["queue_id"])
    personal = row["agent_id"]
    if personal is not None and personal not in candidates:
        candidates.append(personal)
    lines = agent_store.current_lines(conn, tenant_id, candidates)
    snapshot = dict(row)
    for agent_id in pick_agent(lines, candidates, personal):
        try:
            with conn.begin_nested():
                agent_service.reserve(conn, tenant_id, agent_id, lines[agent_id], row, now)
                path: tuple[CallbackStatus, ...] = (S.DISTRIBUTED, S.SUBMITTED_TO_AGT)
                if row["callback_status"] == S.DISTRIBUTED:
                    path = (S.SUBMITTED_TO_AGT,)
                live = owner is not None and row["callback_status"] == S.DISTRIBUTED
                values: dict[str, Any] = {"agent_id": agent_id}
                if not live:
                    values.update(due_at=deadline, lease_owner=None, lease_until=None)
                if not scheduler.moves(conn, row, path, now, owner=owner, **values):
                    raise Conflict("the callback moved meanwhile")
        except Conflict:
            row.clear()
            row.update(snapshot)
            continue
        return agent_id
    return None
