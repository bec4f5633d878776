from __future__ import annotations

from datetime import timedelta

import pytest

from rappel.clock import VirtualClock
from rappel.integrations.circuit import CircuitBreaker, CircuitState

CRM = "https://crm.example.com/dip"


def breaker(clock: VirtualClock) -> CircuitBreaker:
    return CircuitBreaker(clock, failure_threshold=3, reset_after_s=30)


def fail(b: CircuitBreaker, times: int, key: str = CRM) -> None:
    for _ in range(times):
        assert b.allow(key)
        b.record_failure(key)


def test_circuit_opens_after_threshold_consecutive_failures() -> None:
    b = breaker(VirtualClock())
    fail(b, 2)
    assert b.state(CRM) is CircuitState.CLOSED
    fail(b, 1)
    assert b.state(CRM) is CircuitState.OPEN
    assert not b.allow(CRM)
    assert b.opened_total == 1
    assert b.rejected_total == 1


def test_a_success_resets_the_failure_count() -> None:
    b = breaker(VirtualClock())
    fail(b, 2)
    b.record_success(CRM)
    fail(b, 2)
    assert b.state(CRM) is CircuitState.CLOSED


def test_open_circuit_lets_one_trial_through_after_the_reset_delay() -> None:
    clock = VirtualClock()
    b = breaker(clock)
    fail(b, 3)
    clock.set(clock.now() + timedelta(seconds=29))
    assert not b.allow(CRM)
    clock.set(clock.now() + timedelta(seconds=2))
    assert b.allow(CRM)
    assert b.state(CRM) is CircuitState.HALF_OPEN
    assert not b.allow(CRM)


def test_successful_trial_closes_the_circuit() -> None:
    clock = VirtualClock()
    b = breaker(clock)
    fail(b, 3)
    clock.set(clock.now() + timedelta(seconds=60))
    assert b.allow(CRM)
    b.record_success(CRM)
    assert b.state(CRM) is CircuitState.CLOSED
    assert b.open_count == 0


def test_failed_trial_opens_the_circuit_again_for_a_full_delay() -> None:
    clock = VirtualClock()
    b = breaker(clock)
    fail(b, 3)
    clock.set(clock.now() + timedelta(seconds=60))
    assert b.allow(CRM)
    b.record_failure(CRM)
    assert b.state(CRM) is CircuitState.OPEN
    assert b.opened_total == 2
    assert not b.allow(CRM)


def test_keys_are_independent() -> None:
    b = breaker(VirtualClock())
    fail(b, 3)
    assert b.allow("https://other.example.com/")
    assert b.open_count == 1


def test_nonsense_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="circuit breaker"):
        CircuitBreaker(VirtualClock(), failure_threshold=0)
