"""OBI POST /customers/list: the seed's three answers, limits and formats."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import Text, cast, event, func, insert, select

from rappel.clock import WallClock
from rappel.services import customers as svc
from rappel.services.demo import API_TOKEN, TENANT, TEST_CAMPAIGN_ID
from rappel.store import customer_import
from rappel.store.db import Database
from rappel.store.tables import customer_attributes, customers

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Accept": "application/json"}
LIST = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers/list"

SEED_LIST = [
    {
        "attributes": {
            "attribute": [
                {"name": "City", "value": city},
                {"name": "Classification", "value": level},
                {"name": "First Name", "value": first},
                {"name": "Last Name", "value": "Smith"},
            ]
        },
        "numbers": f"+5214520{i};",
    }
    for i, (city, level, first) in enumerate(
        [
            ("New York", "Gold", "Kathy"),
            ("New York", "Silver", "Bob"),
            ("London", "Gold", "John"),
            ("Helsinki", "Gold", "Keith"),
            ("New York", "Gold", "Kate"),
        ]
    )
]


def _count(db: Database, tenant_id: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    customers.c.tenant_id == tenant_id, customers.c.campaign_id == TEST_CAMPAIGN_ID
                )
            ).scalar_one()
        )


def test_seed_list_example_all_added(http: httpx.Client, db: Database, demo: str) -> None:
    before = _count(db, demo)
    answer = http.post(LIST, json=SEED_LIST, headers=JSON)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [item["statusCode"] for item in body] == [201] * 5
    assert all(len(item["id"]) == 32 and set(item) == {"statusCode", "id"} for item in body)
    assert _count(db, demo) == before + 5
    with db.read() as conn:
        attributes = conn.execute(
            select(func.count()).where(customer_attributes.c.customer_id == body[0]["id"])
        ).scalar_one()
    assert attributes == 5  # four given and Phone1 from numbers


def test_invalid_item_fails_alone_without_stop(http: httpx.Client, db: Database, demo: str) -> None:
    items = [{"numbers": f"+5214521{i};"} for i in range(8)]
    items[3] = {"numbers": "+number;"}
    answer = http.post(LIST, json=items, headers=JSON)
    body = answer.json()
    assert body[3] == {"error": "Invalid numbers: '+number;'", "statusCode": 400}
    assert [b["statusCode"] for b in body] == [201, 201, 201, 400, 201, 201, 201, 201]
    assert _count(db, demo) == 5 + 7


def test_stop_process_adds_nothing_and_flags_every_duplicate(
    http: httpx.Client, db: Database, demo: str
) -> None:
    items = [{"numbers": f"+5214522{i};", "externalId": f"e{i}"} for i in range(10)]
    items[5]["externalId"] = items[7]["externalId"] = "007"
    answer = http.post(
        LIST, params={"stopProcessIfInvalidEntriesFound": "true"}, json=items, headers=JSON
    )
    body = answer.json()
    duplicate = {"error": "Invalid externalId: 007 : Value is not unique", "statusCode": 400}
    assert body[5] == body[7] == duplicate
    assert [b for i, b in enumerate(body) if i not in (5, 7)] == [{"statusCode": 200}] * 8
    assert _count(db, demo) == 5


def test_external_id_already_in_the_campaign_is_not_unique(http: httpx.Client, demo: str) -> None:
    body = http.post(
        LIST, json=[{"numbers": "+14155550100", "externalId": "10"}], headers=JSON
    ).json()
    assert body == [{"error": "Invalid externalId: 10 : Value is not unique", "statusCode": 400}]


def test_list_in_xml_answers_in_xml(http: httpx.Client, db: Database, demo: str) -> None:
    xml = (
        b"<customers>"
        b"<customer><numbers>+52145230</numbers><attributes><attribute><name>City</name>"
        b"<value>Rome</value></attribute></attributes></customer>"
        b"<customer><numbers>bad</numbers></customer>"
        b"</customers>"
    )
    answer = http.post(
        LIST,
        content=xml,
        headers={**AUTH, "Content-Type": "application/xml", "Accept": "text/html"},
    )
    assert answer.status_code == 200
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "items"
    codes = [i.findtext("statusCode") for i in root.findall("item")]
    assert codes == ["201", "400"]
    single = b"<customers><customer><numbers>+52145231</numbers></customer></customers>"
    one = http.post(LIST, content=single, headers={**AUTH, "Content-Type": "application/xml"})
    assert [i.findtext("statusCode") for i in ElementTree.fromstring(one.content)] == ["201"]


def test_oversized_lists_and_bodies_are_refused_clearly(
    http: httpx.Client, db: Database, demo: str
) -> None:
    too_many = [{"numbers": f"+1415555{i:04d}"} for i in range(1001)]
    answer = http.post(LIST, json=too_many, headers=JSON)
    assert answer.status_code == 413
    assert "at most 1000" in answer.json()["error"]
    huge = json.dumps([{"numbers": "+14155550100", "externalId": "x" * 6_000_000}]).encode()
    refused = http.post(LIST, content=huge, headers={**JSON, "Content-Type": "application/json"})
    assert refused.status_code == 413
    assert _count(db, demo) == 5


def test_malformed_lists_are_400_never_500(http: httpx.Client, demo: str) -> None:
    headers = {**JSON, "Content-Type": "application/json"}
    for body in (b"", b"{}", b'"x"', b"[1, 2]", b'[{"attributes": 5, "numbers": "1"}]', b"[{]"):
        answer = http.post(LIST, content=body, headers=headers)
        assert answer.status_code in (200, 400), body
        if answer.status_code == 200:
            assert {i["statusCode"] for i in answer.json()} == {400}
    assert (
        http.post(LIST, content=b"<a", headers={**JSON, "Content-Type": "text/xml"}).status_code
        == 400
    )
    assert (
        http.post(LIST, content=b"x", headers={**JSON, "Content-Type": "text/csv"}).status_code
        == 415
    )
    assert (
        http.post(
            LIST, params={"stopProcessIfInvalidEntriesFound": "yes"}, json=[], headers=JSON
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("number", "field"),
    [
        (b'"priority": Infinity', "priority"),
        (b'"previewTime": -Infinity', "previewTime"),
        (b'"priority": 1e400', "priority"),
    ],
)
def test_a_number_no_integer_can_hold_fails_its_item_alone(
    http: httpx.Client, db: Database, demo: str, number: bytes, field: str
) -> None:
    body = (
        b'[{"numbers": "+15214523001"}, {"numbers": "+15214523002", '
        + number
        + b'}, {"numbers": "+15214523003"}]'
    )
    answer = http.post(LIST, content=body, headers={**JSON, "Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    items = answer.json()
    assert [item["statusCode"] for item in items] == [201, 400, 201]
    assert items[1]["error"].startswith(f"Invalid {field}: ")
    assert _count(db, demo) == 5 + 2


def test_bulk_writer_stores_rows_as_a_plain_insert_does(db: Database, demo: str) -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    row = {c.name: None for c in customers.columns} | {
        "tenant_id": demo,
        "campaign_id": TEST_CAMPAIGN_ID,
        "numbers": "+14155550100;",
        "number1": "+14155550100",
        "attributes": [{"name": "City", "value": "Zürich"}],
        "result": "DIALING",
        "call_count": 0,
        "last_b_number": 0,
        "priority": -3,
        "state": 0,
        "amount": 1.5,
        "next_call_at": now,
        "created_at": now,
        "modified_at": now,
    }
    bulk = {**row, "id": "B" * 32, "external_id": "bulk"}
    plain = {**row, "id": "P" * 32, "external_id": "plain"}
    attribute = {"tenant_id": demo, "position": 0, "name": "City", "name_ci": "city"}
    attribute |= {"value": "Zürich", "value_ci": "zürich"}
    with db.begin() as conn:
        customer_import.insert_customers(conn, [bulk], [{**attribute, "customer_id": bulk["id"]}])
        conn.execute(insert(customers), [plain])
        conn.execute(insert(customer_attributes), [{**attribute, "customer_id": plain["id"]}])
    with db.read() as conn:
        found = {
            r["external_id"]: dict(r)
            for r in conn.execute(
                select(customers).where(customers.c.external_id.in_(["bulk", "plain"]))
            ).mappings()
        }
        raw = {
            r[0]: r[1:]
            for r in conn.execute(
                select(customers.c.external_id, cast(customers.c.script, Text)).where(
                    customers.c.external_id.in_(["bulk", "plain"])
                )
            )
        }
        attributes = conn.execute(
            select(customer_attributes.c.customer_id, customer_attributes.c.value_ci).where(
                customer_attributes.c.customer_id.in_([bulk["id"], plain["id"]])
            )
        ).all()
    for stored in found.values():
        del stored["id"], stored["external_id"]
    assert found["bulk"] == found["plain"]
    assert found["bulk"]["next_call_at"] == now
    assert found["bulk"]["attributes"] == [{"name": "City", "value": "Zürich"}]
    assert raw["bulk"] == raw["plain"]
    assert sorted(v for _, v in attributes) == ["zürich", "zürich"]


def test_nul_character_is_stored_or_refused_never_a_server_error(
    http: httpx.Client, demo: str
) -> None:
    item = {
        "numbers": "+14155550199",
        "attributes": {"attribute": [{"name": "N", "value": "a\x00b"}]},
    }
    answer = http.post(LIST, json=[item], headers=JSON)
    assert answer.status_code in (200, 400), answer.text


def test_bulk_add_checks_do_not_call_lists_and_external_ids_together(
    http: httpx.Client, db: Database, demo: str
) -> None:
    assert http.post("/v1/dnc", json={"numbers": ["+14155550101"]}, headers=JSON).status_code == 200
    own = http.post(
        f"/v1/campaigns/{TEST_CAMPAIGN_ID}/dnc", json={"numbers": ["+14155550102"]}, headers=JSON
    )
    assert own.status_code == 200
    items = [
        {"externalId": "b1", "numbers": "+14155550101"},  # blocked tenant-wide
        {"externalId": "b2", "numbers": "+14155550102;+14155550101"},  # every number blocked
        {"externalId": "b3", "numbers": "+14155550102;+14155550103"},  # one left to call
        {"externalId": "10", "numbers": "+14155550104"},  # the demo's own externalId
        {"externalId": "b5", "numbers": "+14155550105"},
        {"externalId": "b5", "numbers": "+14155550106"},
    ]
    answer = http.post(LIST, json=items, headers=JSON)
    assert answer.status_code == 200, answer.text
    assert [item["statusCode"] for item in answer.json()] == [201, 201, 201, 400, 400, 400]
    with db.read() as conn:
        results = dict(
            conn.execute(
                select(customers.c.external_id, customers.c.result).where(
                    customers.c.external_id.in_(["b1", "b2", "b3"])
                )
            ).all()
        )
    assert results == {"b1": "FILTERED", "b2": "FILTERED", "b3": "DIALING"}


def test_fine_statistics_are_checked_once_a_minute_per_tenant(
    db: Database, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_postgres:
        pytest.skip("the statistics check is PostgreSQL's")
    monkeypatch.setattr(customer_import, "_statistics_fine", {})
    items = [svc.NewCustomer(external_id=f"s{i}", numbers=f"+1415555{i:04d}") for i in range(1200)]
    results = svc.add_customers(
        db, WallClock(), demo, TEST_CAMPAIGN_ID, items, max_items=svc.MAX_NATIVE_BULK
    )
    assert all(r.error is None for r in results)
    with db.begin() as conn:
        conn.exec_driver_sql("ANALYZE customers")
    explained: list[str] = []

    def seen(*args: object) -> None:
        statement = str(args[2])
        if statement.startswith("EXPLAIN"):
            explained.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            with db.begin() as conn:
                assert not customer_import.refresh_stale_statistics(conn, demo)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert len(explained) == 1


def test_list_is_authenticated_before_anything_is_read_or_stored(
    http: httpx.Client, db: Database, demo: str
) -> None:
    before = _count(db, demo)
    body = json.dumps(SEED_LIST[:1])
    typed = {"Content-Type": "application/json", "Accept": "application/json"}
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        refused = http.post(LIST, content=body, headers={**typed, **headers})
        assert refused.status_code == 401, refused.text
    # Unauthenticated, an unreadable body is still a 401, not a 400.
    assert http.post(LIST, content="{", headers=typed).status_code == 401
    with httpx.Client(base_url=str(http.base_url), timeout=10) as agent:
        login = {"tenant": TENANT, "username": "agent1", "password": "agent1-demo"}
        assert agent.post("/v1/auth/login", json=login).status_code == 200
        assert agent.post(LIST, content=body, headers=typed).status_code == 403
    assert _count(db, demo) == before
    basic = base64.b64encode(f"any:{API_TOKEN}".encode()).decode()
    added = http.post(LIST, content=body, headers={**typed, "Authorization": f"Basic {basic}"})
    assert [item["statusCode"] for item in added.json()] == [201]
    assert _count(db, demo) == before + 1


def test_two_adds_racing_for_one_external_id_store_it_once_and_fail_that_item_alone(
    db: Database, demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite runs one writer at a time: a check and its insert never interleave")
    checked = svc.store.taken_and_blocked
    both_checked = threading.Barrier(2, timeout=10)
    waited: set[int] = set()

    def check_then_wait(*args: Any) -> Any:
        found = checked(*args)
        if threading.get_ident() not in waited:  # only each request's first check
            waited.add(threading.get_ident())
            both_checked.wait()  # both have seen externalId "race" free
        return found

    monkeypatch.setattr(svc.store, "taken_and_blocked", check_then_wait)
    results: dict[str, list[svc.ItemResult]] = {}

    def add(own: str, number: str) -> None:
        items = [
            svc.NewCustomer(external_id="race", numbers="+14155550170"),
            svc.NewCustomer(external_id=own, numbers=number),
        ]
        results[own] = svc.add_customers(db, WallClock(), demo, TEST_CAMPAIGN_ID, items)

    threads = [
        threading.Thread(target=add, args=("own-a", "+14155550171")),
        threading.Thread(target=add, args=("own-b", "+14155550172")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert set(results) == {"own-a", "own-b"}
    race = [answer[0] for answer in results.values()]
    assert sorted(r.outcome for r in race) == [svc.Outcome.CREATED, svc.Outcome.INVALID]
    (lost,) = [r for r in race if r.error is not None]
    assert lost.error is not None
    assert lost.error.message == "Invalid externalId: race : Value is not unique"
    assert all(answer[1].outcome is svc.Outcome.CREATED for answer in results.values())
    with db.read() as conn:
        stored = conn.execute(
            select(customers.c.external_id, func.count())
            .where(customers.c.external_id.in_(["race", "own-a", "own-b"]))
            .group_by(customers.c.external_id)
        ).all()
    assert dict(stored) == {"race": 1, "own-a": 1, "own-b": 1}
