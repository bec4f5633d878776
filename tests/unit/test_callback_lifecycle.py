"""The Callback aggregate: Genesys states, the status alongside, events, windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rappel.domain.callback import (
    STATUS_OF,
    TERMINAL,
    TRANSITIONS,
    Callback,
    CallbackRescheduled,
    CallbackStatusChanged,
    CallbackStopped,
)
from rappel.domain.codes import (
    CallbackFlow,
    CallbackStatus,
    CallbackType,
    CallResult,
    InteractionStatus,
)
from rappel.domain.errors import InvalidTransition, ValidationFailed

S = CallbackStatus
I = InteractionStatus  # noqa: E741
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def new_callback(
    start: datetime = NOW,
    end: datetime | None = NOW + timedelta(hours=2),
    flow: CallbackFlow = CallbackFlow.ASAP,
) -> Callback:
    return Callback.receive(
        interaction_id="A" * 32,
        tenant_id="T" * 32,
        customer_id="C" * 32,
        customer_number="+16505551212",
        flow=flow,
        start_time=start,
        end_time=end,
        now=NOW,
    )


def at_state(state: CallbackStatus) -> Callback:
    """A callback brought to `state` through legal transitions."""
    cb = new_callback(start=NOW + MIN) if state is S.TIMER else new_callback()
    paths: dict[CallbackStatus, list[str]] = {
        S.RECEIVED: [],
        S.TIMER: ["admit"],
        S.QUEUED: ["admit"],
        S.DISTRIBUTED: ["admit", "distribute"],
        S.SUBMITTED_TO_AGT: ["admit", "distribute", "submit"],
        S.REJECTED_BY_AGT: ["admit", "distribute", "submit", "reject"],
        S.AGT_TRANSFER: ["admit", "distribute", "submit", "transfer"],
        S.PROCESSED_BY_AGT: ["admit", "distribute", "submit", "processed"],
    }
    steps = {
        "admit": lambda: cb.admit(NOW),
        "distribute": lambda: cb.distribute(NOW),
        "submit": lambda: cb.submit_to_agent("G" * 32, NOW),
        "reject": lambda: cb.reject_by_agent(NOW),
        "transfer": lambda: cb.transfer(NOW),
        "processed": lambda: cb.processed_by_agent(NOW),
    }
    for step in paths[state]:
        steps[step]()
    assert cb.callback_status is state
    return cb


def test_normal_path_moves_status_alongside() -> None:
    cb = new_callback(start=NOW + 10 * MIN)
    assert (cb.callback_status, cb.status) == (S.RECEIVED, I.NEW)
    cb.admit(NOW)
    assert (cb.callback_status, cb.status) == (S.TIMER, I.PENDING)
    later = NOW + 10 * MIN
    cb.wake(later)
    assert (cb.callback_status, cb.status) == (S.QUEUED, I.PENDING)
    cb.distribute(later)
    assert (cb.callback_status, cb.status) == (S.DISTRIBUTED, I.IN_PROCESS)
    cb.submit_to_agent("G" * 32, later)
    assert cb.record_attempt(CallResult.OK, later) == 1
    cb.processed_by_agent(later)
    assert (cb.callback_status, cb.status) == (S.PROCESSED_BY_AGT, I.IN_PROCESS)
    cb.finish(later)
    assert (cb.callback_status, cb.status) == (S.FINAL, I.STOPPED)
    assert cb.end_date == later
    changes = [(e.old, e.new) for e in cb.events if isinstance(e, CallbackStatusChanged)]
    assert changes == [
        (S.RECEIVED, S.TIMER),
        (S.TIMER, S.QUEUED),
        (S.QUEUED, S.DISTRIBUTED),
        (S.DISTRIBUTED, S.SUBMITTED_TO_AGT),
        (S.SUBMITTED_TO_AGT, S.PROCESSED_BY_AGT),
        (S.PROCESSED_BY_AGT, S.FINAL),
    ]
    assert isinstance(cb.events[-1], CallbackStopped)


def test_asap_callback_goes_straight_to_the_queue() -> None:
    cb = new_callback()
    cb.admit(NOW)
    assert cb.callback_status is S.QUEUED
    assert cb.is_due(NOW)


def test_every_state_has_a_status_and_stopped_states_allow_nothing() -> None:
    assert set(STATUS_OF) == set(CallbackStatus)
    assert set(TRANSITIONS) >= set(CallbackStatus) - {S.UNKNOWN}
    for state in TERMINAL:
        assert TRANSITIONS[state] == frozenset()
    assert {
        S.FINAL,
        S.ERROR,
        S.ENDTIME_EXPIRED,
        S.CANCELED_BY_AGT,
        S.NOT_QUEUED,
        S.REPLACED,
    } == TERMINAL


LEGAL = [(old, new) for old, targets in TRANSITIONS.items() for new in targets]


@pytest.mark.parametrize(("old", "new"), LEGAL)
def test_every_legal_transition_is_applied_with_its_status(
    old: CallbackStatus, new: CallbackStatus
) -> None:
    cb = at_state(old)
    cb._move(new, NOW)
    assert cb.callback_status is new
    assert cb.status is STATUS_OF[new]


ILLEGAL = [
    (S.RECEIVED, S.DISTRIBUTED),
    (S.TIMER, S.SUBMITTED_TO_AGT),
    (S.QUEUED, S.PROCESSED_BY_AGT),
    (S.DISTRIBUTED, S.REJECTED_BY_AGT),
    (S.SUBMITTED_TO_AGT, S.QUEUED),
    (S.PROCESSED_BY_AGT, S.SUBMITTED_TO_AGT),
    (S.REJECTED_BY_AGT, S.DISTRIBUTED),
    (S.SUBMITTED_TO_AGT, S.ENDTIME_EXPIRED),
]


@pytest.mark.parametrize(("old", "new"), ILLEGAL)
def test_illegal_transitions_are_refused(old: CallbackStatus, new: CallbackStatus) -> None:
    cb = at_state(old)
    with pytest.raises(InvalidTransition):
        cb._move(new, NOW)
    assert cb.callback_status is old


def test_finished_callback_cannot_be_cancelled_or_dialled() -> None:
    cb = at_state(S.PROCESSED_BY_AGT)
    cb.finish(NOW)
    with pytest.raises(InvalidTransition):
        cb.cancel("too late", NOW)
    assert cb.must_not_dial(NOW)


def test_rejected_offer_goes_back_to_the_queue() -> None:
    cb = at_state(S.REJECTED_BY_AGT)
    assert cb.status is I.PENDING
    assert cb.agent_id is None
    cb.requeue(NOW)
    assert cb.callback_status is S.QUEUED


def test_api_cancel_ends_final_with_cancel_record_and_reason() -> None:
    cb = at_state(S.QUEUED)
    cb.cancel("customer asked", NOW)
    assert (cb.callback_status, cb.status) == (S.FINAL, I.STOPPED)
    assert cb.call_result is CallResult.CANCEL_RECORD
    assert cb.stopped_reason == "customer asked"


def test_agent_cancel_ends_canceled_by_agent() -> None:
    cb = at_state(S.SUBMITTED_TO_AGT)
    cb.cancel("duplicate", NOW, by_agent=True)
    assert (cb.callback_status, cb.status) == (S.CANCELED_BY_AGT, I.STOPPED)


def test_reschedule_before_processing_sets_a_new_window_and_waits() -> None:
    cb = at_state(S.QUEUED)
    start, end = NOW + timedelta(days=1), NOW + timedelta(days=1, hours=1)
    cb.reschedule(start, end, NOW)
    assert (cb.callback_status, cb.start_time, cb.end_time) == (S.TIMER, start, end)
    assert cb.callback_type is CallbackType.SCHEDULED
    assert cb.due_at == start
    assert any(isinstance(e, CallbackRescheduled) for e in cb.events)
    assert not cb.is_due(NOW)
    assert cb.is_due(start)


@pytest.mark.parametrize("state", [S.DISTRIBUTED, S.SUBMITTED_TO_AGT, S.PROCESSED_BY_AGT])
def test_reschedule_is_refused_once_in_process(state: CallbackStatus) -> None:
    cb = at_state(state)
    with pytest.raises(InvalidTransition):
        cb.reschedule(NOW + timedelta(days=1), None, NOW)


def test_reschedule_with_end_before_start_is_refused() -> None:
    cb = at_state(S.QUEUED)
    with pytest.raises(ValidationFailed):
        cb.reschedule(NOW + timedelta(hours=2), NOW + timedelta(hours=1), NOW)


def test_callback_is_never_dialled_after_its_window_ends() -> None:
    cb = at_state(S.QUEUED)
    end = NOW + timedelta(hours=2)
    assert not cb.must_not_dial(end - MIN)
    assert cb.must_not_dial(end)
    assert not cb.is_due(end)
    with pytest.raises(InvalidTransition):
        cb.distribute(end)


def test_expiry_stops_a_waiting_callback_and_only_after_the_end() -> None:
    cb = at_state(S.QUEUED)
    with pytest.raises(InvalidTransition):
        cb.expire(NOW)
    cb.expire(NOW + timedelta(hours=2))
    assert (cb.callback_status, cb.status) == (S.ENDTIME_EXPIRED, I.STOPPED)


def test_callback_without_end_never_expires() -> None:
    cb = new_callback(end=None)
    cb.admit(NOW)
    assert not cb.is_expired(NOW + timedelta(days=365))
    assert not cb.must_not_dial(NOW + timedelta(days=365))


def test_retry_waits_in_timer_then_queues() -> None:
    cb = at_state(S.DISTRIBUTED)
    cb.record_attempt(CallResult.BUSY, NOW)
    retry = NOW + 10 * MIN
    cb.schedule_retry(retry, NOW)
    assert (cb.callback_status, cb.attempts, cb.due_at) == (S.TIMER, 1, retry)
    with pytest.raises(InvalidTransition):
        cb.wake(NOW)
    cb.wake(retry)
    assert cb.callback_status is S.QUEUED


def test_retry_past_the_window_expires_the_callback() -> None:
    cb = at_state(S.DISTRIBUTED)
    cb.record_attempt(CallResult.NO_ANSWER, NOW)
    cb.schedule_retry(NOW + timedelta(hours=3), NOW)
    assert cb.callback_status is S.ENDTIME_EXPIRED


def test_attempt_cannot_be_recorded_while_waiting() -> None:
    cb = at_state(S.QUEUED)
    with pytest.raises(InvalidTransition):
        cb.record_attempt(CallResult.BUSY, NOW)


def test_refused_request_is_not_queued() -> None:
    cb = new_callback()
    cb.refuse("queue closed", NOW)
    assert (cb.callback_status, cb.status, cb.stopped_reason) == (
        S.NOT_QUEUED,
        I.STOPPED,
        "queue closed",
    )


def test_newer_request_replaces_a_waiting_one() -> None:
    cb = at_state(S.TIMER)
    cb.replace("B" * 32, NOW)
    assert (cb.callback_status, cb.replaced_by) == (S.REPLACED, "B" * 32)


def test_window_must_carry_time_zones_and_not_be_past() -> None:
    with pytest.raises(ValidationFailed):
        new_callback(start=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValidationFailed):
        new_callback(start=NOW - timedelta(hours=2), end=NOW - MIN)
