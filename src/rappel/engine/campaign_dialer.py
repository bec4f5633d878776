"""The campaign dialer: the engine's second work source, dialling OBI campaign customers.

About once a second (and whenever an agent changes state) `tick` looks at
every Active campaign inside its start and end dates, asks `engine.pacing`
how many customers to dial for its mode, claims that many due customers
(`store.campaign_dialing`) and starts one task per call:

* PREVIEW: a free agent gets the record on the desk (agent PREVIEW) for up to
  `previewTime` seconds; the agent dials or skips. When the time runs out the
  dialer dials for the agent (`PreviewTimeout.DIAL`, the default) or skips.
  A previewTime of 0 waits for the agent however long it takes.
* PROGRESSIVE: one call per free agent; the agent is reserved (DIALING) when
  the call is placed, so there are never more calls than free agents.
* PREDICTIVE: calls are placed without reserving agents, as many as
  `pacing.decide` sizes from the live answer rate and the talk, wrap and ring
  time distributions under the target the `AbandonController` hands it; the
  controller also tunes `increasePredictiveRatio`, written back to the
  campaign. An answered customer no agent takes within `connect_limit_s` is
  hung up and recorded ABANDONED.

Mixing: by default callbacks go first: the dialer leaves as many free agents
of a campaign's queue as there are callbacks waiting in that queue
(`DialerOptions.callbacks_first`).

Agents work on a nailed-up line: the customer is connected to the agent's
line when answered, no agent leg is dialled per customer (which would add a
ring time to every connection and ruin the connect limit). With the simulated
carrier the line is assumed; on a SIP node it is a real call to the agent's
phone (`engine.agent_connections`), made when the agent is READY on the
campaign's queue, joined to each answered customer and parted at hang-up;
only agents whose call is up here are given customers. Every dial is recorded before
it is placed (`engine.dialing.begin_attempt`); every write on a claimed
customer is guarded by the dialer's lease, renewed while the call lasts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from rappel.clock import Clock
from rappel.domain.agent import Agent, AgentState
from rappel.domain.codes import CallResult
from rappel.domain.errors import Conflict
from rappel.engine import dialing, recovery
from rappel.engine.agent_connections import AgentConnections
from rappel.engine.dialing import Attempt, Calls, Leg
from rappel.engine.pacing import (
    AbandonController,
    BusyAgent,
    DialingMode,
    LiveEstimates,
    PacingInput,
    decide,
)
from rappel.services import agents as agent_service
from rappel.services import campaign_dialing as svc
from rappel.store import agents as agent_store
from rappel.store import campaign_dialing as store
from rappel.store.agents import AgentLine
from rappel.store.db import Database
from rappel.telephony.port import CallEvent, CallEventKind

log = logging.getLogger(__name__)
A = AgentState
S = store.S
Key = tuple[str, str]


class PreviewTimeout(StrEnum):
    """What happens when the agent neither dials nor skips within previewTime."""

    DIAL = "dial"  #: the dialer dials the record for the agent
    SKIP = "skip"  #: the record is skipped (SKIP) and the agent gets the next one


@dataclass(frozen=True)
class DialerOptions:
    """How the campaign dialer behaves; the defaults are the documented ones."""

    #: Seconds between pacing decisions.
    tick_s: float = 1.0
    #: Seconds an answered customer may wait for an agent before the call is ABANDONED.
    connect_limit_s: float = 2.0
    #: Ring timeout of every customer leg.
    ring_timeout_s: float = 30.0
    #: Seconds a claimed customer stays leased; renewed while its call lasts.
    lease_s: float = 120.0
    #: How often a call looks at its agent (the agent API may run in another process).
    watch_s: float = 1.0
    #: Leave free agents to waiting callbacks first.
    callbacks_first: bool = True
    preview_timeout: PreviewTimeout = PreviewTimeout.DIAL
    detect_machine: bool = True


@dataclass
class _Pace:
    """One campaign's live pacing state."""

    queue: Key
    estimates: LiveEstimates
    controller: AbandonController
    #: call id -> monotonic second it was placed, for unanswered predictive calls.
    ringing: dict[str, float] = field(default_factory=dict)
    #: answered predictive calls waiting for an agent.
    waiting: int = 0
    written_ratio: float | None = None


