"""Dials: the attempt journal written before a call is placed, and the legs' events.

The rule that makes dialing crash-safe:

1. Before a customer is dialled, the attempt row is COMMITTED with its unique
   (tenant, interaction, attempt_no) and its call id
   `f"{interaction_id}-{attempt_no}"` (unique too), and the interaction's
   `attempts` counter moves with it under a guard on the previous value and on
   the worker's lease. Only the worker whose transaction inserted the row
   originates that call id; nobody ever originates for a row it found.
2. When the call ends, the worker writes its outcome on that row.
3. A row without an outcome whose interaction is taken over (the lease ran
   out: the worker died or lost the database) is resolved by the new holder
   from what the telephony driver can tell about its call id
   (`Telephony.call_state`) before anything is dialled again
   (`engine.recovery`): a call still up is left to end; a call the driver
   knows ended is closed with its outcome; a call the driver cannot tell
   about (another process placed it) may have been answered, so it is closed
   as STALE and counted as answered-and-dropped: the customer is dialled
   again only after the abandoned-call retry delay, never at once. So a
   crash never dials an attempt twice (the row exists; a new attempt gets a
   new number and call id), never calls a person straight back who may have
   just answered, and never loses a callback (the row stays due until
   someone resolves it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from rappel.domain.codes import CallResult
from rappel.domain.results import (
    CustomerResult,
    call_result_for_sip_status,
    customer_result_for_call,
)
from rappel.domain.retry import AttemptOutcome
from rappel.store.tables import attempts, interactions
from rappel.telephony.port import FINAL_KINDS, CallEvent, CallEventKind, Telephony

log = logging.getLogger(__name__)

#: The sim's line for agent legs (the sim answers it; a PBX driver maps it to the agent's phone).
AGENT_LINE = "00"

_RESULT_OF_EVENT: dict[CallEventKind, CallResult] = {
    CallEventKind.ANSWERED: CallResult.ANSWER,
    CallEventKind.BUSY: CallResult.BUSY,
    CallEventKind.NO_ANSWER: CallResult.NO_ANSWER,
    CallEventKind.FAILED: CallResult.GENERAL_ERROR,
    CallEventKind.MACHINE: CallResult.ANSWERING_MACHINE,
    CallEventKind.HUNGUP: CallResult.DROPPED_NO_ANSWER,
}


def call_id_of(interaction_id: str, attempt_no: int) -> str:
    return f"{interaction_id}-{attempt_no}"


def agent_call_id_of(interaction_id: str, attempt_no: int) -> str:
    return f"{interaction_id}-{attempt_no}-agent"


def result_of_event(event: CallEvent) -> CallResult:
    """The call_result of a leg's final event: the SIP status decides when there is one."""
    if event.status is not None and event.kind in _BY_STATUS:
        return call_result_for_sip_status(event.status)
    return _RESULT_OF_EVENT[event.kind]


# Kinds whose SIP status says more than the kind (a 404 and a 503 are both FAILED).
_BY_STATUS = frozenset({CallEventKind.BUSY, CallEventKind.NO_ANSWER, CallEventKind.FAILED})


def network_cause_of(event: CallEvent) -> str | None:
    """What the network said, as kept on the attempt: "SIP 486 Busy Here"."""
    if event.status is None:
        return None
    return f"SIP {event.status} {event.cause}".strip()[:64]


@dataclass(frozen=True)
class Attempt:
    """A committed attempt row: safe to dial."""

    tenant_id: str
    interaction_id: str
    attempt_no: int
    call_id: str
    number: str
    number_index: int


