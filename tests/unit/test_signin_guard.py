"""The sign-in throttle on a virtual clock: counts, windows, accounts and addresses."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rappel.clock import VirtualClock
from rappel.services.rate_limits import MAX_KEYS, SlidingWindowLimiter
from rappel.services.signin_guard import (
    Credential,
    SignInGuard,
    SignInLimits,
    SignInThrottled,
    account_key,
)

PASSWORD, TOKEN = Credential.PASSWORD, Credential.TOKEN


def guard(clock: VirtualClock) -> SignInGuard:
    return SignInGuard(SignInLimits(account_failures=3, address_failures=5, window_s=900), clock)


def later(clock: VirtualClock, seconds: float) -> None:
    clock.set(clock.now() + timedelta(seconds=seconds))


def test_an_account_is_refused_after_its_failures_until_the_oldest_leaves_the_window() -> None:
    clock = VirtualClock()
    g = guard(clock)
    account = account_key("Acme", "agent1")
    for _ in range(3):
        g.check(PASSWORD, "10.0.0.1", account)
        g.failed(PASSWORD, "10.0.0.1", account)
        later(clock, 100)
    with pytest.raises(SignInThrottled) as refused:
        g.check(PASSWORD, "10.0.0.2", account)  # another address does not help
    assert refused.value.retry_after_s == 601
    later(clock, 600)
    g.check(PASSWORD, "10.0.0.2", account)


def test_the_account_key_ignores_case() -> None:
    clock = VirtualClock()
    g = guard(clock)
    for name in ("agent1", "AGENT1", "Agent1"):
        g.failed(PASSWORD, "10.0.0.1", account_key("acme", name))
    with pytest.raises(SignInThrottled):
        g.check(PASSWORD, "10.0.0.9", account_key("ACME", "aGeNt1"))


def test_an_address_is_refused_after_its_failures_whatever_the_account() -> None:
    clock = VirtualClock()
    g = guard(clock)
    for n in range(5):
        g.failed(PASSWORD, "10.0.0.1", account_key("Acme", f"user{n}"))
    with pytest.raises(SignInThrottled):
        g.check(PASSWORD, "10.0.0.1", account_key("Acme", "someone-else"))
    g.check(PASSWORD, "10.0.0.2", account_key("Acme", "someone-else"))
    g.check(TOKEN, "10.0.0.1")  # token failures are counted apart


def test_a_success_clears_the_account_but_not_the_address() -> None:
    clock = VirtualClock()
    g = guard(clock)
    account = account_key("Acme", "agent1")
    for _ in range(2):
        g.failed(PASSWORD, "10.0.0.1", account)
    g.succeeded(account)
    for _ in range(2):
        g.failed(PASSWORD, "10.0.0.1", account)
    g.check(PASSWORD, "10.0.0.3", account)
    g.failed(PASSWORD, "10.0.0.1", account)
    with pytest.raises(SignInThrottled):
        g.check(PASSWORD, "10.0.0.1", account_key("Acme", "agent2"))  # 5 from this address


def test_retry_after_is_zero_once_the_window_passed_without_new_hits() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(2, 60, clock)
    limiter.hit("a")
    limiter.hit("a")
    assert limiter.retry_after("a") == 61
    later(clock, 61)
    assert limiter.retry_after("a") == 0


def test_a_flood_of_live_keys_stays_bounded() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(5, 3600, clock)
    for n in range(MAX_KEYS + 10):
        limiter.hit(str(n))
    assert len(limiter._hits) <= MAX_KEYS
    assert limiter.retry_after(str(MAX_KEYS + 9)) == 0
