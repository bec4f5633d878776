"""Who is calling: tenant tokens (Bearer, or Basic with the token as password) or a session."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable

from fastapi import Depends, Request

from rappel.api.same_origin import check_same_origin
from rappel.api.signin import token_attempt
from rappel.bootstrap import Container
from rappel.domain.errors import PermissionDenied, Unauthenticated
from rappel.domain.tenancy import Role, TokenKind
from rappel.services import sessions
from rappel.services.tenancy import Principal, authenticate_token

SESSION_COOKIE = "rappel_session"


def app_container(request: Request) -> Container:
    value = request.app.state.container
    assert isinstance(value, Container)
    return value


async def container(request: Request) -> Container:
    """The dependency; async because FastAPI runs a plain one in a worker thread."""
    return app_container(request)


def credential_from_header(header: str | None) -> str | None:
    """The token in `Authorization: Bearer <t>` or `Basic base64(user:<t>)`."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("malformed Basic credentials") from exc
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    raise Unauthenticated("use Authorization: Bearer <token>")


def principal(request: Request, c: Container = Depends(container)) -> Principal:
    """The dependency: `identify`, which FastAPI runs in a worker thread."""
    return identify(request, c)


def identify(request: Request, c: Container) -> Principal:
    """A tenant token or a logged-in user's session cookie (reads the database).

    A throttled client address is refused before its token is looked at; a state
    change by cookie must come from Rappel's own origin (`same_origin`).
    """
    token = credential_from_header(request.headers.get("authorization"))
    if token is not None:
        with token_attempt(request, c):
            return authenticate_token(c.db, token, TokenKind.API, c.tenancy)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        check_same_origin(request, c.settings.public_url)
        return sessions.authenticate_session(c.db, c.clock, sessions.cookie_key(c.secret), cookie)
    raise Unauthenticated("authentication required: a tenant token or a session")


def require(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(who: Principal = Depends(principal)) -> Principal:
        return check_role(who, roles)

    return check


def check_role(who: Principal, roles: tuple[Role, ...]) -> Principal:
    if who.role not in roles:
        raise PermissionDenied(f"this needs the role {' or '.join(r.value for r in roles)}")
    return who


SUPERVISORS = (Role.ADMIN, Role.SUPERVISOR)
admin = require(Role.ADMIN)
supervisor = require(*SUPERVISORS)
anyone = require(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
