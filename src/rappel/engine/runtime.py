"""The Engine: one asyncio loop that sleeps until work is due, claims it, and runs it.

* **Sleeping.** Between rounds the engine sleeps until the earliest `due_at`
  of its work sources (one index probe each), capped by `idle_poll_s`, and
  wakes early on an in-process waker (`store.signals`), a PostgreSQL NOTIFY,
  or an agent's change. That is how a due callback is dialled within
  milliseconds without a 1 s poll.
* **Claiming.** Each round asks every source for up to as many items as there
  are free slots (`concurrency`), and runs each item as a named task.
* **Heartbeats.** Every third of the shortest lease of its sources (each
  says its `lease_s`) the engine renews the leases of the items its tasks
  hold; an item whose lease was taken over has its task cancelled (the new
  holder owns it now).
* **Stopping.** `stop()` (SIGTERM in `rappel worker`) stops claiming, lets
  running tasks finish for `grace_s`, cancels the rest and hands their items
  back (due now) so another worker takes them over at once.

It runs on any Clock: on the VirtualClock every wait is a virtual sleep, so a
simulated day passes in seconds with this same code. Database calls are
synchronous and short; `rappel serve` runs the engine on its own thread and
event loop so they never stall the API.

Work sources: the callback source (`InteractionSource`) is built in; the
campaign dialer adds its own `WorkSource` (customers due by `next_call_at`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update

from rappel.clock import Clock
from rappel.config import Settings
from rappel.domain.callback import TERMINAL
from rappel.domain.codes import CallbackStatus
from rappel.engine import flows, scheduler
from rappel.engine.dialing import Calls
from rappel.engine.leases import Leases, PostgresListener
from rappel.services import agents as agent_service
from rappel.store import signals
from rappel.store.db import Database
from rappel.store.tables import interactions
from rappel.telephony.port import Telephony

log = logging.getLogger(__name__)


class WorkSource(Protocol):
    """A kind of due work the engine claims and runs (callbacks; campaign records)."""

    name: str
    #: Seconds this source's leases last; the engine renews them every third of it.
    lease_s: float

    def next_due(self) -> datetime | None:
        """The earliest due time of this source's work (an index probe), or None."""
        ...

    def claim(self, limit: int) -> list[dict[str, Any]]:
        """Lease up to `limit` due items to this worker."""
        ...

    def key(self, item: dict[str, Any]) -> tuple[str, str]:
        """The item's (tenant_id, id), for heartbeats."""
        ...

    async def run(self, item: dict[str, Any]) -> None:
        """Do the item's next step; must release or settle it before returning."""
        ...

    def renew(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Extend the leases on `keys`; returns those no longer held."""
        ...

    def hand_back(self, keys: Iterable[tuple[str, str]]) -> None:
        """Release leases at shutdown so another worker takes the items now."""
        ...


class InteractionSource:
    """Callbacks: interactions due by `due_at`, run through `flows.handle`."""

    name = "callbacks"

    def __init__(self, ctx: flows.FlowContext, leases: Leases) -> None:
        self.ctx, self.leases = ctx, leases
        self.lease_s = leases.lease.total_seconds()

    def next_due(self) -> datetime | None:
        with self.ctx.db.read() as conn:
            return scheduler.next_due_at(conn)

    def claim(self, limit: int) -> list[dict[str, Any]]:
        return self.leases.claim(limit)

    def key(self, item: dict[str, Any]) -> tuple[str, str]:
        return (item["tenant_id"], item["id"])

    async def run(self, item: dict[str, Any]) -> None:
        await flows.handle(self.ctx, item)
        if CallbackStatus(item["callback_status"]) in TERMINAL and self.ctx.container is not None:
            from rappel.services.session_params import store_for

            store_for(self.ctx.container).drop(item["tenant_id"], item["id"])

    def renew(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        return self.leases.renew(keys)

    def hand_back(self, keys: Iterable[tuple[str, str]]) -> None:
        wanted = list(keys)
        if not wanted:
            return
        from sqlalchemy import tuple_

        t = interactions
        with self.ctx.db.begin() as conn:
            conn.execute(
                update(t)
                .where(
                    tuple_(t.c.tenant_id, t.c.id).in_(wanted), t.c.lease_owner == self.leases.owner
                )
                .values(due_at=self.ctx.clock.now(), lease_owner=None, lease_until=None)
            )


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object()) % 10_000}"


class Engine:
    """Runs work sources on one event loop until stopped."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        telephony: Telephony,
        *,
        container: Any = None,
        owner: str | None = None,
        concurrency: int = 200,
        idle_poll_s: float = 1.0,
        grace_s: float = 5.0,
    ) -> None:
        self.db, self.clock, self.settings = db, clock, settings
        self.owner = owner or worker_name()
        self.calls = Calls(telephony)
        self.concurrency, self.idle_poll_s, self.grace_s = concurrency, idle_poll_s, grace_s
        self.ctx = flows.FlowContext(db, clock, settings, self.owner, self.calls, container)
        self.leases = Leases(db, clock, self.owner, settings.lease_s)
        self.sources: list[WorkSource] = [InteractionSource(self.ctx, self.leases)]
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._running: dict[tuple[str, tuple[str, str]], asyncio.Task[None]] = {}
        self._helpers: list[asyncio.Task[None]] = []
        self.rounds = 0
        self.last_heartbeat: datetime | None = None

    def add_source(self, source: WorkSource) -> None:
        self.sources.append(source)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        """Run until `stop()`; returns after the shutdown grace period."""
        loop = asyncio.get_running_loop()
        waker = signals.threadsafe_waker(loop, self._wake)
        signals.add_local_waker(waker)
        listener = None
        agent_listener = lambda _t, _a: waker()  # noqa: E731
        agent_service.add_listener(agent_listener)
        if self.db.is_postgres:
            listener = PostgresListener(self.db.url, waker)
            listener.start()
        else:
            taken = self.leases.take_over_all()
            if taken:
                log.warning("took over %d interaction(s) leased by a previous process", taken)
        self._helpers = [
            asyncio.create_task(self.calls.pump(), name="rappel-telephony-events"),
            asyncio.create_task(self._heartbeat(), name="rappel-heartbeat"),
        ]
        log.info("engine %s started", self.owner)
        try:
            await self._loop()
        finally:
            await self._shutdown()
            signals.remove_local_waker(waker)
            agent_service.remove_listener(agent_listener)
            if listener is not None:
                listener.stop()
            log.info("engine %s stopped", self.owner)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.rounds += 1
            claimed = self._claim_round()
            if claimed and len(self._running) < self.concurrency:
                await asyncio.sleep(0)
                continue
            await self._sleep(self._next_wait())

    def _claim_round(self) -> int:
        claimed = 0
        for source in self.sources:
            free = self.concurrency - len(self._running)
            if free <= 0:
                break
            try:
                items = source.claim(free)
            except Exception:
                log.exception("claiming from %s failed; trying again shortly", source.name)
                continue
            for item in items:
                self._start(source, item)
            claimed += len(items)
        return claimed

    def _start(self, source: WorkSource, item: dict[str, Any]) -> None:
        key = (source.name, source.key(item))
        task = asyncio.create_task(self._run_item(source, item), name=f"{source.name}:{key[1][1]}")
        self._running[key] = task
        task.add_done_callback(lambda _t: self._done(key))

    def _done(self, key: tuple[str, tuple[str, str]]) -> None:
        self._running.pop(key, None)
        self._wake.set()

    async def _run_item(self, source: WorkSource, item: dict[str, Any]) -> None:
        try:
            await source.run(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease runs out and the item is taken over; nothing is lost.
            log.exception("%s item %s failed; it will be retried", source.name, source.key(item))

    def _next_wait(self) -> float:
        cap = self.idle_poll_s
        if len(self._running) >= self.concurrency:
            return cap
        now = self.clock.now()
        for source in self.sources:
            try:
                due = source.next_due()
            except Exception:
                log.exception("reading the next due time of %s failed", source.name)
                continue
            if due is not None:
                cap = min(cap, max(0.0, (due - now).total_seconds()))
        return cap

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._wake.is_set():
            return
        nap = asyncio.ensure_future(self.clock.sleep(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({nap, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            nap.cancel()
            woken.cancel()

    async def _heartbeat(self) -> None:
        while not self._stop.is_set():
            # Every source's leases outlive two missed beats, however long they are.
            shortest = min([self.settings.lease_s, *(s.lease_s for s in self.sources)])
            await self.clock.sleep(max(0.05, shortest / 3))
            self.last_heartbeat = self.clock.now()
            for source in self.sources:
                keys = [k for (name, k) in self._running if name == source.name]
                try:
                    lost = source.renew(keys)
                except Exception:
                    log.exception("renewing leases of %s failed", source.name)
                    continue
                for key in lost:
                    task = self._running.get((source.name, key))
                    if task is not None:
                        log.warning("lease on %s was taken over; stopping its task", key)
                        task.cancel()

    async def _shutdown(self) -> None:
        if self._running:
            tasks = list(self._running.values())
            _, pending = await asyncio.wait(tasks, timeout=self.grace_s)
            held = {name: [k for (n, k) in self._running if n == name] for name, _ in self._running}
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
            for source in self.sources:
                with contextlib.suppress(Exception):
                    source.hand_back(held.get(source.name, []))
        for helper in self._helpers:
            helper.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
