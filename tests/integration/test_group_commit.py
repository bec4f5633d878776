"""Group commit on both databases: a job's failure stays that job's; the rest commits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select, text

from rappel.clock import VirtualClock
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import ValidationFailed
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks as svc
from rappel.services import interactions as manage
from rappel.store.db import Database
from rappel.store.group_commit import GroupCommitter
from rappel.store.tables import intake_counts

START = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
INSERT = text("INSERT INTO intake_counts (tenant_id, hour, requests) VALUES (:t, :h, 1)")


@pytest.fixture
def committer(db: Database) -> Iterator[GroupCommitter]:
    running = GroupCommitter(db)
    running.start()
    yield running
    running.stop()


def one_batch(
    committer: GroupCommitter, jobs: list[Callable[[Connection], Any]]
) -> list[Future[Any]]:
    """Submit `jobs` behind a held job, so that they form one batch."""
    gate = threading.Event()
    held = committer.submit(lambda conn: gate.wait(10))
    futures = [committer.submit(job) for job in jobs]
    gate.set()
    held.result(timeout=10)
    return futures


def count_in(tenant: str, hour: int, fail: bool = False) -> Callable[[Connection], int]:
    def job(conn: Connection) -> int:
        conn.execute(INSERT, {"t": tenant, "h": START + timedelta(hours=hour)})
        if fail:
            raise ValueError("after its write")
        return hour

    return job


def hours_stored(db: Database) -> list[datetime]:
    with db.read() as conn:
        return list(conn.execute(select(intake_counts.c.hour).order_by("hour")).scalars())


def test_a_refused_intake_keeps_its_failure_to_itself(
    db: Database, demo: str, committer: GroupCommitter
) -> None:
    clock, allow = VirtualClock(START), OutboundAllowlist()

    def request(queue: str) -> svc.CallbackRequest:
        return svc.CallbackRequest(
            phone="+16505551212", flow=CallbackFlow.AGENT_FIRST, source="t", queue=queue
        )

    good, bad = one_batch(
        committer,
        [
            svc.intake_job(clock, demo, request("103"), allow),
            svc.intake_job(clock, demo, request("99"), allow),
        ],
    )
    assert good.result(timeout=10).created
    with pytest.raises(svc.IntakeRefused):
        bad.result(timeout=10)
    assert manage.get_interaction(db, demo, good.result().interaction_id)["queue_id"]


def test_a_job_failing_after_its_write_is_undone_and_the_others_kept(
    db: Database, demo: str, committer: GroupCommitter
) -> None:
    first, failed, third = one_batch(
        committer, [count_in(demo, 1), count_in(demo, 2, fail=True), count_in(demo, 3)]
    )
    assert first.result(timeout=10) == 1
    with pytest.raises(ValueError, match="after its write"):
        failed.result(timeout=10)
    assert third.result(timeout=10) == 3
    assert hours_stored(db) == [START + timedelta(hours=1), START + timedelta(hours=3)]


def test_a_statement_the_database_refuses_fails_only_its_job(
    db: Database, demo: str, committer: GroupCommitter
) -> None:
    # The second job repeats the first one's primary key: PostgreSQL aborts the whole
    # transaction at that statement, SQLite only the statement.
    first, clash, third = one_batch(
        committer, [count_in(demo, 1), count_in(demo, 1), count_in(demo, 3)]
    )
    assert first.result(timeout=10) == 1
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        clash.result(timeout=10)
    assert third.result(timeout=10) == 3
    assert hours_stored(db) == [START + timedelta(hours=1), START + timedelta(hours=3)]


def test_a_value_the_database_cannot_hold_is_that_jobs_bad_input(
    db: Database, demo: str, committer: GroupCommitter
) -> None:
    # 2**70 fits no integer column of PostgreSQL (DataError) nor of SQLite (the driver's
    # OverflowError): the job's refusal, never a server fault.
    def too_big(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO intake_counts (tenant_id, hour, requests) VALUES (:t, :h, :n)"),
            {"t": demo, "h": START, "n": 2**70},
        )

    refused, kept = one_batch(committer, [too_big, count_in(demo, 2)])
    error = refused.exception(timeout=10)
    assert isinstance(error, ValidationFailed), repr(error)
    assert kept.result(timeout=10) == 2
    assert hours_stored(db) == [START + timedelta(hours=2)]
