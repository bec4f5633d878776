"""Native `POST /v1/callbacks`: flows, idempotency, limits and URL checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from rappel.services import tenancy
from rappel.services.demo import API_TOKEN
from rappel.store.db import Database

ACME = {"Authorization": f"Bearer {API_TOKEN}"}


def post(http: httpx.Client, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {**ACME, **({"Idempotency-Key": key} if key else {})}
    return http.post("/v1/callbacks", json={"phone": "+16505551212", **body}, headers=headers)


def test_now_on_a_queue_is_queued_at_once(http: httpx.Client, demo: str) -> None:
    answer = post(http, {"queue_id": "103"})
    assert answer.status_code == 201
    assert answer.headers["location"] == f"/v1/interactions/{answer.json()['interaction_id']}"
    assert answer.json()["callback_status"] == 3


def test_delay_waits_on_a_timer(http: httpx.Client, demo: str) -> None:
    item = post(http, {"queue_id": "103", "when": "delay", "delay_s": 600}).json()
    assert item["callback_status"] == 2


def test_at_a_time_with_a_window_is_scheduled(http: httpx.Client, demo: str) -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    body = {
        "queue_id": "103",
        "when": "at",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=2)).isoformat(),
    }
    item = post(http, body).json()
    assert (item["callback_status"], item["callback_type"]) == (2, 2)
    assert item["end_time"] is not None


def test_at_needs_a_start_time_and_a_zone(http: httpx.Client, demo: str) -> None:
    assert post(http, {"queue_id": "103", "when": "at"}).json()["field"] == "start_time"
    naive = {"queue_id": "103", "when": "at", "start_time": "2030-01-01T10:00:00"}
    assert post(http, naive).status_code == 422


def test_agent_available_needs_a_queue(http: httpx.Client, demo: str) -> None:
    answer = post(http, {"when": "agent_available"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "queue_id"


def test_a_channel_without_a_queue_is_customer_first(http: httpx.Client, demo: str) -> None:
    item = post(http, {"channel_number": "18006661212"}).json()
    assert item["dn"] == "18006661212"


def test_same_key_same_body_returns_the_same_callback(http: httpx.Client, demo: str) -> None:
    first = post(http, {"queue_id": "103", "udata": {"a": "1"}}, key="order-1")
    again = post(http, {"queue_id": "103", "udata": {"a": "1"}}, key="order-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()


def test_same_key_other_body_is_a_409(http: httpx.Client, demo: str) -> None:
    assert post(http, {"queue_id": "103"}, key="order-2").status_code == 201
    clash = post(http, {"queue_id": "104"}, key="order-2")
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")


def test_open_callback_on_the_same_queue_is_returned_not_duplicated(
    http: httpx.Client, demo: str
) -> None:
    first = post(http, {"queue_id": "103"})
    again = post(http, {"queue_id": "103"})
    assert again.status_code == 200
    assert again.json()["interaction_id"] == first.json()["interaction_id"]


def test_per_number_limit_is_a_429(http: httpx.Client, db: Database, demo: str) -> None:
    tenancy.update_tenant(db, demo, {"max_callbacks_per_number_hour": 1})
    assert post(http, {"queue_id": "103"}).status_code == 201
    assert post(http, {"queue_id": "104"}).status_code == 429


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://crm.example.com/hook", 201),
        ("http://127.0.0.1:9/hook", 201),  # allowed by the test server's RAPPEL_OUTBOUND_ALLOW
        ("http://192.168.1.10/hook", 422),
        ("http://[::1]/hook", 422),
        ("http://metadata.internal/", 422),
        ("file:///etc/passwd", 422),
        ("https://user:pw@example.com/", 422),
    ],
)
def test_webhook_url_is_checked_at_intake(
    http: httpx.Client, demo: str, url: str, status: int
) -> None:
    answer = post(http, {"queue_id": "103", "webhook_url": url})
    assert answer.status_code == status, answer.text


@pytest.mark.parametrize(
    "body",
    [
        {"queue_id": "999"},
        {"queue_id": "103", "phone": "abc"},
        {"queue_id": "103", "when": "later"},
        {"queue_id": "103", "surprise": 1},
        {"queue_id": "103", "delay_s": -1},
    ],
)
def test_bad_input_is_a_problem_422(http: httpx.Client, demo: str, body: dict[str, Any]) -> None:
    answer = post(http, body)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
