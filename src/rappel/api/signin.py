"""Sign-in at the HTTP edge: the client's address, the throttle, bounded password hashing.

Every credential check of every surface goes through here: a throttled client
is refused before its credential is looked up or hashed (`services.signin_guard`).
Password logins run in their own pool of `signin_hash_concurrency` threads,
never on the event loop and never in the pool other requests use; at most
`MAX_WAITING` logins queue for it and further ones are refused (429), so a flood
of logins costs a short queue, not the server's CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import anyio.to_thread
from starlette.requests import Request

from rappel.bootstrap import Container
from rappel.domain.errors import RateLimited, Unauthenticated
from rappel.services import sessions
from rappel.services.secrets import verify_password
from rappel.services.signin_guard import Credential, SignInGuard, SignInLimits, account_key
from rappel.services.tenancy import Principal

GUARD = "signin_guard"
HASHING = "signin_hashing"
#: Logins that may wait for a hashing thread; more at once are refused.
MAX_WAITING = 32


def client_address(request: Request) -> str:
    """The peer's address (`rappel serve` behind a proxy: see uvicorn's --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def guard(c: Container) -> SignInGuard:
    value = c.parts.get(GUARD)
    if not isinstance(value, SignInGuard):
        s = c.settings
        limits = SignInLimits(
            s.signin_account_failures, s.signin_address_failures, s.signin_window_s
        )
        value = c.parts.setdefault(GUARD, SignInGuard(limits, c.clock))
    return value


@contextmanager
def token_attempt(request: Request, c: Container) -> Iterator[None]:
    """Around a token check: refused first when throttled; a refused token counts."""
    g, address = guard(c), client_address(request)
    g.check(Credential.TOKEN, address)
    try:
        yield
    except Unauthenticated:
        g.failed(Credential.TOKEN, address)
        raise


class Hashing:
    """A small thread pool for password checks, with a bounded queue."""

    def __init__(self, threads: int, check: sessions.PasswordCheck = verify_password) -> None:
        self._threads = threads
        self._check = check
        self._limiter: anyio.CapacityLimiter | None = None

    async def login(
        self, c: Container, request: Request, credentials: tuple[str, str, str]
    ) -> tuple[str, Principal]:
        g, address = guard(c), client_address(request)
        account = account_key(credentials[0], credentials[1])
        g.check(Credential.PASSWORD, address, account)
        limiter = self._limiter = self._limiter or anyio.CapacityLimiter(self._threads)
        if limiter.statistics().tasks_waiting >= MAX_WAITING:
            raise RateLimited("too many sign-ins at once; try again shortly", retry_after_s=1)

        def attempt() -> tuple[str, Principal]:
            # Again: failures of logins queued ahead of this one may have filled a count.
            g.check(Credential.PASSWORD, address, account)
            key = sessions.cookie_key(c.secret)
            return sessions.login(c.db, c.clock, key, credentials, self._check)

        try:
            done = await anyio.to_thread.run_sync(attempt, limiter=limiter)
        except Unauthenticated:
            g.failed(Credential.PASSWORD, address, account)
            raise
        g.succeeded(account)
        return done


def hashing(c: Container) -> Hashing:
    value = c.parts.get(HASHING)
    if not isinstance(value, Hashing):
        value = c.parts.setdefault(HASHING, Hashing(c.settings.signin_hash_concurrency))
    return value
