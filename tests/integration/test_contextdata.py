"""Nixxis ContextData (`POST /data/?action=CreateContextData`) through HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, insert, select

from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services.demo import API_TOKEN, TEST_QUEUE_ID, WEB_ACTIVITY_ID, WEB_CAMPAIGN_ID
from rappel.store.db import Database
from rappel.store.tables import campaigns, customer_attributes, customers, interactions
from tests.conftest import make_settings
from tests.support.responsive import healthz_meanwhile
from tests.support.servers import running_server

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
BRUSSELS_CAMPAIGN = "5E1F00000000000000000000000000B1"
BRUSSELS_ACTIVITY = "5E1F00000000000000000000000000A1"
FORMAT = "%Y-%m-%d %H:%M:%S.000"

# The seed's two samples with the date placeholders filled in.
CAMPAIGN_SAMPLE = """contextdata>
            <campaigndata>
                        <Name>My Customer Name</Name>
                        <PhoneNumber>0123456789</PhoneNumber>
            </campaigndata>
            <systemdata xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <CurrentActivity xsi:nil="true" />
                         <State>15</State>
                         <SortInfo>-2</SortInfo>
                         <DialStartDate>{start}</DialStartDate>
                         <DialEndDate>{end}</DialEndDate>
                         <CreationTime>{created}</CreationTime>
                         <ImportTag>ImportTag</ImportTag>
            </systemdata>
</contextdata>"""
ACTIVITY_SAMPLE = """<contextdata>
            <campaigndata>
                        <Name>My Customer Name</Name>
                        <PhoneNumber>0123456789</PhoneNumber>
            </campaigndata>
            <systemdata>
                        <CurrentActivity>{activity}</CurrentActivity>
                         <State>15</State>
                         <SortInfo>-2</SortInfo>
                         <DialStartDate>{start}</DialStartDate>
                         <DialEndDate>{end}</DialEndDate>
                         <CreationTime>{created}</CreationTime>
                         <ImportTag>ImportTag</ImportTag>
            </systemdata>
</contextdata>"""


@pytest.fixture
def brussels(db: Database, demo: str, http: httpx.Client) -> str:
    """A campaign in Brussels time with the seed's field structure, made through the API."""
    now = datetime.now(UTC)
    with db.begin() as conn:
        conn.execute(
            insert(campaigns).values(
                tenant_id=demo,
                id=BRUSSELS_CAMPAIGN,
                name="Rappel web",
                dialer_id="C0000000000000000000000000000001",
                dialing_mode="PROGRESSIVE",
                queue_id=TEST_QUEUE_ID,
                time_zone="Europe/Brussels",
                registered=now,
                modified_at=now,
            )
        )
    fields = [{"name": "Name", "meaning": "text"}, {"name": "PhoneNumber", "meaning": "phone"}]
    put = http.put(f"/v1/campaigns/{BRUSSELS_CAMPAIGN}/fields", json=fields, headers=ACME)
    assert put.status_code == 200
    made = http.post(
        f"/v1/campaigns/{BRUSSELS_CAMPAIGN}/activities",
        json={"id": BRUSSELS_ACTIVITY.lower(), "name": "Callbacks"},
        headers=ACME,
    )
    assert made.status_code == 201
    return BRUSSELS_CAMPAIGN


def local(hours: float) -> str:
    moment = datetime.now(ZoneInfo("Europe/Brussels")) + timedelta(hours=hours)
    return moment.strftime(FORMAT)


def post(http: httpx.Client, query: str, xml: str, path: str = "/data/") -> httpx.Response:
    return http.post(
        f"{path}?action=CreateContextData&{query}",
        content=xml.encode(),
        headers={**ACME, "Content-Type": "text/xml"},
    )


def test_campaign_sample_creates_a_callback_record_in_campaign_time(
    http: httpx.Client, db: Database, brussels: str
) -> None:
    start = local(2)
    xml = CAMPAIGN_SAMPLE.replace("contextdata>", "<contextdata>", 1).format(
        start=start, end=local(5), created=local(0)
    )
    answer = post(http, f"context={brussels.lower()}", xml)
    assert answer.status_code == 200, answer.text
    record_id = answer.text
    with db.read() as conn:
        record = conn.execute(select(customers).where(customers.c.id == record_id)).mappings().one()
        row = conn.execute(select(interactions)).mappings().one()
        attrs = conn.execute(
            select(customer_attributes.c.name, customer_attributes.c.value).where(
                customer_attributes.c.customer_id == record_id
            )
        )
        attributes = sorted(tuple(a) for a in attrs)
    assert record["campaign_id"] == BRUSSELS_CAMPAIGN
    assert record["activity_id"] is None
    assert record["state"] == 15
    assert record["priority"] == -2
    assert record["import_tag"] == "ImportTag"
    assert record["number1"] == "+32123456789"
    assert attributes == [("Name", "My Customer Name"), ("PhoneNumber", "0123456789")]
    wanted = datetime.strptime(start, FORMAT).replace(tzinfo=ZoneInfo("Europe/Brussels"))
    assert row["start_time"] == wanted
    assert row["callback_status"] == 2  # TIMER until DialStartDate
    assert row["flow"] == "SCHEDULED"
    assert row["queue_id"] == TEST_QUEUE_ID
    assert answer.headers["location"] == f"/v1/interactions/{row['id']}"


