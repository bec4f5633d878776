"""Call flows: what the engine does with a callback it has claimed.

`handle(ctx, row)` looks at the claimed row's state (and its agent's) and
does the next thing; live calls run inside it while the worker's lease is
renewed. The flows:

* Waiting (TIMER, QUEUED, REJECTED_BY_AGT): past the window's end (or the
  8x8 `expiration`) -> ENDTIME_EXPIRED (reported as abandoned). Outside the
  calling hours (the tenant's hard limits in the customer's local time; a
  callback is always customer-requested, so campaign hours do not apply) ->
  TIMER until they open, or until the window's end when they open later.
  Otherwise QUEUED, then:
* CUSTOMER_FIRST (8x8 type 1): dial the customer; on answer run the channel's
  IVR script, then hold the customer in the queue and offer the call to agents
  (longest idle first) until one accepts, call that agent and bridge. A
  customer nobody takes within `QUEUE_WAIT_MAX_S` is ABANDONED (retried).
* AGENT_FIRST (8x8 type 2), ASAP and SCHEDULED: wait in the queue for a free
  agent (parked: no lease, `due_at` at the expiry), offer, and on accept call
  the agent, then the customer, and bridge. Rappel never dials a customer
  for these flows without an agent on the line, so they never abandon.
* After a call the agent wraps up; the engine then settles the callback:
  FINAL (with its webhook in the same transaction), or a retry by the
  RetryPolicy (BUSY / NO_ANSWER / ... with numbers in priority order), or
  ENDTIME_EXPIRED when the retry would fall past the window.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from rappel.clock import Clock
from rappel.config import Settings
from rappel.domain.agent import AgentState
from rappel.domain.callback import TERMINAL
from rappel.domain.codes import CallbackFlow, CallbackStatus, CallResult
from rappel.domain.errors import Conflict, RappelError
from rappel.engine import dialing, recovery, routing, scheduler
from rappel.engine.dialing import AGENT_LINE, Attempt, Calls, Leg
from rappel.services import agents as agent_service
from rappel.store import agents as agent_store
from rappel.store.db import Database
from rappel.store.tables import crm_dip_configs
from rappel.store.tenancy import get_channel
from rappel.telephony.port import CallEvent, CallEventKind, TrunkBusy

log = logging.getLogger(__name__)
S = CallbackStatus
A = AgentState

#: Ring timeout of every leg, seconds.
RING_TIMEOUT_S = 30.0
#: How long an answered customer (customer first) waits for an agent before ABANDONED.
QUEUE_WAIT_MAX_S = 300.0
#: A callback parked for an agent with no end is looked at again after this (lost wake-ups).
PARK_RECHECK_S = 60.0
#: How often a live call looks at its agent's state (the agent API may be another process).
WATCH_S = 0.25
#: The longest an IVR prompt may play before the customer is queued for an agent anyway.
IVR_MAX_S = 120.0


@dataclass
class FlowContext:
    """What flows need: the database, the clock, the telephony, and who this worker is."""

    db: Database
    clock: Clock
    settings: Settings
    owner: str
    calls: Calls
    container: Any = None
    dipped: set[str] = field(default_factory=set)

    @property
    def offer_timeout(self) -> timedelta:
        return timedelta(seconds=self.settings.offer_timeout_s)


async def handle(ctx: FlowContext, row: dict[str, Any]) -> None:
    """Do the next thing for a claimed interaction; every path releases or settles it."""
    status = S(row["callback_status"])
    if status in TERMINAL or status is S.AGT_TRANSFER:
        with ctx.db.begin() as conn:
            scheduler.set_due(conn, row, None, ctx.clock.now(), owner=ctx.owner)
    elif status in (S.RECEIVED, S.TIMER, S.QUEUED, S.REJECTED_BY_AGT):
        await _waiting(ctx, row)
    elif status is S.SUBMITTED_TO_AGT:
        await _submitted(ctx, row)
    elif status is S.DISTRIBUTED:
        await _recover(ctx, row)
    elif status is S.PROCESSED_BY_AGT:
        with ctx.db.begin() as conn:
            scheduler.settle(conn, ctx.clock, row, (), owner=ctx.owner)


# -- waiting ------------------------------------------------------------------------


async def _waiting(ctx: FlowContext, row: dict[str, Any]) -> None:
    now = ctx.clock.now()
    end = row["end_time"]
    with ctx.db.begin() as conn:
        if end is not None and now >= end:
            scheduler.expire(conn, ctx.clock, row, owner=ctx.owner)
            return
        allowed = scheduler.next_dial_time(conn, row, now)
        if allowed > now:
            due = min(allowed, end) if end is not None else allowed
            if row["callback_status"] == S.TIMER:
                scheduler.set_due(conn, row, due, now, owner=ctx.owner)
            else:
                scheduler.move(conn, row, S.TIMER, now, owner=ctx.owner, due_at=due)
                scheduler.set_due(conn, row, due, now, owner=ctx.owner)
            return
        if row["callback_status"] != S.QUEUED:
            scheduler.move(conn, row, S.QUEUED, now, owner=ctx.owner, agent_id=row["agent_id"])
    if row["flow"] == CallbackFlow.CUSTOMER_FIRST:
        await _customer_first(ctx, row)
    else:
        await _offer_parked(ctx, row)


def _has_crm_dip(ctx: FlowContext, tenant_id: str) -> bool:
    with ctx.db.read() as conn:
        found = conn.execute(
            select(crm_dip_configs.c.scope).where(crm_dip_configs.c.tenant_id == tenant_id).limit(1)
        ).first()
    return found is not None


async def _dip_before_offer(ctx: FlowContext, row: dict[str, Any]) -> None:
    """The data dip "before offering to an agent", once per interaction and process."""
    if ctx.container is None or row["id"] in ctx.dipped:
        return
    if not _has_crm_dip(ctx, row["tenant_id"]):
        return
    from rappel.services.crm_dip import dip_for_interaction

    if len(ctx.dipped) > 100_000:
        ctx.dipped.clear()
    ctx.dipped.add(row["id"])
    await dip_for_interaction(ctx.container, row["tenant_id"], row["id"], "offer")


async def _offer_parked(ctx: FlowContext, row: dict[str, Any]) -> None:
    with ctx.db.read() as conn:
        has_agent = routing.has_ready_agent(conn, row)
    if has_agent:
        await _dip_before_offer(ctx, row)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        agent_id = routing.offer(conn, row, now, ctx.owner, now + ctx.offer_timeout)
        if agent_id is None:
            park = row["end_time"] or now + timedelta(seconds=PARK_RECHECK_S)
            scheduler.set_due(conn, row, park, now, owner=ctx.owner)
            return
        # Other agents may be free too: let the next waiting callback try them now.
        queues = [row["queue_id"]] if row["queue_id"] else []
        agent_store.wake_waiting(conn, row["tenant_id"], queues, agent_id, now)
    agent_service.notify(row["tenant_id"], agent_id)


# -- an offer on an agent's desk ----------------------------------------------------


async def _submitted(ctx: FlowContext, row: dict[str, Any]) -> None:
    now = ctx.clock.now()
    agent_id = row["agent_id"]
    with ctx.db.read() as conn:
        line = agent_service.current_line(conn, row["tenant_id"], agent_id)
        open_attempt = dialing.open_attempt(conn, row)
    change = line.change if line is not None else None
    on_it = change is not None and change.interaction_id == row["id"]
    if open_attempt is not None or (on_it and change and change.state is A.TALKING):
        await _recover(ctx, row)
        return
    if on_it and change is not None and change.state is A.PREVIEW:
        deadline = change.at + ctx.offer_timeout
        with ctx.db.begin() as conn:
            if now < deadline:
                scheduler.set_due(conn, row, deadline, now, owner=ctx.owner)
                return
            moved = agent_service.move_agent(
                conn, row["tenant_id"], agent_id, A.READY, now,
                interaction_id=row["id"], from_states=(A.PREVIEW,),
            )  # fmt: skip
            if moved is None:
                scheduler.set_due(conn, row, now, now, owner=ctx.owner)
                return
            scheduler.requeue_rejected(conn, row, now, owner=ctx.owner)
        agent_service.notify(row["tenant_id"], agent_id)
        return
    if on_it and change is not None and change.state is A.DIALING:
        await _agent_first_call(ctx, row, agent_id)
        return
    if on_it and change is not None and change.state is A.WRAPUP:
        with ctx.db.begin() as conn:
            scheduler.set_due(conn, row, None, now, owner=ctx.owner)
        return
    with ctx.db.begin() as conn:
        if dialing.talked_without_disposition(conn, row):
            scheduler.settle(conn, ctx.clock, row, (S.PROCESSED_BY_AGT,), owner=ctx.owner)
        else:
            scheduler.requeue_rejected(conn, row, now, owner=ctx.owner)


async def _recover(ctx: FlowContext, row: dict[str, Any]) -> None:
    """A taken-over row whose call was live under a worker that is gone (`engine.recovery`)."""
    with ctx.db.read() as conn:
        open_rows = recovery.open_attempts(conn, row["tenant_id"], row["id"])
    states = await recovery.ask(ctx.calls.telephony, open_rows)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        if recovery.still_up(states):
            # The call goes on in this process's driver: settle once it is over.
            later = now + timedelta(seconds=recovery.RECHECK_S)
            scheduler.set_due(conn, row, later, now, owner=ctx.owner)
            return
        closed = recovery.close(conn, row["tenant_id"], row["id"], states, now)
        agent_id = row["agent_id"]
        if agent_id is not None:
            for source, target in (
                (A.TALKING, A.WRAPUP),
                (A.WRAPUP, A.READY),
                (A.DIALING, A.READY),
            ):
                agent_service.move_agent(
                    conn, row["tenant_id"], agent_id, target, now,
                    interaction_id=row["id"], from_states=(source,),
                )  # fmt: skip
        prefix: tuple[CallbackStatus, ...] = ()
        if row["callback_status"] == S.SUBMITTED_TO_AGT:
            prefix = (S.PROCESSED_BY_AGT,)
        log.warning(
            "taking over interaction %s: %d attempt(s) closed from the driver's state (%s)",
            row["id"], closed, ", ".join(sorted({s.value for s in states.values()})) or "none",
        )  # fmt: skip
        scheduler.settle(conn, ctx.clock, row, prefix, owner=ctx.owner)


# -- live calls ---------------------------------------------------------------------


async def _leg_event(ctx: FlowContext, leg: Leg, seconds: float) -> CallEvent | None:
    """The leg's next event, or None after `seconds` (to look at the agent meanwhile)."""
    get = asyncio.ensure_future(leg.next_event())
    nap = asyncio.ensure_future(ctx.clock.sleep(seconds))
    try:
        done, _ = await asyncio.wait({get, nap}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        nap.cancel()
        if not get.done():
            get.cancel()
    return get.result() if get in done and not get.cancelled() else None


def _agent_state(ctx: FlowContext, row: dict[str, Any], agent_id: str) -> AgentState | None:
    """The agent's state while on this interaction; None once the agent is elsewhere."""
    with ctx.db.read() as conn:
        line = agent_service.current_line(conn, row["tenant_id"], agent_id)
    if line is None or line.change.interaction_id != row["id"]:
        return None
    return line.change.state


async def _originate(ctx: FlowContext, call_id: str, number: str, row: dict[str, Any]) -> Leg:
    caller_id = row["caller_id"] or row["channel_number"] or ""
    return await ctx.calls.originate(call_id, number, caller_id, RING_TIMEOUT_S, True)


async def _call_agent(ctx: FlowContext, call_id: str, agent_id: str, row: dict[str, Any]) -> Leg:
    """Ring the agent's own phone (the sim's agent line when the node simulates calls)."""
    destination = AGENT_LINE
    if ctx.settings.telephony != "sim":
        with ctx.db.read() as conn:
            destination = agent_service.agent_phone(conn, row["tenant_id"], agent_id) or ""
    caller_id = row["caller_id"] or row["channel_number"] or ""
    return await ctx.calls.originate(call_id, destination, caller_id, RING_TIMEOUT_S, False)


async def _prompt(ctx: FlowContext, leg: Leg, script: str) -> None:
    """Play the channel's IVR script and wait until it has played (or the customer left)."""
    await ctx.calls.telephony.play_ivr(leg.call_id, script)
    until = ctx.clock.monotonic() + IVR_MAX_S
    while leg.ended is None and ctx.clock.monotonic() < until:
        event = await _leg_event(ctx, leg, until - ctx.clock.monotonic())
        if event is not None and event.kind is CallEventKind.PROMPT_DONE:
            return


async def _customer_first(ctx: FlowContext, row: dict[str, Any]) -> None:
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        number, index = scheduler.number_to_dial(conn, row, now)
        if not scheduler.move(conn, row, S.DISTRIBUTED, now, owner=ctx.owner):
            return
        attempt = dialing.begin_attempt(conn, row, ctx.owner, number, index, None, now)
        if attempt is None:
            raise Conflict(f"lost interaction {row['id']} before dialing")
    try:
        leg = await _originate(ctx, attempt.call_id, number, row)
    except TrunkBusy:
        _trunk_full(ctx, row, attempt, ())
        return
    try:
        first = await leg.answer_or_end()
        if first.kind is not CallEventKind.ANSWERED:
            _after_unanswered(ctx, row, attempt, first, ())
            return
        answered_at = first.at
        with ctx.db.begin() as conn:
            dialing.mark_answered(conn, attempt, answered_at)
        script = _ivr_script(ctx.db, row)
        if script:
            await _prompt(ctx, leg, script)
            if leg.ended:
                _customer_gone(ctx, row, attempt, answered_at, CallResult.REMOTE_RELEASE)
                return
        await _hold_for_agent(ctx, row, attempt, leg, answered_at)
    finally:
        await leg.hangup()
        leg.close()


async def _hold_for_agent(
    ctx: FlowContext, row: dict[str, Any], attempt: Attempt, leg: Leg, answered_at: datetime
) -> None:
    waited_until = ctx.clock.now() + timedelta(seconds=QUEUE_WAIT_MAX_S)
    offered: str | None = None
    offered_at = ctx.clock.now()
    while True:
        if await _leg_event(ctx, leg, WATCH_S) is not None and leg.ended:
            if offered is not None:
                _release_agent(ctx, row, offered, (A.PREVIEW, A.DIALING))
            _customer_gone(ctx, row, attempt, answered_at, CallResult.ABANDONED)
            return
        now = ctx.clock.now()
        if offered is None:
            if now >= waited_until:
                _customer_gone(ctx, row, attempt, answered_at, CallResult.ABANDONED)
                return
            with ctx.db.read() as conn:
                has_agent = routing.has_ready_agent(conn, row)
            if not has_agent:
                continue
            await _dip_before_offer(ctx, row)
            with ctx.db.begin() as conn:
                offered = routing.offer(conn, row, now, ctx.owner, now + ctx.offer_timeout)
            offered_at = now
            if offered is not None:
                agent_service.notify(row["tenant_id"], offered)
            continue
        state = _agent_state(ctx, row, offered)
        if state is A.DIALING:
            await _connect_agent(ctx, row, attempt, leg, offered, answered_at)
            return
        if state is A.PREVIEW and now < offered_at + ctx.offer_timeout:
            continue
        with ctx.db.begin() as conn:
            if state is A.PREVIEW:
                agent_service.move_agent(
                    conn, row["tenant_id"], offered, A.READY, now,
                    interaction_id=row["id"], from_states=(A.PREVIEW,),
                )  # fmt: skip
            path = (S.REJECTED_BY_AGT, S.QUEUED, S.DISTRIBUTED)
            if not scheduler.moves(conn, row, path, now, owner=ctx.owner, agent_id=None):
                return
        agent_service.notify(row["tenant_id"], offered)
        offered = None


async def _connect_agent(
    ctx: FlowContext,
    row: dict[str, Any],
    attempt: Attempt,
    customer: Leg,
    agent_id: str,
    answered_at: datetime,
) -> None:
    agent_leg = await _call_agent(
        ctx, dialing.agent_call_id_of(row["id"], attempt.attempt_no), agent_id, row
    )
    try:
        event = await agent_leg.answer_or_end()
        if event.kind is not CallEventKind.ANSWERED:
            _release_agent(ctx, row, agent_id, (A.DIALING,))
            _customer_gone(ctx, row, attempt, answered_at, CallResult.TRANSFER_ERROR)
            return
        if customer.poll() is not None:
            _release_agent(ctx, row, agent_id, (A.DIALING,))
            _customer_gone(ctx, row, attempt, answered_at, CallResult.ABANDONED)
            return
        await _talk(ctx, row, attempt, customer, agent_leg, agent_id, answered_at)
    finally:
        await agent_leg.hangup()
        agent_leg.close()


async def _agent_first_call(ctx: FlowContext, row: dict[str, Any], agent_id: str) -> None:
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        number, index = scheduler.number_to_dial(conn, row, now)
        attempt = dialing.begin_attempt(conn, row, ctx.owner, number, index, agent_id, now)
        if attempt is None:
            raise Conflict(f"lost interaction {row['id']} before dialing")
    try:
        agent_leg = await _call_agent(
            ctx, dialing.agent_call_id_of(row["id"], attempt.attempt_no), agent_id, row
        )
    except TrunkBusy:
        _agent_unreachable(ctx, row, attempt, agent_id)
        return
    try:
        event = await agent_leg.answer_or_end()
        if event.kind is not CallEventKind.ANSWERED:
            _agent_unreachable(ctx, row, attempt, agent_id)
            return
        try:
            customer = await _originate(ctx, attempt.call_id, number, row)
        except TrunkBusy:
            _release_agent(ctx, row, agent_id, (A.DIALING,))
            _trunk_full(ctx, row, attempt, (S.PROCESSED_BY_AGT,))
            return
        try:
            first = await customer.answer_or_end()
            if first.kind is not CallEventKind.ANSWERED:
                _release_agent(ctx, row, agent_id, (A.DIALING,))
                _after_unanswered(ctx, row, attempt, first, (S.PROCESSED_BY_AGT,))
                return
            with ctx.db.begin() as conn:
                dialing.mark_answered(conn, attempt, first.at)
            if agent_leg.poll() is not None:
                # The agent's line dropped while the customer was ringing.
                _release_agent(ctx, row, agent_id, (A.DIALING,))
                _customer_gone(ctx, row, attempt, first.at, CallResult.TRANSFER_ERROR)
                return
            await _talk(ctx, row, attempt, customer, agent_leg, agent_id, first.at)
        finally:
            await customer.hangup()
            customer.close()
    finally:
        await agent_leg.hangup()
        agent_leg.close()


def _agent_unreachable(
    ctx: FlowContext, row: dict[str, Any], attempt: Attempt, agent_id: str
) -> None:
    """The agent's phone did not answer: the customer was not dialled; offer it again."""
    with ctx.db.begin() as conn:
        dialing.agent_unreachable(conn, attempt, ctx.clock.now())
        agent_service.move_agent(
            conn, row["tenant_id"], agent_id, A.READY, ctx.clock.now(),
            interaction_id=row["id"], from_states=(A.DIALING,),
        )  # fmt: skip
        scheduler.requeue_rejected(conn, row, ctx.clock.now(), owner=ctx.owner)


async def _talk(
    ctx: FlowContext,
    row: dict[str, Any],
    attempt: Attempt,
    customer: Leg,
    agent_leg: Leg,
    agent_id: str,
    answered_at: datetime,
) -> None:
    """Bridge, then wait for either side (or the agent API) to end the call."""
    try:
        await ctx.calls.telephony.bridge(agent_leg.call_id, customer.call_id)
    except RappelError as exc:
        # A side hung up between its answer and the bridge.
        log.info("bridge of %s failed: %s", customer.call_id, exc)
        gone = customer.poll() is not None or agent_leg.poll() is None
        _release_agent(ctx, row, agent_id, (A.DIALING,))
        result = CallResult.REMOTE_RELEASE if gone else CallResult.TRANSFER_ERROR
        _customer_gone(ctx, row, attempt, answered_at, result)
        return
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        if row["callback_status"] == S.DISTRIBUTED:
            scheduler.move(conn, row, S.SUBMITTED_TO_AGT, now, owner=ctx.owner)
        agent_service.move_agent(
            conn, row["tenant_id"], agent_id, A.TALKING, now,
            interaction_id=row["id"], from_states=(A.DIALING,),
        )  # fmt: skip
    agent_service.notify(row["tenant_id"], agent_id)
    while True:
        event = await _leg_event(ctx, customer, WATCH_S)
        if event is not None and customer.ended:
            break
        if agent_leg.ended is not None or _agent_state(ctx, row, agent_id) is not A.TALKING:
            break
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        dialing.finish_attempt(conn, attempt, CallResult.OK, now, answered_at)
        wrapped = agent_service.move_agent(
            conn, row["tenant_id"], agent_id, A.WRAPUP, now,
            interaction_id=row["id"], from_states=(A.TALKING,),
        )  # fmt: skip
        state = _agent_state_in(conn, row, agent_id)
        if wrapped is not None or state is A.WRAPUP:
            scheduler.set_due(conn, row, None, now, owner=ctx.owner)
        else:
            scheduler.settle(conn, ctx.clock, row, (S.PROCESSED_BY_AGT,), owner=ctx.owner)
    agent_service.notify(row["tenant_id"], agent_id)


def _agent_state_in(conn: Any, row: dict[str, Any], agent_id: str) -> AgentState | None:
    line = agent_service.current_line(conn, row["tenant_id"], agent_id)
    if line is None or line.change.interaction_id != row["id"]:
        return None
    return line.change.state


def _release_agent(
    ctx: FlowContext, row: dict[str, Any], agent_id: str, states: tuple[AgentState, ...]
) -> None:
    with ctx.db.begin() as conn:
        agent_service.move_agent(
            conn, row["tenant_id"], agent_id, A.READY, ctx.clock.now(),
            interaction_id=row["id"], from_states=states,
        )  # fmt: skip
    agent_service.notify(row["tenant_id"], agent_id)


def _after_unanswered(
    ctx: FlowContext,
    row: dict[str, Any],
    attempt: Attempt,
    event: CallEvent,
    prefix: tuple[CallbackStatus, ...],
) -> None:
    with ctx.db.begin() as conn:
        dialing.finish_unanswered(conn, attempt, event)
        scheduler.settle(conn, ctx.clock, row, prefix, owner=ctx.owner)


def _trunk_full(
    ctx: FlowContext, row: dict[str, Any], attempt: Attempt, prefix: tuple[CallbackStatus, ...]
) -> None:
    """The trunk had no room: the attempt is kept as not dialled and the callback retried."""
    log.info("trunk full: %s not dialled", attempt.call_id)
    with ctx.db.begin() as conn:
        dialing.trunk_refused(conn, attempt, ctx.clock.now())
        scheduler.settle(conn, ctx.clock, row, prefix, owner=ctx.owner)


def _customer_gone(
    ctx: FlowContext,
    row: dict[str, Any],
    attempt: Attempt,
    answered_at: datetime,
    result: CallResult,
) -> None:
    """The answered customer left (or was let go) before an agent took the call."""
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        dialing.finish_attempt(conn, attempt, result, now, answered_at)
        fresh = scheduler.load(conn, row["tenant_id"], row["id"])
        if fresh is None or fresh.get("lease_owner") != ctx.owner:
            return
        row.update(fresh)
        prefix: tuple[CallbackStatus, ...] = ()
        if row["callback_status"] == S.SUBMITTED_TO_AGT:
            prefix = (S.PROCESSED_BY_AGT,)
        scheduler.settle(conn, ctx.clock, row, prefix, owner=ctx.owner)


def _ivr_script(db: Database, row: dict[str, Any]) -> str | None:
    if not row["channel_number"]:
        return None
    with db.read() as conn:
        channel = get_channel(conn, row["tenant_id"], row["channel_number"])
    return channel.ivr_script if channel is not None else None
