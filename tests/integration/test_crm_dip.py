"""The data-dip consumer against a real CRM test server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import sqlite3
import string
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select, text

from rappel.api.datadip import DipMetrics
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import NotFound, ValidationFailed
from rappel.services import callbacks, crm_dip, crm_dip_config, interactions, session_params
from rappel.services.crm_dip import DipOutcome
from rappel.services.demo import API_TOKEN, CALLBACK_QUEUE_ID, TEST_QUEUE_ID
from rappel.store import datadip as store
from rappel.store.db import Database
from rappel.store.tables import crm_dip_configs, metadata
from tests.conftest import make_settings
from tests.support.loopback import LoopbackServer, Reply

TOKEN = "crm-bearer-token-7d1e5a0c9b"
ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
MAPPINGS = [
    {"key": "phone-num", "source": "customer_number_national"},
    {"key": "account-num", "source": "udata:account"},
    {"key": "order", "source": "ext:order"},
]
ANSWER: dict[str, Any] = {
    "parameters": {
        "name": {"value": "Tom Callahan", "displayToAgent": True, "saveToDatabase": True},
        "ssn-last-four": {"value": "3456", "displayToAgent": True, "saveToDatabase": False},
        "language": {"value": "English", "displayToAgent": False, "saveToDatabase": False},
        "segment": {"value": "gold", "displayToAgent": False, "saveToDatabase": True},
    }
}


@pytest.fixture
def crm() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def app(db: Database, demo: str) -> Container:
    return Container(make_settings(db), db, WallClock(), "test-secret-key-not-for-production")


def configure(c: Container, tenant_id: str, url: str, **values: Any) -> None:
    body = {"url": url, "token": TOKEN, "mappings": MAPPINGS, **values}
    crm_dip_config.put_crm_config(c, tenant_id, "tenant", "", body)


_numbers = itertools.count(1000)


def new_callback(
    c: Container, tenant_id: str, queue: str = CALLBACK_QUEUE_ID, phone: str | None = None
) -> str:
    # A distinct number each time: intake returns the open callback of a number it already has.
    request = callbacks.CallbackRequest(
        phone=phone or f"801555{next(_numbers)}",
        flow=CallbackFlow.ASAP,
        source="native",
        queue=queue,
        udata={"account": "76541643"},
        ext_transaction_data=(("order", "SO-1"),),
    )
    return callbacks.request_callback(c.db, c.clock, tenant_id, request).interaction_id


def run_dip(c: Container, tenant_id: str, interaction_id: str, stage: str = "intake") -> Any:
    async def main() -> DipOutcome | None:
        try:
            return await crm_dip.dip_for_interaction(c, tenant_id, interaction_id, stage)
        finally:
            await crm_dip.dipper_for(c).aclose()

    return asyncio.run(main())


def log_rows(c: Container, tenant_id: str, interaction_id: str) -> list[Any]:
    with c.db.read() as conn:
        return store.dip_log(conn, tenant_id, interaction_id)


def saved(c: Container, tenant_id: str, interaction_id: str) -> dict[str, str]:
    with c.db.read() as conn:
        return store.saved_parameters(conn, tenant_id, interaction_id)


def test_normal_answer_attaches_parameters_by_their_flags(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply("/dip", Reply.json(ANSWER))
    configure(app, demo, crm.url("/dip"))
    interaction = new_callback(app, demo, phone="8015551234")

    outcome = run_dip(app, demo, interaction)

    assert outcome == DipOutcome(True, "", 4)
    [request] = crm.requests_to("/dip")
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"phone-num": "8015551234", "account-num": "76541643", "order": "SO-1"}
    held = session_params.store_for(app)
    assert held.for_agent(demo, interaction) == {"name": "Tom Callahan", "ssn-last-four": "3456"}
    assert set(held.all(demo, interaction)) == set(ANSWER["parameters"])
    assert saved(app, demo, interaction) == {"name": "Tom Callahan", "segment": "gold"}
    [entry] = log_rows(app, demo, interaction)
    assert (entry["ok"], entry["stage"], entry["parameter_count"], entry["reason"]) == (
        True,
        "intake",
        4,
        None,
    )
    held.drop(demo, interaction)
    assert held.all(demo, interaction) == {}


FAILURES: list[tuple[Reply, str]] = [
    (Reply.json(ANSWER, delay_s=5), "timeout"),
    (Reply(status=500, body=b"oops"), "HTTP 500"),
    (Reply(status=200, body=b'{"parameters": {"name": '), "malformed answer: not valid JSON"),
    (Reply(status=200, body=b"<html>ok</html>"), "malformed answer"),
    (Reply.json({"params": {}}), "malformed answer: top level"),
    (Reply.json([ANSWER]), "malformed answer: top level is not a JSON object"),
    (
        Reply.json(
            {"parameters": {"age": {"value": 28, "displayToAgent": True, "saveToDatabase": True}}}
        ),
        "is not a string",
    ),
    (
        Reply.json(
            {
                "parameters": {
                    "age": {"value": "28", "displayToAgent": "yes", "saveToDatabase": True}
                }
            }
        ),
        "true or false",
    ),
    (Reply.json({"parameters": {"age": {"value": "28"}}}), "must hold exactly"),
    (Reply.json({"parameters": []}), "parameters is not an object"),
    (Reply(status=401), "refused the bearer token"),
    (Reply(status=403), "refused the bearer token"),
]


def test_failed_dip_is_logged_with_its_reason_and_the_interaction_goes_on(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    # One test over all cases (the demo fixture costs seconds per test); a fresh
    # container per case so that the failures do not open the circuit.
    for reply, reason in FAILURES:
        c = Container(app.settings, app.db, app.clock, app.secret)
        crm.reply("/dip", reply)
        configure(c, demo, crm.url("/dip"), timeout_s=0.5, retries=0)
        interaction = new_callback(c, demo)
        before = interactions.get_interaction(c.db, demo, interaction)

        outcome = run_dip(c, demo, interaction)

        assert outcome is not None
        assert not outcome.ok
        assert reason in outcome.reason
        assert TOKEN not in outcome.reason
        [entry] = log_rows(c, demo, interaction)
        assert entry["ok"] is False
        assert reason in entry["reason"]
        assert entry["parameter_count"] == 0
        assert session_params.store_for(c).all(demo, interaction) == {}
        assert saved(c, demo, interaction) == {}
        after = interactions.get_interaction(c.db, demo, interaction)
        assert (after["callback_status"], after["status"], after["due_at"]) == (
            before["callback_status"],
            before["status"],
            before["due_at"],
        )


def test_server_errors_are_retried_up_to_the_configured_count(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply_once("/dip", Reply(status=503))
    crm.reply_once("/dip", Reply(status=500))
    crm.reply("/dip", Reply.json(ANSWER))
    configure(app, demo, crm.url("/dip"), retries=2)
    outcome = run_dip(app, demo, new_callback(app, demo))
    assert outcome.ok
    assert len(crm.requests_to("/dip")) == 3


def test_rejected_token_is_not_retried(app: Container, demo: str, crm: LoopbackServer) -> None:
    crm.reply("/dip", Reply(status=401))
    configure(app, demo, crm.url("/dip"), retries=3)
    assert not run_dip(app, demo, new_callback(app, demo)).ok
    assert len(crm.requests_to("/dip")) == 1


def test_a_failing_crm_trips_its_circuit_and_metrics_report_it(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply("/dip", Reply(status=500))
    configure(app, demo, crm.url("/dip"), retries=0)
    outcomes = [run_dip(app, demo, new_callback(app, demo)) for _ in range(6)]

    assert [o.ok for o in outcomes] == [False] * 6
    assert "circuit open" in outcomes[-1].reason
    assert len(crm.requests_to("/dip")) == 5
    registry = CollectorRegistry()
    registry.register(DipMetrics(app))
    metrics = generate_latest(registry).decode()
    assert f'rappel_crm_dip_circuit_state{{crm="{crm.url("/dip")}"}} 2.0' in metrics
    assert "rappel_crm_dip_circuits_open 1.0" in metrics
    assert 'rappel_crm_dips_total{outcome="failed"} 6.0' in metrics
    assert "rappel_crm_dip_circuit_rejected_total 1.0" in metrics


def test_dip_runs_only_at_the_configured_stage(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply("/dip", Reply.json(ANSWER))
    configure(app, demo, crm.url("/dip"), dip_at="offer")
    interaction = new_callback(app, demo)
    assert run_dip(app, demo, interaction, "intake") is None
    assert crm.requests == []
    assert run_dip(app, demo, interaction, "offer").ok
    configure(app, demo, crm.url("/dip"), dip_at="both")
    assert run_dip(app, demo, interaction, "intake").ok
    assert run_dip(app, demo, interaction, "offer").ok
    assert [r["stage"] for r in log_rows(app, demo, interaction)] == ["offer", "intake", "offer"]


def test_queue_override_wins_over_the_tenant_default(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply("/tenant", Reply.json({"parameters": {}}))
    crm.reply("/queue", Reply.json(ANSWER))
    configure(app, demo, crm.url("/tenant"))
    override = {"url": crm.url("/queue"), "token": "queue-token-0000", "mappings": MAPPINGS}
    crm_dip_config.put_crm_config(app, demo, "queue", TEST_QUEUE_ID, override)

    run_dip(app, demo, new_callback(app, demo, TEST_QUEUE_ID))
    run_dip(app, demo, new_callback(app, demo, CALLBACK_QUEUE_ID))

    [queued] = crm.requests_to("/queue")
    assert queued.headers["authorization"] == "Bearer queue-token-0000"
    assert len(crm.requests_to("/tenant")) == 1


def test_no_configuration_means_no_dip(app: Container, demo: str) -> None:
    assert run_dip(app, demo, new_callback(app, demo)) is None
    assert run_dip(app, demo, "0" * 32) is None


def test_nothing_to_send_is_a_failed_dip(app: Container, demo: str, crm: LoopbackServer) -> None:
    mappings = [{"key": "x", "source": "udata:absent"}]
    configure(app, demo, crm.url("/dip"), mappings=mappings)
    outcome = run_dip(app, demo, new_callback(app, demo))
    assert not outcome.ok
    assert "none of the values" in outcome.reason
    assert crm.requests == []


def test_crm_url_must_pass_the_ssrf_guard(app: Container, demo: str) -> None:
    for url in ("http://10.1.2.3/dip", "http://169.254.169.254/latest", "ftp://crm.example/x"):
        with pytest.raises(ValidationFailed):
            configure(app, demo, url)
    strict = Container(make_settings(app.db, outbound_allow=""), app.db, app.clock, app.secret)
    with pytest.raises(ValidationFailed):
        configure(strict, demo, "http://127.0.0.1:9/dip")


def test_token_is_encrypted_at_rest_and_kept_when_left_out(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    crm.reply("/dip", Reply.json(ANSWER))
    configure(app, demo, crm.url("/dip"))
    with app.db.read() as conn:
        stored = conn.execute(select(crm_dip_configs.c.token_encrypted)).scalar_one()
    assert TOKEN not in stored
    assert crm_dip_config.decrypt_token(app.secret, stored) == TOKEN
    assert crm_dip_config.decrypt_token("another-secret", stored) is None
    crm_dip_config.put_crm_config(
        app, demo, "tenant", "", {"url": crm.url("/dip"), "mappings": MAPPINGS, "retries": 0}
    )
    run_dip(app, demo, new_callback(app, demo))
    assert crm.requests_to("/dip")[0].headers["authorization"] == f"Bearer {TOKEN}"
    public = crm_dip_config.get_crm_config(app, demo, "tenant", "").to_public()
    assert TOKEN not in repr(public)
    assert public["token_set"] is True


def test_new_configuration_needs_a_token_and_a_real_scope(app: Container, demo: str) -> None:
    with pytest.raises(ValidationFailed, match="token"):
        crm_dip_config.put_crm_config(
            app, demo, "tenant", "", {"url": "http://127.0.0.1/x", "mappings": MAPPINGS}
        )
    with pytest.raises(NotFound):
        crm_dip_config.put_crm_config(
            app,
            demo,
            "campaign",
            "F" * 32,
            {"url": "http://127.0.0.1/x", "token": TOKEN, "mappings": MAPPINGS},
        )


def test_values_not_to_save_never_reach_the_database_or_the_logs(
    app: Container, demo: str, crm: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret_marker = "NOSAVE-7f3a9c1e-marker"
    kept_marker = "SAVED-2b8d4e6f-marker"
    crm.reply(
        "/dip",
        Reply.json(
            {
                "parameters": {
                    "ssn-last-four": {
                        "value": secret_marker,
                        "displayToAgent": True,
                        "saveToDatabase": False,
                    },
                    "account-num": {
                        "value": kept_marker,
                        "displayToAgent": True,
                        "saveToDatabase": True,
                    },
                }
            }
        ),
    )
    configure(app, demo, crm.url("/dip"))
    interaction = new_callback(app, demo)
    caplog.set_level(logging.DEBUG)

    assert run_dip(app, demo, interaction).ok
    held = session_params.store_for(app)
    assert held.for_agent(demo, interaction)["ssn-last-four"] == secret_marker
    assert secret_marker not in repr(held.all(demo, interaction))
    held.drop(demo, interaction)

    assert secret_marker not in caplog.text
    assert all(secret_marker not in str(r.args) for r in caplog.records)
    dump = database_bytes(app.db)
    assert kept_marker.encode() in dump
    assert secret_marker.encode() not in dump


def database_bytes(db: Database) -> bytes:
    """Everything the database holds: the SQLite files, or every PostgreSQL row as text."""
    if not db.is_postgres:
        path = Path(db.engine.url.database or "")
        with closing(sqlite3.connect(path)) as raw:
            raw.execute("PRAGMA wal_checkpoint(FULL)").fetchall()
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    with db.read() as conn:
        rows = [
            conn.execute(text(f'SELECT t::text FROM "{table.name}" t')).scalars().all()
            for table in metadata.sorted_tables
        ]
    return "\n".join(value for table_rows in rows for value in table_rows).encode()


NOTES = "".join(random.Random(4).choices(string.ascii_letters + string.digits, k=9000))
LONG_NAME = "n" * 230
MIXED_ANSWER: dict[str, Any] = {
    "parameters": {
        "name": {"value": "Tom Callahan", "displayToAgent": True, "saveToDatabase": True},
        # Random, so that PostgreSQL cannot compress it under its index entry limit.
        "notes": {"value": NOTES, "displayToAgent": True, "saveToDatabase": True},
        LONG_NAME: {"value": "v", "displayToAgent": True, "saveToDatabase": True},
        "nul": {"value": "x\u0000y", "displayToAgent": True, "saveToDatabase": True},
        "broken": {"value": "\ud800", "displayToAgent": True, "saveToDatabase": True},
        "\ud800": {"value": "v", "displayToAgent": True, "saveToDatabase": False},
        "ssn-last-four": {"value": "3456", "displayToAgent": True, "saveToDatabase": False},
    }
}


def test_a_parameter_the_database_cannot_hold_costs_only_itself(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    # Reply.json escapes the lone surrogates as \ud800, as a CRM's JSON would.
    crm.reply("/dip", Reply.json(MIXED_ANSWER))
    configure(app, demo, crm.url("/dip"))
    interaction = new_callback(app, demo)

    outcome = run_dip(app, demo, interaction)

    assert outcome.ok
    assert outcome.parameter_count == 7
    assert saved(app, demo, interaction) == {"name": "Tom Callahan"}
    held = session_params.store_for(app).all(demo, interaction)
    assert set(held) == {"name", "notes", LONG_NAME, "ssn-last-four"}
    assert held["notes"].value == NOTES
    [entry] = log_rows(app, demo, interaction)
    assert (entry["ok"], entry["parameter_count"]) == (True, 7)
    assert entry["reason"] == outcome.reason
    for note in (
        "'notes' not saved: value longer than 1024 bytes",
        f"{LONG_NAME[:40]!r} not saved: name longer than 200 characters",
        "'nul' dropped: NUL or unpaired surrogate",
        "'broken' dropped",
        "'\\ud800' dropped",
    ):
        assert note in entry["reason"]
    assert NOTES[:100] not in entry["reason"]
    assert "3456" not in entry["reason"]


def test_a_value_the_database_refuses_does_not_take_its_neighbours_with_it(
    app: Container, demo: str
) -> None:
    # Unscreened input straight to the store: the safety net under the screening.
    interaction = new_callback(app, demo)
    values = {"good": ("1", True), "bad": ("\ud800", True), "other": ("2", False)}
    with app.db.begin() as conn:
        refused = store.save_parameters(conn, demo, interaction, values)
    assert set(refused) == {"bad"}
    assert saved(app, demo, interaction) == {"good": "1", "other": "2"}


@pytest.mark.parametrize("token", ["t\u00f6k\u00e9n", "\ud800", "two words", "tab\there"])
def test_token_must_be_visible_ascii_and_nothing_is_stored_otherwise(
    app: Container, demo: str, token: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        configure(app, demo, "http://127.0.0.1:9/dip", token=token)
    assert caught.value.field == "token"
    assert crm_dip_config.list_crm_configs(app, demo) == []


def test_token_stored_before_the_ascii_rule_fails_the_dip_and_is_logged(
    app: Container, demo: str, crm: LoopbackServer
) -> None:
    configure(app, demo, crm.url("/dip"))
    legacy = crm_dip_config.token_cipher(app.secret).encrypt("t\u00f6k\u00e9n".encode()).decode()
    with app.db.begin() as conn:
        conn.execute(crm_dip_configs.update().values(token_encrypted=legacy))
    interaction = new_callback(app, demo)

    outcome = run_dip(app, demo, interaction)

    assert outcome is not None
    assert not outcome.ok
    assert "bearer token" in outcome.reason
    [entry] = log_rows(app, demo, interaction)
    assert entry["ok"] is False
    assert "bearer token" in entry["reason"]
    assert crm.requests == []


def test_token_that_is_not_text_gets_422_over_http(http: httpx.Client, demo: str) -> None:
    body = (
        b'{"url": "http://127.0.0.1:9/dip", "token": "\\ud800",'
        b' "mappings": [{"key": "phone-num", "source": "customer_number"}]}'
    )
    answer = http.put(
        "/v1/crm-dips/tenant",
        content=body,
        headers={**ADMIN, "content-type": "application/json"},
    )
    # Refused with every JSON body that holds one, before the route reads it.
    assert answer.status_code == 422
    assert answer.json()["field"] == "body"
    assert http.get("/v1/crm-dips", headers=ADMIN).json() == []
