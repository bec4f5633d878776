"""Intake rules of `services.callbacks` on a real SQLite database, with a virtual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.api.webcallback import with_error
from rappel.clock import VirtualClock
from rappel.domain.codes import CallbackFlow, CallbackStatus
from rappel.domain.errors import Conflict, InvalidTransition
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks as svc
from rappel.services import interactions as manage
from rappel.services import tenancy
from rappel.store.db import Database
from rappel.store.migrate import upgrade

START = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'intake.db'}")
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def tenant(db: Database, clock: VirtualClock) -> str:
    from rappel.services import provisioning

    made = tenancy.create_tenant(db, clock, {"name": "Unit", "time_zone": "Europe/Helsinki"})
    provisioning.put_dial_plan(db, made.id, {"plan_id": 1, "default_region": "FI"})
    tenancy.update_tenant(db, made.id, {"default_dial_plan_id": 1})
    provisioning.create_queue(db, clock, made.id, {"short_id": 7, "name": "Q"})
    provisioning.create_channel(db, made.id, {"number": "358401234567"})
    return made.id


def request(**values: object) -> svc.CallbackRequest:
    base: dict[str, object] = {"phone": "040 123 4567", "flow": CallbackFlow.ASAP, "source": "t"}
    base.update(values)
    return svc.CallbackRequest(**base)  # type: ignore[arg-type]


def test_due_now_is_queued_with_due_at_now(db: Database, clock: VirtualClock, tenant: str) -> None:
    made = svc.request_callback(db, clock, tenant, request(queue="7"))
    row = made.interaction
    assert made.created
    assert row["customer_number"] == "+358401234567"
    assert (row["callback_status"], row["status"]) == (CallbackStatus.QUEUED, 1)
    assert row["due_at"] == START
    assert row["timeshift"] == 120  # Helsinki in winter


def test_timeshift_is_the_offset_in_force_at_creation_across_a_clock_change(
    db: Database, tenant: str
) -> None:
    # Helsinki moves to summer time at 01:00 UTC on 2026-03-29: 30 minutes later the
    # local time is 04:30 (+180), though 01:30 read as a local time would still be +120.
    clock = VirtualClock(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))
    row = svc.request_callback(db, clock, tenant, request(queue="7")).interaction
    assert row["timeshift"] == 180


def test_future_start_waits_on_a_timer_until_its_start(
    db: Database, clock: VirtualClock, tenant: str
) -> None:
    row = svc.request_callback(db, clock, tenant, request(queue="7", delay_s=90)).interaction
    assert row["callback_status"] == CallbackStatus.TIMER
    assert row["due_at"] == START + timedelta(seconds=90)


def test_expiration_sets_the_end_of_the_window(
    db: Database, clock: VirtualClock, tenant: str
) -> None:
    req = request(queue="7", flow=CallbackFlow.AGENT_FIRST, expiration_s=60)
    assert svc.request_callback(db, clock, tenant, req).interaction["end_time"] == START + (
        timedelta(seconds=60)
    )


def test_number_limit_counts_the_last_hour_only(
    db: Database, clock: VirtualClock, tenant: str
) -> None:
    tenancy.update_tenant(db, tenant, {"max_callbacks_per_number_hour": 1})
    svc.request_callback(db, clock, tenant, request(queue="7"))
    with pytest.raises(svc.IntakeLimited) as refused:
        svc.request_callback(db, clock, tenant, request(channel_number="358401234567"))
    assert refused.value.problem is svc.IntakeProblem.NUMBER_LIMIT
    clock.set(START + timedelta(hours=1, seconds=1))
    assert svc.request_callback(db, clock, tenant, request(channel_number="358401234567")).created


def test_cancel_then_cancel_again_is_an_invalid_transition(
    db: Database, clock: VirtualClock, tenant: str
) -> None:
    made = svc.request_callback(db, clock, tenant, request(queue="7"))
    row = manage.cancel_callback(db, clock, tenant, made.interaction_id)
    assert (row["callback_status"], row["call_result"], row["due_at"]) == (9, 52, None)
    with pytest.raises(InvalidTransition):
        manage.cancel_callback(db, clock, tenant, made.interaction_id)


def test_idempotency_key_replays_or_conflicts(
    db: Database, clock: VirtualClock, tenant: str
) -> None:
    first = svc.request_callback(
        db, clock, tenant, request(queue="7", idempotency_key="k", request_hash="h1")
    )
    again = svc.request_callback(
        db, clock, tenant, request(queue="7", idempotency_key="k", request_hash="h1")
    )
    assert (again.created, again.interaction_id) == (False, first.interaction_id)
    with pytest.raises(Conflict):
        svc.request_callback(
            db, clock, tenant, request(queue="7", idempotency_key="k", request_hash="h2")
        )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/x", True),
        ("http://10.0.0.5/x", False),
        ("http://localhost/x", False),
        ("http://intranet/x", False),
        ("http://[fe80::1]/x", False),
        ("gopher://example.com/", False),
    ],
)
def test_webhook_urls_checked_without_dns(url: str, allowed: bool) -> None:
    if allowed:
        assert svc.check_webhook_url(url, OutboundAllowlist()) == url
    else:
        with pytest.raises(svc.IntakeRefused):
            svc.check_webhook_url(url, OutboundAllowlist())


def test_operator_allowlist_lifts_the_refusal() -> None:
    allow = OutboundAllowlist.parse("10.0.0.0/8,localhost")
    assert svc.check_webhook_url("http://10.0.0.5/x", allow)
    assert svc.check_webhook_url("http://localhost:8000/x", allow)


@given(
    query=st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.text(max_size=10)),
    code=st.sampled_from([1, 2, 3, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19]),
)
def test_back_keeps_its_query_and_gains_ctl_error(query: dict[str, str], code: int) -> None:
    back = "http://www.acmejet.com/r.php" + ("?" + urlencode(query) if query else "")
    parts = urlsplit(with_error(back, code))
    assert parse_qsl(parts.query, keep_blank_values=True) == [
        *parse_qsl(urlsplit(back).query, keep_blank_values=True),
        ("ctl_error", str(code)),
    ]
