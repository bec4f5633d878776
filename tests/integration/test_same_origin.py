"""A state change authenticated by the session cookie must come from Rappel's own origin.

The browser's own view of this (a page on a sibling origin) is in tests/e2e/test_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rappel.services.demo import API_TOKEN, TENANT

FOREIGN = [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"},
    # A sibling origin of the same site (another port): SameSite=Strict lets the cookie through.
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
]
BODYLESS = [
    ("agent1", "/v1/agent/login"),
    ("agent1", "/v1/agent/ready"),
    ("agent1", "/v1/agent/logout"),
    ("admin", "/v1/webhooks/secret/rotate"),
    ("agent1", "/v1/auth/logout"),
]
PASSWORDS = {"agent1": "agent1-demo", "admin": "admin-demo-1"}


def origin_of(http: httpx.Client) -> str:
    return str(http.base_url).rstrip("/")


@pytest.fixture
def signed_in(http: httpx.Client, demo: str) -> Iterator[dict[str, httpx.Client]]:
    clients = {}
    for user, password in PASSWORDS.items():
        client = httpx.Client(base_url=http.base_url, timeout=10)
        body = {"tenant": TENANT, "username": user, "password": password}
        assert client.post("/v1/auth/login", json=body).status_code == 200
        clients[user] = client
    yield clients
    for client in clients.values():
        client.close()


@pytest.mark.parametrize("headers", FOREIGN, ids=lambda h: "+".join(h.values()))
def test_a_foreign_page_cannot_log_the_agent_in(
    signed_in: dict[str, httpx.Client], headers: dict[str, str]
) -> None:
    agent = signed_in["agent1"]
    refused = agent.post("/v1/agent/login", headers=headers)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert agent.get("/v1/agent/state").json()["state"] == "LOGGED_OUT"


@pytest.mark.parametrize(("user", "path"), BODYLESS)
def test_bodyless_state_changes_by_cookie_are_refused_from_another_origin(
    signed_in: dict[str, httpx.Client], user: str, path: str
) -> None:
    client, admin = signed_in[user], signed_in["admin"]
    admin.get("/v1/webhooks/secret")  # made and shown once; later reads show its dates
    secret_before = admin.get("/v1/webhooks/secret").json()
    assert client.post(path, headers=FOREIGN[0]).status_code == 403
    assert client.get("/v1/auth/me").status_code == 200  # still signed in
    assert signed_in["agent1"].get("/v1/agent/state").json()["state"] == "LOGGED_OUT"
    assert admin.get("/v1/webhooks/secret").json() == secret_before


@pytest.mark.parametrize(("user", "path"), BODYLESS[:2])
def test_the_same_origin_and_clients_without_browser_headers_may_change_state(
    http: httpx.Client, signed_in: dict[str, httpx.Client], user: str, path: str
) -> None:
    client = signed_in[user]
    own = {"Origin": origin_of(http), "Sec-Fetch-Site": "same-origin"}
    assert client.post(path, headers=own).status_code == 200
    assert client.post(path, headers={"Origin": origin_of(http)}).status_code == 200
    assert client.post(path).status_code == 200


def test_token_calls_are_not_affected_by_the_origin(http: httpx.Client, demo: str) -> None:
    headers = {"Authorization": f"Bearer {API_TOKEN}", **FOREIGN[2]}
    assert http.post("/v1/webhooks/secret/rotate", headers=headers).status_code == 200


def test_a_foreign_page_cannot_sign_a_browser_in(http: httpx.Client, demo: str) -> None:
    body = {"tenant": TENANT, "username": "agent1", "password": "agent1-demo"}
    refused = http.post("/v1/auth/login", json=body, headers=FOREIGN[0])
    assert refused.status_code == 403
    assert "rappel_session" not in refused.cookies
