"""The native agent API over HTTP: log in, pause, state, offers, supervisors' view."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from rappel.api.native import agent as agent_api
from rappel.services import agents as agents_service
from rappel.services.demo import API_TOKEN, TENANT

ACME = {"Authorization": f"Bearer {API_TOKEN}"}


@contextmanager
def _login(http: httpx.Client, username: str, password: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=str(http.base_url), timeout=10) as client:
        answer = client.post(
            "/v1/auth/login", json={"tenant": TENANT, "username": username, "password": password}
        )
        assert answer.status_code == 200, answer.text
        yield client


def test_agent_logs_in_pauses_and_logs_out_with_its_session(http: httpx.Client, demo: str) -> None:
    with _login(http, "agent1", "agent1-demo") as agent:
        assert agent.get("/v1/agent/state").json()["state"] == "LOGGED_OUT"
        assert agent.post("/v1/agent/login").json()["state"] == "READY"
        paused = agent.post("/v1/agent/pause", json={"reason": "lunch"}).json()
        assert (paused["state"], paused["reason"]) == ("PAUSED", "lunch")
        assert agent.post("/v1/agent/ready").json()["state"] == "READY"
        assert agent.get("/v1/agent/offer").status_code == 204
        assert agent.post("/v1/agent/logout").json()["state"] == "LOGGED_OUT"


def test_pause_without_a_reason_is_refused(http: httpx.Client, demo: str) -> None:
    with _login(http, "agent2", "agent2-demo") as agent:
        agent.post("/v1/agent/login")
        answer = agent.post("/v1/agent/pause", json={"reason": ""})
        assert answer.status_code == 422


def test_accepting_an_offer_that_is_not_on_the_desk_is_a_conflict(
    http: httpx.Client, demo: str
) -> None:
    with _login(http, "agent1", "agent1-demo") as agent:
        agent.post("/v1/agent/login")
        answer = agent.post("/v1/agent/offers/0123456789ABCDEF0123456789ABCDEF/accept")
        assert answer.status_code == 409
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_supervisor_sees_every_agents_state(http: httpx.Client, demo: str) -> None:
    with _login(http, "agent3", "agent3-demo") as agent:
        agent.post("/v1/agent/login", json={"paused_reason": "training"})
        assert agent.get("/v1/agents/states").status_code == 403
    states = {s["state"] for s in http.get("/v1/agents/states", headers=ACME).json()}
    assert "PAUSED" in states
    assert "LOGGED_OUT" in states


def test_a_token_acts_for_an_agent_named_by_id(http: httpx.Client, demo: str) -> None:
    agents = http.get("/v1/agents/states", headers=ACME).json()
    agent_id = agents[0]["agent_id"]
    answer = http.post(f"/v1/agent/login?agent_id={agent_id}", headers=ACME)
    assert answer.json()["state"] == "READY"
    # A token is no agent: without agent_id there is no desk to act on.
    assert http.post("/v1/agent/login", headers=ACME).status_code == 403


def _next_event(lines: Iterator[str]) -> tuple[str, dict[str, Any]]:
    """The next `event:` of a server-sent event stream and its JSON data."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is not None:
            return event, json.loads(line.removeprefix("data: "))
    raise AssertionError("the event stream ended")


def test_the_event_stream_pushes_each_state_change_as_it_is_committed(
    http: httpx.Client, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Re-reading only once a minute: within the client's 10 s read timeout, every
    # event below can only come from the change waking the stream.
    monkeypatch.setattr(agent_api, "EVENTS_RECHECK_S", 60.0)
    with _login(http, "agent1", "agent1-demo") as agent:
        agent.post("/v1/agent/login")
        with agent.stream("GET", "/v1/agent/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert _next_event(lines)[1]["state"] == "READY"
            paused = agent.post("/v1/agent/pause", json={"reason": "coffee"})
            assert paused.status_code == 200
            event, data = _next_event(lines)
            assert (event, data["state"], data["reason"]) == ("state", "PAUSED", "coffee")
            # A change made with the tenant token for this agent wakes it too.
            agent_id = data["agent_id"]
            ready = http.post("/v1/agent/ready", params={"agent_id": agent_id}, headers=ACME)
            assert ready.status_code == 200
            assert _next_event(lines)[1]["state"] == "READY"
    # The stream is closed: its listener goes once the server has seen the disconnect.
    deadline = time.monotonic() + 10
    while any(_is_stream(listener) for listener in agents_service._listeners):
        assert time.monotonic() < deadline, "the closed stream still listens"
        time.sleep(0.05)


def _is_stream(listener: object) -> bool:
    return getattr(listener, "__qualname__", "").startswith("events.")


@pytest.mark.parametrize(
    ("callback_at", "reason"),
    [
        # Year 10000 in UTC: accepted, the engine could never schedule it.
        ("9999-12-31T23:59:59-14:00", "outside years 1 to 9999"),
        ("0001-01-01T00:00:00+14:00", "outside years 1 to 9999"),
        ("2031-03-01T10:00:00", "must carry a time zone"),
    ],
)
def test_a_callback_time_utc_cannot_hold_is_refused_before_the_wrap_up(
    http: httpx.Client, demo: str, callback_at: str, reason: str
) -> None:
    with _login(http, "agent1", "agent1-demo") as agent:
        agent.post("/v1/agent/login")
        answer = agent.post(
            f"/v1/agent/calls/{'A' * 32}/wrapup",
            json={"result": "CALLBACK", "callback_at": callback_at},
        )
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "callback_at"
        assert reason in answer.json()["detail"]
        assert agent.get("/v1/agent/state").json()["state"] == "READY"
