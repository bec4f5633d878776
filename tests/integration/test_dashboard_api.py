"""The supervisor overview and the agent desk through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from rappel.clock import WallClock
from rappel.domain.codes import CallbackFlow
from rappel.services import agents, callbacks, provisioning, tenancy
from rappel.services.demo import CALLBACK_QUEUE_ID
from rappel.store.db import Database

OPERATOR = {"Authorization": "Bearer operator-test-token-0123456789"}


def sign_in(http: httpx.Client, username: str, password: str, tenant: str = "Acme") -> None:
    answer = http.post(
        "/v1/auth/login", json={"tenant": tenant, "username": username, "password": password}
    )
    assert answer.status_code == 200, answer.text


def agent_id(db: Database, tenant_id: str, username: str) -> str:
    return next(u.id for u in provisioning.list_users(db, tenant_id) if u.username == username)


def ask_callback(db: Database, tenant_id: str, phone: str) -> str:
    request = callbacks.CallbackRequest(
        phone=phone, flow=CallbackFlow.ASAP, source="native", queue=CALLBACK_QUEUE_ID
    )
    return callbacks.request_callback(db, WallClock(), tenant_id, request).interaction_id


def test_overview_shows_waiting_callbacks_and_agent_states(
    http: httpx.Client, demo: str, db: Database
) -> None:
    ask_callback(db, demo, "+16505551212")
    ask_callback(db, demo, "+16505551213")
    agents.login(db, WallClock(), demo, agent_id(db, demo, "agent2"), paused_reason="Lunch")
    sign_in(http, "supervisor", "supervisor-demo-1")
    view = http.get("/v1/dashboard/overview").json()
    queue = next(q for q in view["queues"] if q["id"] == CALLBACK_QUEUE_ID)
    assert queue["waiting"] == 2
    assert queue["oldest_wait_s"] >= 0
    assert queue["agents_logged_in"] == 1
    assert queue["estimated_wait_s"] == 2 * 240  # two waiting, one agent, default handle time
    states = {a["name"]: (a["state"], a["reason"]) for a in view["agents"]}
    assert states["Bob Agent"] == ("PAUSED", "Lunch")
    assert states["Alice Agent"] == ("LOGGED_OUT", None)
    assert view["agents"][0]["name"] == "Bob Agent"  # logged-in agents first
    charts = view["charts"]
    assert charts["time_zone"] == "America/Los_Angeles"
    assert len(charts["t"]) == len(charts["calls"]) == len(charts["occupancy_pct"])


def test_overview_never_shows_another_tenant(http: httpx.Client, demo: str, db: Database) -> None:
    other = tenancy.create_tenant(db, WallClock(), {"name": "Other"})
    provisioning.create_user(
        db,
        WallClock(),
        other.id,
        {"username": "boss", "password": "boss-password", "role": "supervisor"},
    )
    ask_callback(db, demo, "+16505551212")
    agents.login(db, WallClock(), demo, agent_id(db, demo, "agent1"))
    sign_in(http, "boss", "boss-password", tenant="Other")
    view = http.get("/v1/dashboard/overview").json()
    assert view["queues"] == []
    assert view["agents"] == []
    assert view["charts"]["calls_today"] == 0
    obi = http.get("/RI/obi/campaigns", headers={"Accept": "application/json"})
    assert obi.json() == []


def test_agents_cannot_read_the_overview_and_supervisors_have_no_desk(
    http: httpx.Client, demo: str
) -> None:
    sign_in(http, "agent1", "agent1-demo")
    assert http.get("/v1/dashboard/overview").status_code == 403
    http.cookies.clear()
    sign_in(http, "supervisor", "supervisor-demo-1")
    assert http.get("/v1/dashboard/desk").status_code == 403
    http.cookies.clear()
    assert http.get("/v1/dashboard/overview").status_code == 401


def test_desk_shows_state_and_the_day_of_the_agent(
    http: httpx.Client, demo: str, db: Database
) -> None:
    me = agent_id(db, demo, "agent1")
    agents.login(db, WallClock(), demo, me, paused_reason="Training")
    sign_in(http, "agent1", "agent1-demo")
    desk = http.get("/v1/dashboard/desk").json()
    assert desk["state"] == "PAUSED"
    assert desk["reason"] == "Training"
    assert desk["work"] is None
    assert desk["today"]["handled"] == 0
    assert desk["today"]["pause_s"] >= 0