@dataclass
class _Job:
    """One claimed customer being worked."""

    campaign: dict[str, Any]
    pace: _Pace
    mode: DialingMode
    customer: dict[str, Any]
    interaction: dict[str, Any]
    number: str
    index: int
    agent_id: str | None = None
    attempt: Attempt | None = None
    #: Taken over from a dialer that is gone: settle, never dial (`_recover`).
    recover: bool = False

    @property
    def key(self) -> Key:
        return (self.customer["tenant_id"], self.customer["id"])

    @property
    def tenant_id(self) -> str:
        return str(self.customer["tenant_id"])


class CampaignDialer:
    """Paces and places campaign calls; see the module doc."""

    #: Names this work source in the engine's task names and logs.
    name = "campaigns"

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calls: Calls,
        owner: str,
        options: DialerOptions | None = None,
        connections: AgentConnections | None = None,
    ) -> None:
        self.db, self.clock, self.calls, self.owner = db, clock, calls, owner
        self.options = options or DialerOptions()
        #: Real calls to agents' phones (SIP); None when agents' lines are assumed (sim).
        self.connections = connections
        self.lease = timedelta(seconds=self.options.lease_s)
        self.lease_s = self.options.lease_s
        self._paces: dict[Key, _Pace] = {}
        self._running: set[Key] = set()
        self._next_round = clock.monotonic()
        self._sweeper: asyncio.Task[None] | None = None

    # -- the engine's work source (`runtime.WorkSource`) ---------------------------------

    def next_due(self) -> datetime | None:
        """When the next pacing round is due; None while no campaign runs."""
        if not self._running:
            return None
        wait = max(0.0, self._next_round - self.clock.monotonic())
        return self.clock.now() + timedelta(seconds=wait)

    def claim(self, limit: int) -> list[dict[str, Any]]:
        """One pacing round over every running campaign, at most once per tick."""
        mono = self.clock.monotonic()
        if limit <= 0 or mono < self._next_round:
            return []
        self._next_round = mono + self.options.tick_s
        now = self.clock.now()
        with self.db.read() as conn:
            running = store.running_campaigns(conn, now)
        self._running = {(c["tenant_id"], c["id"]) for c in running}
        for key in list(self._paces):
            if key not in self._running:
                del self._paces[key]  # calls still in progress keep their own reference
        if self.connections is not None and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.create_task(self.sweep_connections(), name="agent-lines")
        jobs: list[_Job] = []
        for campaign in running:
            jobs += self._pace_campaign(campaign, limit - len(jobs))
        return [{"tenant_id": j.key[0], "id": j.key[1], "job": j} for j in jobs]

    def key(self, item: dict[str, Any]) -> Key:
        return (item["tenant_id"], item["id"])

    async def run(self, item: dict[str, Any]) -> None:
        job = item["job"]
        assert isinstance(job, _Job)
        await self._work(job)

    def renew(self, keys: Iterable[Key]) -> set[Key]:
        if self.connections is not None:
            self.connections.renew()
        with self.db.begin() as conn:
            return store.renew_customers(conn, keys, self.owner, self.clock.now() + self.lease)

    def hand_back(self, keys: Iterable[Key]) -> None:
        """At shutdown: the customers are claimable at once; the next holder settles them."""
        with self.db.begin() as conn:
            store.hand_back_customers(conn, keys, self.owner)

    def pace_of(self, tenant_id: str, campaign_id: str) -> _Pace | None:
        return self._paces.get((tenant_id, campaign_id))

    # -- pacing ------------------------------------------------------------------------

    def _pace(self, campaign: dict[str, Any]) -> _Pace:
        key = (campaign["tenant_id"], campaign["id"])
        pace = self._paces.get(key)
        if pace is None:
            controller = AbandonController(
                float(campaign["abandon_rate"]),
                float(campaign["increase_predictive_ratio"]),
                start_s=self.clock.monotonic(),
            )
            pace = self._paces[key] = _Pace(
                (campaign["tenant_id"], campaign["queue_id"]), LiveEstimates(), controller
            )
        pace.controller.target_pct = float(campaign["abandon_rate"])
        stored = float(campaign["increase_predictive_ratio"])
        if pace.written_ratio is None or abs(stored - pace.written_ratio) > 1e-3:
            # A client (OBI PUT) changed it, or we just started: that value is the new start.
            pace.controller.increase_predictive_ratio_pct = stored
            pace.written_ratio = stored
        return pace

    def _pace_campaign(self, campaign: dict[str, Any], limit: int) -> list[_Job]:
        pace = self._pace(campaign)
        mode = DialingMode(campaign["dialing_mode"])
        tenant_id, now, mono = campaign["tenant_id"], self.clock.now(), self.clock.monotonic()
        with self.db.read() as conn:
            agent_ids = agent_store.agents_of_queue(conn, tenant_id, campaign["queue_id"])
            lines = agent_store.current_lines(conn, tenant_id, agent_ids)
            waiting = 0
            if self.options.callbacks_first:
                waiting = store.waiting_callbacks(conn, tenant_id, campaign["queue_id"], now)
        ready = self._connected(tenant_id, _longest_idle(lines))
        free = max(0, len(ready) - waiting)
        if mode is not DialingMode.PREDICTIVE:
            wanted = min(free, limit)
            return self._launch(campaign, pace, mode, wanted, ready[:free], lines) if wanted else []
        sharing = [p for p in self._paces.values() if p.queue == pace.queue]
        busy = [
            BusyAgent(line.change.state is A.TALKING, (now - line.change.at).total_seconds())
            for line in lines.values()
            if line.change.state in (A.TALKING, A.WRAPUP)
        ]
        state = PacingInput(
            mode=mode,
            free_agents=free,
            busy_agents=busy,
            ringing_s=[mono - t for p in sharing for t in p.ringing.values()],
            waiting_answered=sum(p.waiting for p in sharing),
            abandon_target_pct=pace.controller.model_target_pct(mono),
            abandon_room=pace.controller.room(mono),
            increase_predictive_ratio_pct=pace.controller.tune(mono),
            connect_limit_s=self.options.connect_limit_s,
        )
        decision = decide(state, pace.estimates)
        pace.controller.record_decision(decision)
        self._write_ratio(campaign, pace)
        wanted = min(decision.launch, limit)
        return self._launch(campaign, pace, mode, wanted, [], lines) if wanted > 0 else []

    def _connected(self, tenant_id: str, ready: list[str]) -> list[str]:
        """The READY agents whose line is up; the others are called now (SIP nodes)."""
        if self.connections is None:
            return ready
        live = self.connections.live(tenant_id, ready)
        for agent_id in ready:
            if agent_id not in live:
                self.connections.want(tenant_id, agent_id)
        return [a for a in ready if a in live]

    async def sweep_connections(self) -> None:
        """Hang up the lines of agents who paused or logged out."""
        if self.connections is None:
            return
        keys = self.connections.keys()
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, agent_id in keys:
            by_tenant.setdefault(tenant_id, []).append(agent_id)
        states: dict[Key, AgentState | None] = {}
        with self.db.read() as conn:
            for tenant_id, agent_ids in by_tenant.items():
                lines = agent_store.current_lines(conn, tenant_id, agent_ids)
                for agent_id in agent_ids:
                    line = lines.get(agent_id)
                    states[(tenant_id, agent_id)] = line.change.state if line else None
        await self.connections.sweep(states)

    def _write_ratio(self, campaign: dict[str, Any], pace: _Pace) -> None:
        ratio = pace.controller.increase_predictive_ratio_pct
        if pace.written_ratio is not None and abs(ratio - pace.written_ratio) <= 1e-3:
            return
        with self.db.begin() as conn:
            store.write_ratio(conn, campaign["tenant_id"], campaign["id"], ratio)
        pace.written_ratio = round(ratio, 3)

    def _launch(
        self,
        campaign: dict[str, Any],
        pace: _Pace,
        mode: DialingMode,
        wanted: int,
        agents: list[str],
        lines: dict[str, AgentLine],
    ) -> list[_Job]:
        jobs: list[_Job] = []
        for _ in range(3):  # deferred or filtered customers leave room for more
            need = wanted - len(jobs)
            if need <= 0:
                break
            now = self.clock.now()
            with self.db.begin() as conn:
                claimed = store.claim_customers(
                    conn, campaign, now, need, self.owner, now + self.lease,
                    postgres=self.db.is_postgres,
                )  # fmt: skip
                for customer in claimed:
                    job = self._prepare(conn, campaign, pace, mode, customer, agents, lines)
                    if job is not None:
                        jobs.append(job)
            if len(claimed) < need:
                break
        for agent_id in {j.agent_id for j in jobs if j.agent_id}:
            agent_service.notify(campaign["tenant_id"], agent_id)
        return jobs

    def _prepare(
        self,
        conn: Connection,
        campaign: dict[str, Any],
        pace: _Pace,
        mode: DialingMode,
        customer: dict[str, Any],
        agents: list[str],
        lines: dict[str, AgentLine],
    ) -> _Job | None:
        now = self.clock.now()
        left_over = _left_over(conn, customer)
        if left_over is not None:
            # Its open attempt is resolved from the driver's word, in `run` (it may wait).
            return _Job(campaign, pace, mode, customer, left_over, "", 0, recover=True)
        step = svc.plan(conn, campaign, customer, now)
        if isinstance(step, svc.Close):
            svc.close(conn, customer, self.owner, step.result, now)
            return None
        if isinstance(step, svc.Defer):
            svc.defer(conn, customer, self.owner, step.at, now)
            return None
        try:
            with conn.begin_nested():
                job = self._start(conn, campaign, pace, mode, customer, step, agents, lines)
        except Conflict:
            job = None
        if job is None:
            store.release_customer(conn, customer["tenant_id"], customer["id"], self.owner, now)
        return job

    def _start(
        self,
        conn: Connection,
        campaign: dict[str, Any],
        pace: _Pace,
        mode: DialingMode,
        customer: dict[str, Any],
        step: svc.Dial,
        agents: list[str],
        lines: dict[str, AgentLine],
    ) -> _Job | None:
        now = self.clock.now()
        row = store.take_interaction(conn, customer, campaign, step.number, self.owner, now)
        job = _Job(campaign, pace, mode, customer, row, step.number, step.index)
        if mode is DialingMode.PREDICTIVE:
            store.set_interaction(conn, row, self.owner, S.DISTRIBUTED, now)
        else:
            if not agents:
                return None
            personal = customer["agent_id"]
            agent_id = personal if personal in agents else agents[0]
            agents.remove(agent_id)
            target = A.PREVIEW if mode is DialingMode.PREVIEW else A.DIALING
            _take_agent(conn, row, agent_id, lines[agent_id], target, now)
            store.set_interaction(conn, row, self.owner, S.SUBMITTED_TO_AGT, now, agent_id=agent_id)
            job.agent_id = agent_id
        if mode is not DialingMode.PREVIEW:
            job.attempt = self._begin(conn, job)
        if mode is DialingMode.PREDICTIVE and job.attempt is not None:
            # In flight from now on, so the next round does not size for it again.
            pace.ringing[job.attempt.call_id] = self.clock.monotonic()
        return job

    def _begin(self, conn: Connection, job: _Job) -> Attempt:
        attempt = dialing.begin_attempt(
            conn, job.interaction, self.owner, job.number, job.index, job.agent_id, self.clock.now()
        )
        if attempt is None:
            raise Conflict(f"customer {job.key[1]} moved before dialing")
        return attempt

    # -- one customer ------------------------------------------------------------------

    async def _work(self, job: _Job) -> None:
        if job.recover:
            await self._recover(job)
            return
        try:
            if job.mode is DialingMode.PREVIEW and not await self._preview(job):
                return
            await self._dial(job)
        finally:
            job.pace.ringing.pop(job.attempt.call_id if job.attempt else "", None)

    async def _recover(self, job: _Job) -> None:
        """Close the gone dialer's open attempt from the driver's word, then settle (never dial).

        See `engine.recovery`: a call still up is looked at again later; an
        attempt that may have been answered waits for the abandoned-call delay.
        """
        row = job.interaction
        with self.db.read() as conn:
            open_rows = recovery.open_attempts(conn, job.tenant_id, row["id"])
        states = await recovery.ask(self.calls.telephony, open_rows)
        now = self.clock.now()
        with self.db.begin() as conn:
            if recovery.still_up(states):
                later = now + timedelta(seconds=recovery.RECHECK_S)
                svc.defer(conn, job.customer, self.owner, later, now)
                return
            recovery.close(conn, job.tenant_id, row["id"], states, now)
            _free_agent(conn, row, now)
            svc.settle(conn, job.campaign, job.customer, row, self.owner, now)
        if row["agent_id"] is not None:
            agent_service.notify(job.tenant_id, row["agent_id"])

    def _line(self, job: _Job) -> AgentLine | None:
        """The agent's line while on this customer; None once the agent is elsewhere."""
        if job.agent_id is None:
            return None
        with self.db.read() as conn:
            line = agent_store.last_line(conn, job.tenant_id, job.agent_id)
        if line is None or line.change.interaction_id != job.interaction["id"]:
            return None
        return line

    def _move(self, conn: Connection, job: _Job, target: AgentState, *sources: AgentState) -> bool:
        if job.agent_id is None:
            return False
        moved = agent_service.move_agent(
            conn, job.tenant_id, job.agent_id, target, self.clock.now(),
            interaction_id=job.interaction["id"], from_states=sources,
        )  # fmt: skip
        return moved is not None

    def _settle(self, conn: Connection, job: _Job) -> None:
        svc.settle(conn, job.campaign, job.customer, job.interaction, self.owner, self.clock.now())

    async def _preview(self, job: _Job) -> bool:
        """The record on the agent's desk; True when it is to be dialled."""
        seconds = job.customer["preview_time"]
        seconds = job.campaign["preview_time"] if seconds is None else seconds
        deadline = self.clock.monotonic() + seconds if seconds > 0 else None
        attempts_before = int(job.interaction["attempts"])
        while True:
            await self.clock.sleep(self.options.watch_s)
            line = self._line(job)
            state = line.change.state if line is not None else None
            if state is A.DIALING:
                break
            if state is A.PREVIEW:
                if deadline is None or self.clock.monotonic() < deadline:
                    continue
                if self.options.preview_timeout is PreviewTimeout.DIAL:
                    with self.db.begin() as conn:
                        if self._move(conn, job, A.DIALING, A.PREVIEW):
                            break
                    continue
                with self.db.begin() as conn:
                    if self._move(conn, job, A.READY, A.PREVIEW):
                        self._undialled(conn, job, svc.R.SKIP)
                        self._settle(conn, job)
                        return False
                continue
            with self.db.begin() as conn:
                fresh = store.load_interaction(conn, job.tenant_id, job.interaction["id"])
                if fresh is not None and int(fresh["attempts"]) == attempts_before:
                    self._undialled(conn, job, svc.R.OPER_LOGOUT)
                self._settle(conn, job)
            return False
        with self.db.begin() as conn:
            job.attempt = self._begin(conn, job)
        return True

    def _undialled(self, conn: Connection, job: _Job, result: svc.R) -> None:
        store.insert_undialled_attempt(
            conn, job.interaction, job.number, job.index, job.agent_id, result, self.clock.now()
        )

    async def _dial(self, job: _Job) -> None:
        attempt, pace = job.attempt, job.pace
        assert attempt is not None
        caller_id = job.campaign["custom_ivr_number"] or ""
        placed = pace.ringing.get(attempt.call_id, self.clock.monotonic())
        leg = await self.calls.originate(
            attempt.call_id, job.number, caller_id,
            self.options.ring_timeout_s, self.options.detect_machine,
        )  # fmt: skip
        try:
            try:
                first = await leg.answer_or_end()
            finally:
                pace.ringing.pop(attempt.call_id, None)
            answered = first.kind is CallEventKind.ANSWERED
            pace.estimates.record_dial(self.clock.monotonic() - placed, answered)
            if not answered:
                self._unanswered(job, attempt, first)
                return
            pace.controller.record_answered(self.clock.monotonic())
            with self.db.begin() as conn:
                dialing.mark_answered(conn, attempt, first.at)
            if not await self._connect(job, leg):
                await self._abandoned(job, attempt, leg, first)
                return
            await self._join(job, leg)
            await self._talk_and_wrap(job, attempt, leg, first)
        finally:
            await leg.hangup()
            leg.close()

    async def _join(self, job: _Job, leg: Leg) -> None:
        """Put the customer on the agent's line (a real call on SIP nodes)."""
        if self.connections is None or job.agent_id is None:
            return
        line = self.connections.call_id_of(job.tenant_id, job.agent_id)
        if line is None:
            log.warning("agent %s has no line up; the customer is hung up", job.agent_id)
            await leg.hangup()
            return
        try:
            await self.calls.telephony.bridge(line, leg.call_id)
        except Exception:
            log.exception("joining %s to agent %s failed", leg.call_id, job.agent_id)
            await leg.hangup()

    def _unanswered(self, job: _Job, attempt: Attempt, event: CallEvent) -> None:
        with self.db.begin() as conn:
            dialing.finish_unanswered(conn, attempt, event)
            self._move(conn, job, A.READY, A.DIALING)
            self._settle(conn, job)
        if job.agent_id is not None:
            agent_service.notify(job.tenant_id, job.agent_id)

    async def _abandoned(self, job: _Job, attempt: Attempt, leg: Leg, first: CallEvent) -> None:
        job.pace.controller.record_abandoned(self.clock.monotonic())
        await leg.hangup()
        with self.db.begin() as conn:
            dialing.finish_attempt(conn, attempt, CallResult.ABANDONED, self.clock.now(), first.at)
            self._move(conn, job, A.READY, A.DIALING)
            self._settle(conn, job)

    async def _connect(self, job: _Job, leg: Leg) -> bool:
        """Put an agent on the answered customer: the reserved one, or (predictive) a free one."""
        if job.mode is not DialingMode.PREDICTIVE:
            with self.db.begin() as conn:
                return self._move(conn, job, A.TALKING, A.DIALING)
        deadline = self.clock.monotonic() + self.options.connect_limit_s
        job.pace.waiting += 1
        try:
            while leg.ended is None:
                with self.db.begin() as conn:
                    agent_id = self._grab_agent(conn, job)
                if agent_id is not None:
                    agent_service.notify(job.tenant_id, agent_id)
                    return True
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    return False
                await _leg_event(self.clock, leg, min(0.25, left))
            return False
        finally:
            job.pace.waiting -= 1

    def _grab_agent(self, conn: Connection, job: _Job) -> str | None:
        now, row = self.clock.now(), job.interaction
        queue = job.campaign["queue_id"]
        agent_ids = agent_store.agents_of_queue(conn, job.tenant_id, queue)
        lines = agent_store.current_lines(conn, job.tenant_id, agent_ids)
        ordered = self._connected(job.tenant_id, _longest_idle(lines))
        personal = job.customer["agent_id"]
        if personal in ordered:
            ordered.remove(personal)
            ordered.insert(0, personal)
        for agent_id in ordered:
            try:
                with conn.begin_nested():
                    _take_agent(conn, row, agent_id, lines[agent_id], A.TALKING, now)
            except Conflict:
                continue
            store.set_interaction(conn, row, self.owner, S.SUBMITTED_TO_AGT, now, agent_id=agent_id)
            assert job.attempt is not None
            store.set_attempt(
                conn, job.tenant_id, row["id"], job.attempt.attempt_no, agent_id=agent_id
            )
            job.agent_id = agent_id
            return agent_id
        return None

    async def _talk_and_wrap(
        self, job: _Job, attempt: Attempt, leg: Leg, answered: CallEvent
    ) -> None:
        started = self.clock.monotonic()
        while leg.ended is None:
            await _leg_event(self.clock, leg, self.options.watch_s)
            line = self._line(job)
            if line is None or line.change.state is not A.TALKING:
                break
        await leg.hangup()
        if self.connections is not None and job.agent_id is not None:
            await self.connections.park(job.tenant_id, job.agent_id)
        job.pace.estimates.record_talk(self.clock.monotonic() - started)
        with self.db.begin() as conn:
            dialing.finish_attempt(conn, attempt, CallResult.OK, self.clock.now(), answered.at)
            self._move(conn, job, A.WRAPUP, A.TALKING)
        if job.agent_id is not None:
            agent_service.notify(job.tenant_id, job.agent_id)
        wrap_started = self.clock.monotonic()
        if await self._await_disposition(job, attempt):
            job.pace.estimates.record_wrap(self.clock.monotonic() - wrap_started)
        with self.db.begin() as conn:
            self._settle(conn, job)

    async def _await_disposition(self, job: _Job, attempt: Attempt) -> bool:
        """Wait for the agent's wrap-up; False when the agent logged out instead."""
        while True:
            with self.db.read() as conn:
                fresh = store.load_interaction(conn, job.tenant_id, job.interaction["id"])
            if fresh is not None and fresh["callback_status"] == int(S.PROCESSED_BY_AGT):
                return True
            line = self._line(job)
            if line is None or line.change.state is not A.WRAPUP:
                with self.db.begin() as conn:
                    store.set_attempt(
                        conn, job.tenant_id, attempt.interaction_id, attempt.attempt_no,
                        customer_result=svc.R.OPER_LOGOUT.value,
                    )  # fmt: skip
                return False
            await self.clock.sleep(self.options.watch_s)


