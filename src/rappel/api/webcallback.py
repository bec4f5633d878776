"""8x8 web callback (seed 002): `GET` and `POST /SC/webcallback.php`.

A thin translator: read the 8x8 parameters, call `services.callbacks.intake`
inside a grouped write (the answer leaves only after the commit), and answer
the 8x8 way: a redirect to `back` (with `ctl_error=N` on error), or without
`back` a JSON body. See docs/intake.md for the check order, the codes chosen
where the document is silent and the HTTP statuses.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import Connection
from starlette.responses import JSONResponse, RedirectResponse, Response

from rappel.api import signin
from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import RappelError, RateLimited, ServiceUnavailable, ValidationFailed
from rappel.domain.tenancy import Tenant, TokenKind
from rappel.domain.userdata import parse_pairs, split_system_data
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks as svc
from rappel.services.secrets import token_hash
from rappel.services.signin_guard import Credential, SignInThrottled
from rappel.store.group_commit import GroupCommitter, run_write
from rappel.store.tenancy_cache import TenancyReader

PATH = "/SC/webcallback.php"
COMMITTER = "group_commit"
MAX_BODY = 16 * 1024
#: Fields of a POSTed form (the seed has 17 parameters).
MAX_FIELDS = 100
MAX_USERDATA = 4000
#: Most pairs in ctl_userdata, as the native API allows in `udata`.
MAX_USERDATA_PAIRS = 100
MAX_SECONDS = 30 * 24 * 3600
log = logging.getLogger("rappel.api.webcallback")
router = APIRouter(tags=["8x8 web callback"])

INVALID_TOKEN = 3
P = svc.IntakeProblem
PROBLEM_CODES: dict[svc.IntakeProblem, int] = {
    P.TENANT_DISABLED: 1,
    P.WEB_CALLBACK_DISABLED: 2,
    P.QUEUE_UNKNOWN: 7,
    P.QUEUE_DISABLED: 8,
    P.QUEUE_NOT_OUTBOUND: 9,
    P.CHANNEL_MISSING: 12,
    P.CHANNEL_UNKNOWN: 13,
    P.EXT_DATA_TOO_LONG: 16,
    P.WEBHOOK_REFUSED: 16,
    P.DIAL_PLAN_UNKNOWN: 17,
    P.NUMBER_LIMIT: 15,
    P.TENANT_LIMIT: 15,
}
#: Codes for rule breaks the 8x8 list does not name, by the field at fault.
FIELD_CODES = {
    "phone": 17,
    "dialplan_id": 17,
    "callback_delay": 11,
    "expiration": 11,
    "start_time": 11,
    "end_time": 11,
    "extTransactionData": 16,
    "ctl_userdata": 16,
    "udata": 16,
    "ctl_callbackUrl": 16,
}
HTTP_STATUS = {1: 403, 2: 403, 3: 401, 8: 409, 9: 409, 15: 503, 19: 503}


_NUL_CODES = {
    "tenant": 3,
    "token": 3,
    "phone": 17,
    "callback_type": 14,
    "callback_delay": 11,
    "expiration": 11,
    "channel_number": 13,
    "caller_id": 13,
    "queue_id": 7,
    "dialplan_id": 17,
    "extTransactionData": 16,
    "ctl_userdata": 16,
}


class Failure(Exception):
    """An answer with a ctl_error code (never a 500)."""

    def __init__(self, code: int, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status

    @property
    def status(self) -> int:
        return self.http_status or HTTP_STATUS.get(self.code, 400)


class _Back:
    """The `back` URL, and whether it was checked against the tenant's domains."""

    def __init__(self, given: str | None) -> None:
        self.given = given
        self.checked = False

    @property
    def url(self) -> str | None:
        # Only a URL checked against the tenant's domains is ever redirected to.
        return self.given if self.checked else None


class BackRefused(Exception):
    """`back` points outside the tenant's allowed domains: no redirect at all."""


