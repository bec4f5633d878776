"""The data-dip provider (seed 004) through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from rappel.clock import WallClock
from rappel.domain.ids import new_id
from rappel.domain.tenancy import TokenKind
from rappel.services import tenancy
from rappel.services.demo import API_TOKEN, DATADIP_TOKEN, TEST_CAMPAIGN_ID, WEB_CAMPAIGN_ID
from rappel.store import datadip as store
from rappel.store.customers import attribute_rows
from rappel.store.db import Database
from rappel.store.tables import customer_attributes, customers

DIP = {"Authorization": f"Bearer {DATADIP_TOKEN}"}
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
SEED_REQUEST = {"account-num": "76541643", "phone-num": "8015551234"}
SEED_ANSWER = {
    "parameters": {
        "account-manager": {
            "value": "Sam Whitecar(112)",
            "displayToAgent": True,
            "saveToDatabase": False,
        },
        "account-num": {"value": "76541643", "displayToAgent": True, "saveToDatabase": True},
        "age": {"value": "28", "displayToAgent": True, "saveToDatabase": True},
        "email": {
            "value": "tom.callahan@example.com",
            "displayToAgent": True,
            "saveToDatabase": True,
        },
        "is-vip": {"value": "true", "displayToAgent": True, "saveToDatabase": True},
        "language": {"value": "English", "displayToAgent": False, "saveToDatabase": False},
        "name": {"value": "Tom Callahan", "displayToAgent": True, "saveToDatabase": True},
        "past-due-amount": {"value": "575.00", "displayToAgent": True, "saveToDatabase": False},
        "ssn-last-four": {"value": "3456", "displayToAgent": True, "saveToDatabase": False},
    }
}
NAME_ONLY = {
    "keys": [
        {"key": "account-num", "field": "externalId"},
        {"key": "phone-num", "field": "phone"},
        {"key": "member", "field": "attribute:MemberNo"},
    ],
    "returns": [
        {"name": "name", "source": "attribute:Name", "displayToAgent": True, "saveToDatabase": True}
    ],
}


def add_customer(
    db: Database,
    tenant_id: str,
    name: str,
    *,
    external_id: str | None = None,
    numbers: tuple[str, ...] = (),
    attributes: dict[str, str] | None = None,
    campaign_id: str | None = WEB_CAMPAIGN_ID,
    modified_at: datetime | None = None,
) -> str:
    customer_id = new_id()
    now = modified_at or datetime.now(UTC)
    attrs = {"Name": name, **(attributes or {})}
    slots = (*numbers, None, None, None)[:3]
    with db.begin() as conn:
        conn.execute(
            insert(customers).values(
                tenant_id=tenant_id,
                id=customer_id,
                campaign_id=campaign_id,
                external_id=external_id or customer_id,
                numbers=",".join(numbers),
                number1=slots[0],
                number2=slots[1],
                number3=slots[2],
                attributes=[{"name": k, "value": v} for k, v in attrs.items()],
                result="SUCCESS",
                created_at=now,
                modified_at=now,
            )
        )
        conn.execute(
            insert(customer_attributes),
            attribute_rows(
                tenant_id,
                customer_id,
                attrs.items(),
                campaign_id=campaign_id,
                external_id=external_id or customer_id,
            ),
        )
    return customer_id


def test_seed_example_request_returns_the_seed_example_answer(
    http: httpx.Client, demo: str
) -> None:
    for path in ("/datadip", "/v1/datadip"):
        answer = http.post(path, json=SEED_REQUEST, headers=DIP)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == SEED_ANSWER
        assert list(answer.json()["parameters"]) == list(SEED_ANSWER["parameters"])


def test_phone_alone_finds_the_record_in_any_written_form(http: httpx.Client, demo: str) -> None:
    for written in ("8015551234", "+1 801 555 1234", "1-801-555-1234", "(801) 555-1234"):
        answer = http.post("/datadip", json={"phone-num": written}, headers=DIP).json()
        assert answer["parameters"]["name"]["value"] == "Tom Callahan", written


def test_no_match_answers_empty_parameters_with_200(http: httpx.Client, demo: str) -> None:
    answer = http.post(
        "/datadip", json={"account-num": "0000", "phone-num": "2125550000"}, headers=DIP
    )
    assert answer.status_code == 200
    assert answer.json() == {"parameters": {}}


def test_unreadable_phone_and_empty_values_find_nothing(http: httpx.Client, demo: str) -> None:
    for body in ({"phone-num": "call me maybe"}, {"phone-num": ""}, {"account-num": ""}):
        answer = http.post("/datadip", json=body, headers=DIP)
        assert answer.status_code == 200
        assert answer.json() == {"parameters": {}}


def test_first_key_in_priority_order_that_matches_decides(http: httpx.Client, demo: str) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    http.put("/v1/datadip/provider-config", json=NAME_ONLY, headers=ADMIN).raise_for_status()
    add_customer(db, demo, "By Account", external_id="A-1", numbers=("+12125550101",))
    add_customer(db, demo, "By Phone", external_id="A-2", numbers=("+12125550102",))

    both = {"account-num": "A-1", "phone-num": "2125550102"}
    assert http.post("/datadip", json=both, headers=DIP).json()["parameters"]["name"]["value"] == (
        "By Account"
    )
    # An account number that finds nothing hands over to the phone number.
    fallback = {"account-num": "nope", "phone-num": "2125550102"}
    answer = http.post("/datadip", json=fallback, headers=DIP).json()
    assert answer["parameters"]["name"]["value"] == "By Phone"


def test_several_matches_return_the_most_recently_modified_record(
    http: httpx.Client, demo: str
) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    http.put("/v1/datadip/provider-config", json=NAME_ONLY, headers=ADMIN).raise_for_status()
    now = datetime.now(UTC)
    add_customer(db, demo, "Old", numbers=("+12125550199",), modified_at=now - timedelta(days=2))
    add_customer(
        db,
        demo,
        "Newest",
        numbers=("+12125550000", "+12125550100", "+12125550199"),
        campaign_id=TEST_CAMPAIGN_ID,
        modified_at=now,
    )
    add_customer(
        db,
        demo,
        "Middle",
        numbers=("+12125550177", "+12125550199"),
        modified_at=now - timedelta(days=1),
    )
    answer = http.post("/datadip", json={"phone-num": "2125550199"}, headers=DIP).json()
    assert answer["parameters"]["name"]["value"] == "Newest"
    add_customer(db, demo, "Member A", attributes={"MemberNo": "M-7"}, modified_at=now)
    add_customer(
        db, demo, "Member B", attributes={"MemberNo": "m-7"}, modified_at=now - timedelta(1)
    )
    answer = http.post("/datadip", json={"member": "M-7"}, headers=DIP).json()
    assert answer["parameters"]["name"]["value"] == "Member A"


def test_campaign_restriction_limits_the_search(http: httpx.Client, demo: str) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    config = {**NAME_ONLY, "campaigns": [TEST_CAMPAIGN_ID]}
    http.put("/v1/datadip/provider-config", json=config, headers=ADMIN).raise_for_status()
    add_customer(db, demo, "Elsewhere", numbers=("+12125550142",))
    answer = http.post("/datadip", json={"phone-num": "2125550142"}, headers=DIP).json()
    assert answer == {"parameters": {}}


BAD_HEADERS = [
    None,
    "",
    "Bearer",
    f"Basic {DATADIP_TOKEN}",
    "Bearer 00000000000000000000000000000000",
    f"Bearer {API_TOKEN}",
]


def test_missing_wrong_or_api_token_gets_401_json(http: httpx.Client, demo: str) -> None:
    for header in BAD_HEADERS:
        headers = {"Authorization": header} if header is not None else {}
        answer = http.post("/datadip", json=SEED_REQUEST, headers=headers)
        assert answer.status_code == 401, header
        assert answer.json()["status"] == 401, header
        assert "parameters" not in answer.json()


def test_revoked_data_dip_token_is_refused(http: httpx.Client, demo: str) -> None:
    issued = http.post("/v1/tokens", json={"label": "ivr", "kind": "datadip"}, headers=ADMIN).json()
    fresh = {"Authorization": f"Bearer {issued['token']}"}
    assert http.post("/datadip", json=SEED_REQUEST, headers=fresh).status_code == 200
    http.delete(f"/v1/tokens/{issued['id']}", headers=ADMIN).raise_for_status()
    assert http.post("/datadip", json=SEED_REQUEST, headers=fresh).status_code == 401


def test_data_dip_token_opens_nothing_else(http: httpx.Client, demo: str) -> None:
    assert http.get("/v1/tenant", headers=DIP).status_code == 401


BAD_BODIES = [
    (b'{"account-num": "7654', 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not valid JSON"),
    (b"", 400, "not valid JSON"),
    (b'["account-num", "76541643"]', 400, "JSON object"),
    (b'"76541643"', 400, "JSON object"),
    (b'{"account-num": 76541643}', 422, "must be a string"),
    (b'{"account-num": null}', 422, "must be a string"),
    (b'{"account-num": ["7"]}', 422, "must be a string"),
    (b'{"account-num": "1", "account-num": "2"}', 400, "twice"),
    (b'{"favourite-colour": "blue"}', 422, "unknown key"),
    (b"{}", 422, "at least one key"),
    (b'{"account-num": NaN}', 400, "not valid JSON"),
    # JSON would guess UTF-16 and UTF-32 from the bytes; the body must be UTF-8.
    ('{"account-num": "76541643"}'.encode("utf-16"), 400, "not UTF-8"),
    ('{"account-num": "76541643"}'.encode("utf-32"), 400, "not UTF-8"),
    # Escapes of unpaired surrogates are no text: nothing to look up or to name.
    (b'{"account-num": "\\ud800"}', 400, "unpaired surrogate"),
    (b'{"phone-num": "801555\\udc001234"}', 400, "unpaired surrogate"),
    (b'{"\\ud800": "1"}', 400, "unpaired surrogate"),
    (b'{"account-num": "7654\\u00001643"}', 422, "NUL"),
    (b'{"phone-num": "801555\\u00001234"}', 422, "NUL"),
]


def test_bad_bodies_get_clear_4xx_json_errors(http: httpx.Client, demo: str) -> None:
    # One test over all cases: the demo fixture costs seconds per test.
    for body, status, words in BAD_BODIES:
        answer = http.post(
            "/datadip", content=body, headers={**DIP, "content-type": "application/json"}
        )
        assert answer.status_code == status, body
        assert words in answer.json()["detail"], body


def test_value_with_nul_is_refused_before_any_lookup_naming_its_key(
    http: httpx.Client, demo: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"account-num": "7654\\u00001643"}'
    answer = http.post("/datadip", content=body, headers=DIP)
    assert answer.status_code == 422
    assert answer.json()["field"] == "account-num"
    assert "1643" not in caplog.text


def test_utf8_body_with_a_byte_order_mark_is_still_read(http: httpx.Client, demo: str) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(SEED_REQUEST).encode()
    answer = http.post("/datadip", content=body, headers=DIP)
    assert answer.status_code == 200
    assert answer.json() == SEED_ANSWER


def test_oversized_body_gets_413(http: httpx.Client, demo: str) -> None:
    big = {"account-num": "7" * 200, "pad": "x" * (17 * 1024)}
    answer = http.post("/datadip", json=big, headers=DIP)
    assert answer.status_code == 413
    assert "16384" in answer.json()["detail"]


def test_tenant_without_configuration_gets_404(http: httpx.Client, demo: str) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    other = tenancy.create_tenant(db, WallClock(), {"name": "Other"})
    token = tenancy.create_token(db, WallClock(), other.id, "dip", TokenKind.DATADIP).token
    answer = http.post("/datadip", json=SEED_REQUEST, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404


def test_tenants_never_see_each_others_records(http: httpx.Client, demo: str) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    other = tenancy.create_tenant(db, WallClock(), {"name": "Other"})
    token = tenancy.create_token(db, WallClock(), other.id, "dip", TokenKind.DATADIP).token
    admin = tenancy.create_token(db, WallClock(), other.id, "admin").token
    put = http.put(
        "/v1/datadip/provider-config", json=NAME_ONLY, headers={"Authorization": f"Bearer {admin}"}
    )
    assert put.status_code == 200
    answer = http.post("/datadip", json=SEED_REQUEST, headers={"Authorization": f"Bearer {token}"})
    assert answer.json() == {"parameters": {}}


def test_provider_config_round_trips_and_is_validated(http: httpx.Client, demo: str) -> None:
    assert http.put("/v1/datadip/provider-config", json=NAME_ONLY, headers=ADMIN).status_code == 200
    read = http.get("/v1/datadip/provider-config", headers=ADMIN).json()
    assert read == {**NAME_ONLY, "campaigns": []}
    bad_field = {**NAME_ONLY, "keys": [{"key": "x", "field": "shoe-size"}]}
    answer = http.put("/v1/datadip/provider-config", json=bad_field, headers=ADMIN)
    assert answer.status_code == 422
    assert answer.json()["field"] == "keys[0].field"
    twice = {**NAME_ONLY, "keys": [{"key": "x", "field": "phone"}, {"key": "x", "field": "phone"}]}
    assert http.put("/v1/datadip/provider-config", json=twice, headers=ADMIN).status_code == 422
    no_keys = {**NAME_ONLY, "keys": []}
    assert http.put("/v1/datadip/provider-config", json=no_keys, headers=ADMIN).status_code == 422
    stringly = {
        **NAME_ONLY,
        "returns": [
            {"name": "n", "source": "externalId", "displayToAgent": "yes", "saveToDatabase": True}
        ],
    }
    assert http.put("/v1/datadip/provider-config", json=stringly, headers=ADMIN).status_code == 422
    assert http.get("/v1/datadip/provider-config", headers=DIP).status_code == 401


def test_provider_campaigns_must_be_campaigns_of_the_tenant(http: httpx.Client, demo: str) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    kept = {**NAME_ONLY, "campaigns": [TEST_CAMPAIGN_ID]}
    http.put("/v1/datadip/provider-config", json=kept, headers=ADMIN).raise_for_status()

    # NUL is refused with every JSON body, before the route reads it (api.text_guard).
    nul = {**NAME_ONLY, "campaigns": [WEB_CAMPAIGN_ID, "\u0000"]}
    answer = http.put("/v1/datadip/provider-config", json=nul, headers=ADMIN)
    assert (answer.status_code, answer.json()["field"]) == (422, "body")
    for entry, words in (
        ("nonexistent", "32-character hex id"),
        ("F" * 32, "no campaign"),
    ):
        bad = {**NAME_ONLY, "campaigns": [WEB_CAMPAIGN_ID, entry]}
        answer = http.put("/v1/datadip/provider-config", json=bad, headers=ADMIN)
        assert answer.status_code == 422, entry
        assert answer.json()["field"] == "campaigns[1]", entry
        assert words in answer.json()["detail"], entry
    # Nothing was stored: the earlier configuration stands and dips still work.
    assert http.get("/v1/datadip/provider-config", headers=ADMIN).json() == kept
    assert http.post("/datadip", json=SEED_REQUEST, headers=DIP).status_code == 200

    # Another tenant cannot name Acme's campaigns.
    other = tenancy.create_tenant(db, WallClock(), {"name": "Other"})
    admin = tenancy.create_token(db, WallClock(), other.id, "admin").token
    theirs = {**NAME_ONLY, "campaigns": [WEB_CAMPAIGN_ID]}
    answer = http.put(
        "/v1/datadip/provider-config", json=theirs, headers={"Authorization": f"Bearer {admin}"}
    )
    assert answer.status_code == 422
    assert "no campaign" in answer.json()["detail"]

    dashed = str(uuid.UUID(WEB_CAMPAIGN_ID)).lower()
    written = {**NAME_ONLY, "campaigns": [dashed]}
    answer = http.put("/v1/datadip/provider-config", json=written, headers=ADMIN)
    assert answer.status_code == 200
    assert answer.json()["campaigns"] == [WEB_CAMPAIGN_ID]


def test_configuration_stored_before_campaigns_were_checked_gets_409_not_500(
    http: httpx.Client, demo: str
) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    with db.begin() as conn:
        store.put_provider_config(
            conn, demo, {**NAME_ONLY, "campaigns": ["\u0000"]}, datetime.now(UTC)
        )
    answer = http.post("/datadip", json={"phone-num": "8015551234"}, headers=DIP)
    assert answer.status_code == 409
    assert "campaigns[0]" in answer.json()["detail"]
    assert http.get("/v1/datadip/provider-config", headers=ADMIN).status_code == 409