# -- hosting without the callback engine ----------------------------------------------


async def host(
    dialer: CampaignDialer, stop: asyncio.Event, *, pump: bool = True, concurrency: int = 1000
) -> None:
    """Run the dialer on its own (tests, what-if runs): the `runtime.Engine` protocol.

    Claim rounds when pacing is due, one task per claimed customer, leases
    renewed every `lease_s / 3`; `pump` also runs the telephony event pump.
    When `stop` is set the calls in progress are cancelled and handed back.
    """
    clock = dialer.clock
    tasks: dict[Key, asyncio.Task[None]] = {}
    helpers = [asyncio.create_task(dialer.calls.pump(), name="campaign-events")] if pump else []
    renewed = clock.monotonic()
    try:
        while not stop.is_set():
            for item in dialer.claim(concurrency - len(tasks)):
                key = dialer.key(item)
                task = asyncio.create_task(dialer.run(item), name=f"campaigns:{key[1]}")
                tasks[key] = task
                task.add_done_callback(functools.partial(_finished, tasks, key))
            if clock.monotonic() - renewed >= dialer.options.lease_s / 3:
                renewed = clock.monotonic()
                dialer.renew(tasks)
            due = dialer.next_due()
            wait = dialer.options.tick_s if due is None else (due - clock.now()).total_seconds()
            await _sleep_or_stop(clock, max(wait, 0.001), stop)
    finally:
        held = list(tasks)
        for task in [*tasks.values(), *helpers]:
            task.cancel()
        await asyncio.gather(*tasks.values(), *helpers, return_exceptions=True)
        dialer.hand_back(held)