def begin_attempt(
    conn: Connection,
    row: Mapping[str, Any],
    owner: str,
    number: str,
    number_index: int,
    agent_id: str | None,
    now: datetime,
) -> Attempt | None:
    """Record the next attempt; None when the row moved on or the lease was lost."""
    attempt_no = int(row["attempts"]) + 1
    guard = conn.execute(
        update(interactions)
        .where(
            interactions.c.tenant_id == row["tenant_id"],
            interactions.c.id == row["id"],
            interactions.c.attempts == attempt_no - 1,
            interactions.c.lease_owner == owner,
        )
        .values(attempts=attempt_no, updated_at=now)
    )
    if guard.rowcount != 1:
        return None
    call_id = call_id_of(row["id"], attempt_no)
    conn.execute(
        insert(attempts).values(
            tenant_id=row["tenant_id"],
            interaction_id=row["id"],
            attempt_no=attempt_no,
            call_id=call_id,
            campaign_id=row["campaign_id"],
            customer_id=row["customer_id"],
            agent_id=agent_id,
            number=number,
            number_index=number_index,
            placed_at=now,
            dialed=True,
        )
    )
    if isinstance(row, dict):
        row["attempts"] = attempt_no
    return Attempt(row["tenant_id"], row["id"], attempt_no, call_id, number, number_index)


def finish_unanswered(conn: Connection, attempt: Attempt, event: CallEvent) -> None:
    """The customer's leg ended before an answer: its result and the network's cause."""
    finish_attempt(
        conn, attempt, result_of_event(event), event.at, network_cause=network_cause_of(event)
    )


def finish_attempt(
    conn: Connection,
    attempt: Attempt,
    call_result: CallResult,
    ended_at: datetime,
    answered_at: datetime | None = None,
    *,
    network_cause: str | None = None,
) -> None:
    """Write the outcome once; a later writer (a hang-up already recorded) changes nothing."""
    conn.execute(
        update(attempts)
        .where(
            attempts.c.tenant_id == attempt.tenant_id,
            attempts.c.interaction_id == attempt.interaction_id,
            attempts.c.attempt_no == attempt.attempt_no,
            attempts.c.ended_at.is_(None),
        )
        .values(
            call_result=int(call_result),
            ended_at=ended_at,
            answered_at=answered_at,
            network_cause=network_cause,
        )
    )
    customer_result = customer_result_for_call(call_result)
    if customer_result is not None:
        conn.execute(
            update(attempts)
            .where(
                attempts.c.tenant_id == attempt.tenant_id,
                attempts.c.interaction_id == attempt.interaction_id,
                attempts.c.attempt_no == attempt.attempt_no,
            )
            .values(customer_result=customer_result.value)
        )


def mark_answered(conn: Connection, attempt: Attempt, at: datetime) -> None:
    conn.execute(
        update(attempts)
        .where(
            attempts.c.tenant_id == attempt.tenant_id,
            attempts.c.interaction_id == attempt.interaction_id,
            attempts.c.attempt_no == attempt.attempt_no,
        )
        .values(answered_at=at, call_result=int(CallResult.OK))
    )


def attempt_rows(conn: Connection, tenant_id: str, interaction_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(attempts)
        .where(attempts.c.tenant_id == tenant_id, attempts.c.interaction_id == interaction_id)
        .order_by(attempts.c.attempt_no)
    ).mappings()
    return [dict(r) for r in rows]


def outcomes_of(
    rows: list[dict[str, Any]], callback_at: datetime | None = None
) -> list[AttemptOutcome]:
    """The retry policy's view of the attempts (unfinished ones are left out).

    `callback_at` is the time a CALLBACK disposition asked for (on the last attempt).
    """
    out: list[AttemptOutcome] = []
    for r in rows:
        if r["ended_at"] is None:
            continue
        result = CustomerResult(r["customer_result"]) if r["customer_result"] else None
        if result is None:
            code = r["call_result"]
            mapped = customer_result_for_call(CallResult(code)) if code is not None else None
            result = mapped or CustomerResult.HANGUP
        at = callback_at if result is CustomerResult.CALLBACK else None
        out.append(AttemptOutcome(r["number_index"], result, r["ended_at"], r["dialed"], at))
    return out


