"""Agents' phones: set and validated through the users API, required to be READY on a SIP node."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services.demo import API_TOKEN, TENANT
from rappel.store.db import Database
from tests.conftest import make_settings
from tests.support.servers import running_server

ACME = {"Authorization": f"Bearer {API_TOKEN}"}


def _agent_id(http: httpx.Client, username: str) -> str:
    users = http.get("/v1/users?role=agent", headers=ACME).json()
    return next(u["id"] for u in users if u["username"] == username)


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("sip:agent1@10.0.0.5:5060", "sip:agent1@10.0.0.5:5060"),
        ("sips:dave@pbx.example.net;transport=tls", "sips:dave@pbx.example.net;transport=tls"),
        ("sip:201@[2001:db8::5]:5062", "sip:201@[2001:db8::5]:5062"),
        ("+442071234567", "442071234567"),
    ],
)
def test_an_agents_phone_is_set_and_shown(
    http: httpx.Client, demo: str, phone: str, stored: str
) -> None:
    agent_id = _agent_id(http, "agent1")
    answer = http.patch(f"/v1/users/{agent_id}", headers=ACME, json={"phone": phone})
    assert answer.status_code == 200, answer.text
    assert answer.json()["phone"] == stored
    assert http.get(f"/v1/users/{agent_id}", headers=ACME).json()["phone"] == stored
    with httpx.Client(base_url=str(http.base_url), timeout=10) as agent:
        login = {"tenant": TENANT, "username": "agent1", "password": "agent1-demo"}
        assert agent.post("/v1/auth/login", json=login).status_code == 200
        desk = agent.get("/v1/dashboard/desk")
        assert desk.status_code == 200, desk.text
        assert desk.json()["phone"] == stored


@pytest.mark.parametrize(
    "phone",
    [
        "sip:agent1@10.0.0.5:5060\r\nVia: x",
        "sip:agent1@10.0.0.5:99999",
        "sip:@10.0.0.5",
        "sip:agent 1@10.0.0.5",
        "tel:+15551234",
        "http://example.com",
        "12",
        "sip:a@b;" + "x=y;" * 20,
    ],
)
def test_a_bad_phone_is_refused_and_changes_nothing(
    http: httpx.Client, demo: str, phone: str
) -> None:
    agent_id = _agent_id(http, "agent1")
    http.patch(f"/v1/users/{agent_id}", headers=ACME, json={"phone": "sip:agent1@127.0.0.1"})
    answer = http.patch(f"/v1/users/{agent_id}", headers=ACME, json={"phone": phone})
    assert answer.status_code == 422, answer.text
    assert "phone" in answer.text
    assert http.get(f"/v1/users/{agent_id}", headers=ACME).json()["phone"] == "sip:agent1@127.0.0.1"
    created = http.post(
        "/v1/users",
        headers=ACME,
        json={"username": "erin", "password": "correct horse", "role": "agent", "phone": phone},
    )
    assert created.status_code == 422
    assert all(u["username"] != "erin" for u in http.get("/v1/users", headers=ACME).json())


def test_a_user_is_created_with_a_phone_and_null_removes_it(http: httpx.Client, demo: str) -> None:
    created = http.post(
        "/v1/users",
        headers=ACME,
        json={
            "username": "frank",
            "password": "correct horse",
            "role": "agent",
            "phone": "sip:frank@192.0.2.7:5070",
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "sip:frank@192.0.2.7:5070"
    cleared = http.patch(f"/v1/users/{created.json()['id']}", headers=ACME, json={"phone": None})
    assert cleared.json()["phone"] is None


@pytest.fixture
def sip_node(db: Database) -> Iterator[str]:
    """An API node configured for real calls (the engine is not needed to change states)."""
    settings = make_settings(db, telephony="sip", sip_trunk="sip:127.0.0.1:5999")
    container = Container(settings=settings, db=db, clock=WallClock(), secret=settings.secret_key)
    with running_server(create_app(container)) as url:
        yield url


def test_an_agent_without_a_phone_cannot_go_ready_on_a_sip_node(
    http: httpx.Client, demo: str, sip_node: str
) -> None:
    with httpx.Client(base_url=sip_node, timeout=10) as agent:
        login = {"tenant": TENANT, "username": "agent2", "password": "agent2-demo"}
        assert agent.post("/v1/auth/login", json=login).status_code == 200
        refused = agent.post("/v1/agent/login")
        assert refused.status_code == 409
        assert "phone" in refused.json()["detail"]
        assert agent.get("/v1/agent/state").json()["state"] == "LOGGED_OUT"
        # Paused needs no phone; READY does.
        paused = agent.post("/v1/agent/login", json={"paused_reason": "setting up"})
        assert paused.json()["state"] == "PAUSED"
        assert agent.post("/v1/agent/ready").status_code == 409
        agent_id = _agent_id(http, "agent2")
        http.patch(f"/v1/users/{agent_id}", headers=ACME, json={"phone": "sip:agent2@127.0.0.1"})
        assert agent.post("/v1/agent/ready").json()["state"] == "READY"