def _finished(tasks: dict[Key, asyncio.Task[None]], key: Key, task: asyncio.Task[None]) -> None:
    tasks.pop(key, None)
    if not task.cancelled() and task.exception() is not None:
        log.error("campaign call %s failed; its lease runs out", key[1], exc_info=task.exception())


async def _sleep_or_stop(clock: Clock, seconds: float, stop: asyncio.Event) -> None:
    nap = asyncio.ensure_future(clock.sleep(seconds))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({nap, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        nap.cancel()
        stopped.cancel()


# -- helpers -------------------------------------------------------------------------


def _longest_idle(lines: dict[str, AgentLine]) -> list[str]:
    """READY agents, idle longest first; ties to the smaller id."""
    ready = [(line.change.at, a) for a, line in lines.items() if line.change.state is A.READY]
    return [a for _, a in sorted(ready)]


def _take_agent(
    conn: Connection,
    row: dict[str, Any],
    agent_id: str,
    line: AgentLine,
    target: AgentState,
    now: Any,
) -> None:
    """READY -> `target` on the campaign interaction; Conflict when the agent moved meanwhile."""
    c = line.change
    if c.state is not A.READY:
        raise Conflict(f"agent {agent_id} is not READY")
    agent = Agent(agent_id, c.state, c.reason, c.at, c.interaction_id, c.campaign_id)
    agent.move(target, max(now, c.at), interaction_id=row["id"], campaign_id=row["campaign_id"])
    agent_store.append(conn, row["tenant_id"], line.seq, agent.changes)


def _left_over(conn: Connection, customer: dict[str, Any]) -> dict[str, Any] | None:
    """The interaction of a customer taken over from a dialer that is gone, if it needs settling."""
    row = store.load_interaction(conn, customer["tenant_id"], customer["id"])
    if row is None or row["callback_status"] in (int(S.TIMER), int(S.QUEUED), int(S.FINAL)):
        return None
    return row


def _free_agent(conn: Connection, row: dict[str, Any], now: Any) -> None:
    """The agent the gone dialer had on `row`, if any, leaves it (wrap-up, then READY)."""
    agent_id = row["agent_id"]
    steps = (((A.TALKING,), A.WRAPUP), ((A.WRAPUP, A.DIALING, A.PREVIEW), A.READY))
    for sources, target in steps if agent_id is not None else ():
        agent_service.move_agent(
            conn, row["tenant_id"], agent_id, target, now,
            interaction_id=row["id"], from_states=sources,
        )  # fmt: skip


async def _leg_event(clock: Clock, leg: Leg, seconds: float) -> CallEvent | None:
    """The leg's next event, or None after `seconds`."""
    get = asyncio.ensure_future(leg.next_event())
    nap = asyncio.ensure_future(clock.sleep(seconds))
    try:
        done, _ = await asyncio.wait({get, nap}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        nap.cancel()
        if not get.done():
            get.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await get
    return get.result() if get in done and not get.cancelled() else None