def test_activity_sample_pins_the_record_without_trailing_slash(
    http: httpx.Client, db: Database, brussels: str
) -> None:
    xml = ACTIVITY_SAMPLE.format(
        activity=BRUSSELS_ACTIVITY.lower(), start=local(-1), end=local(3), created=local(0)
    )
    answer = post(http, f"activity={BRUSSELS_ACTIVITY}", xml, path="/data")
    assert answer.status_code == 200, answer.text
    with db.read() as conn:
        record = conn.execute(select(customers).where(customers.c.id == answer.text)).mappings()
        row = record.one()
    assert row["activity_id"] == BRUSSELS_ACTIVITY
    assert row["campaign_id"] == BRUSSELS_CAMPAIGN


def test_current_activity_in_systemdata_alone_finds_the_campaign(
    http: httpx.Client, db: Database, demo: str
) -> None:
    xml = ACTIVITY_SAMPLE.format(
        activity=WEB_ACTIVITY_ID.lower(), start=local(1), end=local(4), created=local(0)
    ).replace("0123456789", "4155550123")
    answer = post(http, "", xml)
    assert answer.status_code == 200, answer.text
    with db.read() as conn:
        row = conn.execute(select(customers).where(customers.c.id == answer.text)).mappings().one()
    assert (row["campaign_id"], row["activity_id"]) == (WEB_CAMPAIGN_ID, WEB_ACTIVITY_ID)
    assert row["number1"] == "+14155550123"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        (("<Name>", "<name>"), 400, "name"),
        (("<State>15</State>", "<State>3</State>"), 400, "State"),
        (("<State>15</State>", ""), 400, "State"),
        (("0123456789", ""), 400, "PhoneNumber"),
        (("0123456789", "12"), 400, "PhoneNumber"),
        (("<ImportTag>ImportTag", "<ImportTag>" + "t" * 251), 400, "ImportTag"),
        (("<SortInfo>-2", "<SortInfo>first"), 400, "SortInfo"),
        (
            ('<CurrentActivity xsi:nil="true" />', "<CurrentActivity>zz</CurrentActivity>"),
            400,
            "CurrentActivity",
        ),
    ],
)
def test_errors_are_4xx_plain_text_naming_the_field(
    http: httpx.Client, brussels: str, change: tuple[str, str], status: int, field: str
) -> None:
    xml = CAMPAIGN_SAMPLE.replace("contextdata>", "<contextdata>", 1).format(
        start=local(1), end=local(3), created=local(0)
    )
    xml = xml.replace(change[0], change[1]).replace(
        change[0].replace("<", "</"), change[1].replace("<", "</")
    )
    answer = post(http, f"context={brussels}", xml)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith(field)


def test_dial_end_in_the_past_is_refused_naming_dialenddate(
    http: httpx.Client, brussels: str
) -> None:
    xml = ACTIVITY_SAMPLE.format(
        activity=BRUSSELS_ACTIVITY, start=local(-3), end=local(-2), created=local(0)
    )
    answer = post(http, f"activity={BRUSSELS_ACTIVITY}", xml)
    assert answer.status_code == 400
    assert answer.text.startswith("DialEndDate")


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("context=00000000000000000000000000000000", 404, "context"),
        ("activity=00000000000000000000000000000000", 404, "activity"),
        ("context=nonsense", 400, "context"),
    ],
)
def test_unknown_targets_name_the_parameter(
    http: httpx.Client, brussels: str, query: str, status: int, field: str
) -> None:
    xml = CAMPAIGN_SAMPLE.replace("contextdata>", "<contextdata>", 1).format(
        start=local(1), end=local(3), created=local(0)
    )
    answer = post(http, query, xml)
    assert answer.status_code == status
    assert answer.text.startswith(field)


