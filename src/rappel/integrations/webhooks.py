"""The webhook delivery worker: drains the outbox at least once, signed, with backoff.

Each round it leases due outbox rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
several workers share the outbox; SQLite: one writer), POSTs each payload
through the SSRF-guarded client with a timeout, stores the attempt, and then
marks the row delivered, schedules the next attempt (retriable failure: network
trouble, timeouts, 408/425/429, 5xx) or marks it failed (permanent failure:
other 4xx, refused target, or retries used up).

At least once: the attempt is made before it is recorded, so a worker that
dies in between leaves a leased row that another worker takes over when the
lease ends, and the receiver may see the same `webhook-id` twice. Receivers
deduplicate on `webhook-id` (docs/webhooks.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.exc import SQLAlchemyError

from rappel import __version__
from rappel.bootstrap import Container
from rappel.clock import Clock, WallClock
from rappel.domain.errors import RappelError
from rappel.domain.ids import new_id
from rappel.integrations.http import GuardedHttpClient, HttpOutcome
from rappel.integrations.retry_policy import RetryPolicy
from rappel.integrations.signing import sign
from rappel.integrations.ssrf import OutboundAllowlist, system_resolver
from rappel.services.webhook_secrets import signing_secrets
from rappel.services.webhooks import CONTENT_TYPE
from rappel.store import signals
from rappel.store import webhooks as store
from rappel.store.db import Database
from rappel.store.webhooks import WebhookStatus

log = logging.getLogger("rappel.webhooks")

USER_AGENT = f"Rappel-Webhooks/{__version__}"
#: Answers are read only to free the connection; nobody needs a large one.
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class DeliveryConfig:
    """How the worker paces itself."""

    #: Seconds one attempt may take, DNS and redirects included.
    timeout_s: float = 10.0
    #: Seconds a claimed row stays with this worker; longer than any attempt.
    lease_s: float = 60.0
    #: Rows claimed per round, all delivered concurrently (the concurrency bound).
    batch: int = 16
    #: Seconds between polls when nothing wakes the worker earlier.
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        if self.timeout_s <= 0 or self.batch < 1 or self.poll_s <= 0:
            raise ValueError("webhook delivery needs timeout_s > 0, batch >= 1, poll_s > 0")
        if self.lease_s < 2 * self.timeout_s:
            raise ValueError("webhook lease_s must be at least twice timeout_s")


def default_policy(rng: random.Random | None = None) -> RetryPolicy:
    """30 s, 1 min, 2 min, ... capped at 6 h, 12 attempts: about 14.5 hours in all."""
    source = rng or random.Random()
    return RetryPolicy(random=source.random, base_s=30, factor=2, cap_s=6 * 3600, max_attempts=12)


class WebhookWorker:
    """Delivers due webhooks; `deliver_due_once` for tests, `run` for a process."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        http: GuardedHttpClient,
        app_secret: str,
        policy: RetryPolicy | None = None,
        config: DeliveryConfig | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.http = http
        self.policy = policy or default_policy()
        self.config = config or DeliveryConfig()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"
        self._app_secret = app_secret
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def deliver_due_once(self) -> int:
        """Claim the due rows and make one attempt each; returns how many were attempted."""
        rows = await asyncio.to_thread(self._claim)
        if rows:
            await asyncio.gather(
                *(
                    asyncio.create_task(self._deliver_safely(row), name=f"webhook-{row['id']}")
                    for row in rows
                )
            )
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; a new outbox row wakes the worker early."""
        self._loop = asyncio.get_running_loop()
        signals.add_local_waker(self.wake)
        try:
            while not stop.is_set():
                try:
                    attempted = await self.deliver_due_once()
                except (RappelError, SQLAlchemyError) as exc:
                    log.warning("webhook round failed: %s", exc)
                    attempted = 0
                if attempted < self.config.batch:
                    await self._idle(stop)
        finally:
            signals.remove_local_waker(self.wake)

    def wake(self) -> None:
        """Thread-safe: commits in any thread may call it."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [
            asyncio.create_task(stop.wait(), name="webhook-stop"),
            asyncio.create_task(self._wake.wait(), name="webhook-wake"),
            asyncio.create_task(self.clock.sleep(self.config.poll_s), name="webhook-poll"),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            self._wake.clear()

    # -- one round ---------------------------------------------------------------

    def _claim(self) -> list[Any]:
        now = self.clock.now()
        until = now + timedelta(seconds=self.config.lease_s)
        with self.db.begin() as conn:
            return store.claim_due(conn, now, self.name, until, self.config.batch)

    async def _deliver_safely(self, row: Any) -> None:
        try:
            await self._deliver(row)
        except (RappelError, SQLAlchemyError) as exc:
            # The lease runs out and the row is tried again: nothing is lost.
            log.warning("webhook %s not settled: %s", row["id"], exc)

    async def _deliver(self, row: Any) -> None:
        keys = await asyncio.to_thread(
            signing_secrets, self.db, self.clock, self._app_secret, row["tenant_id"]
        )
        body = row["payload"].encode()
        headers = {
            **sign(keys, row["id"], int(self.clock.now().timestamp()), body),
            "user-agent": USER_AGENT,
        }
        outcome = await self.http.post(
            row["url"],
            body,
            headers,
            self.config.timeout_s,
            max_body_bytes=MAX_ANSWER_BYTES,
            content_type=CONTENT_TYPE,
        )
        await asyncio.to_thread(self._settle, row, outcome)

    def _settle(self, row: Any, outcome: HttpOutcome) -> None:
        at = self.clock.now()
        error = None if outcome.ok else f"{outcome.failure}: {outcome.detail}".strip()
        with self.db.begin() as conn:
            store.record_attempt(
                conn,
                row["tenant_id"],
                row["id"],
                at,
                outcome.status,
                error,
                round(outcome.elapsed_s * 1000, 3),
            )
            changes = self._consequence(row["attempts"] + 1, outcome, error, at)
            if not store.settle(conn, row["tenant_id"], row["id"], self.name, changes):
                log.info("webhook %s was taken over before its attempt was settled", row["id"])

    def _consequence(
        self, attempts: int, outcome: HttpOutcome, error: str | None, at: datetime
    ) -> dict[str, Any]:
        if outcome.ok:
            return {
                "status": WebhookStatus.DELIVERED.value,
                "attempts": attempts,
                "delivered_at": at,
            }
        next_at = self.policy.next_attempt_at(attempts, at) if outcome.retriable else None
        if next_at is not None:
            return {"attempts": attempts, "next_attempt_at": next_at, "last_error": error}
        if outcome.retriable:
            error = f"gave up after {attempts} attempts; last: {error}"
        return {"status": WebhookStatus.FAILED.value, "attempts": attempts, "last_error": error}


def build_worker(
    container: Container, config: DeliveryConfig | None = None
) -> tuple[WebhookWorker, httpx.AsyncClient]:
    """A worker wired from the container's settings; the caller closes the client."""
    config = config or DeliveryConfig()
    client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=config.timeout_s)
    guarded = GuardedHttpClient(
        client,
        OutboundAllowlist.parse(container.settings.outbound_allow),
        system_resolver,
        # Attempt durations are real network time, even when the worker runs on virtual time.
        WallClock(),
    )
    worker = WebhookWorker(container.db, container.clock, guarded, container.secret, config=config)
    return worker, client


@asynccontextmanager
async def delivery_worker(container: Container) -> AsyncIterator[WebhookWorker]:
    """Run the worker in the background for the life of the block (a startup hook)."""
    worker, client = build_worker(container)
    container.parts["webhooks"] = worker
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="webhook-delivery")
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=worker.config.timeout_s + 5)
        except TimeoutError:
            log.warning("webhook worker did not stop in time; its leases will be taken over")
        await client.aclose()