# The 8x8 surface reads its parameters itself and answers ctl_error codes; it is described
# in docs/, not in the OpenAPI document.
@router.get(PATH, response_model=None, include_in_schema=False)
@router.post(PATH, response_model=None, include_in_schema=False)
async def webcallback(request: Request) -> Response:
    """8x8 web callback: request a callback (seed 002 parameters)."""
    c: Container = request.app.state.container
    try:
        params = await _params(request)
    except Failure as failure:  # before `back` is known: no redirect
        return _body(failure, failure.status)
    verified = _Back(params.get("back") or None)
    allow = OutboundAllowlist.parse(c.settings.outbound_allow)
    nul = next((name for name, value in params.items() if "\x00" in name + value), None)
    if nul is not None:
        # No text column stores a NUL; refuse it here rather than fail in the database.
        code = _NUL_CODES.get(nul, 19)
        return _body(Failure(code, f"parameter {nul!r} contains a NUL character"), 400)
    address = signin.client_address(request)
    try:
        # Before the token is looked at: a guessing client learns nothing more.
        signin.guard(c).check(Credential.TOKEN, address)
    except SignInThrottled as exc:
        throttled = _body(Failure(15, exc.message, 429))
        throttled.headers["Retry-After"] = str(exc.retry_after_s)
        return throttled
    try:
        intake = await run_write(c.db, c.parts.get(COMMITTER), _job(c, params, allow, verified))
    except BackRefused as exc:
        return _body(Failure(19, str(exc)), http_status=400)
    except Failure as failure:
        if failure.code == INVALID_TOKEN:
            signin.guard(c).failed(Credential.TOKEN, address)
        return _answer(failure, verified.url)
    except RateLimited as exc:
        return _answer(Failure(15, exc.message, 429), verified.url)
    except ServiceUnavailable as exc:
        return _answer(Failure(15, exc.message), verified.url)
    except Exception:  # anything unexpected is 8x8's "internal error", never a 500
        log.exception("web callback failed")
        return _answer(Failure(19, "internal error"), verified.url)
    if intake.created:
        svc.after_intake(c.after_intake, intake.interaction["tenant_id"], intake.interaction_id)
    if verified.url:
        return RedirectResponse(verified.url, status_code=302)
    body = {"status": "ok", "interaction_id": intake.interaction_id, "created": intake.created}
    return JSONResponse(body, status_code=200)


async def _params(request: Request) -> dict[str, str]:
    """Query parameters, then a POST body (urlencoded or multipart); the first value wins."""
    pairs: list[tuple[str, str]] = list(request.query_params.multi_items())
    if request.method == "POST":
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form(max_files=0, max_fields=MAX_FIELDS)
            pairs += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        else:
            raw = await request.body()
            if len(raw) > MAX_BODY:
                raise Failure(19, f"the form is over {MAX_BODY} bytes", 413)
            text = raw.decode("utf-8", errors="replace")
            try:
                pairs += parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
            except ValueError as exc:
                raise Failure(19, f"the form has over {MAX_FIELDS} fields", 400) from exc
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value.strip())
    return params


def _job(
    c: Container, params: dict[str, str], allow: OutboundAllowlist, back: _Back
) -> Callable[[Connection], svc.Intake]:
    def job(conn: Connection) -> svc.Intake:
        tenant = _authenticate(conn, c.tenancy, params)
        _check_back(tenant, back.given)
        back.checked = back.given is not None
        try:
            svc.check_tenant_open(tenant, web_callback=True)
            return svc.intake(conn, c.clock, tenant, _request(params), allow, c.tenancy)
        except svc.IntakeRefused as exc:
            raise Failure(PROBLEM_CODES[exc.problem], exc.message) from exc
        except ValidationFailed as exc:
            raise Failure(FIELD_CODES.get(exc.field, 17), exc.message) from exc

    return job


def _authenticate(conn: Connection, tenancy: TenancyReader, params: dict[str, str]) -> Tenant:
    name, token = params.get("tenant", ""), params.get("token", "")
    tenant = tenancy.tenant_by_name(conn, name[:100]) if name else None
    row = tenancy.token(conn, token_hash(token)) if 0 < len(token) <= 200 else None
    if (
        tenant is None
        or row is None
        or row["tenant_id"] != tenant.id
        or row["kind"] != TokenKind.API.value
    ):
        raise Failure(INVALID_TOKEN, "invalid tenant or authentication token")
    return tenant


def _check_back(tenant: Tenant, back: str | None) -> None:
    if not back:
        return
    try:
        parts = urlsplit(back)
    except ValueError as exc:
        raise BackRefused("back is not a valid URL") from exc
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not tenant.allows_back_url_host(host):
        raise BackRefused("back must be an http(s) URL on one of the tenant's allowed domains")


