"""Native API: user login sessions for the agent desktop and the supervisor dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from rappel.api import signin
from rappel.api.auth import SESSION_COOKIE, anyone, container
from rappel.api.errors import answers
from rappel.api.native.schemas import LoginIn, Me
from rappel.api.same_origin import check_same_origin
from rappel.bootstrap import Container
from rappel.services import sessions
from rappel.services.sessions import SESSION_TTL
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1/auth", tags=["session"])


def _me(who: Principal) -> Me:
    return Me(
        tenant_id=who.tenant_id,
        tenant_name=who.tenant_name,
        role=who.role.value,
        user_id=who.user_id,
    )


@router.post("/login", response_model=Me, responses=answers(401, 403, 429))
async def login(
    body: LoginIn, request: Request, response: Response, c: Container = Depends(container)
) -> Me:
    """Log a user in; sets an HttpOnly session cookie. Failed logins are throttled (429)."""
    check_same_origin(request, c.settings.public_url)
    credentials = (body.tenant, body.username, body.password)
    cookie, who = await signin.hashing(c).login(c, request, credentials)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _me(who)


# 403: a state change made with the session cookie from a foreign origin.
@router.post("/logout", status_code=204, responses=answers(403))
def logout(request: Request, c: Container = Depends(container)) -> Response:
    """End the session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        check_same_origin(request, c.settings.public_url)
        sessions.logout(c.db, sessions.cookie_key(c.secret), cookie)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(anyone)) -> Me:
    """Who the caller is."""
    return _me(who)
