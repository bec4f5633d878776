"""The widget's public API and its admin API through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.domain.codes import CallbackFlow
from rappel.services import callbacks, interactions, tenancy
from rappel.services.demo import API_TOKEN, CALLBACK_QUEUE_ID, TEST_QUEUE_ID
from rappel.services.widget import DEMO_WIDGET_KEY, put_schedules
from rappel.store.db import Database
from tests.conftest import make_settings
from tests.support.loopback import LoopbackServer, Reply
from tests.support.servers import running_server

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
SITE = {"Origin": "http://localhost:8080"}
ZONE = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def open_all_day(db: Database, demo: str) -> str:
    """The demo tenant with hours covering (almost) the whole day, so "now" is always open."""
    tenancy.update_tenant(db, demo, {"hard_hours_start": "00:00", "hard_hours_end": "23:59"})
    return demo


def tomorrow() -> date:
    return datetime.now(ZONE).date() + timedelta(days=1)


def ask(http: httpx.Client, **body: object) -> httpx.Response:
    payload = {"key": DEMO_WIDGET_KEY, "phone": "+1 650 555 1212", "when": "now", **body}
    return http.post(f"/v1/widget/callbacks?key={payload['key']}", json=payload, headers=SITE)


def test_now_request_is_stored_with_a_working_cancel_link(
    http: httpx.Client, open_all_day: str, db: Database
) -> None:
    answer = ask(http, name="Ada Lovelace")
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == "http://localhost:8080"
    body = answer.json()
    stored = interactions.get_interaction(db, open_all_day, body["interaction_id"])
    assert stored["customer_number"] == "+16505551212"
    assert stored["queue_id"] == CALLBACK_QUEUE_ID
    assert stored["source"] == "widget"
    assert ["Name", "Ada Lovelace"] in stored["ext_transaction_data"]
    link = urlsplit(body["cancel_url"])
    page = http.get(f"{link.path}?{link.query}")
    assert page.status_code == 200
    assert "Cancel the callback" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    form = {k: v[0] for k, v in parse_qs(link.query).items()}
    done = http.post("/widget/cancel", data=form)
    assert done.status_code == 200
    assert "cancelled" in done.text
    assert (
        interactions.get_interaction(db, open_all_day, body["interaction_id"])["callback_status"]
        == 9
    )


def test_tampered_cancel_link_is_refused(http: httpx.Client, open_all_day: str) -> None:
    body = ask(http).json()
    query = parse_qs(urlsplit(body["cancel_url"]).query)
    form = {"t": query["t"][0], "i": query["i"][0], "s": "A" * 32}
    refused = http.post("/widget/cancel", data=form)
    assert refused.status_code == 403
    assert "not valid" in refused.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_cancel_link_with_a_non_ascii_signature_is_refused(
    http: httpx.Client, open_all_day: str, method: str
) -> None:
    body = ask(http).json()
    query = parse_qs(urlsplit(body["cancel_url"]).query)
    link = {"t": query["t"][0], "i": query["i"][0], "s": "é"}
    if method == "GET":
        refused = http.get("/widget/cancel", params=link)
    else:
        refused = http.post("/widget/cancel", data=link)
    assert refused.status_code == 403
    assert "not valid" in refused.text


def test_delay_request_starts_that_many_minutes_later(
    http: httpx.Client, open_all_day: str
) -> None:
    before = datetime.now(ZONE)
    body = ask(http, when="in", delay_minutes=30).json()
    start = datetime.fromisoformat(body["start_time"])
    assert timedelta(minutes=29) < start - before < timedelta(minutes=31)


def test_unknown_key_is_404(http: httpx.Client, demo: str) -> None:
    answer = http.get("/v1/widget/config?key=no-such-key-000000", headers=SITE)
    assert answer.status_code == 404
    assert answer.json()["detail"] == "unknown widget key"


def test_foreign_origin_is_refused_without_cors_headers(http: httpx.Client, demo: str) -> None:
    foreign = {"Origin": "https://evil.example"}
    answer = http.get(f"/v1/widget/config?key={DEMO_WIDGET_KEY}", headers=foreign)
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    preflight = http.options(
        f"/v1/widget/callbacks?key={DEMO_WIDGET_KEY}",
        headers={**foreign, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert ask(http).status_code != 403  # the tenant's own origin still works
    no_origin = http.get(f"/v1/widget/config?key={DEMO_WIDGET_KEY}")
    assert no_origin.status_code == 403


def test_allowed_origin_passes_the_preflight(http: httpx.Client, demo: str) -> None:
    preflight = http.options(
        f"/v1/widget/callbacks?key={DEMO_WIDGET_KEY}",
        headers={**SITE, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE["Origin"]
    assert "Content-Type" in preflight.headers["access-control-allow-headers"]


def test_invalid_phone_gets_a_clear_message(http: httpx.Client, open_all_day: str) -> None:
    answer = ask(http, phone="12345")
    assert answer.status_code == 422
    assert answer.json()["field"] == "phone"
    assert "valid phone number" in answer.json()["detail"]
    assert answer.headers["access-control-allow-origin"] == SITE["Origin"]


def test_honeypot_looks_accepted_but_stores_nothing(
    http: httpx.Client, open_all_day: str, db: Database
) -> None:
    answer = ask(http, website="http://spam.example")
    assert answer.status_code == 201
    assert answer.json()["interaction_id"] is None
    where = callbacks.store.InteractionFilter()
    assert interactions.list_interactions(db, open_all_day, where) == []


def test_disabled_key_stops_working(http: httpx.Client, demo: str) -> None:
    assert (
        http.patch(
            f"/v1/widget-keys/{DEMO_WIDGET_KEY}", json={"enabled": False}, headers=ACME
        ).status_code
        == 200
    )
    assert http.get(f"/v1/widget/config?key={DEMO_WIDGET_KEY}", headers=SITE).status_code == 404


def test_admin_creates_and_lists_keys_of_own_tenant_only(http: httpx.Client, demo: str) -> None:
    created = http.post("/v1/widget-keys", json={"queue_id": TEST_QUEUE_ID}, headers=ACME)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("wk_")
    listed = [k["key"] for k in http.get("/v1/widget-keys", headers=ACME).json()]
    assert sorted(listed) == sorted([key, DEMO_WIDGET_KEY])
    other = http.post(
        "/v1/tenants",
        json={"name": "Other"},
        headers={"Authorization": "Bearer operator-test-token-0123456789"},
    )
    assert other.status_code == 201
    assert http.get("/v1/widget-keys").status_code == 401
    refused = http.post("/v1/widget-keys", json={"queue_id": "0" * 32}, headers=ACME)
    assert refused.status_code == 422


def test_availability_lists_slots_inside_hours_and_marks_full_ones(
    http: httpx.Client, demo: str, db: Database
) -> None:
    day = tomorrow()
    put_schedules(
        db,
        demo,
        CALLBACK_QUEUE_ID,
        [{"weekday": day.isoweekday(), "start": "09:00", "end": "10:00", "agents": 1}],
    )
    slot_start = datetime.combine(day, datetime.min.time().replace(hour=9), tzinfo=ZONE)
    for n in range(6):  # 1 agent x (1800 s // 300 s) = 6 callbacks fill the slot
        callbacks.request_callback(
            db,
            WallClock(),
            demo,
            callbacks.CallbackRequest(
                phone=f"+1650555{1300 + n}",
                flow=CallbackFlow.SCHEDULED,
                source="native",
                queue=CALLBACK_QUEUE_ID,
                start_time=slot_start,
                end_time=slot_start + timedelta(minutes=30),
            ),
        )
    body = http.get(
        f"/v1/widget/availability?key={DEMO_WIDGET_KEY}&date={day.isoformat()}", headers=SITE
    ).json()
    slots = {
        datetime.fromisoformat(s["start"]).astimezone(ZONE).strftime("%H:%M"): s
        for s in body["slots"]
    }
    assert min(slots) == "08:00"
    assert max(slots) == "20:30"
    assert slots["09:00"]["capacity"] == 6
    assert slots["09:00"]["available"] is False
    assert slots["09:30"]["available"] is True
    assert slots["09:30"]["booked"] == 0
    assert slots["10:00"]["capacity"] == 0
    assert slots["10:00"]["available"] is False
    full = ask(http, phone="+16505559999", when="slot", slot_start=slots["09:00"]["start"])
    assert full.status_code == 422
    assert "full" in full.json()["detail"]
    booked = ask(http, phone="+16505559999", when="slot", slot_start=slots["09:30"]["start"])
    assert booked.status_code == 201
    assert booked.json()["end_time"] == slots["09:30"]["end"]


def test_availability_refuses_dates_outside_the_booking_horizon(
    http: httpx.Client, demo: str
) -> None:
    far = (tomorrow() + timedelta(days=60)).isoformat()
    answer = http.get(f"/v1/widget/availability?key={DEMO_WIDGET_KEY}&date={far}", headers=SITE)
    assert answer.status_code == 422


def test_estimate_says_no_estimate_without_agents(http: httpx.Client, open_all_day: str) -> None:
    ask(http)
    body = http.get(f"/v1/widget/estimate?key={DEMO_WIDGET_KEY}", headers=SITE).json()
    assert body["open"] is True
    assert body["waiting"] == 1
    assert body["agents"] == 0
    assert body["wait_s"] is None


@pytest.fixture
def strict_server(db: Database) -> Iterator[str]:
    """A server of its own whose widget allows 2 requests per IP and per number an hour."""
    settings = make_settings(db, widget_ip_per_hour=3, widget_phone_per_hour=2)
    c = Container(settings=settings, db=db, clock=WallClock(), secret=settings.secret_key)
    with running_server(create_app(c)) as url:
        yield url


def test_rate_limits_per_number_and_per_ip(strict_server: str, open_all_day: str) -> None:
    with httpx.Client(base_url=strict_server) as http:
        assert ask(http, phone="+16505550001").status_code == 201
        assert ask(http, phone="+16505550001").status_code == 201  # the same open callback
        limited = ask(http, phone="+16505550001")
        assert limited.status_code == 429
        assert "too many" in limited.json()["detail"].lower()
        assert limited.headers["retry-after"]
        ip_limited = ask(http, phone="+16505550002")
        assert ip_limited.status_code == 429
        assert "network" in ip_limited.json()["detail"]


def test_captcha_when_configured_is_checked_server_side(db: Database, open_all_day: str) -> None:
    with LoopbackServer() as verifier:
        verifier.reply(
            "/verify",
            lambda req: Reply.json({"success": b"response=good" in req.body}),
        )
        settings = make_settings(
            db, captcha_verify_url=verifier.url("/verify"), captcha_secret="s3cret"
        )
        c = Container(settings=settings, db=db, clock=WallClock(), secret=settings.secret_key)
        with running_server(create_app(c)) as url, httpx.Client(base_url=url) as http:
            config = http.get(f"/v1/widget/config?key={DEMO_WIDGET_KEY}", headers=SITE).json()
            assert config["captcha"] is True
            assert ask(http, captcha_token="bad").status_code == 403
            assert ask(http, captcha_token="good").status_code == 201
        assert b"secret=s3cret" in verifier.requests_to("/verify")[0].body


def test_pages_and_assets_have_types_and_caching_headers(http: httpx.Client) -> None:
    for path in ("/agent", "/supervisor", "/demo"):
        page = http.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "unsafe-inline" not in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-cache"
    script = http.get("/widget.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=300"
    again = http.get("/widget.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    css = http.get("/static/rappel.css")
    assert css.headers["content-type"].startswith("text/css")
    assert http.get("/static/../api/web.py").status_code == 404
    assert http.get("/static/nothing.js").status_code == 404


def test_key_webhook_and_user_data_reach_the_callback(
    http: httpx.Client, open_all_day: str, db: Database
) -> None:
    changed = http.patch(
        f"/v1/widget-keys/{DEMO_WIDGET_KEY}",
        json={"webhook_url": "http://127.0.0.1:9/hook", "udata": {"notes": "$notes$"}},
        headers=ACME,
    )
    assert changed.status_code == 200
    assert changed.json()["webhook_url"] == "http://127.0.0.1:9/hook"
    body = ask(http).json()
    stored = interactions.get_interaction(db, open_all_day, body["interaction_id"])
    assert stored["webhook_url"] == "http://127.0.0.1:9/hook"
    assert stored["udata"] == {"notes": "$notes$"}
    refused = http.patch(
        f"/v1/widget-keys/{DEMO_WIDGET_KEY}",
        json={"webhook_url": "http://10.0.0.1/hook"},
        headers=ACME,
    )
    assert refused.status_code == 422
    missing = http.patch("/v1/widget-keys/no-such-key-0000", json={}, headers=ACME)
    assert missing.status_code == 404


def test_a_widget_key_made_twice_is_a_conflict(http: httpx.Client, demo: str) -> None:
    key = {"queue_id": TEST_QUEUE_ID, "key": "wk_twice_0123456789"}
    assert http.post("/v1/widget-keys", json=key, headers=ACME).status_code == 201
    again = http.post("/v1/widget-keys", json=key, headers=ACME)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    taken = http.post("/v1/widget-keys", json={**key, "key": DEMO_WIDGET_KEY}, headers=ACME)
    assert taken.status_code == 409


@pytest.mark.parametrize(
    ("rows", "named"),
    [
        (
            [
                {"weekday": True, "start": "08:00", "end": "12:00", "agents": 1},
                {"weekday": 1, "start": "08:00", "end": "17:00", "agents": 2},
            ],
            "weekday 1 start at 08:00",
        ),
        (
            [
                {"weekday": 3, "start": "09:00", "end": "12:00", "agents": 1},
                {"weekday": 3, "start": "09:00:00", "end": "17:00", "agents": 2},
            ],
            "weekday 3 start at 09:00",
        ),
    ],
)
def test_roster_rows_of_one_weekday_and_start_are_refused(
    http: httpx.Client, demo: str, rows: list[dict[str, object]], named: str
) -> None:
    path = f"/v1/queues/{CALLBACK_QUEUE_ID}/roster"
    before = http.get(path, headers=ACME).json()
    refused = http.put(path, json=rows, headers=ACME)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "start"
    assert named in refused.json()["detail"]
    assert http.get(path, headers=ACME).json() == before


@pytest.mark.parametrize(
    "slot_start",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2031-01-01T09:00:00",  # no time zone
    ],
)
def test_a_slot_start_without_zone_or_outside_utc_is_refused(
    http: httpx.Client, open_all_day: str, db: Database, slot_start: str
) -> None:
    answer = ask(http, when="slot", slot_start=slot_start)
    assert answer.status_code == 422, answer.text
    listed = http.get("/v1/interactions", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert listed.json()["interactions"] == []
