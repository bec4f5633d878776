"""Times that parse but that UTC cannot hold are bad input on every surface, never a 500.

`9999-12-31T23:59:59-14:00` is year 10000 in UTC and `0001-01-01T00:00:00+14:00`
is year 0: valid ISO 8601 that neither Python nor the databases can hold.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID, TEST_QUEUE_ID
from rappel.store.db import Database
from rappel.store.tables import campaigns, customers, interactions

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Accept": "application/json"}
CAMPAIGN = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}"
TOO_LATE = "9999-12-31T23:59:59-14:00"
TOO_EARLY = "0001-01-01T00:00:00+14:00"
EXTREMES = pytest.mark.parametrize("extreme", [TOO_LATE, TOO_EARLY])


def _count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _refused_the_obi_way(answer: httpx.Response, field: str, value: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "statusCode": 400,
        "error": f"Invalid {field}: {value} : Date and time is out of range: "
        "in UTC it falls outside years 1 to 9999",
    }


@EXTREMES
@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("/RI/obi/campaigns", "startDate", {}),
        ("/RI/obi/campaigns", "startDateEnd", {}),
        ("/RI/obi/campaigns", "endDate", {}),
        ("/RI/obi/campaigns", "endDateEnd", {}),
        ("/RI/obi/campaigns", "registered", {}),
        ("/RI/obi/campaigns", "registeredEnd", {}),
        ("/RI/obi/campaigns", "statisticsDate", {"statistics": "true"}),
        (CAMPAIGN, "statisticsDate", {"statistics": "true"}),
        (f"{CAMPAIGN}/customers", "date", {}),
        (f"{CAMPAIGN}/customers", "dateEnd", {}),
        (f"{CAMPAIGN}/customers", "modificationDate", {}),
        (f"{CAMPAIGN}/customers", "modificationDateEnd", {}),
        ("/RI/obi/statistics", "startDate", {}),
        ("/RI/obi/statistics", "endDate", {}),
    ],
)
def test_obi_query_times_outside_utc_are_400(
    http: httpx.Client, demo: str, path: str, field: str, extra: dict[str, str], extreme: str
) -> None:
    answer = http.get(path, params={**extra, field: extreme}, headers=JSON)
    _refused_the_obi_way(answer, field, extreme)


@EXTREMES
def test_obi_customer_date_outside_utc_is_400_and_nothing_is_stored(
    http: httpx.Client, db: Database, demo: str, extreme: str
) -> None:
    before = _count(db, customers)
    answer = http.post(
        f"{CAMPAIGN}/customers", json={"numbers": "+14155550100", "date": extreme}, headers=JSON
    )
    _refused_the_obi_way(answer, "date", extreme)
    assert _count(db, customers) == before


def test_obi_list_item_with_a_date_outside_utc_fails_alone(
    http: httpx.Client, db: Database, demo: str
) -> None:
    before = _count(db, customers)
    items = [
        {"numbers": "+15214527001"},
        {"numbers": "+15214527002", "date": TOO_LATE},
        {"numbers": "+15214527003"},
    ]
    answer = http.post(f"{CAMPAIGN}/customers/list", json=items, headers=JSON)
    assert answer.status_code == 200, answer.text
    assert [item["statusCode"] for item in answer.json()] == [201, 400, 201]
    assert "Invalid date" in answer.json()[1]["error"]
    assert _count(db, customers) == before + 2


@EXTREMES
@pytest.mark.parametrize("field", ["startDate", "endDate"])
def test_obi_campaign_dates_outside_utc_are_400_and_change_nothing(
    http: httpx.Client, db: Database, demo: str, field: str, extreme: str
) -> None:
    body = {"name": "Renamed", "dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID, field: extreme}
    answer = http.put(CAMPAIGN, json=body, headers=JSON)
    _refused_the_obi_way(answer, field, extreme)
    with db.read() as conn:
        name = conn.execute(
            select(campaigns.c.name).where(campaigns.c.id == TEST_CAMPAIGN_ID)
        ).scalar_one()
    assert name == "Test Campaign"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/RI/obi/statistics", {"endDate": "9999-12-31T00:00:00Z"}),
        ("/RI/obi/statistics", {"startDate": "9999-12-31T00:00:00Z"}),
        ("/RI/obi/campaigns", {"statistics": "true", "statisticsDate": "9999-12-31T00:00:00Z"}),
        (CAMPAIGN, {"statistics": "true", "statisticsDate": "9999-12-31T00:00:00Z"}),
    ],
)
def test_the_last_day_utc_holds_is_a_day_like_any_other(
    http: httpx.Client, demo: str, path: str, params: dict[str, str]
) -> None:
    # Its next midnight is in year 10000: the window must not need it.
    answer = http.get(path, params=params, headers=JSON)
    assert answer.status_code == 200, answer.text


def test_obi_campaign_dates_at_the_edges_of_utc_are_kept_and_read_back(
    http: httpx.Client, demo: str
) -> None:
    body = {
        "name": "Edges",
        "dialingMode": "PREVIEW",
        "queueId": TEST_QUEUE_ID,
        "startDate": "0001-01-01T00:00:00Z",
        "endDate": "9999-12-31T23:59:59Z",
    }
    assert http.put(CAMPAIGN, json=body, headers=JSON).status_code == 204
    read = http.get(CAMPAIGN, headers=JSON).json()
    # Four-digit years, as ISO 8601 wants: strftime writes year 1 as "1".
    assert (read["startDate"], read["endDate"]) == (
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    )


@EXTREMES
@pytest.mark.parametrize("field", ["start_time", "end_time"])
def test_native_callback_times_outside_utc_are_422_and_nothing_is_stored(
    http: httpx.Client, db: Database, demo: str, field: str, extreme: str
) -> None:
    body = {
        "phone": "+16505551212",
        "queue_id": "103",
        "when": "at",
        "start_time": "2031-03-01T18:00:00Z",
        field: extreme,
    }
    before = _count(db, interactions)
    answer = http.post("/v1/callbacks", json=body, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field
    assert "outside years 1 to 9999" in answer.json()["detail"]
    assert _count(db, interactions) == before


def test_native_callback_times_arrive_in_utc(http: httpx.Client, demo: str) -> None:
    body = {
        "phone": "+16505551212",
        "queue_id": "103",
        "when": "at",
        "start_time": "2031-03-01T20:00:00+02:00",
        "end_time": "2031-03-01T22:00:00+02:00",
    }
    item = http.post("/v1/callbacks", json=body, headers=AUTH).json()
    assert (item["start_time"], item["end_time"]) == (
        "2031-03-01T18:00:00.000Z",
        "2031-03-01T20:00:00.000Z",
    )
