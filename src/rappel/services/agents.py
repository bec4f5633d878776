"""Agent use cases: log in, ready, pause, accept, reject, hang up, wrap up, log out.

Each call is one transaction that appends to the agent's state log (the
agent's state is the log's last line; `store.agents` explains the lock). An
action that concerns a callback changes the agent and then *wakes* the
callback (`due_at = now`, when no worker holds it): the engine, reading the
agent's new state, decides what happens to the callback. The one exception is
the wrap-up, which also records the disposition and moves the callback to
PROCESSED_BY_AGT, because it carries the agent's own data; the engine then
settles it (FINAL with its webhook, or a retry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select, update

from rappel.clock import Clock
from rappel.domain.agent import Agent, AgentState, AgentStateChange
from rappel.domain.callback import STATUS_OF
from rappel.domain.codes import CallbackStatus, CallResult
from rappel.domain.errors import Conflict, InvalidTransition, NotFound, PermissionDenied
from rappel.domain.results import Disposition
from rappel.services.webhooks import disposition_to_json
from rappel.store import agents as store
from rappel.store.agents import AgentLine
from rappel.store.db import Database
from rappel.store.signals import work_changed
from rappel.store.tables import attempts, interactions, session_parameters, users

log = logging.getLogger(__name__)
A = AgentState
S = CallbackStatus

#: Called after a commit with (tenant_id, agent_id) whenever an agent's state changed.
AgentListener = Callable[[str, str], None]
_listeners: list[AgentListener] = []


def add_listener(listener: AgentListener) -> None:
    _listeners.append(listener)


def remove_listener(listener: AgentListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify(tenant_id: str, agent_id: str) -> None:
    for listener in list(_listeners):
        listener(tenant_id, agent_id)


@dataclass(frozen=True)
class AgentView:
    """An agent's current state, as the API shows it."""

    agent_id: str
    state: AgentState
    reason: str | None
    since: datetime | None
    interaction_id: str | None


def _agent(line: AgentLine | None, agent_id: str) -> Agent:
    if line is None:
        return Agent(agent_id)
    c = line.change
    return Agent(agent_id, c.state, c.reason, c.at, c.interaction_id, c.campaign_id)


def _view(agent: Agent) -> AgentView:
    return AgentView(agent.agent_id, agent.state, agent.reason, agent.since, agent.interaction_id)


