"""OBI customers through HTTP: add one, search, read, delete, in JSON and XML."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import func, select, update

from rappel.services.demo import API_TOKEN, PREVIEW_CAMPAIGN_ID, TEST_CAMPAIGN_ID
from rappel.store import customer_search
from rappel.store.db import Database
from rappel.store.tables import customer_attributes, customers, users

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Accept": "application/json"}
POST_JSON = {**AUTH, "Accept": "text/html", "Content-Type": "application/json"}
BASE = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers"

#: The seed's POST /customers example, stray closing brace included.
SEED_POST = b"""{
"attributes": {
"attribute": [
{"name": "City", "value": "New York"},
{"name": "Classification", "value": "Gold"},
{"name": "Address", "value": "StreetAddress10"},
{"name": "First Name", "value": "Kathy"}
]
},
"externalId": "100",
"numbers": "0215428754;98521542",
"timeZone": "Europe/Helsinki"
}
}"""

CUSTOMER_KEYS = {
    "attributes",
    "result",
    "date",
    "lastBNumber",
    "callCount",
    "modificationDate",
    "externalId",
    "numbers",
    "id",
}


def test_seed_post_example_creates_a_customer_with_location(
    http: httpx.Client, db: Database, demo: str
) -> None:
    made = http.post(BASE, content=SEED_POST, headers=POST_JSON)
    assert made.status_code == 201, made.text
    assert made.headers["content-type"].startswith("text/html")
    new_id = made.text
    assert len(new_id) == 32
    assert made.headers["location"].endswith(f"{BASE}/{new_id}")
    body = http.get(f"{BASE}/{new_id}", headers=JSON).json()
    assert CUSTOMER_KEYS <= set(body)
    assert body["numbers"] == "0215428754;98521542"
    assert body["timeZone"] == "Europe/Helsinki"
    assert body["result"] == "DIALING"
    assert body["attributes"]["attribute"][-2:] == [
        {"name": "Phone1", "value": "0215428754"},
        {"name": "Phone2", "value": "98521542"},
    ]
    with db.read() as conn:
        row = conn.execute(select(customers).where(customers.c.id == new_id)).mappings().one()
    assert row["number1"] == "+358215428754"
    assert row["number2"].startswith("+358")


def test_post_generates_external_id_and_takes_numbers_from_phone_attributes(
    http: httpx.Client, demo: str
) -> None:
    made = http.post(
        BASE,
        json={
            "attributes": {
                "attribute": [
                    {"name": "Phone1", "value": "+14155550199"},
                    {"name": "phone2", "value": "+14155550198"},
                ]
            },
            "priority": 5,
            "previewTime": 30,
            "dialingMode": "PREVIEW",
            "date": "2030-01-01T09:00:00Z",
        },
        headers=POST_JSON,
    )
    assert made.status_code == 201, made.text
    body = http.get(f"{BASE}/{made.text}", headers=JSON).json()
    assert body["externalId"] == made.text
    assert body["numbers"] == "+14155550199;+14155550198"
    assert (body["priority"], body["previewTime"], body["dialingMode"]) == (5, 30, "PREVIEW")
    assert body["date"] == "2030-01-01T09:00:00Z"


def test_numbers_replace_phone_attributes(http: httpx.Client, demo: str) -> None:
    made = http.post(
        BASE,
        json={
            "numbers": "+14155550111",
            "attributes": [
                {"name": "Phone1", "value": "+19999999999"},
                {"name": "A", "value": "b"},
            ],
        },
        headers=POST_JSON,
    )
    attributes = http.get(f"{BASE}/{made.text}", headers=JSON).json()["attributes"]["attribute"]
    assert attributes == [{"name": "A", "value": "b"}, {"name": "Phone1", "value": "+14155550111"}]


def test_post_in_xml(http: httpx.Client, demo: str) -> None:
    xml = (
        b"<customer><externalId>x-1</externalId><numbers>+14155550100;</numbers>"
        b"<priority>3</priority><attributes><attribute><name>City</name>"
        b"<value>Oslo</value></attribute></attributes></customer>"
    )
    made = http.post(
        BASE,
        content=xml,
        headers={**AUTH, "Content-Type": "application/xml", "Accept": "text/html"},
    )
    assert made.status_code == 201, made.text
    read = http.get(f"{BASE}/{made.text}", headers={**AUTH, "Accept": "application/xml"})
    root = ElementTree.fromstring(read.content)
    assert root.tag == "customer"
    assert root.findtext("externalId") == "x-1"
    assert root.findtext("numbers") == "+14155550100;"
    assert [a.findtext("name") for a in root.iter("attribute")] == ["City", "Phone1"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b'{"externalId": "lone", "attributes": {"name": "Phone1", "value": "+14155550111"}}',
            "application/json",
        ),
        (
            b"<customer><externalId>lone</externalId><attributes><name>Phone1</name>"
            b"<value>+14155550111</value></attributes></customer>",
            "application/xml",
        ),
    ],
)
def test_one_attribute_outside_a_list_is_kept(
    http: httpx.Client, demo: str, body: bytes, content_type: str
) -> None:
    made = http.post(BASE, content=body, headers={**AUTH, "Content-Type": content_type})
    assert made.status_code == 201, made.text
    read = http.get(f"{BASE}/{made.text}", headers=JSON).json()
    assert read["numbers"] == "+14155550111"
    assert read["attributes"]["attribute"] == [{"name": "Phone1", "value": "+14155550111"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"numbers": "+number;"}, "Invalid numbers: '+number;'"),
        ({"numbers": "1;2;3;4"}, "At most 3 numbers"),
        ({"attributes": [{"name": "City", "value": "x"}]}, "Phone1"),
        (
            {"numbers": "+14155550100", "externalId": "10"},
            "Invalid externalId: 10 : Value is not unique",
        ),
        ({"numbers": "+14155550100", "agentId": "bad"}, "agentId"),
        ({"numbers": "+14155550100", "agentId": "F" * 32}, "Unknown agent"),
        ({"numbers": "+14155550100", "timeZone": "Nowhere/Land"}, "timeZone"),
        ({"numbers": "+14155550100", "priority": "high"}, "priority"),
        ({"numbers": "+14155550100", "previewTime": 99999}, "previewTime"),
        ({"numbers": "+14155550100", "dialingMode": "FAST"}, "dialingMode"),
        # The seed: a customer's dialingMode is one of PREVIEW, PREDICTIVE.
        ({"numbers": "+14155550100", "dialingMode": "PROGRESSIVE"}, "dialingMode"),
        ({"numbers": "+14155550100", "agentId": f"{'F' * 32},{'E' * 32}"}, "agentId"),
        ({"numbers": "+14155550100", "attributes": {"City": "Oslo"}}, "attributes"),
        ({"numbers": "+14155550100", "date": "tomorrow"}, "date"),
        ({"numbers": "+14155550100", "shoeSize": 9}, "shoeSize"),
    ],
)
def test_bad_customers_are_400_with_the_reason(
    http: httpx.Client, demo: str, body: dict[str, object], message: str
) -> None:
    answer = http.post(BASE, json=body, headers={**POST_JSON, "Accept": "application/json"})
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_customer_shape_matches_the_seed_with_script(
    http: httpx.Client, db: Database, demo: str
) -> None:
    made = http.post(BASE, json={"numbers": "0215428754", "externalId": "S1"}, headers=POST_JSON)
    script = {
        "answers": [{"answer": "yes", "question": "Would you visit our store?"}],
        "name": "Tennis Sales Script",
    }
    with db.begin() as conn:
        conn.execute(
            update(customers)
            .where(customers.c.id == made.text)
            .values(
                result="SUCCESS",
                call_result="SUCCESS",
                classifier="Offer accepted",
                script=script,
                next_call_at=None,
            )
        )
    one = http.get(f"{BASE}/{made.text}", headers=JSON).json()
    assert one["script"] == script
    assert one["date"] == "9999-12-31T23:59:59Z"
    assert (one["result"], one["callResult"], one["classifier"]) == (
        "SUCCESS",
        "SUCCESS",
        "Offer accepted",
    )
    listed = http.get(BASE, params={"externalId": "S1"}, headers=JSON).json()
    assert "script" not in listed[0]
    scripted = http.get(BASE, params={"externalId": "S1", "includeScript": "true"}, headers=JSON)
    assert scripted.json()[0]["script"] == script
    # `date` searches find it at the date it is shown with.
    for params, found in (
        ({"date": "2030-01-01T00:00:00Z"}, True),
        ({"dateEnd": "9999-12-31T23:59:59Z"}, True),
        ({"dateEnd": "2999-01-01T00:00:00Z"}, False),
        ({"date": "9999-12-31T23:59:59Z", "dateEnd": "9999-12-31T23:59:59Z"}, True),
    ):
        listed = http.get(BASE, params={"externalId": "S1", **params}, headers=JSON)
        assert listed.status_code == 200, listed.text
        assert [c["externalId"] for c in listed.json()] == (["S1"] if found else []), params


def _ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [c["externalId"] for c in answer.json()]


def test_customer_search_by_fields_patterns_dates_agents_and_attributes(
    http: httpx.Client, db: Database, demo: str
) -> None:
    with db.read() as conn:
        agent = conn.execute(select(users.c.id).where(users.c.username == "agent1")).scalar_one()
    http.post(
        BASE,
        json={"numbers": "+14155550177", "externalId": "a_1", "agentId": agent, "priority": 7},
        headers=POST_JSON,
    )

    def get(**params: str) -> list[str]:
        return _ids(http.get(BASE, params=params, headers=JSON))

    assert get(externalId="1*") == ["10", "11", "12", "13"]
    assert get(externalId="1?") == ["10", "11", "12", "13"]
    assert get(externalId="a_1") == ["a_1"]
    assert get(externalId="a?1") == ["a_1"]
    assert get(externalId="a%") == []
    assert get(numbers="+1415*") == ["12", "a_1"]
    assert get(result="DIAL*", timeZone="Europe/H*") == ["10"]
    assert get(priority="7") == ["a_1"]
    assert get(callCount="0", lastBNumber="0", externalId="13") == ["13"]
    assert get(agentId=agent) == ["a_1"]
    assert get(attributeName="classification", attributeValue="gold") == ["10", "12", "7"]
    assert get(attributeName="CITY", attributeValue="new*") == ["10", "7"]
    assert get(attributeName="First Name") == ["10", "11", "12", "13", "7"]
    assert get(date="2000-01-01T00:00:00Z", dateEnd="2999-01-01T00:00:00Z", externalId="1*") == [
        "10",
        "11",
        "12",
        "13",
    ]
    assert get(modificationDateEnd="2000-01-01T00:00:00Z") == []
    assert get(modificationDate="2000-01-01T00:00:00.000Z", limit="2") == ["10", "11"]
    assert get(offset="4", limit="100") == ["7", "a_1"]
    with db.read() as conn:
        indexed = conn.execute(
            select(customer_attributes.c.value_ci).where(customer_attributes.c.name_ci == "city")
        ).scalars()
        assert "new york" in set(indexed)


def test_numbers_written_with_a_closing_separator_are_found_by_the_number(
    http: httpx.Client, demo: str
) -> None:
    # The seed's own example posts "+52145200;"; numbers is shown as written.
    made = http.post(BASE, json={"numbers": "+14155550178;"}, headers=POST_JSON)
    assert made.status_code == 201, made.text
    for pattern, found in (
        ("+14155550178", True),
        ("+14155550178;", True),
        ("+1415555017?", True),
        ("+1415555017", False),
        ("+14155550179", False),
    ):
        answer = http.get(BASE, params={"numbers": pattern}, headers=JSON)
        assert [c["id"] for c in answer.json()] == ([made.text] if found else []), pattern


@pytest.mark.parametrize(
    "params",
    [
        {"attributeValue": "gold"},
        {"agentId": "nobody"},
        {"priority": "high"},
        {"limit": "0"},
        {"limit": "100000"},
        {"offset": "-1"},
        {"date": "someday"},
        {"includeScript": "perhaps"},
        {"colour": "red"},
    ],
)
def test_bad_customer_searches_are_400(
    http: httpx.Client, demo: str, params: dict[str, str]
) -> None:
    answer = http.get(BASE, params=params, headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_customers_default_to_100_per_page_in_xml(http: httpx.Client, demo: str) -> None:
    items = [{"numbers": f"+1415555{i:04d}", "externalId": f"p{i:03d}"} for i in range(120)]
    added = http.post(f"{BASE}/list", json=items, headers=JSON)
    assert added.status_code == 200
    answer = http.get(BASE, headers=AUTH)
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "customers"
    assert len(root.findall("customer")) == 100


def test_delete_and_tenant_scoping(http: httpx.Client, demo: str) -> None:
    made = http.post(BASE, json={"numbers": "+14155550123"}, headers=POST_JSON)
    assert (
        http.get(
            f"/RI/obi/campaigns/{PREVIEW_CAMPAIGN_ID}/customers/{made.text}", headers=JSON
        ).status_code
        == 404
    )
    deleted = http.delete(f"{BASE}/{made.text}", headers=AUTH)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert http.get(f"{BASE}/{made.text}", headers=JSON).status_code == 404
    assert http.delete(f"{BASE}/{made.text}", headers=JSON).status_code == 404
    assert http.get(f"{BASE}/not-an-id", headers=JSON).status_code == 400
    unknown = "/RI/obi/campaigns/" + "B" * 32 + "/customers"
    assert http.post(unknown, json={"numbers": "+14155550123"}, headers=JSON).status_code == 404
    assert http.get(unknown, headers=JSON).status_code == 404


@pytest.mark.parametrize("few_matches", [0, 1_000_000])
def test_attribute_search_answers_the_same_whichever_way_it_runs(
    http: httpx.Client, demo: str, few_matches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store starts from the attribute rows when they are few, else walks the
    # campaign in externalId order (see store.customer_search.list_customers).
    monkeypatch.setattr(customer_search, "FEW_MATCHES", few_matches)
    items = [
        {
            "externalId": f"x{i:02d}",
            "numbers": f"+1415555{i:04d}",
            "attributes": {
                "attribute": [
                    {"name": "Tier", "value": ("Gold_1", "gold%2", "Silver")[i % 3]},
                    {"name": "Code", "value": f"AB{i}"},
                ]
            },
        }
        for i in range(30)
    ]
    assert http.post(f"{BASE}/list", json=items, headers=JSON).status_code == 200

    def get(**params: str) -> list[str]:
        return _ids(http.get(BASE, params=params, headers=JSON))

    assert get(attributeName="classification", attributeValue="gold") == ["10", "12", "7"]
    assert get(attributeName="tier", attributeValue="GOLD_1") == [
        f"x{i:02d}" for i in range(0, 30, 3)
    ]
    assert get(attributeName="Tier", attributeValue="gold_*") == [
        f"x{i:02d}" for i in range(0, 30, 3)
    ]
    assert get(attributeName="tier", attributeValue="gold?2") == [
        f"x{i:02d}" for i in range(1, 30, 3)
    ]
    assert get(attributeName="code", attributeValue="ab1*") == ["x01"] + [
        f"x{i}" for i in range(10, 20)
    ]
    assert get(attributeName="code", attributeValue="*9", limit="2", offset="1") == ["x19", "x29"]
    assert get(attributeName="tier", limit="3", offset="28") == ["x28", "x29"]
    assert get(attributeName="code", attributeValue="zz*") == []


@pytest.mark.parametrize("few_matches", [0, 1_000_000])
def test_attribute_search_lists_each_customer_once_and_only_from_its_campaign(
    http: httpx.Client, demo: str, few_matches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(customer_search, "FEW_MATCHES", few_matches)

    def item(external_id: str, number: int, *cities: str) -> dict[str, object]:
        attributes = [{"name": "City", "value": city} for city in cities]
        return {
            "externalId": external_id,
            "numbers": f"+1415555{number:04d}",
            "attributes": {"attribute": attributes},
        }

    here = [item("d1", 1, "Oslo", "Oslofjord"), item("d2", 2, "Bergen"), item("d3", 3, "oslo")]
    there = [item("d0", 4, "Oslo"), item("d4", 5, "Oslo")]
    assert http.post(f"{BASE}/list", json=here, headers=JSON).status_code == 200
    other = f"/RI/obi/campaigns/{PREVIEW_CAMPAIGN_ID}/customers"
    assert http.post(f"{other}/list", json=there, headers=JSON).status_code == 200

    def get(**params: str) -> list[str]:
        return _ids(http.get(BASE, params=params, headers=JSON))

    assert get(attributeName="city", attributeValue="osl*") == ["d1", "d3"]
    assert get(attributeName="city", attributeValue="oslo") == ["d1", "d3"]
    assert get(attributeName="city", attributeValue="o*", limit="1", offset="1") == ["d3"]
    assert get(attributeName="city", attributeValue="osl*", externalId="d3") == ["d3"]
    assert get(attributeName="city", attributeValue="*", externalId="d*", limit="2") == [
        "d1",
        "d2",
    ]
    assert _ids(
        http.get(other, params={"attributeName": "city", "attributeValue": "oslo"}, headers=JSON)
    ) == ["d0", "d4"]


@pytest.mark.parametrize(
    ("number", "field"),
    [
        (b'"priority": Infinity', "priority"),
        (b'"priority": -Infinity', "priority"),
        (b'"priority": 1e400', "priority"),
        (b'"previewTime": Infinity', "previewTime"),
        (b'"priority": 1' + b"0" * 400, "priority"),
    ],
)
def test_numbers_no_integer_can_hold_are_400_and_nothing_is_stored(
    http: httpx.Client, db: Database, demo: str, number: bytes, field: str
) -> None:
    with db.read() as conn:
        before = conn.execute(select(func.count()).select_from(customers)).scalar_one()
    body = b'{"numbers": "+14155550100", ' + number + b"}"
    answer = http.post(BASE, content=body, headers={**POST_JSON, "Accept": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"Invalid {field}: ")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == before


def test_an_integer_of_more_than_4300_digits_is_a_malformed_body(
    http: httpx.Client, demo: str
) -> None:
    body = b'{"numbers": "+14155550100", "priority": 1' + b"0" * 5000 + b"}"
    answer = http.post(BASE, content=body, headers={**POST_JSON, "Accept": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "Invalid JSON: an integer of 5001 digits is too long"
