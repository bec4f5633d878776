from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from rappel.integrations.retry_policy import RetryPolicy

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def fixed(value: float) -> RetryPolicy:
    return RetryPolicy(random=lambda: value, base_s=10, factor=2, cap_s=300, jitter=0.2)


def test_delay_doubles_after_each_failure_without_jitter_at_the_midpoint() -> None:
    policy = fixed(0.5)
    assert [policy.delay_s(n) for n in range(1, 6)] == [10, 20, 40, 80, 160]


def test_delay_never_exceeds_the_cap() -> None:
    policy = fixed(0.999)
    assert policy.delay_s(6) == 300
    assert policy.delay_s(50) == 300
    assert policy.delay_s(10_000) == 300


def test_jitter_spreads_the_delay_both_ways() -> None:
    assert fixed(0.0).delay_s(1) == pytest.approx(8.0)
    assert fixed(0.999999).delay_s(1) == pytest.approx(12.0, rel=1e-4)


def test_next_attempt_is_now_plus_the_delay() -> None:
    assert fixed(0.5).next_attempt_at(2, NOW) == NOW + timedelta(seconds=20)


def test_no_next_attempt_after_the_last_one() -> None:
    policy = RetryPolicy(random=lambda: 0.5, max_attempts=3)
    assert policy.next_attempt_at(2, NOW) is not None
    assert policy.next_attempt_at(3, NOW) is None


def test_seeded_random_source_gives_the_same_schedule() -> None:
    first = RetryPolicy(random=random.Random(7).random)
    second = RetryPolicy(random=random.Random(7).random)
    assert [first.delay_s(n) for n in range(1, 9)] == [second.delay_s(n) for n in range(1, 9)]


def test_every_jittered_delay_stays_within_its_band() -> None:
    policy = RetryPolicy(random=random.Random(1).random, base_s=5, cap_s=1000, jitter=0.5)
    for attempt in range(1, 12):
        base = min(1000, 5 * 2 ** (attempt - 1))
        assert base * 0.5 <= policy.delay_s(attempt) <= min(1000, base * 1.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"base_s": 0}, {"cap_s": 1, "base_s": 2}, {"factor": 0.5}, {"jitter": 2}, {"max_attempts": 0}],
)
def test_nonsense_configuration_is_refused_at_construction(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(random=lambda: 0.5, **kwargs)  # type: ignore[arg-type]
