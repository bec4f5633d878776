"""The sign-in throttle: how many failed sign-ins an account and a client address may make.

Failed password logins are counted per account (tenant and user name, whether
they exist or not, so a refusal tells nothing about existence) and per client
address; failed tokens (Bearer, Basic, 8x8 `token`, data dip, operator) per
client address. Once a count is full, the next attempt is refused before any
credential is looked at or hashed, until the oldest failure leaves the window.
A successful login clears its account's count, never its address's.

Counts live in the process (see `rate_limits`): each API node counts on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from rappel.clock import Clock
from rappel.domain.errors import RateLimited
from rappel.services.rate_limits import SlidingWindowLimiter


class Credential(Enum):
    """What a client tried to sign in with; each kind has its own count per address."""

    PASSWORD = "password"  #: tenant, username and password
    TOKEN = "token"  #: an API, data-dip or operator token


@dataclass(frozen=True)
class SignInLimits:
    """Failures allowed in any `window_s` seconds, per account and per client address."""

    account_failures: int = 10
    address_failures: int = 100
    window_s: float = 900.0


class SignInThrottled(RateLimited):
    """Too many failed sign-ins lately; nothing was checked."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many failed sign-ins; try again in {retry_after_s} seconds", retry_after_s
        )


def account_key(tenant: str, username: str) -> str:
    # Case-folded, so varying the case of a name does not buy fresh attempts.
    return f"{tenant.casefold()}\x00{username.casefold()}"


class SignInGuard:
    """Counts failed sign-ins and refuses attempts once a count is full."""

    def __init__(self, limits: SignInLimits, clock: Clock) -> None:
        self.limits = limits
        self._accounts = SlidingWindowLimiter(limits.account_failures, limits.window_s, clock)
        self._addresses = SlidingWindowLimiter(limits.address_failures, limits.window_s, clock)

    def check(self, kind: Credential, address: str, account: str | None = None) -> None:
        """Raise `SignInThrottled` when this address or account has failed too often."""
        wait = self._addresses.retry_after(f"{kind.value}:{address}")
        if account is not None:
            wait = max(wait, self._accounts.retry_after(account))
        if wait:
            raise SignInThrottled(wait)

    def failed(self, kind: Credential, address: str, account: str | None = None) -> None:
        self._addresses.hit(f"{kind.value}:{address}")
        if account is not None:
            self._accounts.hit(account)

    def succeeded(self, account: str) -> None:
        self._accounts.forget(account)
