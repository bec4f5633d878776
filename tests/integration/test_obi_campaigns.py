"""OBI campaigns through HTTP: list, search, read, full update, status, result counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import update

from rappel.clock import WallClock
from rappel.domain.statistics import campaign_counts
from rappel.domain.tenancy import TokenKind
from rappel.services import tenancy
from rappel.services.demo import (
    API_TOKEN,
    CAMPAIGN_DIALER_ID,
    PREVIEW_CAMPAIGN_ID,
    QUEUE_DIALER_ID,
    TEST_CAMPAIGN_ID,
    TEST_QUEUE_ID,
)
from rappel.store import campaigns as campaign_store
from rappel.store.customers import is_blocked
from rappel.store.db import Database
from rappel.store.statistics import load_campaign_customers
from rappel.store.tables import customers

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Accept": "application/json"}
XML = {**AUTH, "Accept": "application/xml"}
BASE = "/RI/obi"

SEED_PUT = b"""{
"endDate": "2021-02-20T22:00:00Z",
"startDate": "2020-12-20T22:00:00Z",
"dialingMode": "PREDICTIVE",
"name": "Test Campaign",
"timeZone": "Europe/Berlin",
"queueId": "63AA93F493A54C5A8597FCFA670B2382",
}"""

CAMPAIGN_FIELDS = {
    "id",
    "name",
    "dialerId",
    "dialer",
    "dialerName",
    "dialerType",
    "dialingMode",
    "status",
    "dialerStatus",
    "queueId",
    "queueName",
    "total",
    "handled",
    "notHandled",
    "callable",
    "maxCalls",
    "filtered",
    "registered",
    "timeZone",
    "loggedOn",
    "abandonRate",
    "increasePredictiveRatio",
}


def _campaign(http: httpx.Client, campaign_id: str = TEST_CAMPAIGN_ID) -> dict[str, object]:
    answer = http.get(f"{BASE}/campaigns/{campaign_id}", headers=JSON)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_campaign_list_has_every_documented_field_in_json(http: httpx.Client, demo: str) -> None:
    answer = http.get(f"{BASE}/campaigns", headers=JSON)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    by_name = {c["name"]: c for c in answer.json()}
    test = by_name["Test Campaign"]
    assert CAMPAIGN_FIELDS <= set(test)
    assert test["id"] == TEST_CAMPAIGN_ID
    assert test["dialerType"] == "QueueDialer"
    assert test["dialer"] == test["dialerId"] == QUEUE_DIALER_ID
    assert test["queueName"] == "Test Queue"
    assert test["status"] == "Passive"
    assert test["dialerStatus"] == "PASSIVE"
    assert test["total"] == 5
    assert test["notHandled"] == 5
    assert test["callable"] == 5
    assert test["registered"].endswith("Z")
    assert by_name["Test Preview Campaign"]["dialerType"] == "CampaignDialer"
    assert "stats" not in test


def test_campaign_list_is_xml_by_default_with_json_field_names(
    http: httpx.Client, demo: str
) -> None:
    answer = http.get(f"{BASE}/campaigns", headers=AUTH)
    assert answer.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "campaigns"
    names = {c.findtext("name") for c in root.findall("campaign")}
    assert {"Test Campaign", "Test Preview Campaign"} <= names
    first = root.find("campaign")
    assert first is not None
    assert first.findtext("dialerType") in ("QueueDialer", "CampaignDialer")
    assert (
        http.get(f"{BASE}/campaigns", headers=XML)
        .headers["content-type"]
        .startswith("application/xml")
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "Test*"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"name": "test?campaign"}, {"Test Campaign"}),
        ({"name": "*Preview*"}, {"Test Preview Campaign"}),
        ({"dialerId": QUEUE_DIALER_ID}, {"Test Campaign"}),
        ({"dialerId": QUEUE_DIALER_ID.lower()}, {"Test Campaign"}),
        ({"dialerName": "Campaign Dial*", "dialingMode": "PREVIEW"}, {"Test Preview Campaign"}),
        ({"queueName": "Test Queue", "name": "Test*"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"status": "Passive", "name": "Test*"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"dialerStatus": "PASS*", "name": "Test*"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"total": "5"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"handled": "0", "timeZone": "Europe/*"}, {"Test Campaign", "Test Preview Campaign"}),
        ({"maxCalls": "1?"}, set()),
        (
            {"filtered": "0", "queueId": TEST_QUEUE_ID, "name": "*Preview*"},
            {"Test Preview Campaign"},
        ),
        ({"name": "100%_literal"}, set()),
    ],
)
def test_campaign_search_by_pattern_and_id(
    http: httpx.Client, demo: str, params: dict[str, str], expected: set[str]
) -> None:
    answer = http.get(f"{BASE}/campaigns", params=params, headers=JSON)
    assert answer.status_code == 200, answer.text
    assert {c["name"] for c in answer.json()} == expected


def test_campaign_date_ranges(http: httpx.Client, db: Database, demo: str) -> None:
    now = datetime.now(UTC)
    change = {
        "name": "Test Campaign",
        "dialingMode": "PREDICTIVE",
        "queueId": TEST_QUEUE_ID,
        "startDate": "2020-12-20T22:00:00Z",
        "endDate": "2021-02-20T22:00:00Z",
    }
    assert (
        http.put(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", json=change, headers=AUTH).status_code
        == 204
    )
    cases = [
        ({"startDate": "2020-06-29T12:00:00.000Z"}, {"Test Campaign"}),
        ({"startDateEnd": "2020-09-29T12:00:00.000Z"}, set()),
        (
            {"endDate": "2021-01-01T00:00:00Z", "endDateEnd": "2021-03-01T00:00:00Z"},
            {"Test Campaign"},
        ),
        (
            {"registered": (now - timedelta(hours=1)).isoformat(), "name": "Test C*"},
            {"Test Campaign"},
        ),
        ({"registeredEnd": "2020-09-29T12:00:00.000Z"}, set()),
    ]
    for params, expected in cases:
        answer = http.get(f"{BASE}/campaigns", params=params, headers=JSON)
        assert answer.status_code == 200, answer.text
        assert {c["name"] for c in answer.json()} == expected, params


@pytest.mark.parametrize(
    "params",
    [
        {"dialerId": "not-an-id"},
        {"queueId": "12345"},
        # An ID field names one id: a list would filter on its first id alone.
        {"queueId": f"{TEST_QUEUE_ID},{QUEUE_DIALER_ID}"},
        {"dialerId": f"{QUEUE_DIALER_ID},{CAMPAIGN_DIALER_ID}"},
        {"startDate": "yesterday"},
        {"statistics": "maybe"},
        {"statisticsDate": "2023-05-16T00:00:00Z"},
        {"statistics": "true", "statisticsDate": "2023-05-16T10:00:00Z"},
        {"statistics": "true", "agentId": "nobody"},
        {"colour": "red"},
    ],
)
def test_bad_campaign_queries_are_400_with_a_message(
    http: httpx.Client, demo: str, params: dict[str, str]
) -> None:
    answer = http.get(f"{BASE}/campaigns", params=params, headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["statusCode"] == 400
    assert answer.json()["error"]


def test_counts_in_sql_equal_the_domain_definition(
    http: httpx.Client, db: Database, demo: str
) -> None:
    now = datetime.now(UTC)
    rows = load_campaign_customers_ids(db, demo)
    states = [
        ("SUCCESS", 1, None),
        ("MAXCALLS", 4, None),
        ("FILTERED", 0, None),
        ("BUSY", 1, now + timedelta(hours=1)),
    ]
    with db.begin() as conn:
        for customer_id, (result, calls, when) in zip(rows, states, strict=False):
            conn.execute(
                update(customers)
                .where(customers.c.tenant_id == demo, customers.c.id == customer_id)
                .values(result=result, call_count=calls, next_call_at=when)
            )
    with db.read() as conn:
        sql = campaign_store.counts_by_campaign(conn, demo, [TEST_CAMPAIGN_ID], now)[
            TEST_CAMPAIGN_ID
        ]
        records = load_campaign_customers(conn, demo, TEST_CAMPAIGN_ID)
    assert sql == campaign_counts(records, now, retry_count=3)
    body = _campaign(http)
    assert (body["total"], body["handled"], body["notHandled"]) == (5, 1, 4)
    assert (body["callable"], body["maxCalls"], body["filtered"]) == (1, 1, 1)


def load_campaign_customers_ids(db: Database, tenant_id: str) -> list[str]:
    with db.read() as conn:
        return sorted(
            r.customer_id for r in load_campaign_customers(conn, tenant_id, TEST_CAMPAIGN_ID)
        )


def test_raising_retry_count_makes_maxcalls_customers_callable_again(
    http: httpx.Client, db: Database, demo: str
) -> None:
    ids = load_campaign_customers_ids(db, demo)
    with db.begin() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.tenant_id == demo, customers.c.id.in_(ids[:2]))
            .values(result="MAXCALLS", call_count=4)
        )
    assert _campaign(http)["maxCalls"] == 2
    assert _campaign(http)["callable"] == 3
    raised = http.patch(f"/v1/campaigns/{TEST_CAMPAIGN_ID}", json={"retry_count": 5}, headers=AUTH)
    assert raised.status_code == 200, raised.text
    assert raised.json()["reopened"] == 2
    after = _campaign(http)
    assert (after["maxCalls"], after["callable"]) == (0, 5)


def test_seed_put_example_is_accepted_and_replaces_every_field(
    http: httpx.Client, demo: str
) -> None:
    first = {
        "name": "Renamed",
        "remarks": "old remark",
        "dialingMode": "PREVIEW",
        "queueId": TEST_QUEUE_ID,
        "customIvrNumber": "18006661212",
        "abandonRate": 1.5,
        "increasePredictiveRatio": 10,
    }
    assert (
        http.put(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", json=first, headers=AUTH).status_code
        == 204
    )
    assert _campaign(http)["customIvrNumber"] == "18006661212"
    answer = http.put(
        f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}",
        content=SEED_PUT,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert answer.status_code == 204, answer.text
    assert answer.content == b""
    body = _campaign(http)
    assert body["name"] == "Test Campaign"
    assert body["dialingMode"] == "PREDICTIVE"
    assert body["startDate"] == "2020-12-20T22:00:00Z"
    assert body["endDate"] == "2021-02-20T22:00:00Z"
    assert body["timeZone"] == "Europe/Berlin"
    assert "remarks" not in body
    assert "customIvrNumber" not in body
    assert body["abandonRate"] == 1.0
    assert body["increasePredictiveRatio"] == 0.0


def test_put_in_xml(http: httpx.Client, demo: str) -> None:
    xml = (
        b"<campaign><name>XML Campaign</name><dialingMode>PROGRESSIVE</dialingMode>"
        b"<queueId>63aa93f4-93a5-4c5a-8597-fcfa670b2382</queueId>"
        b"<abandonRate>2.0</abandonRate><remarks>from xml</remarks></campaign>"
    )
    answer = http.put(
        f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}",
        content=xml,
        headers={**AUTH, "Content-Type": "application/xml"},
    )
    assert answer.status_code == 204, answer.text
    body = _campaign(http)
    assert (body["name"], body["dialingMode"], body["remarks"]) == (
        "XML Campaign",
        "PROGRESSIVE",
        "from xml",
    )
    assert body["abandonRate"] == 2.0
    xml_read = http.get(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", headers=XML)
    root = ElementTree.fromstring(xml_read.content)
    assert root.tag == "campaign"
    assert root.findtext("remarks") == "from xml"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID}, "name"),
        ({"name": "x", "queueId": TEST_QUEUE_ID}, "dialingMode"),
        ({"name": "x", "dialingMode": "PREVIEW"}, "queueId"),
        ({"name": "x", "dialingMode": "SLOW", "queueId": TEST_QUEUE_ID}, "dialingMode"),
        ({"name": "x", "dialingMode": "PREVIEW", "queueId": "F" * 32}, "queueId"),
        (
            {"name": "x", "dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID, "abandonRate": 2.5},
            "abandonRate",
        ),
        (
            {"name": "x", "dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID, "abandonRate": -0.1},
            "abandonRate",
        ),
        (
            {
                "name": "x",
                "dialingMode": "PREVIEW",
                "queueId": TEST_QUEUE_ID,
                "increasePredictiveRatio": 101,
            },
            "increasePredictiveRatio",
        ),
        (
            {
                "name": "x",
                "dialingMode": "PREVIEW",
                "queueId": TEST_QUEUE_ID,
                "timeZone": "Mars/Base",
            },
            "timeZone",
        ),
        (
            {"name": "x", "dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID, "startDate": "soon"},
            "startDate",
        ),
        (
            {"name": "x", "dialingMode": "PREVIEW", "queueId": TEST_QUEUE_ID, "colour": "red"},
            "colour",
        ),
    ],
)
def test_put_names_the_missing_or_bad_property(
    http: httpx.Client, demo: str, body: dict[str, object], named: str
) -> None:
    answer = http.put(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", json=body, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["error"]
    assert _campaign(http)["name"] == "Test Campaign"


@pytest.mark.parametrize("field", ["abandonRate", "increasePredictiveRatio"])
@pytest.mark.parametrize("number", [b"1" + b"0" * 400, b"-1" + b"0" * 400])
def test_rates_no_float_can_hold_are_400_and_change_nothing(
    http: httpx.Client, demo: str, field: str, number: bytes
) -> None:
    body = (
        b'{"name": "x", "dialingMode": "PREVIEW", "queueId": "'
        + TEST_QUEUE_ID.encode()
        + b'", "'
        + field.encode()
        + b'": '
        + number
        + b"}"
    )
    answer = http.put(
        f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}",
        content=body,
        headers={**JSON, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"Invalid {field}: ")
    assert answer.json()["error"].endswith(" : Value is not a number")
    assert _campaign(http)["name"] == "Test Campaign"


def test_an_integer_of_more_than_4300_digits_is_a_malformed_campaign_body(
    http: httpx.Client, demo: str
) -> None:
    answer = http.put(
        f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}",
        content=b'{"name": "x", "abandonRate": 1' + b"0" * 5000 + b"}",
        headers={**JSON, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {
        "statusCode": 400,
        "error": "Invalid JSON: an integer of 5001 digits is too long",
    }


def test_status_is_set_with_text_plain(http: httpx.Client, demo: str) -> None:
    plain = {**AUTH, "Content-Type": "text/plain"}
    url = f"{BASE}/campaigns/{PREVIEW_CAMPAIGN_ID}/status"
    assert http.put(url, content=b"Active", headers=plain).status_code == 204
    body = _campaign(http, PREVIEW_CAMPAIGN_ID)
    assert (body["status"], body["dialerStatus"]) == ("Active", "OPEN")
    assert http.put(url, content=b"Passive", headers=plain).status_code == 204
    assert _campaign(http, PREVIEW_CAMPAIGN_ID)["dialerStatus"] == "PASSIVE"
    refused = http.put(url, content=b"Handled", headers={**plain, "Accept": "text/html"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/plain")
    assert "Active or Passive" in refused.text
    # A status quoting an unpaired surrogate is refused and quoted back escaped.
    odd = http.put(url, content=b'"\\ud800"', headers={**plain, "Accept": "application/json"})
    assert odd.status_code == 400, odd.text
    assert odd.json()["statusCode"] == 400


def test_active_campaign_past_its_end_date_is_expired(http: httpx.Client, demo: str) -> None:
    change = {
        "name": "Old",
        "dialingMode": "PREVIEW",
        "queueId": TEST_QUEUE_ID,
        "startDate": "2020-01-01T00:00:00Z",
        "endDate": "2020-02-01T00:00:00Z",
    }
    assert (
        http.put(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", json=change, headers=AUTH).status_code
        == 204
    )
    http.put(
        f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}/status",
        content=b"Active",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    body = _campaign(http)
    assert (body["status"], body["dialerStatus"]) == ("Expired", "EXPIRED")
    future = {**change, "startDate": "2999-01-01T00:00:00Z", "endDate": "2999-02-01T00:00:00Z"}
    http.put(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", json=future, headers=AUTH)
    assert _campaign(http)["dialerStatus"] == "CLOSED"


def test_all_handled_active_campaign_is_completed(
    http: httpx.Client, db: Database, demo: str
) -> None:
    with db.begin() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.tenant_id == demo, customers.c.campaign_id == PREVIEW_CAMPAIGN_ID)
            .values(result="SUCCESS")
        )
    http.put(
        f"{BASE}/campaigns/{PREVIEW_CAMPAIGN_ID}/status",
        content=b"Active",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    body = _campaign(http, PREVIEW_CAMPAIGN_ID)
    assert (body["status"], body["dialerStatus"], body["handled"]) == ("Handled", "COMPLETED", 5)


def test_customer_result_statistics_group_and_omit_missing(
    http: httpx.Client, db: Database, demo: str
) -> None:
    ids = load_campaign_customers_ids(db, demo)
    with db.begin() as conn:
        for customer_id, values in zip(
            ids,
            [
                {"result": "SUCCESS", "call_result": "SUCCESS", "classifier": "Offer accepted"},
                {"result": "SUCCESS", "call_result": "SUCCESS", "classifier": "Offer accepted"},
                {"result": "REFUSAL", "call_result": "REFUSAL", "classifier": "Refusal"},
            ],
            strict=False,
        ):
            conn.execute(
                update(customers)
                .where(customers.c.tenant_id == demo, customers.c.id == customer_id)
                .values(**values)
            )
    answer = http.get(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}/customerResultStatistics", headers=JSON)
    assert answer.status_code == 200
    assert answer.json() == [
        {"result": "DIALING", "count": 2},
        {"result": "REFUSAL", "callResult": "REFUSAL", "classifier": "Refusal", "count": 1},
        {"result": "SUCCESS", "callResult": "SUCCESS", "classifier": "Offer accepted", "count": 2},
    ]
    xml = http.get(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}/customerResultStatistics", headers=XML)
    root = ElementTree.fromstring(xml.content)
    assert [e.findtext("count") for e in root.findall("customerResultStatistic")] == ["2", "1", "2"]


def test_do_not_call_list_filters_customers_and_is_visible_to_the_dialer(
    http: httpx.Client, db: Database, demo: str
) -> None:
    added = http.post("/v1/dnc", json={"numbers": ["+14155550123"]}, headers=AUTH)
    assert added.status_code == 200, added.text
    assert added.json()["numbers"] == ["+14155550123"]
    assert _campaign(http)["filtered"] == 1
    assert _campaign(http, PREVIEW_CAMPAIGN_ID)["filtered"] == 1
    with db.read() as conn:
        assert is_blocked(conn, demo, TEST_CAMPAIGN_ID, "+14155550123")
        assert not is_blocked(conn, demo, TEST_CAMPAIGN_ID, "+442079460000")
    own = http.post(
        f"/v1/campaigns/{TEST_CAMPAIGN_ID}/dnc", json={"numbers": ["+442079460000"]}, headers=AUTH
    )
    assert own.status_code == 200
    assert _campaign(http)["filtered"] == 2
    assert _campaign(http, PREVIEW_CAMPAIGN_ID)["filtered"] == 1
    assert http.delete("/v1/dnc/+14155550123", headers=AUTH).status_code == 204
    assert _campaign(http)["filtered"] == 1
    assert _campaign(http, PREVIEW_CAMPAIGN_ID)["filtered"] == 0
    with db.read() as conn:
        assert not is_blocked(conn, demo, PREVIEW_CAMPAIGN_ID, "+442079460000")


def test_other_tenants_campaigns_are_404(http: httpx.Client, db: Database, demo: str) -> None:
    other = tenancy.create_tenant(db, WallClock(), {"name": "Globex"})
    token = tenancy.create_token(db, WallClock(), other.id, "obi", TokenKind.API).token
    theirs = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    assert http.get(f"{BASE}/campaigns", headers=theirs).json() == []
    assert http.get(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}", headers=theirs).status_code == 404
    assert (
        http.put(
            f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}/status",
            content=b"Active",
            headers={**theirs, "Content-Type": "text/plain"},
        ).status_code
        == 404
    )


def test_unauthenticated_and_malformed_requests_are_never_500(
    http: httpx.Client, demo: str
) -> None:
    assert http.get(f"{BASE}/campaigns", headers={"Accept": "application/json"}).status_code == 401
    assert http.get(f"{BASE}/campaigns/xyz", headers=JSON).status_code == 400
    assert http.get(f"{BASE}/campaigns/{'A' * 32}", headers=JSON).status_code == 404
    url = f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}"
    bad_xml = http.put(
        url,
        content=b"<campaign><name>x</campaign>",
        headers={**XML, "Content-Type": "application/xml"},
    )
    assert bad_xml.status_code == 400
    assert ElementTree.fromstring(bad_xml.content).findtext("statusCode") == "400"
    bomb = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><campaign><name>&a;</name></campaign>'
    assert (
        http.put(url, content=bomb, headers={**JSON, "Content-Type": "application/xml"}).status_code
        == 400
    )
    assert (
        http.put(
            url,
            content=b"name=x",
            headers={**JSON, "Content-Type": "application/x-www-form-urlencoded"},
        ).status_code
        == 415
    )
    assert (
        http.put(
            url, content=b"{", headers={**JSON, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        http.put(
            url, content=b"[1,2]", headers={**JSON, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert (
        http.put(
            url, content=b"[" * 100000, headers={**JSON, "Content-Type": "application/json"}
        ).status_code
        == 400
    )
    huge = b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    assert (
        http.put(
            url, content=huge, headers={**JSON, "Content-Type": "application/json"}
        ).status_code
        == 413
    )
    assert http.get(f"{BASE}/campaigns/{TEST_CAMPAIGN_ID}/nothing", headers=JSON).status_code == 404


def test_native_campaign_create_with_retry_settings_and_hours(
    http: httpx.Client, demo: str
) -> None:
    made = http.post(
        "/v1/campaigns",
        json={
            "name": "Spring Sale",
            "dialing_mode": "PROGRESSIVE",
            "queue_id": TEST_QUEUE_ID,
            "retry_count": 2,
            "busy_retry_delay_s": 120,
            "hours_start": "10:00",
            "hours_end": "18:00",
        },
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["retry_count"], body["busy_retry_delay_s"], body["hours_start"]) == (
        2,
        120,
        "10:00",
    )
    assert body["dialer_id"] == CAMPAIGN_DIALER_ID
    assert body["status"] == "Passive"
    obi = _campaign(http, body["id"])
    assert obi["name"] == "Spring Sale"
    assert obi["dialerType"] == "CampaignDialer"
    bad = http.patch(f"/v1/campaigns/{body['id']}", json={"hours_start": "19:00"}, headers=AUTH)
    assert bad.status_code == 422
    assert (
        http.patch(
            f"/v1/campaigns/{body['id']}", json={"retry_count": -1}, headers=AUTH
        ).status_code
        == 422
    )
