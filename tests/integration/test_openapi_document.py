"""The OpenAPI document says what the API does, and the API does what it says."""

from __future__ import annotations

import re
from typing import Any

import httpx

from rappel.services.demo import API_TOKEN

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
NEW_QUEUE = {"name": "Short-lived", "direction": "outbound"}
NEVER_ID = "0123456789ABCDEF0123456789ABCDEF"


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]


def test_a_deleted_queue_has_no_roster(http: httpx.Client, demo: str) -> None:
    queue = http.post("/v1/queues", json=NEW_QUEUE, headers=ACME).json()
    roster = f"/v1/queues/{queue['id']}/roster"
    assert http.get(roster, headers=ACME).json() == []
    assert http.delete(f"/v1/queues/{queue['id']}", headers=ACME).status_code == 204
    gone = http.get(roster, headers=ACME)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


def test_a_queue_that_never_existed_has_no_roster(http: httpx.Client, demo: str) -> None:
    assert http.get(f"/v1/queues/{NEVER_ID}/roster", headers=ACME).status_code == 404


def test_a_method_not_allowed_names_every_method_of_the_path(http: httpx.Client) -> None:
    # GET and POST /v1/campaigns are two routes; Starlette alone named only the first.
    answer = http.delete("/v1/campaigns", headers=ACME)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert answer.headers["content-type"] == "application/problem+json"


def test_security_schemes_are_declared_per_operation(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert schemes["basicToken"]["scheme"] == "basic"
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "in": "cookie"}
    by_key = {(p, m): op for p, m, op in operations(spec)}
    assert {"sessionCookie": []} in by_key[("/v1/queues", "get")]["security"]
    assert by_key[("/v1/tenants", "post")]["security"] == [{"operatorToken": []}]
    assert "security" not in by_key[("/v1/auth/login", "post")]


def test_every_error_an_operation_declares_is_problem_json(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, op in operations(spec):
        if "security" in op:
            assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (path, status)


def test_ids_in_paths_say_which_form_the_server_takes(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    params = spec["paths"]["/v1/queues/{queue_id}"]["get"]["parameters"]
    pattern = next(p for p in params if p["name"] == "queue_id")["schema"]["pattern"]
    assert re.fullmatch(pattern, NEVER_ID)
    assert re.fullmatch(pattern, "01234567-89ab-cdef-0123-456789abcdef")
    assert not re.fullmatch(pattern, "0")


def test_vendor_surfaces_stay_out_of_the_document(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/RI/obi", "/SC/", "/data/"))]


def test_a_token_acting_for_no_agent_is_refused_as_forbidden(http: httpx.Client, demo: str) -> None:
    # The token is no agent, so it has no desk of its own: 403, never a 422 for a valid call.
    answer = http.get("/v1/agent/state", headers=ACME)
    assert answer.status_code == 403
    assert "agent_id" in answer.json()["detail"]