def test_wrong_action_is_refused(http: httpx.Client, brussels: str) -> None:
    answer = http.post(
        f"/data/?action=DeleteEverything&context={brussels}",
        content=b"<contextdata/>",
        headers=ACME,
    )
    assert answer.status_code == 400
    assert answer.text.startswith("action")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<contextdata><campaigndata><Name>&lol2;</Name></campaigndata></contextdata>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<contextdata><campaigndata><Name>&xxe;</Name></campaigndata></contextdata>"""


@pytest.mark.parametrize("body", [BOMB, XXE])
def test_entity_bombs_and_external_entities_are_refused(
    http: httpx.Client, db: Database, brussels: str, body: bytes
) -> None:
    answer = http.post(
        f"/data/?action=CreateContextData&context={brussels}", content=body, headers=ACME
    )
    assert answer.status_code == 400
    assert answer.text.startswith("body")
    with db.read() as conn:
        assert conn.execute(select(interactions)).first() is None


def test_oversized_body_is_refused_with_413(http: httpx.Client, brussels: str) -> None:
    body = b"<contextdata>" + b" " * 70000 + b"</contextdata>"
    answer = http.post(
        f"/data/?action=CreateContextData&context={brussels}", content=body, headers=ACME
    )
    assert answer.status_code == 413


def test_without_a_token_it_is_401_plain_text(http: httpx.Client, brussels: str) -> None:
    answer = http.post(f"/data/?action=CreateContextData&context={brussels}", content=b"<x/>")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/plain")


def test_field_schema_and_activities_are_listed(http: httpx.Client, brussels: str) -> None:
    fields = http.get(f"/v1/campaigns/{brussels}/fields", headers=ACME).json()
    assert [f["name"] for f in fields] == ["Name", "PhoneNumber"]
    acts = http.get(f"/v1/campaigns/{brussels}/activities", headers=ACME).json()
    assert [a["id"] for a in acts] == [BRUSSELS_ACTIVITY]
    bad = http.put(
        f"/v1/campaigns/{brussels}/fields",
        json=[{"name": "A", "meaning": "phone"}, {"name": "A", "meaning": "text"}],
        headers=ACME,
    )
    assert bad.status_code == 422


def stored(db: Database) -> tuple[int, int]:
    """How many records and interactions there are (the demo seeds some records)."""
    with db.read() as conn:
        records = conn.execute(select(func.count()).select_from(customers)).scalar_one()
        calls = conn.execute(select(func.count()).select_from(interactions)).scalar_one()
    return records, calls


LAST_MOMENT = "9999-12-31 23:59:59.000"


@pytest.mark.parametrize(
    ("field", "dates"),
    [
        ("DialStartDate", {"start": LAST_MOMENT, "end": LAST_MOMENT}),
        ("DialEndDate", {"end": LAST_MOMENT}),
        ("CreationTime", {"created": LAST_MOMENT}),
    ],
)
def test_a_date_past_year_9999_in_utc_is_refused_naming_the_field(
    http: httpx.Client, db: Database, demo: str, field: str, dates: dict[str, str]
) -> None:
    # The last second of 9999 in Los Angeles (the demo campaign's zone) is year 10000 in UTC.
    before = stored(db)
    values = {"start": local(1), "end": local(3), "created": local(0), **dates}
    xml = ACTIVITY_SAMPLE.format(activity=WEB_ACTIVITY_ID, **values).replace(
        "0123456789", "4155550123"
    )
    answer = post(http, "", xml)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith(f"{field} is out of range")
    assert stored(db) == before


def test_a_date_before_year_1_in_utc_is_refused_naming_the_field(
    http: httpx.Client, db: Database, brussels: str
) -> None:
    # Midnight on 1 January of year 1 in Brussels (UTC+1) would be year 0 in UTC.
    before = stored(db)
    xml = ACTIVITY_SAMPLE.format(
        activity=BRUSSELS_ACTIVITY, start=local(1), end=local(3), created="0001-01-01 00:00:00"
    )
    answer = post(http, f"activity={BRUSSELS_ACTIVITY}", xml)
    assert answer.status_code == 400, answer.text
    assert answer.text.startswith("CreationTime is out of range")
    assert stored(db) == before


def test_a_big_document_is_refused_while_healthz_keeps_answering(db: Database, demo: str) -> None:
    settings = make_settings(db, max_xml_bytes=4 * 1024 * 1024)
    container = Container(settings, db, WallClock(), "test-secret-key-not-for-production")
    fields = b"".join(b"<F%d/>" % i for i in range(200_000))
    body = b"<contextdata><campaigndata>" + fields + b"</campaigndata></contextdata>"
    with running_server(create_app(container)) as url:
        seen = healthz_meanwhile(
            url,
            lambda client: client.post(
                "/data/",
                params={"action": "CreateContextData", "context": WEB_CAMPAIGN_ID},
                content=body,
                headers=ACME,
            ),
        )
    assert seen.result is not None
    assert seen.result.status_code == 400
    assert seen.answered_in_second_half, seen.polls
