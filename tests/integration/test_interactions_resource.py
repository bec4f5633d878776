"""The Genesys Callback Interaction resource under /v1/interactions."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from rappel.api.native.interactions import MAX_DATA_FILTERS, iso
from rappel.services import webhooks
from rappel.services.demo import API_TOKEN
from rappel.store.db import Database
from rappel.store.tables import session_parameters

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
ISO_MS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DOCUMENTED = {
    "callback_status", "callback_type", "desired_response_type", "start_time", "end_time",
    "customer_number", "attempts", "call_result", "dn", "location", "callback_server_id",
    "customer_id", "interaction_id", "status", "entity_type", "type", "media_type",
    "external_id", "owner_id", "creator_app_id", "start_date", "end_date", "timeshift",
    "subject", "stopped_reason", "udata", "sub_type", "parent_id", "thread_id",
    "category_id", "allow_children", "text", "structured_text", "structured_text_mime",
    "binary_content", "binary_content_mime", "binary_content_size",
}  # fmt: skip


def create(http: httpx.Client, **body: Any) -> dict[str, Any]:
    answer = http.post("/v1/callbacks", json={"phone": "+16505551212", **body}, headers=ACME)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_resource_has_exactly_the_documented_fields(http: httpx.Client, demo: str) -> None:
    made = create(http, queue_id="103", udata={"order": "42"}, external_id="crm-7")
    item = http.get(f"/v1/interactions/{made['interaction_id']}", headers=ACME).json()
    assert set(item) == DOCUMENTED
    assert item["entity_type"] == 5
    assert item["media_type"] == "callback"
    assert item["type"] == "outbound"
    assert item["callback_status"] == 3
    assert item["callback_type"] == 1
    assert item["status"] == 1
    assert item["desired_response_type"] == "Voice"
    assert item["attempts"] == 0
    assert item["udata"] == {"order": "42"}
    assert item["external_id"] == "crm-7"
    assert item["timeshift"] in (-480, -420)  # America/Los_Angeles
    assert item["thread_id"] == made["interaction_id"]
    assert item["allow_children"] is False
    for name in ("start_time", "start_date"):
        assert ISO_MS_Z.match(item[name]), item[name]


def test_unknown_and_malformed_ids_are_problem_404_and_422(http: httpx.Client, demo: str) -> None:
    missing = http.get("/v1/interactions/" + "0" * 32, headers=ACME)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert http.get("/v1/interactions/nope", headers=ACME).status_code == 422


def test_cancel_is_final_with_cancel_record_and_a_second_cancel_is_409(
    http: httpx.Client, demo: str
) -> None:
    made = create(http, queue_id="103")
    path = f"/v1/interactions/{made['interaction_id']}"
    cancelled = http.post(path + "/cancel", json={"reason": "customer called in"}, headers=ACME)
    assert cancelled.status_code == 200
    body = cancelled.json()
    assert (body["callback_status"], body["status"], body["call_result"]) == (9, 3, 52)
    assert body["stopped_reason"] == "customer called in"
    assert ISO_MS_Z.match(body["end_date"])
    again = http.post(path + "/cancel", headers=ACME)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert http.get(path, headers=ACME).json()["callback_status"] == 9


def test_cancel_through_the_api_sends_the_callbacks_webhook(
    http: httpx.Client, db: Database, demo: str
) -> None:
    made = create(http, queue_id="103", webhook_url="http://127.0.0.1:9/hook")
    plain = create(http, queue_id="103", phone="+16505550001")
    for interaction in (made, plain):
        path = f"/v1/interactions/{interaction['interaction_id']}/cancel"
        assert http.post(path, headers=ACME).status_code == 200
    sent = webhooks.list_webhooks(db, demo, made["interaction_id"])
    assert len(sent) == 1
    assert sent[0].url == "http://127.0.0.1:9/hook"
    assert "ctl_callback_status=9" in sent[0].payload
    assert webhooks.list_webhooks(db, demo, plain["interaction_id"]) == []


def test_reschedule_moves_the_window_and_waits(http: httpx.Client, demo: str) -> None:
    made = create(http, queue_id="103")
    start = datetime.now(UTC) + timedelta(hours=2)
    body = {"start_time": start.isoformat(), "end_time": (start + timedelta(hours=1)).isoformat()}
    path = f"/v1/interactions/{made['interaction_id']}"
    moved = http.post(path + "/reschedule", json=body, headers=ACME)
    assert moved.status_code == 200, moved.text
    item = moved.json()
    assert item["callback_status"] == 2  # TIMER
    assert item["callback_type"] == 2  # SCHEDULED
    assert item["start_time"] == start.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{start.microsecond // 1000:03d}Z"
    )
    http.post(path + "/cancel", headers=ACME)
    assert http.post(path + "/reschedule", json=body, headers=ACME).status_code == 409


def test_reschedule_refuses_a_window_that_ends_before_it_starts(
    http: httpx.Client, demo: str
) -> None:
    made = create(http, queue_id="103")
    start = datetime.now(UTC) + timedelta(hours=2)
    body = {"start_time": start.isoformat(), "end_time": (start - timedelta(hours=1)).isoformat()}
    answer = http.post(
        f"/v1/interactions/{made['interaction_id']}/reschedule", json=body, headers=ACME
    )
    assert answer.status_code == 422
    assert answer.json()["field"] == "end_time"


def test_list_filters_by_status_number_udata_and_saved_parameter(
    http: httpx.Client, db: Database, demo: str
) -> None:
    first = create(http, queue_id="103", udata={"segment": "gold"})
    second = create(http, phone="+14155550123", queue_id="103", udata={"segment": "blue"})
    third = create(http, phone="+14155550199", queue_id="104")
    http.post(f"/v1/interactions/{third['interaction_id']}/cancel", headers=ACME)
    with db.begin() as conn:
        conn.execute(
            insert(session_parameters).values(
                tenant_id=demo,
                interaction_id=second["interaction_id"],
                name="account",
                value="A-9",
                display_to_agent=True,
            )
        )

    def ids(query: str) -> list[str]:
        answer = http.get("/v1/interactions?" + query, headers=ACME)
        assert answer.status_code == 200, answer.text
        return [i["interaction_id"] for i in answer.json()["interactions"]]

    assert set(ids("")) == {
        first["interaction_id"],
        second["interaction_id"],
        third["interaction_id"],
    }
    assert ids("status=3") == [third["interaction_id"]]
    assert ids("callback_status=9") == [third["interaction_id"]]
    assert ids("customer_number=%2B14155550123") == [second["interaction_id"]]
    assert ids("udata.segment=gold") == [first["interaction_id"]]
    assert ids("param.account=A-9") == [second["interaction_id"]]
    assert ids("param.account=other") == []
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert ids(f"start_date_from={later}") == []
    assert len(ids(f"start_date_to={later}")) == 3
    assert http.get("/v1/interactions?start_date_from=yesterday", headers=ACME).status_code == 422


def test_list_pages_with_a_cursor_newest_first(http: httpx.Client, demo: str) -> None:
    made = [create(http, phone=f"+1415555{n:04d}", queue_id="103") for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = http.get("/v1/interactions?" + query, headers=ACME).json()
        seen += [i["interaction_id"] for i in page["interactions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(m["interaction_id"] for m in made)
    assert len(seen) == 5
    assert http.get("/v1/interactions?cursor=garbage!", headers=ACME).status_code == 422


@pytest.mark.parametrize("path", ["/v1/interactions", "/v1/interactions/" + "0" * 32])
def test_reading_needs_a_token(http: httpx.Client, demo: str, path: str) -> None:
    assert http.get(path).status_code == 401


def problem_field(answer: httpx.Response) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    field: str = answer.json()["field"]
    return field


def cursor_at(stamp: str) -> str:
    return base64.urlsafe_b64encode(f"{stamp}|{'A' * 32}".encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start_date_from=9999-12-31T23:59:59-14:00", "start_date_from"),
        ("start_date_to=0001-01-01T00:00:00%2B14:00", "start_date_to"),
        ("start_time_from=0001-01-01T00:00:00%2B00:01", "start_time_from"),
        ("start_time_to=9999-12-31T23:59:59-00:01", "start_time_to"),
        (f"cursor={cursor_at('9999-12-31T23:59:59-14:00')}", "cursor"),
        (f"cursor={cursor_at('0001-01-01T00:00:00+14:00')}", "cursor"),
    ],
)
def test_list_refuses_times_outside_utc_years_1_to_9999(
    http: httpx.Client, demo: str, query: str, field: str
) -> None:
    create(http, queue_id="103")
    answer = http.get("/v1/interactions?" + query, headers=ACME)
    assert problem_field(answer) == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_time": "0001-01-01T00:00:00+14:00"}, "start_time"),
        ({"end_time": "9999-12-31T23:59:59-14:00"}, "end_time"),
    ],
)
def test_reschedule_refuses_times_outside_utc_years_1_to_9999_and_changes_nothing(
    http: httpx.Client, demo: str, body: dict[str, str], field: str
) -> None:
    path = f"/v1/interactions/{create(http, queue_id='103')['interaction_id']}"
    before = http.get(path, headers=ACME).json()
    soon = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    answer = http.post(path + "/reschedule", json={"start_time": soon, **body}, headers=ACME)
    assert problem_field(answer) == field
    assert http.get(path, headers=ACME).json() == before


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("customer_number=%00", "customer_number"),
        ("udata.order=%00", "udata.order"),
        ("udata.a%00b=1", "udata.a\\0b"),
        ("param.x=%00", "param.x"),
        ("param.x%00=1", "param.x\\0"),
    ],
)
def test_list_refuses_nul_in_filters_on_every_database(
    http: httpx.Client, demo: str, query: str, field: str
) -> None:
    # A stored row makes SQLite evaluate the JSON path, where a NUL would end it early.
    create(http, queue_id="103", udata={"order": "42"})
    answer = http.get("/v1/interactions?" + query, headers=ACME)
    assert problem_field(answer) == field


def test_times_are_written_with_four_digit_years_and_milliseconds() -> None:
    assert iso(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"
    assert iso(datetime(2030, 1, 5, 18, 0, 0, 123456, tzinfo=UTC)) == "2030-01-05T18:00:00.123Z"
    assert iso(None) is None


def test_list_refuses_more_data_filters_than_the_bound(http: httpx.Client, demo: str) -> None:
    bound = (
        "&".join(f"udata.k{i}=v" for i in range(MAX_DATA_FILTERS // 2))
        + "&"
        + "&".join(f"param.p{i}=v" for i in range(MAX_DATA_FILTERS - MAX_DATA_FILTERS // 2))
    )
    assert http.get(f"/v1/interactions?{bound}", headers=ACME).status_code == 200
    over = "&".join(f"udata.k{i}=v" for i in range(1000))
    answer = http.get(f"/v1/interactions?{over}", headers=ACME)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "udata"
    assert f"at most {MAX_DATA_FILTERS}" in answer.json()["detail"]
