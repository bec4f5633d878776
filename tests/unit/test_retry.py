"""Retry policy: delays, RetryCount, numbers in priority order, MAXCALLS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.domain.errors import ValidationFailed
from rappel.domain.results import CustomerResult
from rappel.domain.retry import (
    AttemptOutcome,
    Final,
    Redial,
    RetryPolicy,
    call_count,
    is_callable_again,
    next_step,
)

R = CustomerResult
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NUMBERS = ["+4930111", "+4930222"]


def run(
    policy: RetryPolicy, results: list[CustomerResult], numbers: list[str]
) -> tuple[list[AttemptOutcome], Redial | Final]:
    """Play results one per attempt, dialling where and when the policy says."""
    attempts: list[AttemptOutcome] = []
    now = T0
    step = next_step(policy, attempts, numbers, now)
    for result in results:
        assert isinstance(step, Redial), step
        now = step.at + timedelta(seconds=30)
        attempts.append(AttemptOutcome(step.number_index, result, now))
        step = next_step(policy, attempts, numbers, now)
    return attempts, step


def test_first_attempt_dials_the_first_number_now() -> None:
    assert next_step(RetryPolicy(), [], NUMBERS, T0) == Redial(0, T0)


def test_busy_customer_is_retried_after_the_busy_delay() -> None:
    ended = T0 + timedelta(seconds=40)
    step = next_step(RetryPolicy(busy_delay_s=600), [AttemptOutcome(0, R.BUSY, ended)], ["1"], T0)
    assert step == Redial(0, ended + timedelta(seconds=600))


def test_unanswered_customer_is_retried_after_the_no_answer_delay() -> None:
    ended = T0 + timedelta(seconds=40)
    outcome = AttemptOutcome(0, R.NOANSWER, ended)
    step = next_step(RetryPolicy(no_answer_delay_s=1800), [outcome], ["1"], ended)
    assert step == Redial(0, ended + timedelta(seconds=1800))


def test_four_busy_or_unanswered_attempts_end_in_maxcalls_with_numbers_in_priority_order() -> None:
    attempts, step = run(RetryPolicy(), [R.BUSY, R.NOANSWER, R.BUSY, R.NOANSWER], NUMBERS)
    assert step == Final(R.MAXCALLS)
    assert [a.number_index for a in attempts] == [0, 1, 0, 1]


def test_three_numbers_are_rotated_in_priority_order() -> None:
    attempts, step = run(RetryPolicy(retry_count=4), [R.NOANSWER] * 5, ["a", "b", "c"])
    assert [a.number_index for a in attempts] == [0, 1, 2, 0, 1]
    assert step == Final(R.MAXCALLS)


def test_success_ends_the_customer_with_success() -> None:
    _, step = run(RetryPolicy(), [R.BUSY, R.SUCCESS], NUMBERS)
    assert step == Final(R.SUCCESS)


def test_unusable_number_is_dropped_and_the_next_one_dialled_at_once() -> None:
    ended = T0 + timedelta(seconds=5)
    attempts = [AttemptOutcome(0, R.NOT_DIALED, ended, dialed=False)]
    assert next_step(RetryPolicy(), attempts, NUMBERS, ended) == Redial(1, ended)
    attempts.append(AttemptOutcome(1, R.BUSY, ended))
    step = next_step(RetryPolicy(), attempts, NUMBERS, ended)
    assert isinstance(step, Redial)
    assert step.number_index == 1


def test_customer_without_usable_number_ends_not_dialed() -> None:
    attempts = [AttemptOutcome(0, R.NOT_DIALED, T0, dialed=False)]
    assert next_step(RetryPolicy(), attempts, ["1"], T0) == Final(R.NOT_DIALED)
    assert next_step(RetryPolicy(), [], [], T0) == Final(R.NOT_DIALED)


def test_agent_rejection_does_not_use_up_an_attempt() -> None:
    attempts = [AttemptOutcome(0, R.AGENT_REJECTED, T0, dialed=False)] * 10
    assert call_count(attempts) == 0
    assert next_step(RetryPolicy(), attempts, NUMBERS, T0) == Redial(0, T0)


def test_callback_disposition_redials_at_the_time_the_agent_chose() -> None:
    later = T0 + timedelta(days=1)
    attempts = [AttemptOutcome(1, R.CALLBACK, T0, callback_at=later)]
    assert next_step(RetryPolicy(), attempts, NUMBERS, T0) == Redial(1, later)


def test_raising_retry_count_makes_a_maxcalls_customer_callable_again() -> None:
    attempts, step = run(RetryPolicy(retry_count=1), [R.BUSY, R.BUSY], NUMBERS)
    assert step == Final(R.MAXCALLS)
    assert not is_callable_again(R.MAXCALLS, call_count(attempts), RetryPolicy(retry_count=1))
    assert is_callable_again(R.MAXCALLS, call_count(attempts), RetryPolicy(retry_count=3))
    now = attempts[-1].ended_at
    assert isinstance(next_step(RetryPolicy(retry_count=3), attempts, NUMBERS, now), Redial)


def test_negative_settings_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        RetryPolicy(retry_count=-1)
    with pytest.raises(ValidationFailed):
        RetryPolicy(busy_delay_s=-5)


OPEN_RESULTS = st.sampled_from(
    [R.BUSY, R.NOANSWER, R.MACHINE, R.ABANDONED, R.FAILED, R.OPER_LOGOUT, R.NOT_DIALED]
)


@given(
    retry_count=st.integers(min_value=0, max_value=6),
    numbers=st.integers(min_value=1, max_value=3),
    results=st.lists(OPEN_RESULTS, max_size=30),
)
def test_dialled_attempts_never_exceed_retry_count_plus_one(
    retry_count: int, numbers: int, results: list[CustomerResult]
) -> None:
    policy = RetryPolicy(retry_count=retry_count)
    attempts: list[AttemptOutcome] = []
    now = T0
    for result in results:
        step = next_step(policy, attempts, [str(i) for i in range(numbers)], now)
        if isinstance(step, Final):
            assert step.result in (R.MAXCALLS, R.NOT_DIALED)
            break
        assert step.at >= now
        now = step.at + timedelta(seconds=1)
        dialed = result is not R.NOT_DIALED
        attempts.append(AttemptOutcome(step.number_index, result, now, dialed=dialed))
        assert call_count(attempts) <= retry_count + 1
