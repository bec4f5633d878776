"""The Callback aggregate: one callback interaction and its Genesys lifecycle.

States are Genesys `callback_status` codes; the common `status` moves alongside
through `STATUS_OF` (NEW at RECEIVED; PENDING while waiting; IN_PROCESS from
DISTRIBUTED to PROCESSED_BY_AGT; STOPPED at every end). Each transition is
checked against `TRANSITIONS` and recorded as an event in `events`.

Normal path::

    RECEIVED -> TIMER (until start_time) -> QUEUED -> DISTRIBUTED
             -> SUBMITTED_TO_AGT -> PROCESSED_BY_AGT -> FINAL

How each flow uses the states:

* ASAP / SCHEDULED / CUSTOMER_FIRST (8x8 type 1): QUEUED means due for the
  dialer; DISTRIBUTED means the customer is being dialled (after the IVR
  script, for customer-first, the customer waits in the agent queue while
  still DISTRIBUTED); SUBMITTED_TO_AGT when an agent is connected. A dial that
  ends busy or unanswered goes DISTRIBUTED -> TIMER (retry time) or, out of
  attempts or with a final result, DISTRIBUTED -> FINAL.
* AGENT_FIRST (8x8 type 2): QUEUED means waiting for a free agent;
  DISTRIBUTED means an agent is reserved; SUBMITTED_TO_AGT means the offer is
  on the agent's desk and, once accepted, the agent then the customer are
  called and bridged. A rejected offer goes REJECTED_BY_AGT -> QUEUED.

Ends: FINAL (handled; or cancelled through an API, with stopped_reason and
call_result CANCEL_RECORD), CANCELED_BY_AGT (cancelled by the agent),
ENDTIME_EXPIRED (window passed, reported as abandoned), ERROR, NOT_QUEUED
(refused at intake), REPLACED (superseded by a newer request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rappel.domain.codes import (
    CallbackFlow,
    CallbackStatus,
    CallbackType,
    CallResult,
    DesiredResponseType,
    InteractionStatus,
    callback_type_of,
)
from rappel.domain.errors import InvalidTransition, ValidationFailed

S = CallbackStatus

STATUS_OF: dict[CallbackStatus, InteractionStatus] = {
    S.UNKNOWN: InteractionStatus.NEW,
    S.RECEIVED: InteractionStatus.NEW,
    S.TIMER: InteractionStatus.PENDING,
    S.QUEUED: InteractionStatus.PENDING,
    S.REJECTED_BY_AGT: InteractionStatus.PENDING,
    S.DISTRIBUTED: InteractionStatus.IN_PROCESS,
    S.SUBMITTED_TO_AGT: InteractionStatus.IN_PROCESS,
    S.AGT_TRANSFER: InteractionStatus.IN_PROCESS,
    S.PROCESSED_BY_AGT: InteractionStatus.IN_PROCESS,
    S.FINAL: InteractionStatus.STOPPED,
    S.CANCELED_BY_AGT: InteractionStatus.STOPPED,
    S.NOT_QUEUED: InteractionStatus.STOPPED,
    S.ERROR: InteractionStatus.STOPPED,
    S.REPLACED: InteractionStatus.STOPPED,
    S.ENDTIME_EXPIRED: InteractionStatus.STOPPED,
}

TERMINAL: frozenset[CallbackStatus] = frozenset(
    s for s, status in STATUS_OF.items() if status is InteractionStatus.STOPPED
)
#: states in which nothing has started yet: reschedule, replace and expiry apply
WAITING: frozenset[CallbackStatus] = frozenset({S.RECEIVED, S.TIMER, S.QUEUED, S.REJECTED_BY_AGT})
_ENDS = {S.CANCELED_BY_AGT, S.FINAL, S.ERROR}

TRANSITIONS: dict[CallbackStatus, frozenset[CallbackStatus]] = {
    S.RECEIVED: frozenset({S.TIMER, S.QUEUED, S.NOT_QUEUED, S.ENDTIME_EXPIRED, S.REPLACED, *_ENDS}),
    S.TIMER: frozenset({S.TIMER, S.QUEUED, S.ENDTIME_EXPIRED, S.REPLACED, *_ENDS}),
    S.QUEUED: frozenset({S.TIMER, S.QUEUED, S.DISTRIBUTED, S.ENDTIME_EXPIRED, S.REPLACED, *_ENDS}),
    S.DISTRIBUTED: frozenset({S.SUBMITTED_TO_AGT, S.TIMER, S.QUEUED, S.ENDTIME_EXPIRED, *_ENDS}),
    S.SUBMITTED_TO_AGT: frozenset({S.PROCESSED_BY_AGT, S.REJECTED_BY_AGT, S.AGT_TRANSFER, *_ENDS}),
    S.AGT_TRANSFER: frozenset({S.SUBMITTED_TO_AGT, *_ENDS}),
    S.REJECTED_BY_AGT: frozenset({S.TIMER, S.QUEUED, S.ENDTIME_EXPIRED, S.REPLACED, *_ENDS}),
    S.PROCESSED_BY_AGT: frozenset({S.TIMER, S.QUEUED, S.ENDTIME_EXPIRED, *_ENDS}),
    **{s: frozenset() for s in TERMINAL},
}


@dataclass(frozen=True)
class CallbackReceived:
    interaction_id: str
    tenant_id: str
    flow: CallbackFlow
    at: datetime


@dataclass(frozen=True)
class CallbackStatusChanged:
    interaction_id: str
    old: CallbackStatus
    new: CallbackStatus
    at: datetime


@dataclass(frozen=True)
class AttemptRecorded:
    interaction_id: str
    attempt_no: int
    call_result: CallResult
    at: datetime


@dataclass(frozen=True)
class CallbackRescheduled:
    interaction_id: str
    start_time: datetime
    end_time: datetime | None
    at: datetime


@dataclass(frozen=True)
class CallbackStopped:
    """The callback ended; the trigger for webhooks (8x8 ctl_callbackUrl)."""

    interaction_id: str
    callback_status: CallbackStatus
    call_result: CallResult | None
    stopped_reason: str | None
    at: datetime


CallbackEvent = (
    CallbackReceived
    | CallbackStatusChanged
    | AttemptRecorded
    | CallbackRescheduled
    | CallbackStopped
)


@dataclass
class Callback:
    """A callback interaction (Genesys Callback Interaction resource)."""

    interaction_id: str
    tenant_id: str
    customer_id: str
    customer_number: str
    flow: CallbackFlow
    callback_type: CallbackType
    start_time: datetime
    end_time: datetime | None
    start_date: datetime
    callback_status: CallbackStatus = S.RECEIVED
    status: InteractionStatus = InteractionStatus.NEW
    desired_response_type: DesiredResponseType = DesiredResponseType.VOICE
    #: earliest next dial: start_time at first, later the retry time
    not_before: datetime | None = None
    attempts: int = 0
    call_result: CallResult | None = None
    stopped_reason: str | None = None
    end_date: datetime | None = None
    agent_id: str | None = None
    replaced_by: str | None = None
    events: list[CallbackEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def receive(
        cls,
        *,
        interaction_id: str,
        tenant_id: str,
        customer_id: str,
        customer_number: str,
        flow: CallbackFlow,
        start_time: datetime,
        end_time: datetime | None,
        now: datetime,
    ) -> Callback:
        """A new callback in RECEIVED; `admit` then schedules or queues it."""
        _check_window(start_time, end_time, now)
        callback = cls(
            interaction_id=interaction_id,
            tenant_id=tenant_id,
            customer_id=customer_id,
            customer_number=customer_number,
            flow=flow,
            callback_type=callback_type_of(flow),
            start_time=start_time,
            end_time=end_time,
            start_date=now,
            not_before=start_time,
        )
        callback.events.append(CallbackReceived(interaction_id, tenant_id, flow, now))
        return callback

    # -- queries ---------------------------------------------------------

    @property
    def is_stopped(self) -> bool:
        return self.callback_status in TERMINAL

    def must_not_dial(self, now: datetime) -> bool:
        """Never dial once stopped or at/after the window's end."""
        return self.is_stopped or (self.end_time is not None and now >= self.end_time)

    def is_due(self, now: datetime) -> bool:
        """Waiting, its time has come, and still inside its window."""
        wake = self.not_before or self.start_time
        return self.callback_status in WAITING and wake <= now and not self.must_not_dial(now)

    def is_expired(self, now: datetime) -> bool:
        return self.end_time is not None and now >= self.end_time and not self.is_stopped

    @property
    def due_at(self) -> datetime | None:
        """When the engine must next look at it: wake-up while waiting, else nothing."""
        if self.callback_status in WAITING:
            return self.not_before or self.start_time
        return None

    # -- transitions -----------------------------------------------------

    def admit(self, now: datetime) -> None:
        """RECEIVED -> TIMER when start_time is ahead, else QUEUED."""
        self._require(S.RECEIVED)
        self._wait_or_queue(now)

    def refuse(self, reason: str, now: datetime) -> None:
        """RECEIVED -> NOT_QUEUED (no queue, queue closed, per-number limit)."""
        self._require(S.RECEIVED)
        self._stop(S.NOT_QUEUED, reason, now)

    def wake(self, now: datetime) -> None:
        """TIMER -> QUEUED once due."""
        self._require(S.TIMER)
        if not self.is_due(now):
            raise InvalidTransition(f"callback {self.interaction_id} is not due")
        self._move(S.QUEUED, now)

    def distribute(self, now: datetime, agent_id: str | None = None) -> None:
        """QUEUED -> DISTRIBUTED: the dialer took it, or an agent is reserved."""
        self._require(S.QUEUED)
        if self.must_not_dial(now):
            raise InvalidTransition(f"callback {self.interaction_id} is past its window")
        self.agent_id = agent_id
        self._move(S.DISTRIBUTED, now)

    def submit_to_agent(self, agent_id: str, now: datetime) -> None:
        self.agent_id = agent_id
        self._move(S.SUBMITTED_TO_AGT, now)

    def reject_by_agent(self, now: datetime) -> None:
        self._move(S.REJECTED_BY_AGT, now)
        self.agent_id = None

    def transfer(self, now: datetime) -> None:
        self._move(S.AGT_TRANSFER, now)

    def requeue(self, now: datetime) -> None:
        """Back to QUEUED (after a rejection, or an agent-first offer that fell through)."""
        self._move(S.QUEUED, now)
        self.not_before = now

    def record_attempt(self, call_result: CallResult, now: datetime) -> int:
        """Count one dial of the customer; returns its attempt number (1-based)."""
        if self.callback_status not in (S.DISTRIBUTED, S.SUBMITTED_TO_AGT):
            raise InvalidTransition(
                f"cannot dial callback {self.interaction_id} in {self.callback_status.name}"
            )
        self.attempts += 1
        self.call_result = call_result
        self.events.append(AttemptRecorded(self.interaction_id, self.attempts, call_result, now))
        return self.attempts

    def processed_by_agent(self, now: datetime) -> None:
        self._move(S.PROCESSED_BY_AGT, now)

    def schedule_retry(self, at: datetime, now: datetime) -> None:
        """Wait until `at` for the next attempt; expires instead when `at` is past the window."""
        self._check(S.TIMER)
        if self.end_time is not None and at >= self.end_time:
            self._stop(S.ENDTIME_EXPIRED, "ENDTIME_EXPIRED", now)
            return
        self.not_before = at
        self._move(S.TIMER if at > now else S.QUEUED, now)

    def finish(self, now: datetime, reason: str | None = None) -> None:
        """-> FINAL: handled, or no attempt left."""
        self._stop(S.FINAL, reason, now)

    def cancel(self, reason: str, now: datetime, *, by_agent: bool = False) -> None:
        """Stop from any non-final state.

        By an agent: CANCELED_BY_AGT. Through an API (Genesys cancel, native
        DELETE): FINAL with call_result CANCEL_RECORD, so readers can tell the
        two apart. Both keep `reason` as stopped_reason.
        """
        if by_agent:
            self._stop(S.CANCELED_BY_AGT, reason, now)
            return
        self._check(S.FINAL)
        self.call_result = CallResult.CANCEL_RECORD
        self._stop(S.FINAL, reason, now)

    def reschedule(self, start: datetime, end: datetime | None, now: datetime) -> None:
        """New window; only while nothing is in process. The type becomes SCHEDULED."""
        if self.callback_status not in WAITING:
            raise InvalidTransition(
                f"callback {self.interaction_id} is {self.callback_status.name}: "
                "it can be rescheduled only before it is in process"
            )
        _check_window(start, end, now)
        self.start_time, self.end_time, self.not_before = start, end, start
        self.callback_type = CallbackType.SCHEDULED
        self.events.append(CallbackRescheduled(self.interaction_id, start, end, now))
        self._wait_or_queue(now)

    def expire(self, now: datetime) -> None:
        """-> ENDTIME_EXPIRED once the window has passed (not while an agent has it)."""
        if not self.is_expired(now):
            raise InvalidTransition(f"callback {self.interaction_id} has not expired")
        self._stop(S.ENDTIME_EXPIRED, "ENDTIME_EXPIRED", now)

    def fail(self, reason: str, now: datetime) -> None:
        self._stop(S.ERROR, reason, now)

    def replace(self, by_interaction_id: str, now: datetime) -> None:
        """-> REPLACED by a newer request for the same customer."""
        self.replaced_by = by_interaction_id
        self._stop(S.REPLACED, f"replaced by {by_interaction_id}", now)

    # -- helpers ---------------------------------------------------------

    def _wait_or_queue(self, now: datetime) -> None:
        wake = self.not_before or self.start_time
        self._move(S.TIMER if wake > now else S.QUEUED, now)

    def _require(self, expected: CallbackStatus) -> None:
        if self.callback_status is not expected:
            raise InvalidTransition(
                f"callback {self.interaction_id} is {self.callback_status.name}, "
                f"not {expected.name}"
            )

    def _check(self, new: CallbackStatus) -> None:
        if new not in TRANSITIONS[self.callback_status]:
            raise InvalidTransition(
                f"callback {self.interaction_id} cannot go from "
                f"{self.callback_status.name} to {new.name}"
            )

    def _move(self, new: CallbackStatus, now: datetime) -> None:
        self._check(new)
        old, self.callback_status = self.callback_status, new
        self.status = STATUS_OF[new]
        self.events.append(CallbackStatusChanged(self.interaction_id, old, new, now))

    def _stop(self, new: CallbackStatus, reason: str | None, now: datetime) -> None:
        self._move(new, now)
        self.stopped_reason = reason
        self.end_date = now
        self.events.append(CallbackStopped(self.interaction_id, new, self.call_result, reason, now))


def _check_window(start: datetime, end: datetime | None, now: datetime) -> None:
    for name, value in (("start_time", start), ("end_time", end), ("now", now)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(name, f"{name} must carry a time zone")
    if end is not None and end <= start:
        raise ValidationFailed("end_time", "end_time must be after start_time")
    if end is not None and end <= now:
        raise ValidationFailed("end_time", "end_time is already past")
