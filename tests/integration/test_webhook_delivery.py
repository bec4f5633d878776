"""Webhook delivery to a real receiver on loopback, on SQLite and PostgreSQL.

Interactions are written straight into the store (as the engine will), then
`enqueue_webhook` runs in the same transaction and the worker delivers. The
worker runs on a virtual clock, so "later" is a clock jump, not a wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import insert, select

from rappel.api.app import create_app
from rappel.api.native.webhooks import webhooks_plugin
from rappel.bootstrap import Container
from rappel.clock import VirtualClock, WallClock
from rappel.domain.ids import new_id
from rappel.domain.results import CustomerResult, Disposition, TransactionCode
from rappel.integrations.http import GuardedHttpClient
from rappel.integrations.retry_policy import RetryPolicy
from rappel.integrations.signing import verify
from rappel.integrations.ssrf import OutboundAllowlist, system_resolver
from rappel.integrations.webhooks import DeliveryConfig, WebhookWorker
from rappel.services import webhook_secrets
from rappel.services.demo import API_TOKEN
from rappel.services.webhooks import disposition_to_json, enqueue_webhook
from rappel.store import webhooks as store
from rappel.store.db import Database
from rappel.store.tables import attempts, customers, interactions, webhook_attempts, webhook_outbox
from tests.conftest import make_settings
from tests.support.loopback import LoopbackServer, Reply
from tests.support.servers import running_server

APP_SECRET = "test-secret-key-not-for-production"
ACME = {"Authorization": f"Bearer {API_TOKEN}"}
START = datetime(2026, 1, 5, 17, 30, tzinfo=UTC)
ANSWERED = datetime(2026, 1, 5, 17, 20, tzinfo=UTC)
ENDED = datetime(2026, 1, 5, 17, 24, 10, tzinfo=UTC)
LOOPBACK = "127.0.0.1/32"

# Seed 002, Example 2: what ctl_userdata left on the interaction.
EXAMPLE_2 = {
    "ctl_callbackUrl": "https://mywebporter.com/callback.php",
    "Transactionid__c": "$interaction_guid$",
    "CallAnswerTime": "$call_answered_time$",
    "foreign_key": "1234456677",
}


def _processed_callback(db: Database, clock: VirtualClock, tenant_id: str, url: str) -> str:
    """A finished, answered callback with a disposition; its webhook enqueued. Returns its id."""
    now = clock.now()
    customer_id, interaction_id = new_id(), new_id()
    disposition = Disposition(
        CustomerResult.SUCCESS,
        notes="call me on Friday",
        transaction_codes=(TransactionCode("Sales", "S1", "Interested"),),
    )
    with db.begin() as conn:
        conn.execute(
            insert(customers).values(
                tenant_id=tenant_id,
                id=customer_id,
                external_id=interaction_id,
                numbers="+16505551212",
                number1="+16505551212",
                attributes=[],
                created_at=now,
                modified_at=now,
            )
        )
        conn.execute(
            insert(interactions).values(
                tenant_id=tenant_id,
                id=interaction_id,
                customer_id=customer_id,
                flow="delay",
                callback_type=1,
                callback_status=9,
                status=3,
                start_time=now,
                customer_number="+16505551212",
                attempts=1,
                call_result=0,
                creator_app_id=0,
                start_date=now,
                udata=EXAMPLE_2,
                ext_transaction_data=[],
                caller_id="18006664444",
                webhook_url=url,
                source="8x8",
                disposition=disposition_to_json(disposition),
                updated_at=now,
            )
        )
        conn.execute(
            insert(attempts).values(
                tenant_id=tenant_id,
                interaction_id=interaction_id,
                attempt_no=1,
                call_id=f"CALL-{interaction_id}",
                customer_id=customer_id,
                number="+16505551212",
                placed_at=ANSWERED - timedelta(seconds=12),
                answered_at=ANSWERED,
                ended_at=ENDED,
                call_result=0,
            )
        )
        assert enqueue_webhook(conn, clock, tenant_id, interaction_id) is not None
    return interaction_id


def _deliver(
    db: Database,
    clock: VirtualClock,
    *,
    allow: str = LOOPBACK,
    timeout_s: float = 5.0,
    max_attempts: int = 12,
    name: str = "worker-b",
    batch: int = 16,
) -> int:
    """One worker round with a fresh client, as a restarted process would make it."""

    async def round_() -> int:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            guarded = GuardedHttpClient(
                client, OutboundAllowlist.parse(allow), system_resolver, WallClock()
            )
            policy = RetryPolicy(
                random=random.Random(4).random, base_s=30, max_attempts=max_attempts
            )
            config = DeliveryConfig(timeout_s=timeout_s, lease_s=60, batch=batch)
            worker = WebhookWorker(db, clock, guarded, APP_SECRET, policy, config, name=name)
            return await worker.deliver_due_once()

    return asyncio.run(round_())


def _outbox(db: Database, interaction_id: str) -> dict[str, object]:
    with db.read() as conn:
        row = (
            conn.execute(
                select(webhook_outbox).where(webhook_outbox.c.interaction_id == interaction_id)
            )
            .mappings()
            .one()
        )
        return dict(row)


def _attempts(db: Database, webhook_id: object) -> list[dict[str, object]]:
    with db.read() as conn:
        rows = conn.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.webhook_id == webhook_id)
            .order_by(webhook_attempts.c.attempt_no)
        ).mappings()
        return [dict(r) for r in rows]


@pytest.fixture
def receiver() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


def test_processed_callback_is_delivered_once_signed_with_substituted_tokens(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
    assert _deliver(db, clock) == 1
    assert _deliver(db, clock) == 0

    [request] = receiver.requests_to("/hook")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    assert fields[:3] == [
        ("Transactionid__c", interaction_id),
        ("CallAnswerTime", str(int(ANSWERED.timestamp()))),
        ("foreign_key", "1234456677"),
    ]
    named = dict(fields)
    assert "ctl_callbackUrl" not in named
    assert named["ctl_interaction_guid"] == interaction_id
    assert named["ctl_transaction_id"] == f"CALL-{interaction_id}"
    assert named["ctl_callHangupTenantTT"] == "2026/01/05 09:24:10 -0800"
    assert named["ctl_callDuration"] == "00:04:10"
    assert named["ctl_transaction_codes"] == "Sales:S1"
    assert named["ctl_notes"] == "call me on Friday"
    assert named["ctl_result"] == "SUCCESS"

    outbox = _outbox(db, interaction_id)
    assert request.headers["webhook-id"] == outbox["id"]
    secret = webhook_secrets.reveal_webhook_secret(db, clock, APP_SECRET, demo).secret
    assert secret is not None
    assert verify(secret, request.headers, request.body, clock.now()) == outbox["id"]
    assert outbox["status"] == "delivered"
    [attempt] = _attempts(db, outbox["id"])
    assert attempt["status_code"] == 200
    assert attempt["error"] is None


def test_server_error_is_retried_with_backoff_and_every_attempt_is_stored(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
    receiver.reply_once("/hook", Reply(status=500))
    assert _deliver(db, clock) == 1
    waiting = _outbox(db, interaction_id)
    assert waiting["status"] == "pending"
    retry_at = waiting["next_attempt_at"]
    assert isinstance(retry_at, datetime)
    assert timedelta(seconds=24) <= retry_at - START <= timedelta(seconds=36)
    assert _deliver(db, clock) == 0  # not due yet

    clock.set(retry_at)
    assert _deliver(db, clock) == 1
    first, second = receiver.requests_to("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    delivered = _outbox(db, interaction_id)
    assert delivered["status"] == "delivered"
    assert [a["status_code"] for a in _attempts(db, delivered["id"])] == [500, 200]


def test_timeout_is_a_stored_retriable_failure(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/slow"))
    receiver.reply_once("/slow", Reply(status=200, delay_s=30))
    assert _deliver(db, clock, timeout_s=0.3) == 1
    waiting = _outbox(db, interaction_id)
    assert waiting["status"] == "pending"
    [attempt] = _attempts(db, waiting["id"])
    assert attempt["status_code"] is None
    assert str(attempt["error"]).startswith("timeout")

    clock.set(START + timedelta(hours=1))
    assert _deliver(db, clock, timeout_s=0.3) == 1
    assert _outbox(db, interaction_id)["status"] == "delivered"


def test_retries_stop_at_the_maximum_and_the_webhook_fails(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/down"))
    receiver.reply("/down", Reply(status=503))
    for hour in range(3):
        clock.set(START + timedelta(hours=hour))
        _deliver(db, clock, max_attempts=2)
    outbox = _outbox(db, interaction_id)
    assert outbox["status"] == "failed"
    assert "gave up after 2 attempts" in str(outbox["last_error"])
    assert len(receiver.requests_to("/down")) == 2
    assert [a["status_code"] for a in _attempts(db, outbox["id"])] == [503, 503]


@pytest.mark.parametrize("status", [400, 404, 410])
def test_client_error_is_permanent_and_not_retried(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock, status: int
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/gone"))
    receiver.reply("/gone", Reply(status=status))
    assert _deliver(db, clock) == 1
    clock.set(START + timedelta(days=1))
    assert _deliver(db, clock) == 0
    outbox = _outbox(db, interaction_id)
    assert outbox["status"] == "failed"
    assert len(receiver.requests_to("/gone")) == 1
    [attempt] = _attempts(db, outbox["id"])
    assert attempt["status_code"] == status


def test_private_target_is_refused_unless_allowlisted_and_stored_as_failed(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
    assert _deliver(db, clock, allow="") == 1
    assert receiver.requests == []
    outbox = _outbox(db, interaction_id)
    assert outbox["status"] == "failed"
    [attempt] = _attempts(db, outbox["id"])
    assert str(attempt["error"]).startswith("refused_target")
    assert "loopback" in str(attempt["error"])


@pytest.mark.parametrize(
    "target", ["http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data/"]
)
def test_redirect_to_a_private_address_is_refused(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock, target: str
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/moved"))
    receiver.reply("/moved", Reply.redirect(target, status=307))
    assert _deliver(db, clock) == 1
    outbox = _outbox(db, interaction_id)
    assert outbox["status"] == "failed"
    assert len(receiver.requests_to("/moved")) == 1
    [attempt] = _attempts(db, outbox["id"])
    assert str(attempt["error"]).startswith("refused_target")


def test_row_leased_by_a_dead_worker_is_taken_over_when_its_lease_ends(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
    with db.begin() as conn:  # worker A claims, then dies before delivering
        [claimed] = store.claim_due(conn, START, "worker-a", START + timedelta(seconds=60), 10)
    assert _deliver(db, clock, name="worker-b") == 0
    clock.set(START + timedelta(seconds=61))
    assert _deliver(db, clock, name="worker-b") == 1
    assert _outbox(db, interaction_id)["status"] == "delivered"
    assert [r.headers["webhook-id"] for r in receiver.requests_to("/hook")] == [claimed["id"]]


def test_two_workers_claim_disjoint_rows(
    db: Database, demo: str, receiver: LoopbackServer, clock: VirtualClock
) -> None:
    for _ in range(5):
        _processed_callback(db, clock, demo, receiver.url("/hook"))
    lease = START + timedelta(seconds=60)
    with db.begin() as conn:
        first = store.claim_due(conn, START, "worker-a", lease, 3)
    with db.begin() as conn:
        second = store.claim_due(conn, START, "worker-b", lease, 3)
    assert len(first) == 3
    assert len(second) == 2
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_native_api_lists_deliveries_with_attempts_and_redelivers(
    http: httpx.Client, demo: str, receiver: LoopbackServer
) -> None:
    clock = VirtualClock(datetime.now(UTC))
    db: Database = http.app_db  # type: ignore[attr-defined]
    interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
    receiver.reply_once("/hook", Reply(status=404))
    _deliver(db, clock)

    [listed] = http.get(
        "/v1/webhooks", params={"interaction_id": interaction_id}, headers=ACME
    ).json()
    assert listed["status"] == "failed"
    assert [a["status_code"] for a in listed["attempts"]] == [404]
    assert "foreign_key=1234456677" in listed["payload"]

    again = http.post(f"/v1/webhooks/{listed['id']}/redeliver", headers=ACME)
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    clock.set(datetime.now(UTC))  # the server stamped "due now" on its wall clock
    assert _deliver(db, clock) == 1
    final = http.get(f"/v1/webhooks/{listed['id']}", headers=ACME).json()
    assert final["status"] == "delivered"
    assert [a["attempt_no"] for a in final["attempts"]] == [1, 2]


def test_webhook_list_is_scoped_to_the_tenant_and_needs_a_token(
    http: httpx.Client, demo: str
) -> None:
    assert http.get("/v1/webhooks").status_code == 401
    assert http.get(f"/v1/webhooks/{new_id()}", headers=ACME).status_code == 404
    assert (
        http.get("/v1/webhooks", params={"interaction_id": "nope"}, headers=ACME).status_code == 422
    )


def test_secret_is_shown_once_and_rotation_signs_with_both_for_a_while(
    http: httpx.Client, demo: str
) -> None:
    first = http.get("/v1/webhooks/secret", headers=ACME).json()
    assert first["secret"].startswith("whsec_")
    assert http.get("/v1/webhooks/secret", headers=ACME).json()["secret"] is None

    rotated = http.post("/v1/webhooks/secret/rotate", headers=ACME).json()
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != first["secret"]
    assert http.get("/v1/webhooks/secret", headers=ACME).json()["secret"] is None

    db: Database = http.app_db  # type: ignore[attr-defined]
    keys = webhook_secrets.signing_secrets(db, WallClock(), APP_SECRET, demo)
    assert keys == [rotated["secret"], first["secret"]]
    later = VirtualClock(datetime.now(UTC) + webhook_secrets.ROTATION_GRACE + timedelta(minutes=1))
    assert webhook_secrets.signing_secrets(db, later, APP_SECRET, demo) == [rotated["secret"]]


def test_secret_is_stored_encrypted(db: Database, demo: str) -> None:
    [key] = webhook_secrets.signing_secrets(db, WallClock(), APP_SECRET, demo)
    with db.read() as conn:
        row = store.get_secret_row(conn, demo)
    assert row is not None
    assert key not in str(row["webhook_secret"])


def test_serve_with_the_engine_on_delivers_in_the_background(
    db: Database, demo: str, receiver: LoopbackServer
) -> None:
    container = Container(
        settings=make_settings(db, run_engine=True), db=db, clock=WallClock(), secret=APP_SECRET
    )
    with running_server(create_app(container, plugins=[webhooks_plugin])):
        clock = VirtualClock(datetime.now(UTC))
        interaction_id = _processed_callback(db, clock, demo, receiver.url("/hook"))
        deadline = time.monotonic() + 20
        while not receiver.requests_to("/hook") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(receiver.requests_to("/hook")) == 1
    assert _outbox(db, interaction_id)["status"] == "delivered"