def _check_agent(conn: Connection, tenant_id: str, agent_id: str) -> None:
    row = conn.execute(
        select(users.c.role, users.c.enabled).where(
            users.c.tenant_id == tenant_id, users.c.id == agent_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no user {agent_id}")
    if row[0] != "agent" or not row[1]:
        raise PermissionDenied("only an enabled agent takes calls")


def _check_phone(conn: Connection, tenant_id: str, agent_id: str) -> None:
    phone = conn.execute(
        select(users.c.phone).where(users.c.tenant_id == tenant_id, users.c.id == agent_id)
    ).scalar()
    if not phone:
        raise Conflict(
            'this agent has no phone: set one (PATCH /v1/users/{id} with "phone") '
            "before going READY; calls reach agents on their own phones"
        )


def agent_phone(conn: Connection, tenant_id: str, agent_id: str) -> str | None:
    """Where the agent takes calls, if set."""
    phone = conn.execute(
        select(users.c.phone).where(users.c.tenant_id == tenant_id, users.c.id == agent_id)
    ).scalar()
    return str(phone) if phone else None


def _change(
    db: Database,
    clock: Clock,
    tenant_id: str,
    agent_id: str,
    action: Callable[[Connection, Agent, datetime], None],
) -> AgentView:
    now = clock.now()
    with db.begin() as conn:
        _check_agent(conn, tenant_id, agent_id)
        line = store.last_line(conn, tenant_id, agent_id)
        agent = _agent(line, agent_id)
        action(conn, agent, now)
        store.append(conn, tenant_id, line.seq if line else 0, agent.changes)
        work_changed(conn)
    notify(tenant_id, agent_id)
    return _view(agent)


def _became_ready(conn: Connection, tenant_id: str, agent: Agent, now: datetime) -> None:
    if agent.state is A.READY:
        queues = store.queues_of_agent(conn, tenant_id, agent.agent_id)
        store.wake_waiting(conn, tenant_id, queues, agent.agent_id, now)


def _wake(conn: Connection, tenant_id: str, interaction_id: str | None, now: datetime) -> None:
    """Ask the engine to look at a callback now, unless a worker holds it (it is watching)."""
    if interaction_id is None:
        return
    conn.execute(
        update(interactions)
        .where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.id == interaction_id,
            interactions.c.lease_owner.is_(None),
            interactions.c.callback_status == int(S.SUBMITTED_TO_AGT),
            # Campaign calls belong to the campaign dialer, never to the callback engine.
            interactions.c.flow != "CAMPAIGN",
        )
        .values(due_at=now)
    )


# -- the agent's own actions -------------------------------------------------------


def login(
    db: Database,
    clock: Clock,
    tenant_id: str,
    agent_id: str,
    paused_reason: str | None = None,
    *,
    require_phone: bool = False,
) -> AgentView:
    """Log in READY, or PAUSED with a reason. Logging in again is harmless.

    `require_phone`: calls reach agents on their own phones (a SIP node), so an
    agent without one cannot be READY.
    """

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        if agent.state is not A.LOGGED_OUT:
            return
        if paused_reason is None and require_phone:
            _check_phone(conn, tenant_id, agent_id)
        agent.login(now, paused_reason=paused_reason)
        _became_ready(conn, tenant_id, agent, now)

    return _change(db, clock, tenant_id, agent_id, act)


def ready(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, *, require_phone: bool = False
) -> AgentView:
    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        if agent.state is A.READY:
            return
        if require_phone:
            _check_phone(conn, tenant_id, agent_id)
        agent.ready(now)
        _became_ready(conn, tenant_id, agent, now)

    return _change(db, clock, tenant_id, agent_id, act)


def pause(db: Database, clock: Clock, tenant_id: str, agent_id: str, reason: str) -> AgentView:
    return _change(db, clock, tenant_id, agent_id, lambda _c, a, now: a.pause(reason, now))


def logout(db: Database, clock: Clock, tenant_id: str, agent_id: str) -> AgentView:
    """Log out; a callback the agent was on is handed back to the engine."""

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        if agent.state is A.LOGGED_OUT:
            return
        cut_off = agent.logout(now)
        _wake(conn, tenant_id, cut_off, now)

    return _change(db, clock, tenant_id, agent_id, act)


def _on_offer(agent: Agent, interaction_id: str, states: tuple[AgentState, ...]) -> None:
    if agent.interaction_id != interaction_id or agent.state not in states:
        raise Conflict(f"interaction {interaction_id} is not on this agent's desk (any more)")


def accept(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, interaction_id: str
) -> AgentView:
    """Take the offered callback: the engine calls the agent, then the customer."""

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        _on_offer(agent, interaction_id, (A.PREVIEW,))
        agent.dial(now)
        _wake(conn, tenant_id, interaction_id, now)

    return _change(db, clock, tenant_id, agent_id, act)


def reject(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, interaction_id: str
) -> AgentView:
    """Refuse the offered callback: it counts as REJECTED_BY_AGT and goes to the next agent."""

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        _on_offer(agent, interaction_id, (A.PREVIEW,))
        agent.ready(now)
        _wake(conn, tenant_id, interaction_id, now)

    return _change(db, clock, tenant_id, agent_id, act)


def hang_up(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, interaction_id: str
) -> AgentView:
    """End the call (or stop the dialling): the agent goes to wrap-up."""

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        _on_offer(agent, interaction_id, (A.DIALING, A.TALKING))
        agent.wrap_up(now)
        conn.execute(
            update(attempts)
            .where(
                attempts.c.tenant_id == tenant_id,
                attempts.c.interaction_id == interaction_id,
                attempts.c.answered_at.is_not(None),
                attempts.c.ended_at.is_(None),
            )
            .values(ended_at=now, call_result=int(CallResult.OK))
        )

    return _change(db, clock, tenant_id, agent_id, act)


def wrap_up(
    db: Database,
    clock: Clock,
    tenant_id: str,
    agent_id: str,
    interaction_id: str,
    disposition: Disposition,
    pause_reason: str | None = None,
) -> AgentView:
    """Record the disposition; the agent becomes READY (or PAUSED with `pause_reason`)."""

    def act(conn: Connection, agent: Agent, now: datetime) -> None:
        _on_offer(agent, interaction_id, (A.WRAPUP,))
        record_disposition(conn, tenant_id, agent_id, interaction_id, disposition, now)
        if pause_reason:
            agent.pause(pause_reason, now)
        else:
            agent.ready(now)
            _became_ready(conn, tenant_id, agent, now)

    return _change(db, clock, tenant_id, agent_id, act)


def record_disposition(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    interaction_id: str,
    disposition: Disposition,
    now: datetime,
) -> None:
    """The disposition on the interaction and its last attempt; the callback to PROCESSED_BY_AGT."""
    moved = conn.execute(
        update(interactions)
        .where(
            interactions.c.tenant_id == tenant_id,
            interactions.c.id == interaction_id,
            interactions.c.callback_status == int(S.SUBMITTED_TO_AGT),
            interactions.c.agent_id == agent_id,
        )
        .values(
            callback_status=int(S.PROCESSED_BY_AGT),
            status=int(STATUS_OF[S.PROCESSED_BY_AGT]),
            disposition=disposition_to_json(disposition),
            due_at=case((interactions.c.flow == "CAMPAIGN", None), else_=now),
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    if moved.rowcount != 1:
        raise Conflict(f"interaction {interaction_id} is no longer with this agent")
    last = conn.execute(
        select(attempts.c.attempt_no)
        .where(attempts.c.tenant_id == tenant_id, attempts.c.interaction_id == interaction_id)
        .order_by(attempts.c.attempt_no.desc())
        .limit(1)
    ).scalar()
    if last is not None:
        conn.execute(
            update(attempts)
            .where(
                attempts.c.tenant_id == tenant_id,
                attempts.c.interaction_id == interaction_id,
                attempts.c.attempt_no == last,
            )
            .values(
                customer_result=disposition.result.value,
                classifier=disposition.classifier,
                amount=disposition.amount,
                ended_at=func.coalesce(attempts.c.ended_at, now),
            )
        )


# -- used by the engine inside its own transactions ---------------------------------


def reserve(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    line: AgentLine,
    row: dict[str, Any],
    now: datetime,
) -> None:
    """READY -> PREVIEW with the offered interaction; Conflict when the agent moved."""
    agent = _agent(line, agent_id)
    if agent.state is not A.READY:
        raise Conflict(f"agent {agent_id} is not READY")
    agent.preview(row["id"], row["campaign_id"], max(now, agent.since or now))
    store.append(conn, tenant_id, line.seq, agent.changes)


def move_agent(
    conn: Connection,
    tenant_id: str,
    agent_id: str,
    target: AgentState,
    now: datetime,
    *,
    interaction_id: str,
    from_states: tuple[AgentState, ...],
) -> AgentStateChange | None:
    """Engine-driven change of an agent on `interaction_id`; None when the agent is elsewhere."""
    line = store.last_line(conn, tenant_id, agent_id)
    agent = _agent(line, agent_id)
    if agent.interaction_id != interaction_id or agent.state not in from_states:
        return None
    try:
        change = agent.move(target, max(now, agent.since or now))
    except InvalidTransition:
        return None
    store.append(conn, tenant_id, line.seq if line else 0, agent.changes)
    if target is A.READY:
        _became_ready(conn, tenant_id, agent, now)
    return change


def current_line(conn: Connection, tenant_id: str, agent_id: str) -> AgentLine | None:
    return store.last_line(conn, tenant_id, agent_id)


# -- reading ------------------------------------------------------------------------


def state_of(db: Database, tenant_id: str, agent_id: str) -> AgentView:
    with db.read() as conn:
        return _view(_agent(store.last_line(conn, tenant_id, agent_id), agent_id))


def states(db: Database, tenant_id: str) -> list[AgentView]:
    """Every agent of the tenant and its current state (supervisors)."""
    with db.read() as conn:
        agent_ids = store.agents_of_queue(conn, tenant_id, None)
        lines = store.current_lines(conn, tenant_id, agent_ids)
    return [_view(_agent(lines.get(a), a)) for a in sorted(agent_ids)]


def offer_of(db: Database, tenant_id: str, agent_id: str) -> dict[str, Any] | None:
    """What is on the agent's desk (PREVIEW): the callback, its customer and its window.

    Session parameters are added by the caller (they may live only in memory).
    """
    with db.read() as conn:
        line = store.last_line(conn, tenant_id, agent_id)
        if line is None or line.change.interaction_id is None:
            return None
        row = (
            conn.execute(
                select(interactions).where(
                    interactions.c.tenant_id == tenant_id,
                    interactions.c.id == line.change.interaction_id,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        saved = conn.execute(
            select(session_parameters.c.name, session_parameters.c.value).where(
                session_parameters.c.tenant_id == tenant_id,
                session_parameters.c.interaction_id == row["id"],
                session_parameters.c.display_to_agent.is_(True),
            )
        ).all()
    return {
        "interaction_id": row["id"],
        "agent_state": line.change.state.value,
        "offered_at": line.change.at,
        "flow": row["flow"],
        "callback_type": row["callback_type"],
        "callback_status": row["callback_status"],
        "customer": {"number": row["customer_number"], "customer_id": row["customer_id"]},
        "queue_id": row["queue_id"],
        "window": {"start": row["start_time"], "end": row["end_time"]},
        "attempts": row["attempts"],
        "extTransactionData": [list(p) for p in row["ext_transaction_data"] or []],
        "user_data": dict(row["udata"] or {}),
        "displayToAgent": {name: value for name, value in saved},
    }
