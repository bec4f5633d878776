"""What the agent desktop and the supervisor dashboard show, computed by the shared code.

Nothing here re-implements a statistic: agent times come from
`domain.agent.time_in_states`, call counts and abandons from
`domain.statistics.campaign_statistics` (the code behind OBI's statistics),
queue waits from the widget's estimate. Campaign statistics themselves are
read by the dashboard from `/RI/obi/campaigns?statistics=true`, so they are
OBI's own numbers. Every read is scoped by the caller's tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rappel.clock import Clock
from rappel.domain.agent import AgentState, time_in_states
from rappel.domain.errors import NotFound
from rappel.domain.results import is_handled
from rappel.domain.statistics import AttemptRecord, CampaignStatistics, Window, campaign_statistics
from rappel.services import agents as agent_service
from rappel.services.widget import queue_estimate
from rappel.store import campaigns as campaigns_store
from rappel.store import dashboard as store
from rappel.store import interactions as interactions_store
from rappel.store import tenancy as tenant_store
from rappel.store.db import Database
from rappel.store.statistics import load_attempts, load_state_changes

INTERVAL_MINUTES = 30
#: The abandon-rate target drawn when no campaign is active (percent).
DEFAULT_ABANDON_TARGET = 3.0
BUSY = (AgentState.PREVIEW, AgentState.DIALING, AgentState.TALKING, AgentState.WRAPUP)


@dataclass(frozen=True)
class Day:
    """The tenant's local day: its UTC window and its time zone."""

    zone: ZoneInfo
    window: Window

    @classmethod
    def of(cls, zone_name: str, now: datetime) -> Day:
        zone = ZoneInfo(zone_name)
        local = now.astimezone(zone).date()
        start = datetime.combine(local, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(local + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return cls(zone, Window(start, end))


def _tenant_day(db: Database, tenant_id: str, now: datetime) -> Day:
    with db.read() as conn:
        tenant = tenant_store.get_tenant(conn, tenant_id)
    if tenant is None:
        raise NotFound("no such tenant")
    return Day.of(tenant.time_zone, now)


def _seconds(moment: datetime | None, now: datetime) -> int | None:
    return None if moment is None else max(0, int((now - moment).total_seconds()))


def _calls(attempts: list[AttemptRecord], window: Window, now: datetime) -> CampaignStatistics:
    """OBI statistics over every campaign and the queue callbacks (campaign None)."""
    parts = [
        campaign_statistics(cid, attempts, [], [], window, now)  # type: ignore[arg-type]
        for cid in {a.campaign_id for a in attempts}
    ]
    calls = sum(p.numberOfCalls for p in parts)
    abandoned = sum(p.numberOfAbandonedCalls for p in parts)
    return CampaignStatistics(numberOfCalls=calls, numberOfAbandonedCalls=abandoned)


# -- supervisor -----------------------------------------------------------------


def queues_view(db: Database, clock: Clock, tenant_id: str) -> list[dict[str, Any]]:
    now = clock.now()
    with db.read() as conn:
        tenant = tenant_store.get_tenant(conn, tenant_id)
        queues = tenant_store.list_queues(conn, tenant_id)
        oldest = {q.id: store.oldest_waiting(conn, tenant_id, q.id, now) for q in queues}
    if tenant is None:
        raise NotFound("no such tenant")
    out = []
    for q in queues:
        e = queue_estimate(db, clock, tenant, q.id)
        out.append(
            {
                "id": q.id,
                "short_id": q.short_id,
                "name": q.name,
                "enabled": q.enabled,
                "waiting": e.waiting,
                "oldest_wait_s": _seconds(oldest[q.id], now),
                "agents_logged_in": e.agents,
                "estimated_wait_s": e.wait_s,
            }
        )
    return out


def agents_view(db: Database, clock: Clock, tenant_id: str) -> list[dict[str, Any]]:
    now = clock.now()
    with db.read() as conn:
        names = store.agent_names(conn, tenant_id)
    out = []
    for view in agent_service.states(db, tenant_id):
        out.append(
            {
                "id": view.agent_id,
                "name": names.get(view.agent_id, view.agent_id),
                "state": view.state.value,
                "reason": view.reason,
                "since": view.since.isoformat() if view.since else None,
                "time_in_state_s": _seconds(view.since, now)
                if view.state is not AgentState.LOGGED_OUT
                else None,
                "interaction_id": view.interaction_id,
            }
        )
    return sorted(out, key=lambda a: (a["state"] == "LOGGED_OUT", a["name"]))


def charts_today(db: Database, clock: Clock, tenant_id: str) -> dict[str, Any]:
    """Per interval of today: calls, abandon rate (and its target), occupancy."""
    now = clock.now()
    day = _tenant_day(db, tenant_id, now)
    start = day.window.start
    assert start is not None
    with db.read() as conn:
        attempts = load_attempts(conn, tenant_id, None, start, campaigns_only=False)
        changes = load_state_changes(conn, tenant_id, day.window.end, None)
        targets = store.abandon_targets(conn, tenant_id)
    step = timedelta(minutes=INTERVAL_MINUTES)
    points: dict[str, list[Any]] = {"t": [], "calls": [], "abandon_pct": [], "occupancy_pct": []}
    at = start
    while at < now and day.window.end is not None and at < day.window.end:
        window = Window(at, at + step)
        stats = _calls(attempts, window, now)
        times = time_in_states(changes, window.start, window.end, now)
        available = times.loginTime - times.pauseTime
        busy = times.previewTime + times.callTime + times.talkingTime + times.wrapTime
        points["t"].append(int(at.timestamp()))
        points["calls"].append(stats.numberOfCalls)
        points["abandon_pct"].append(
            round(100 * stats.numberOfAbandonedCalls / stats.numberOfCalls, 1)
            if stats.numberOfCalls
            else None
        )
        points["occupancy_pct"].append(
            round(100 * busy / available, 1) if available > timedelta() else None
        )
        at += step
    total = _calls(attempts, day.window, now)
    return {
        "interval_minutes": INTERVAL_MINUTES,
        "time_zone": day.zone.key,
        "abandon_target_pct": min(targets) if targets else DEFAULT_ABANDON_TARGET,
        "calls_today": total.numberOfCalls,
        "abandoned_today": total.numberOfAbandonedCalls,
        **points,
    }


def overview(db: Database, clock: Clock, tenant_id: str) -> dict[str, Any]:
    return {
        "generated_at": clock.now().isoformat(),
        "queues": queues_view(db, clock, tenant_id),
        "agents": agents_view(db, clock, tenant_id),
        "charts": charts_today(db, clock, tenant_id),
    }


# -- agent desktop ------------------------------------------------------------------


def agent_today(db: Database, clock: Clock, tenant_id: str, agent_id: str) -> dict[str, Any]:
    """The agent's own day: calls handled, talk time, pause time (tenant's local day)."""
    now = clock.now()
    day = _tenant_day(db, tenant_id, now)
    assert day.window.start is not None
    with db.read() as conn:
        attempts = load_attempts(conn, tenant_id, None, day.window.start, campaigns_only=False)
        changes = load_state_changes(conn, tenant_id, day.window.end, [agent_id])
    times = time_in_states(changes, day.window.start, day.window.end, now)
    mine = [a for a in attempts if a.agent_id == agent_id and a.started_at in day.window]
    return {
        "handled": sum(1 for a in mine if is_handled(a.customer_result)),
        "calls": len(mine),
        "talk_s": int(times.talkingTime.total_seconds()),
        "pause_s": int(times.pauseTime.total_seconds()),
        "login_s": int(times.loginTime.total_seconds()),
    }


def desk(db: Database, clock: Clock, tenant_id: str, agent_id: str) -> dict[str, Any]:
    """The agent's state, the callback on the desk (if any) with its call, and today's stats.

    `work.session_parameters` is left empty: the data-dip values flagged displayToAgent
    may live only in memory, so the API fills them from the process's parameter store.
    """
    view = agent_service.state_of(db, tenant_id, agent_id)
    now = clock.now()
    with db.read() as conn:
        phone = agent_service.agent_phone(conn, tenant_id, agent_id)
    out: dict[str, Any] = {
        "phone": phone,
        "state": view.state.value,
        "reason": view.reason,
        "since": view.since.isoformat() if view.since else None,
        "time_in_state_s": _seconds(view.since, now),
        "today": agent_today(db, clock, tenant_id, agent_id),
        "work": None,
    }
    if view.interaction_id is not None:
        out["work"] = _work(db, tenant_id, view.interaction_id)
    return out


def _work(db: Database, tenant_id: str, interaction_id: str) -> dict[str, Any]:
    with db.read() as conn:
        row = interactions_store.get_interaction(conn, tenant_id, interaction_id)
        if row is None:
            raise NotFound(f"no interaction {interaction_id}")
        attempt = store.last_attempt(conn, tenant_id, interaction_id)
        person = store.customer(conn, tenant_id, row["customer_id"])
        campaign = (
            campaigns_store.get_campaign(conn, tenant_id, row["campaign_id"])
            if row["campaign_id"]
            else None
        )
    mode = (person and person["dialing_mode"]) or (campaign and campaign["dialing_mode"])
    return {
        "interaction_id": row["id"],
        "customer_number": row["customer_number"],
        "customer": {
            "id": row["customer_id"],
            "external_id": person["external_id"] if person else None,
            "attributes": list(person["attributes"] or []) if person else [],
        },
        "callback_type": row["callback_type"],
        "flow": row["flow"],
        "start_time": row["start_time"].isoformat(),
        "end_time": row["end_time"].isoformat() if row["end_time"] else None,
        "ext_transaction_data": [list(p) for p in row["ext_transaction_data"] or []],
        "session_parameters": {},
        "campaign": {"id": campaign["id"], "name": campaign["name"]} if campaign else None,
        "dialing_mode": mode or None,
        "callback_status": row["callback_status"],
        "call": _call_state(attempt),
    }


def _call_state(attempt: Any) -> dict[str, Any] | None:
    if attempt is None:
        return None
    state = "ended" if attempt["ended_at"] else "connected" if attempt["answered_at"] else "dialing"
    return {
        "state": state,
        "number": attempt["number"],
        "placed_at": attempt["placed_at"].isoformat(),
        "answered_at": attempt["answered_at"].isoformat() if attempt["answered_at"] else None,
        "ended_at": attempt["ended_at"].isoformat() if attempt["ended_at"] else None,
        "call_result": attempt["call_result"],
    }
