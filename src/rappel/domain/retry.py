"""Retry policy: after an attempt, dial again (which number, when) or stop (with which result).

Rules (OBI seed 003, DESIGN section 4):

* A customer gets at most RetryCount + 1 *counted* attempts (default 3, so 4).
  An attempt is counted when a call was really placed (`dialed`) and its
  result is not final. When the budget is used up the customer gets MAXCALLS;
  raising RetryCount later reopens it (`is_callable_again`).
* BUSY, NOANSWER, MACHINE, ABANDONED and FAILED wait their own delay.
  SKIP, AGENT_REJECTED and OPER_LOGOUT go back to the pool after
  `requeue_delay_s`; CALLBACK waits for the time the agent chose.
* Numbers are tried in priority order. After an outcome that says nothing
  about the person (BUSY, NOANSWER, MACHINE, FAILED) the next number in the
  rotation is used; otherwise the same number again. A NOT_DIALED outcome
  marks that number unusable and the next usable one is tried at once; when
  none is left the customer ends NOT_DIALED.
* Any other final result (SUCCESS, REFUSAL, FILTERED, ...) ends the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rappel.domain.errors import ValidationFailed
from rappel.domain.results import CustomerResult, is_final

_ROTATE_ON: frozenset[CustomerResult] = frozenset(
    {
        CustomerResult.BUSY,
        CustomerResult.NOANSWER,
        CustomerResult.MACHINE,
        CustomerResult.FAILED,
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """A campaign's (or queue's) retry settings."""

    retry_count: int = 3
    busy_delay_s: int = 600
    no_answer_delay_s: int = 1800
    machine_delay_s: int = 3600
    abandoned_delay_s: int = 3600
    failed_delay_s: int = 300
    requeue_delay_s: int = 0

    def __post_init__(self) -> None:
        if self.retry_count < 0:
            raise ValidationFailed("retry_count", "RetryCount must be 0 or more")
        for name, value in vars(self).items():
            if name.endswith("_delay_s") and value < 0:
                raise ValidationFailed(name, f"{name} must be 0 or more")

    @property
    def max_attempts(self) -> int:
        return self.retry_count + 1

    def delay_after(self, result: CustomerResult) -> timedelta:
        seconds = {
            CustomerResult.BUSY: self.busy_delay_s,
            CustomerResult.NOANSWER: self.no_answer_delay_s,
            CustomerResult.MACHINE: self.machine_delay_s,
            CustomerResult.ABANDONED: self.abandoned_delay_s,
            CustomerResult.FAILED: self.failed_delay_s,
        }.get(result, self.requeue_delay_s)
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt on one of the customer's numbers came to."""

    number_index: int
    result: CustomerResult
    ended_at: datetime
    #: False when no call was placed (preview skipped or rejected, number refused)
    dialed: bool = True
    #: the time the agent set, for a CALLBACK disposition
    callback_at: datetime | None = None


@dataclass(frozen=True)
class Redial:
    """Dial `numbers[number_index]` at `at` (OBI lastBNumber becomes number_index)."""

    number_index: int
    at: datetime


@dataclass(frozen=True)
class Final:
    """Stop dialling; the customer's result is `result`."""

    result: CustomerResult


def counts_toward_retry(outcome: AttemptOutcome) -> bool:
    """Whether an attempt uses up one of the RetryCount + 1 calls (OBI callCount)."""
    return outcome.dialed and not is_final(outcome.result)


def call_count(attempts: Sequence[AttemptOutcome]) -> int:
    return sum(1 for a in attempts if counts_toward_retry(a))


def is_callable_again(result: CustomerResult, calls: int, policy: RetryPolicy) -> bool:
    """A MAXCALLS customer whose campaign's RetryCount has since been raised."""
    return result is CustomerResult.MAXCALLS and calls < policy.max_attempts


def next_step(
    policy: RetryPolicy,
    attempts: Sequence[AttemptOutcome],
    numbers: Sequence[str],
    now: datetime,
) -> Redial | Final:
    """Decide what happens to a customer after its attempts so far (oldest first)."""
    usable = _usable_numbers(attempts, len(numbers))
    if not usable:
        return Final(CustomerResult.NOT_DIALED)
    if not attempts:
        return Redial(usable[0], now)
    last = attempts[-1]
    if is_final(last.result) and last.result is not CustomerResult.NOT_DIALED:
        return Final(last.result)
    if call_count(attempts) >= policy.max_attempts:
        return Final(CustomerResult.MAXCALLS)
    if last.result is CustomerResult.NOT_DIALED:
        return Redial(_after(last.number_index, usable), now)
    index = last.number_index if last.number_index in usable else _after(last.number_index, usable)
    if last.result in _ROTATE_ON:
        index = _after(last.number_index, usable)
    if last.result is CustomerResult.CALLBACK and last.callback_at is not None:
        return Redial(index, max(now, last.callback_at))
    return Redial(index, max(now, last.ended_at + policy.delay_after(last.result)))


def _usable_numbers(attempts: Sequence[AttemptOutcome], count: int) -> list[int]:
    refused = {a.number_index for a in attempts if a.result is CustomerResult.NOT_DIALED}
    return [i for i in range(count) if i not in refused]


def _after(index: int, usable: list[int]) -> int:
    """The next usable number after `index`, wrapping round to the first."""
    return next((i for i in usable if i > index), usable[0])