def _request(params: dict[str, str]) -> svc.CallbackRequest:
    kind = params.get("callback_type", "")
    if not kind:
        raise Failure(10, "callback_type is missing")
    if kind not in ("1", "2"):
        raise Failure(14, f"unknown callback_type {kind[:20]!r} (use 1 or 2)")
    if not params.get("phone"):
        raise Failure(17, "phone is missing")
    ext = params.get("extTransactionData", "")
    if len(ext) > svc.EXT_DATA_MAX:
        raise Failure(16, f"extTransactionData is over {svc.EXT_DATA_MAX} characters")
    system, user = _userdata(params.get("ctl_userdata", ""))
    common: dict[str, Any] = {
        "phone": params["phone"],
        "source": "8x8",
        "caller_id": params.get("caller_id") or None,
        "dial_plan_id": _dial_plan(params.get("dialplan_id", "")),
        "ext_transaction_data": tuple(parse_pairs(ext, "extTransactionData")),
        "udata": dict(user),
        "webhook_url": system.get("ctl_callbackUrl") or None,
    }
    if kind == "1":
        channel = params.get("channel_number", "")
        if not channel:
            raise Failure(12, "channel_number is required for callback_type 1")
        return svc.CallbackRequest(
            flow=CallbackFlow.CUSTOMER_FIRST,
            channel_number=channel,
            queue=params.get("queue_id") or None,
            delay_s=_seconds(params.get("callback_delay", ""), "callback_delay", 0) or 0,
            **common,
        )
    return svc.CallbackRequest(
        flow=CallbackFlow.AGENT_FIRST,
        queue=params.get("queue_id") or None,
        expiration_s=_seconds(params.get("expiration", ""), "expiration", 1),
        **common,
    )


def _userdata(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    if len(text) > MAX_USERDATA:
        raise Failure(16, f"ctl_userdata is over {MAX_USERDATA} characters")
    pairs = parse_pairs(text, "ctl_userdata")
    if len(pairs) > MAX_USERDATA_PAIRS:
        raise Failure(16, f"ctl_userdata has {len(pairs)} pairs, at most {MAX_USERDATA_PAIRS}")
    system, user = split_system_data(pairs)
    if "ctl_callbackUrl" in system:
        system["ctl_callbackUrl"] = system["ctl_callbackUrl"].strip()
    return system, user


def _seconds(text: str, name: str, minimum: int) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        raise Failure(11, f"{name} is not numeric")
    digits = text.lstrip("0") or "0"
    value = int(digits) if len(digits) <= 12 else MAX_SECONDS + 1
    if value < minimum or value > MAX_SECONDS:
        raise Failure(11, f"{name} must be between {minimum} and {MAX_SECONDS} seconds")
    return value


def _dial_plan(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not text.isascii() or len(text) > 9:
        raise Failure(17, "dialplan_id must be digits")
    return int(text)


def _answer(failure: Failure, back: str | None) -> Response:
    if back is None:
        return _body(failure)
    return RedirectResponse(with_error(back, failure.code), status_code=302)


def _body(failure: Failure, http_status: int | None = None) -> Response:
    body = {"status": "error", "ctl_error": failure.code, "message": failure.message}
    return JSONResponse(body, status_code=http_status or failure.status)


def with_error(back: str, code: int) -> str:
    """`back` with `ctl_error=N` added to its query string (existing parameters kept)."""
    parts = urlsplit(back)
    query = f"{parts.query}&ctl_error={code}" if parts.query else f"ctl_error={code}"
    return urlunsplit(parts._replace(query=query))


def _render_error(
    request: Request, status: int, detail: str, error: RappelError | None
) -> Response:
    code = 15 if isinstance(error, ServiceUnavailable) else 19
    http_status = status if 400 <= status < 500 else 503
    return _body(Failure(code, detail), http_status=http_status)


def _committer_hook(c: Container) -> AbstractAsyncContextManager[None]:
    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        committer = GroupCommitter(c.db)
        committer.start()
        c.parts[COMMITTER] = committer
        try:
            yield
        finally:
            c.parts.pop(COMMITTER, None)
            committer.stop()

    return running()


def plugin(app: FastAPI, c: Container, renderers: ErrorRenderers) -> None:
    app.include_router(router)
    renderers.register(PATH, _render_error)
    app.state.startup_hooks.append(_committer_hook)