def open_attempt(conn: Connection, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The interaction's attempt without an outcome, if any (a call in progress or lost)."""
    found = (
        conn.execute(
            select(attempts).where(
                attempts.c.tenant_id == row["tenant_id"],
                attempts.c.interaction_id == row["id"],
                attempts.c.ended_at.is_(None),
            )
        )
        .mappings()
        .first()
    )
    return dict(found) if found else None


def talked_without_disposition(conn: Connection, row: Mapping[str, Any]) -> bool:
    """The agent on `row` talked with the customer but left without a wrap-up."""
    rows = attempt_rows(conn, row["tenant_id"], row["id"])
    last = rows[-1] if rows else None
    return bool(
        last
        and last["agent_id"] == row["agent_id"]
        and last["answered_at"] is not None
        and last["customer_result"] is None
    )


def trunk_refused(conn: Connection, attempt: Attempt, now: datetime) -> None:
    """The trunk was full: nothing was dialled, so the attempt does not count."""
    conn.execute(
        update(attempts)
        .where(
            attempts.c.tenant_id == attempt.tenant_id,
            attempts.c.interaction_id == attempt.interaction_id,
            attempts.c.attempt_no == attempt.attempt_no,
        )
        .values(
            call_result=int(CallResult.ALL_TRUNKS_BUSY),
            customer_result=CustomerResult.FAILED.value,
            network_cause="trunk limit",
            dialed=False,
            ended_at=now,
        )
    )


def agent_unreachable(conn: Connection, attempt: Attempt, now: datetime) -> None:
    """The agent's leg was not answered: the customer was never dialled (not counted)."""
    conn.execute(
        update(attempts)
        .where(
            attempts.c.tenant_id == attempt.tenant_id,
            attempts.c.interaction_id == attempt.interaction_id,
            attempts.c.attempt_no == attempt.attempt_no,
        )
        .values(
            call_result=int(CallResult.AGT_CALLBACK_ERROR),
            customer_result=CustomerResult.AGENT_REJECTED.value,
            dialed=False,
            ended_at=now,
        )
    )


class Calls:
    """Routes the driver's single event stream to the legs the engine is waiting on."""

    def __init__(self, telephony: Telephony) -> None:
        self.telephony = telephony
        self._legs: dict[str, asyncio.Queue[CallEvent]] = {}

    async def pump(self) -> None:
        """Consume `telephony.events()` until cancelled."""
        async for event in self.telephony.events():
            queue = self._legs.get(event.call_id)
            if queue is not None:
                queue.put_nowait(event)

    async def originate(
        self, call_id: str, number: str, caller_id: str, timeout_s: float, detect_machine: bool
    ) -> Leg:
        queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._legs[call_id] = queue
        try:
            await self.telephony.originate(call_id, number, caller_id, timeout_s, detect_machine)
        except BaseException:
            self._legs.pop(call_id, None)
            raise
        log.info("dial placed %s", call_id)
        return Leg(call_id, queue, self)

    def forget(self, call_id: str) -> None:
        self._legs.pop(call_id, None)


class Leg:
    """One placed call and its events."""

    def __init__(self, call_id: str, queue: asyncio.Queue[CallEvent], calls: Calls) -> None:
        self.call_id = call_id
        self._queue = queue
        self._calls = calls
        self.ended: CallEvent | None = None

    async def next_event(self) -> CallEvent:
        event = await self._queue.get()
        if event.kind in FINAL_KINDS:
            self.ended = event
        return event

    def poll(self) -> CallEvent | None:
        """Read what already happened without waiting; the final event if the leg is over."""
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event.kind in FINAL_KINDS:
                self.ended = event
        return self.ended

    async def answer_or_end(self) -> CallEvent:
        """Wait past ringing: ANSWERED, or the final event of an unanswered call."""
        while True:
            event = await self.next_event()
            if event.kind is not CallEventKind.RINGING:
                return event

    async def hangup(self) -> None:
        if self.ended is None:
            await self._calls.telephony.hangup(self.call_id)

    def close(self) -> None:
        self._calls.forget(self.call_id)
