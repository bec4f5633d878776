"""The native administration API through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import httpx
import pytest

from rappel.services.demo import API_TOKEN, CALLBACK_QUEUE_ID, IVR_CHANNEL, TENANT

OPERATOR = {"Authorization": "Bearer operator-test-token-0123456789"}
ACME = {"Authorization": f"Bearer {API_TOKEN}"}


def test_health_and_readiness(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_metrics_count_requests_by_route_template(http: httpx.Client, demo: str) -> None:
    http.get("/v1/queues/" + CALLBACK_QUEUE_ID, headers=ACME)
    text = http.get("/metrics").text
    assert 'route="/v1/queues/{queue_id}"' in text
    assert CALLBACK_QUEUE_ID not in text


def test_openapi_and_docs_are_served(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert "/v1/queues" in spec["paths"]
    assert http.get("/docs").status_code == 200


def test_demo_token_reads_own_tenant(http: httpx.Client, demo: str) -> None:
    body = http.get("/v1/tenant", headers=ACME).json()
    assert body["name"] == TENANT
    assert body["back_domains"] == ["www.acmejet.com"]


def test_basic_auth_with_token_as_password_is_accepted(http: httpx.Client, demo: str) -> None:
    basic = base64.b64encode(f"anyone:{API_TOKEN}".encode()).decode()
    assert http.get("/v1/tenant", headers={"Authorization": f"Basic {basic}"}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer 00000000000000000000000000000000",
        "Basic !!!notbase64",
        "Digest abc",
        "Bearer " + "x" * 500,
    ],
)
def test_missing_or_wrong_credentials_get_problem_401(
    http: httpx.Client, demo: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    answer = http.get("/v1/tenant", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 401


def test_token_is_shown_once_stored_hashed_and_revocable(http: httpx.Client, demo: str) -> None:
    issued = http.post("/v1/tokens", json={"label": "crm"}, headers=ACME)
    assert issued.status_code == 201
    token = issued.json()["token"]
    listing = http.get("/v1/tokens", headers=ACME).json()
    assert token not in str(listing)
    assert any(t["label"] == "crm" and t["hint"].endswith(token[-4:]) for t in listing)
    fresh = {"Authorization": f"Bearer {token}"}
    assert http.get("/v1/tenant", headers=fresh).status_code == 200
    assert http.delete(f"/v1/tokens/{issued.json()['id']}", headers=ACME).status_code == 204
    assert http.get("/v1/tenant", headers=fresh).status_code == 401
    assert http.delete(f"/v1/tokens/{issued.json()['id']}", headers=ACME).status_code == 404


def test_datadip_token_does_not_open_the_native_api(http: httpx.Client, demo: str) -> None:
    dip = {"Authorization": "Bearer 5f0c9a7e3b2d4c61a8e9f1b2c3d4e5f6"}
    assert http.get("/v1/tenant", headers=dip).status_code == 401


def test_operator_creates_tenants_and_duplicates_conflict(http: httpx.Client) -> None:
    assert http.post("/v1/tenants", json={"name": "Globex"}).status_code == 401
    assert http.post("/v1/tenants", json={"name": "Globex"}, headers=OPERATOR).status_code == 201
    again = http.post("/v1/tenants", json={"name": "Globex"}, headers=OPERATOR)
    assert again.status_code == 409
    names = [t["name"] for t in http.get("/v1/tenants", headers=OPERATOR).json()]
    assert names == ["Globex"]


def test_channels_queues_dialplans_round_trip(http: httpx.Client, demo: str) -> None:
    made = http.post(
        "/v1/channels", json={"number": "18005550100", "ivr_script": "sales"}, headers=ACME
    )
    assert made.status_code == 201
    assert (
        http.post("/v1/channels", json={"number": "18005550100"}, headers=ACME).status_code == 409
    )
    patched = http.patch("/v1/channels/18005550100", json={"enabled": False}, headers=ACME)
    assert patched.json()["enabled"] is False

    queue = http.post("/v1/queues", json={"name": "Billing", "direction": "inbound"}, headers=ACME)
    assert queue.status_code == 201
    body = queue.json()
    assert len(body["id"]) == 32
    assert body["short_id"] > 104
    lower_dashed = body["id"].lower()
    lower_dashed = "-".join(
        [
            lower_dashed[:8],
            lower_dashed[8:12],
            lower_dashed[12:16],
            lower_dashed[16:20],
            lower_dashed[20:],
        ]
    )
    assert http.get(f"/v1/queues/{lower_dashed}", headers=ACME).json()["name"] == "Billing"

    plan = http.put(
        "/v1/dialplans/7",
        json={
            "plan_id": 7,
            "default_region": "gb",
            "prefix_rules": [{"match": "00", "replace": "+"}],
        },
        headers=ACME,
    )
    assert plan.status_code == 200
    assert plan.json()["default_region"] == "GB"
    assert http.delete("/v1/dialplans/7", headers=ACME).status_code == 204


def test_users_with_roles_and_queues(http: httpx.Client, demo: str) -> None:
    made = http.post(
        "/v1/users",
        json={
            "username": "dave",
            "password": "correct horse",
            "role": "agent",
            "queue_ids": [CALLBACK_QUEUE_ID],
        },
        headers=ACME,
    )
    assert made.status_code == 201, made.text
    assert made.json()["queue_ids"] == [CALLBACK_QUEUE_ID]
    assert "password" not in made.text
    agents = http.get("/v1/users", params={"role": "agent"}, headers=ACME).json()
    assert "dave" in [a["username"] for a in agents]
    bad_queue = http.post(
        "/v1/users",
        json={"username": "erin", "password": "correct horse", "queue_ids": ["F" * 32]},
        headers=ACME,
    )
    assert bad_queue.status_code == 422
    assert bad_queue.json()["field"] == "queue_ids"


def test_session_login_gives_role_scoped_access(http: httpx.Client, demo: str) -> None:
    wrong = http.post(
        "/v1/auth/login", json={"tenant": TENANT, "username": "agent1", "password": "nope-nope"}
    )
    assert wrong.status_code == 401
    agent = httpx.Client(base_url=str(http.base_url))
    ok = agent.post(
        "/v1/auth/login", json={"tenant": TENANT, "username": "agent1", "password": "agent1-demo"}
    )
    assert ok.status_code == 200
    assert ok.json()["role"] == "agent"
    assert agent.get("/v1/auth/me").json()["role"] == "agent"
    assert agent.get("/v1/users").status_code == 403
    assert agent.post("/v1/auth/logout").status_code == 204
    assert agent.get("/v1/auth/me").status_code == 401
    agent.close()


def test_cross_tenant_reads_and_writes_are_refused(http: httpx.Client, demo: str) -> None:
    from rappel.clock import WallClock
    from rappel.services import tenancy

    db = http.app_db  # type: ignore[attr-defined]
    other = tenancy.create_tenant(db, WallClock(), {"name": "Initech"})
    other_token = tenancy.create_token(db, WallClock(), other.id).token
    theirs = {"Authorization": f"Bearer {other_token}"}
    assert http.get(f"/v1/queues/{CALLBACK_QUEUE_ID}", headers=theirs).status_code == 404
    assert (
        http.patch(
            f"/v1/queues/{CALLBACK_QUEUE_ID}", json={"enabled": False}, headers=theirs
        ).status_code
        == 404
    )
    assert http.delete(f"/v1/channels/{IVR_CHANNEL}", headers=theirs).status_code == 404
    assert http.get("/v1/channels", headers=theirs).json() == []
    acme_tokens = http.get("/v1/tokens", headers=ACME).json()
    assert http.delete(f"/v1/tokens/{acme_tokens[0]['id']}", headers=theirs).status_code == 404
    assert http.get(f"/v1/queues/{CALLBACK_QUEUE_ID}", headers=ACME).json()["enabled"] is True


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/queues", {"name": ""}),
        ("POST", "/v1/queues", {"name": "x", "id": "not-an-id"}),
        ("POST", "/v1/queues", {"name": "x", "direction": "sideways"}),
        ("POST", "/v1/queues", "not json at all"),
        ("POST", "/v1/channels", {"number": "abc"}),
        ("POST", "/v1/users", {"username": "x", "password": "short"}),
        ("POST", "/v1/users", {"username": "../../etc", "password": "long enough"}),
        ("PATCH", "/v1/tenant", {"time_zone": "Mars/Olympus"}),
        ("PATCH", "/v1/tenant", {"back_domains": ["not a domain"]}),
        ("PATCH", "/v1/tenant", {"hard_hours_start": "25:00"}),
        ("PATCH", "/v1/tenant", {"unknown": 1}),
        *(
            ("PATCH", "/v1/tenant", {field: None})
            for field in (
                "name",
                "enabled",
                "web_callback_enabled",
                "time_zone",
                "back_domains",
                "widget_origins",
                "hard_hours_start",
                "hard_hours_end",
                "max_callbacks_per_number_hour",
                "max_callbacks_per_tenant_hour",
            )
        ),
        ("PATCH", "/v1/tenant", {"default_dial_plan_id": 10**30}),
        ("PATCH", "/v1/tenant", {"default_dial_plan_id": -(10**30)}),
        ("PATCH", "/v1/tenant", {"default_dial_plan_id": 0}),
        ("PATCH", "/v1/tenant", {"default_dial_plan_id": 10**9}),
        ("PATCH", f"/v1/queues/{CALLBACK_QUEUE_ID}", {"enabled": None}),
        ("PUT", "/v1/dialplans/1", {"plan_id": 1, "default_region": "USA"}),
        (
            "PUT",
            "/v1/dialplans/1",
            {"plan_id": 1, "default_region": "US", "prefix_rules": [{"match": "x"}]},
        ),
        ("GET", "/v1/queues/" + "Z" * 32, None),
        ("GET", "/v1/users/%00", None),
        ("DELETE", "/v1/dialplans/99999999999999999999", None),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    http: httpx.Client, demo: str, method: str, path: str, body: object
) -> None:
    before = http.get("/v1/tenant", headers=ACME).json()
    queues_before = http.get("/v1/queues", headers=ACME).json()
    if isinstance(body, str):
        answer = http.request(
            method, path, content=body, headers={**ACME, "Content-Type": "application/json"}
        )
    else:
        answer = http.request(method, path, json=body, headers=ACME)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["detail"]
    assert http.get("/v1/tenant", headers=ACME).json() == before
    assert http.get("/v1/queues", headers=ACME).json() == queues_before


def test_tenant_fields_whose_null_means_none_can_be_cleared(http: httpx.Client, demo: str) -> None:
    body = {"default_caller_id": None, "default_dial_plan_id": None}
    answer = http.patch("/v1/tenant", json=body, headers=ACME)
    assert answer.status_code == 200, answer.text
    stored = http.get("/v1/tenant", headers=ACME).json()
    assert {k: stored[k] for k in body} == body


def test_huge_default_dial_plan_id_of_a_new_tenant_is_refused(http: httpx.Client) -> None:
    for plan_id in (10**30, -(10**30), 10**9):
        body = {"name": "Globex", "default_dial_plan_id": plan_id}
        answer = http.post("/v1/tenants", json=body, headers=OPERATOR)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "default_dial_plan_id"
    assert http.get("/v1/tenants", headers=OPERATOR).json() == []


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_non_ascii_operator_token_is_a_plain_401(http: httpx.Client, method: str) -> None:
    # Raw UTF-8 bytes in the header, as a client may send them: Latin-1 text to the server.
    raw = {"Authorization": b"Bearer \xc3\xa9"}
    answer = http.request(method, "/v1/tenants", json={"name": "Globex"}, headers=raw)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("field", ["name", "enabled", "usable_as_caller_id"])
def test_channel_fields_without_a_none_value_refuse_null(
    http: httpx.Client, demo: str, field: str
) -> None:
    path = f"/v1/channels/{IVR_CHANNEL}"
    before = _ivr_channel(http)
    answer = http.patch(path, json={"ivr_script": "changed", field: None}, headers=ACME)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert _ivr_channel(http) == before


def test_channel_script_null_removes_it(http: httpx.Client, demo: str) -> None:
    answer = http.patch(f"/v1/channels/{IVR_CHANNEL}", json={"ivr_script": None}, headers=ACME)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ivr_script"] is None


def _ivr_channel(http: httpx.Client) -> dict[str, object]:
    listed = http.get("/v1/channels", headers=ACME).json()
    return next(ch for ch in listed if ch["number"] == IVR_CHANNEL)


def test_empty_channel_patch_answers_the_channel_unchanged(http: httpx.Client, demo: str) -> None:
    before = _ivr_channel(http)
    answer = http.patch(f"/v1/channels/{IVR_CHANNEL}", json={}, headers=ACME)
    assert answer.status_code == 200, answer.text
    assert answer.json() == before
    assert _ivr_channel(http) == before


@pytest.mark.parametrize("path", [f"/v1/queues/{CALLBACK_QUEUE_ID}", "/v1/tenant"])
def test_empty_patch_answers_the_resource_unchanged(
    http: httpx.Client, demo: str, path: str
) -> None:
    before = http.get(path, headers=ACME).json()
    answer = http.patch(path, json={}, headers=ACME)
    assert answer.status_code == 200, answer.text
    assert answer.json() == before
    assert http.get(path, headers=ACME).json() == before
