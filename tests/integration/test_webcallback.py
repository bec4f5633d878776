"""8x8 web callback (`/SC/webcallback.php`) through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from rappel.api import webcallback
from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services import provisioning, tenancy
from rappel.services.demo import API_TOKEN, CALLBACK_QUEUE_ID
from rappel.store.db import Database
from rappel.store.tables import customers, interactions
from tests.conftest import make_settings
from tests.support.servers import running_server

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
BASE = {"tenant": "Acme", "token": API_TOKEN, "phone": "16505551212"}
TYPE1 = {**BASE, "callback_type": "1", "channel_number": "18006661212"}
TYPE2 = {**BASE, "callback_type": "2", "queue_id": "103"}
BACK = "http://www.acmejet.com/ctdresult.php"

# The seed's examples 1-4, exactly as printed (line breaks of the page removed).
EXAMPLE_1 = (
    "/SC/webcallback.php?tenant=Acme&token=fb65d0515b9631c6db72e7e66fe6df49&phone="
    "16505551212&callback_type=1&channel_number=18006661212&back=http://www.acmejet.com/ctdresult.php&"
    "caller_id=18006664444"
)
EXAMPLE_2 = (
    "/SC/webcallback.php?tenant=Acme&token=fb65d0515b9631c6db72e7e66fe6df49&phone="
    "16505551212&callback_type=1&channel_number=18006661212&back=http://www.acmejet.com/ctdresult.php&"
    "caller_id=18006664444&callback_delay=300&ctl_userdata=[ctl_callbackUrl|https://mywebporter.com/"
    "callback.php][Transactionid__c|$interaction_guid$][CallAnswerTime|$call_answered_time$]"
    "[foreign_key|1234456677]"
)
EXAMPLE_3 = (
    "/SC/webcallback.php?tenant=Acme&token=fb65d0515b9631c6db72e7e66fe6df49&phone="
    "16505551212&callback_type=2&back=http://www.acmejet.com/ctdresult.php&caller_id=18006664444&queue_id=103"
)
EXAMPLE_4 = (
    "/SC/webcallback.php?tenant=Acme&token=fb65d0515b9631c6db72e7e66fe6df49&phone="
    "16505551212&callback_type=2&back=http://www.acmejet.com/ctdresult.php&caller_id=18006664444&"
    "queue_id=103&expiration=3600"
)


def call(http: httpx.Client, **params: str) -> httpx.Response:
    return http.get("/SC/webcallback.php?" + urlencode(params))


def stored(http: httpx.Client) -> list[dict[str, Any]]:
    listing = http.get("/v1/interactions", headers=ACME)
    assert listing.status_code == 200
    items: list[dict[str, Any]] = listing.json()["interactions"]
    return items


def row_counts(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        # Only callback records (state 15): other demo data may hold plain customers.
        n_customers = conn.execute(
            select(func.count()).select_from(customers).where(customers.c.state == 15)
        ).scalar_one()
        n_interactions = conn.execute(select(func.count()).select_from(interactions)).scalar_one()
    return n_customers, n_interactions


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the seed's examples ------------------------------------------------------


def test_example_1_calls_now_with_the_channel_script_and_redirects_back(
    http: httpx.Client, demo: str
) -> None:
    answer = http.get(EXAMPLE_1)
    assert answer.status_code == 302
    assert answer.headers["location"] == BACK
    [item] = stored(http)
    assert item["customer_number"] == "+16505551212"
    assert item["callback_status"] == 3  # QUEUED: due now
    assert item["status"] == 1
    assert item["dn"] == "18006661212"


def test_example_2_waits_the_delay_and_keeps_tokens_for_the_webhook(
    http: httpx.Client, db: Database, demo: str
) -> None:
    answer = http.get(EXAMPLE_2)
    assert answer.status_code == 302
    assert answer.headers["location"] == BACK
    [item] = stored(http)
    assert item["callback_status"] == 2  # TIMER
    delay = at(item["start_time"]) - at(item["start_date"])
    assert timedelta(seconds=299) <= delay <= timedelta(seconds=301)
    assert item["udata"] == {
        "Transactionid__c": "$interaction_guid$",
        "CallAnswerTime": "$call_answered_time$",
        "foreign_key": "1234456677",
    }
    with db.read() as conn:
        row = conn.execute(select(interactions)).mappings().one()
    assert row["webhook_url"] == "https://mywebporter.com/callback.php"
    assert row["caller_id"] == "18006664444"
    assert row["flow"] == "CUSTOMER_FIRST"
    assert row["due_at"] == row["start_time"]


def test_example_3_queues_for_an_agent_on_queue_103(
    http: httpx.Client, db: Database, demo: str
) -> None:
    assert http.get(EXAMPLE_3).headers["location"] == BACK
    [item] = stored(http)
    assert item["callback_status"] == 3
    assert item["end_time"] is None
    with db.read() as conn:
        row = conn.execute(select(interactions)).mappings().one()
    assert row["queue_id"] == CALLBACK_QUEUE_ID
    assert row["flow"] == "AGENT_FIRST"


def test_example_4_expires_after_an_hour(http: httpx.Client, demo: str) -> None:
    assert http.get(EXAMPLE_4).headers["location"] == BACK
    [item] = stored(http)
    window = at(item["end_time"]) - at(item["start_date"])
    assert timedelta(seconds=3599) <= window <= timedelta(seconds=3601)


# -- answers without back --------------------------------------------------


def test_success_without_back_is_json_with_the_interaction_id(
    http: httpx.Client, demo: str
) -> None:
    answer = call(http, **TYPE1)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["created"] is True
    assert http.get(f"/v1/interactions/{body['interaction_id']}", headers=ACME).status_code == 200


def test_post_form_body_works_like_get(http: httpx.Client, demo: str) -> None:
    answer = http.post("/SC/webcallback.php", data=TYPE2)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_zeros_in_front_of_a_delay_do_not_change_it(
    http: httpx.Client, db: Database, demo: str
) -> None:
    answer = call(http, **{**TYPE1, "callback_delay": "0000000000000300"})
    assert answer.json()["status"] == "ok"
    with db.read() as conn:
        start, created = conn.execute(
            select(interactions.c.start_time, interactions.c.start_date)
        ).one()
    assert start - created == timedelta(seconds=300)


def test_a_form_over_the_limits_is_refused_clearly_and_stores_nothing(
    http: httpx.Client, db: Database, demo: str
) -> None:
    many = {**TYPE2, **{f"extra{i}": "x" for i in range(webcallback.MAX_FIELDS)}}
    large = {**TYPE2, "padding": "x" * webcallback.MAX_BODY}
    for form, status in ((many, 400), (large, 413)):
        answer = http.post("/SC/webcallback.php", data={**form, "back": BACK})
        assert answer.status_code == status
        assert (answer.json()["status"], answer.json()["ctl_error"]) == ("error", 19)
        assert "over" in answer.json()["message"]
    assert row_counts(db) == (0, 0)
    # The connection is still good for the next request.
    assert http.post("/SC/webcallback.php", data=TYPE2).json()["status"] == "ok"


def test_queue_accepts_its_id32_as_well_as_its_short_id(http: httpx.Client, demo: str) -> None:
    answer = call(http, **{**TYPE2, "queue_id": CALLBACK_QUEUE_ID.lower()})
    assert answer.json()["status"] == "ok"


# -- every ctl_error code ------------------------------------------------------


def _disable(db: Database, tenant_id: str, field: str) -> None:
    tenancy.update_tenant(db, tenant_id, {field: False})


@pytest.mark.parametrize(
    ("params", "code", "status"),
    [
        ({**TYPE1, "token": "0" * 32}, 3, 401),
        ({**TYPE1, "tenant": "Nobody"}, 3, 401),
        ({**TYPE1, "token": ""}, 3, 401),
        ({**TYPE2, "queue_id": "999"}, 7, 400),
        ({**TYPE2, "queue_id": ""}, 7, 400),
        ({**TYPE2, "queue_id": "not-a-queue"}, 7, 400),
        ({**TYPE2, "queue_id": "\u00b2"}, 7, 400),  # a digit to str.isdigit, not to int()
        ({**TYPE2, "queue_id": "\uff11\uff10\uff13"}, 7, 400),  # full-width 103
        ({**TYPE1, "callback_delay": "0000000000002592001"}, 11, 400),
        ({k: v for k, v in TYPE1.items() if k != "callback_type"}, 10, 400),
        ({**TYPE1, "callback_delay": "five"}, 11, 400),
        ({**TYPE1, "callback_delay": "-5"}, 11, 400),
        ({**TYPE2, "expiration": "soon"}, 11, 400),
        ({**TYPE2, "expiration": "0"}, 11, 400),
        ({**BASE, "callback_type": "1"}, 12, 400),
        ({**TYPE1, "channel_number": "18005550000"}, 13, 400),
        ({**TYPE1, "callback_type": "3"}, 14, 400),
        ({**TYPE1, "extTransactionData": "[note|" + "x" * 500 + "]"}, 16, 400),
        ({**TYPE1, "extTransactionData": "no brackets"}, 16, 400),
        ({**TYPE1, "ctl_userdata": "[unclosed|"}, 16, 400),
        ({**TYPE1, "ctl_userdata": "[ctl_callbackUrl|ftp://example.com/]"}, 16, 400),
        ({**TYPE1, "ctl_userdata": "[ctl_callbackUrl|http://10.1.2.3/hook]"}, 16, 400),
        ({**TYPE1, "ctl_userdata": "[ctl_callbackUrl|http://169.254.169.254/]"}, 16, 400),
        ({k: v for k, v in TYPE1.items() if k != "phone"}, 17, 400),
        ({**TYPE1, "phone": "12"}, 17, 400),
        ({**TYPE1, "phone": "call me"}, 17, 400),
        ({**TYPE1, "dialplan_id": "77"}, 17, 400),
    ],
)
def test_each_input_error_has_its_ctl_error_code_and_stores_nothing(
    http: httpx.Client, db: Database, demo: str, params: dict[str, str], code: int, status: int
) -> None:
    answer = call(http, **params)
    assert answer.status_code == status
    body = answer.json()
    assert body["status"] == "error"
    assert body["ctl_error"] == code
    assert body["message"]
    assert row_counts(db) == (0, 0)


def test_disabled_tenant_is_code_1(http: httpx.Client, db: Database, demo: str) -> None:
    _disable(db, demo, "enabled")
    answer = call(http, **TYPE1)
    assert (answer.status_code, answer.json()["ctl_error"]) == (403, 1)


def test_web_callback_disabled_is_code_2(http: httpx.Client, db: Database, demo: str) -> None:
    _disable(db, demo, "web_callback_enabled")
    answer = call(http, **TYPE1)
    assert (answer.status_code, answer.json()["ctl_error"]) == (403, 2)


def test_disabled_queue_is_code_8(http: httpx.Client, db: Database, demo: str) -> None:
    provisioning.update_queue(db, demo, CALLBACK_QUEUE_ID, {"enabled": False})
    answer = call(http, **TYPE2)
    assert (answer.status_code, answer.json()["ctl_error"]) == (409, 8)


def test_inbound_queue_is_code_9(http: httpx.Client, db: Database, demo: str) -> None:
    provisioning.create_queue(
        db, WallClock(), demo, {"short_id": 500, "name": "Inbound", "direction": "inbound"}
    )
    answer = call(http, **{**TYPE2, "queue_id": "500"})
    assert (answer.status_code, answer.json()["ctl_error"]) == (409, 9)


def test_per_number_limit_is_code_15_with_429(http: httpx.Client, db: Database, demo: str) -> None:
    tenancy.update_tenant(db, demo, {"max_callbacks_per_number_hour": 2})
    for channel in ("18006661212", "18006664444"):
        assert call(http, **{**TYPE1, "channel_number": channel}).status_code == 200
    answer = call(http, **TYPE2)
    assert (answer.status_code, answer.json()["ctl_error"]) == (429, 15)
    assert call(http, **{**TYPE2, "phone": "16505550001"}).status_code == 200


def test_per_tenant_limit_is_code_15_with_429(http: httpx.Client, db: Database, demo: str) -> None:
    tenancy.update_tenant(db, demo, {"max_callbacks_per_tenant_hour": 1})
    assert call(http, **TYPE1).status_code == 200
    answer = call(http, **{**TYPE1, "phone": "16505550001"})
    assert (answer.status_code, answer.json()["ctl_error"]) == (429, 15)


def test_second_request_same_number_same_queue_returns_the_open_one(
    http: httpx.Client, db: Database, demo: str
) -> None:
    first = call(http, **TYPE2).json()
    again = call(http, **{**TYPE2, "phone": "+1 (650) 555-1212"}).json()
    assert again == {**first, "created": False}
    other_queue = call(http, **{**TYPE2, "queue_id": "104"}).json()
    assert other_queue["interaction_id"] != first["interaction_id"]
    assert row_counts(db) == (2, 2)


# -- back ----------------------------------------------------------------------


def test_error_redirects_to_back_with_ctl_error_keeping_its_query(
    http: httpx.Client, demo: str
) -> None:
    back = "http://www.acmejet.com/result.php?lang=fr"
    answer = call(http, **{**TYPE1, "callback_type": "9", "back": back})
    assert answer.status_code == 302
    assert answer.headers["location"] == back + "&ctl_error=14"


def test_back_on_a_subdomain_of_an_allowed_domain_is_followed(
    http: httpx.Client, demo: str
) -> None:
    back = "https://shop.www.acmejet.com/done"
    answer = call(http, **{**TYPE1, "back": back})
    assert (answer.status_code, answer.headers["location"]) == (302, back)


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example.com/",
        "http://www.acmejet.com.evil.example/",
        "//evil.example.com/x",
        "javascript:alert(1)",
        "http://acmejet.com/",
    ],
)
def test_back_outside_the_tenants_domains_is_refused_without_redirect(
    http: httpx.Client, db: Database, demo: str, back: str
) -> None:
    answer = call(http, **{**TYPE1, "back": back})
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert answer.json()["status"] == "error"
    assert row_counts(db) == (0, 0)


def test_bad_token_with_back_never_redirects(http: httpx.Client, demo: str) -> None:
    answer = call(http, **{**TYPE1, "token": "wrong-token-0000000000", "back": BACK})
    assert answer.status_code == 401
    assert answer.json()["ctl_error"] == 3


# -- a broken database and an unexpected failure -----------------------------


class BrokenClock(WallClock):
    """A clock that fails: stands for any unexpected fault inside intake."""

    def now(self) -> datetime:
        raise RuntimeError("clock exploded")


@pytest.fixture
def own_server(db: Database) -> Any:
    def start(database: Database, clock: WallClock) -> Any:
        container = Container(make_settings(db), database, clock, "test-secret")
        return running_server(create_app(container, plugins=[webcallback.plugin]))

    return start


def test_database_down_is_code_15_with_503(own_server: Any, demo: str, tmp_path: Path) -> None:
    broken = Database(f"sqlite:///{tmp_path}/missing/dir/rappel.db")
    with own_server(broken, WallClock()) as url:
        answer = httpx.get(url + "/SC/webcallback.php?" + urlencode(TYPE1))
    assert (answer.status_code, answer.json()["ctl_error"]) == (503, 15)


def test_unexpected_failure_is_code_19_never_a_500(
    own_server: Any, db: Database, demo: str
) -> None:
    with own_server(db, BrokenClock()) as url:
        answer = httpx.get(url + "/SC/webcallback.php?" + urlencode(TYPE1))
        redirected = httpx.get(url + "/SC/webcallback.php?" + urlencode({**TYPE1, "back": BACK}))
    assert (answer.status_code, answer.json()["ctl_error"]) == (503, 19)
    assert redirected.headers["location"] == BACK + "?ctl_error=19"
    assert row_counts(db) == (0, 0)


# -- fuzzing ---------------------------------------------------------------------

_KEYS = [
    "tenant",
    "token",
    "phone",
    "callback_type",
    "channel_number",
    "queue_id",
    "callback_delay",
    "expiration",
    "extTransactionData",
    "caller_id",
    "back",
    "ctl_userdata",
    "dialplan_id",
]
_VALUES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["1", "2", "103", "-1", "Anonymous", "18006661212", "16505551212", BACK]),
    st.from_regex(r"\[[a-z_]{1,8}\|[^\]]{0,20}\]", fullmatch=True),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=10), auth=st.booleans())
def test_random_parameters_never_get_a_500_nor_partial_rows(
    http: httpx.Client, db: Database, demo: str, params: dict[str, str], auth: bool
) -> None:
    if auth:
        params = {"tenant": "Acme", "token": API_TOKEN, **params}
    before = row_counts(db)
    answer = call(http, **params)
    assert answer.status_code < 500
    after = row_counts(db)
    assert after[0] == after[1]
    ok = answer.status_code == 200 or (
        answer.status_code == 302 and "ctl_error" not in answer.headers["location"]
    )
    if not ok:
        assert after == before


@pytest.mark.parametrize(
    ("name", "code"),
    [("phone", 17), ("extTransactionData", 16), ("back", 19), ("dialplan_id", 17)],
)
def test_nul_character_is_refused_with_the_fields_code_and_nothing_stored(
    http: httpx.Client, demo: str, name: str, code: int
) -> None:
    params = {
        "tenant": "Acme",
        "token": "fb65d0515b9631c6db72e7e66fe6df49",
        "phone": "16505551212",
        "callback_type": "2",
        "queue_id": "103",
        name: "abc\x00def",
    }
    answer = http.get("/SC/webcallback.php", params=params)
    assert answer.status_code == 400
    assert answer.json()["ctl_error"] == code
    listed = http.get(
        "/v1/interactions", headers={"Authorization": "Bearer fb65d0515b9631c6db72e7e66fe6df49"}
    )
    assert listed.json()["interactions"] == []


def test_changes_made_outside_the_server_apply_to_the_next_request(
    http: httpx.Client, db: Database, demo: str
) -> None:
    # The server caches tenancy rows; raw SQL, as another node or a console would write,
    # must still reach the very next request (triggers bump tenancy_version).
    assert call(http, **TYPE2).status_code == 200
    with db.begin() as conn:
        conn.execute(
            text("UPDATE queues SET enabled = false WHERE tenant_id = :t AND short_id = 103"),
            {"t": demo},
        )
    answer = call(http, **{**TYPE2, "phone": "16505550001"})
    assert (answer.status_code, answer.json()["ctl_error"]) == (409, 8)
    with db.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET revoked_at = created_at WHERE tenant_id = :t"), {"t": demo}
        )
    answer = call(http, **{**TYPE1, "phone": "16505550002"})
    assert (answer.status_code, answer.json()["ctl_error"]) == (401, 3)
    assert row_counts(db) == (1, 1)
