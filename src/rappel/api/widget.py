"""The call-me-back widget's public API (`/v1/widget/...`), its admin API and the cancel page.

The public endpoints take a widget key, never a token. CORS headers are sent
only to the key's tenant's allowed origins; a foreign origin is refused.
"""

from __future__ import annotations

import html
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from pydantic.config import JsonDict
from starlette.responses import HTMLResponse, JSONResponse

from rappel.api.auth import admin, app_container, container
from rappel.api.errors import ErrorRenderers, answers, problem_renderer
from rappel.api.times import UtcInstant
from rappel.bootstrap import Container
from rappel.domain.errors import RappelError, RateLimited
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks
from rappel.services import widget as service
from rappel.services.tenancy import Principal
from rappel.services.widget_guards import WidgetGuards

#: Every public call names a key (404 unknown, 403 not for this website) and may be throttled.
public = APIRouter(prefix="/v1/widget", tags=["widget"], responses=answers(403, 404, 429))
keys = APIRouter(tags=["widget"])
pages = APIRouter(include_in_schema=False)

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def guards(c: Container) -> WidgetGuards:
    value = c.parts.get("widget_guards")
    if not isinstance(value, WidgetGuards):
        value = WidgetGuards.build(
            c.clock,
            c.settings.widget_ip_per_hour,
            c.settings.widget_phone_per_hour,
            c.settings.captcha_verify_url,
            c.settings.captcha_secret,
        )
        c.parts["widget_guards"] = value
    return value


def request_origin(request: Request) -> str | None:
    """The Origin header, else the Referer's origin (browsers omit Origin on same-origin GETs)."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        return origin
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def widget_context(request: Request, key: str, c: Container) -> service.WidgetContext:
    origin = request_origin(request)
    ctx = service.resolve_key(c.db, key, origin)
    # Known from here on: errors and answers may carry CORS headers for this origin.
    request.state.cors_origin = origin
    return ctx


def _cors(request: Request, response: Response) -> Response:
    origin = getattr(request.state, "cors_origin", None)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def widget_error_renderer(
    request: Request, status: int, detail: str, error: RappelError | None
) -> Response:
    response = problem_renderer(request, status, detail, error)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(getattr(request.state, "retry_after", 3600))
    return _cors(request, response)


# -- public ------------------------------------------------------------------


class WidgetRequestIn(BaseModel):
    key: str = Field(max_length=64)
    phone: str = Field(max_length=40)
    when: str = Field(default="now", max_length=8)
    name: str = Field(default="", max_length=200)
    delay_minutes: int | None = None
    slot_start: UtcInstant | None = None
    #: the honeypot: a field people never see; bots fill it
    website: str = Field(default="", max_length=500)
    captcha_token: str = Field(default="", max_length=4096)


@public.get("/config")
def config(
    request: Request, key: str = Query(max_length=64), c: Container = Depends(container)
) -> Response:
    """What the widget offers for this key: choices, hours, time zone, CAPTCHA."""
    ctx = widget_context(request, key, c)
    body = {
        "tenant": ctx.tenant.name,
        "time_zone": ctx.tenant.time_zone,
        "hours": {"start": ctx.tenant.hard_hours_start, "end": ctx.tenant.hard_hours_end},
        "choices": ["now", "in", "slot"],
        "delays": [10, 15, 30, 60, 120],
        "slot_minutes": service.SLOT_MINUTES,
        "days_ahead": service.MAX_DAYS_AHEAD,
        "captcha": bool(getattr(guards(c).captcha, "enabled", False)),
    }
    return _cors(request, JSONResponse(body))


@public.get("/availability")
def availability(
    request: Request,
    key: str = Query(max_length=64),
    day: date = Query(alias="date"),
    c: Container = Depends(container),
) -> Response:
    """Time slots of a day inside the tenant's hours; full slots are marked unavailable."""
    ctx = widget_context(request, key, c)
    slots = service.availability(c.db, c.clock, ctx, day)
    body = {
        "date": day.isoformat(),
        "time_zone": ctx.tenant.time_zone,
        "slots": [
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "capacity": s.capacity,
                "booked": s.booked,
                "available": s.available,
            }
            for s in slots
        ],
    }
    return _cors(request, JSONResponse(body))


@public.get("/estimate")
def estimate(
    request: Request, key: str = Query(max_length=64), c: Container = Depends(container)
) -> Response:
    """The estimated wait for "call me now"; null when no agent is logged in."""
    ctx = widget_context(request, key, c)
    e = service.estimate(c.db, c.clock, ctx)
    body = {
        "open": e.open,
        "opens_at": e.opens_at.isoformat() if e.opens_at else None,
        "waiting": e.waiting,
        "agents": e.agents,
        "handle_s": e.handle_s,
        "wait_s": e.wait_s,
    }
    return _cors(request, JSONResponse(body))


@public.post("/callbacks", status_code=201)
async def request_callback(body: WidgetRequestIn, request: Request) -> Response:
    """Ask for a callback from a website (JSON); answers the time and a cancel link.

    The widget also names its key in the query string (`?key=`) so that the CORS
    preflight, which carries no body, can be checked against the key's origins.
    """
    c = app_container(request)
    ctx = await run_in_threadpool(widget_context, request, body.key, c)
    form = service.WidgetRequest(
        phone=body.phone,
        when=body.when,
        name=body.name,
        delay_minutes=body.delay_minutes,
        slot_start=body.slot_start,
        honeypot=body.website,
        captcha_token=body.captcha_token,
    )
    visitor_ip = request.client.host if request.client else "unknown"
    base = c.settings.public_url or str(request.base_url)
    g = guards(c)
    try:
        done = await run_in_threadpool(
            service.request_widget_callback,
            c.db,
            c.clock,
            ctx,
            form,
            g,
            visitor_ip,
            base,
            c.secret,
            OutboundAllowlist.parse(c.settings.outbound_allow),
        )
    except RateLimited:
        request.state.retry_after = max(g.per_ip.retry_after(f"{ctx.tenant.id}:{visitor_ip}"), 60)
        raise
    if done.interaction_id:
        callbacks.after_intake(c.after_intake, ctx.tenant.id, done.interaction_id)
    answer = {
        "interaction_id": done.interaction_id,
        "start_time": done.start_time.isoformat(),
        "end_time": done.end_time.isoformat() if done.end_time else None,
        "time_zone": done.time_zone,
        "cancel_url": done.cancel_url,
    }
    return _cors(request, JSONResponse(answer, status_code=201))


@public.options("/{path:path}", include_in_schema=False)
def preflight(
    request: Request,
    path: str,
    key: str = Query(default="", max_length=64),
    c: Container = Depends(container),
) -> Response:
    """CORS preflight: allowed only for the origins of the key named in the query."""
    origin = request_origin(request)
    try:
        service.resolve_key(c.db, key, origin)
    except RappelError:
        return Response(status_code=403)
    assert origin is not None
    response = Response(status_code=204)
    response.headers.update(
        {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }
    )
    return response


# -- admin ------------------------------------------------------------------


class WidgetKeyIn(BaseModel):
    queue_id: str = Field(max_length=36)
    key: str | None = Field(default=None, max_length=64)
    webhook_url: str | None = Field(default=None, max_length=2000)
    udata: dict[str, str] = Field(default_factory=dict)


class WidgetKeyPatch(BaseModel):
    enabled: bool | None = None
    webhook_url: str | None = Field(default=None, max_length=2000)
    udata: dict[str, str] | None = None


_HH_MM: JsonDict = {"pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"}


class RosterRow(BaseModel):
    weekday: int = Field(json_schema_extra={"minimum": 1, "maximum": 7})
    start: str = Field(json_schema_extra=_HH_MM)
    end: str = Field(json_schema_extra=_HH_MM)
    agents: int = Field(json_schema_extra={"minimum": 0, "maximum": 10_000})


def _key_out(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: row[k] for k in ("key", "queue_id", "enabled", "webhook_url", "udata")}
    out["created_at"] = row["created_at"].isoformat()
    return out


@keys.post("/v1/widget-keys", status_code=201)
def create_key(
    body: WidgetKeyIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Create a public widget key bound to a queue (and the tenant's widget origins)."""
    row = service.create_widget_key(
        c.db,
        c.clock,
        who.tenant_id,
        body.queue_id.replace("-", "").upper(),
        body.key,
        body.webhook_url,
        body.udata,
        OutboundAllowlist.parse(c.settings.outbound_allow),
    )
    return JSONResponse(_key_out(row), status_code=201)


@keys.get("/v1/widget-keys")
def list_keys(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    """The tenant's widget keys."""
    return [_key_out(r) for r in service.list_widget_keys(c.db, who.tenant_id)]


@keys.patch("/v1/widget-keys/{key}")
def patch_key(
    key: str,
    body: WidgetKeyPatch,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> Response:
    """Disable (or enable again) a key, or change its webhook URL and user data."""
    row = service.update_widget_key(
        c.db,
        who.tenant_id,
        key,
        body.model_dump(exclude_unset=True),
        OutboundAllowlist.parse(c.settings.outbound_allow),
    )
    return JSONResponse(_key_out(row))


@keys.get("/v1/queues/{queue_id}/roster")
def get_roster(
    queue_id: str, who: Principal = Depends(admin), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    """Rostered agents per weekday and hours: the widget's slot capacity comes from it."""
    return service.list_schedules(c.db, who.tenant_id, queue_id.replace("-", "").upper())


@keys.put("/v1/queues/{queue_id}/roster")
def put_roster(
    queue_id: str,
    rows: list[RosterRow],
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> list[dict[str, Any]]:
    """Replace the queue's roster."""
    wanted = queue_id.replace("-", "").upper()
    return service.put_schedules(c.db, who.tenant_id, wanted, [r.model_dump() for r in rows])


# -- the cancel page ----------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><link rel="stylesheet" href="/static/rappel.css"></head>
<body class="plain"><main class="card narrow">
<h1>{html.escape(title)}</h1>{body}</main></body></html>"""
    return HTMLResponse(
        text,
        status_code=status,
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


def cancel_page_error(
    request: Request, status: int, detail: str, error: RappelError | None
) -> Response:
    return _page("Cannot cancel", f'<p role="alert">{html.escape(detail)}</p>', status)


@pages.get("/widget/cancel")
def cancel_form(
    t: str = Query(max_length=40),
    i: str = Query(max_length=40),
    s: str = Query(max_length=64),
    c: Container = Depends(container),
) -> HTMLResponse:
    """Shows the callback and a button that cancels it."""
    view = service.describe_for_cancel(c.db, c.secret, t, i, s)
    if not view.cancellable:
        return _page("Nothing to cancel", f"<p>{html.escape(view.summary)}</p>")
    fields = "".join(
        f'<input type="hidden" name="{n}" value="{html.escape(v)}">'
        for n, v in (("t", t), ("i", i), ("s", s))
    )
    return _page(
        "Cancel your callback",
        f"<p>{html.escape(view.summary)}</p>"
        f'<form method="post" action="/widget/cancel">{fields}'
        '<button type="submit" class="danger">Cancel the callback</button></form>',
    )


@pages.post("/widget/cancel")
def cancel_submit(
    t: str = Form(max_length=40),
    i: str = Form(max_length=40),
    s: str = Form(max_length=64),
    c: Container = Depends(container),
) -> HTMLResponse:
    """Cancels the callback named by a signed link."""
    service.cancel_by_link(c.db, c.clock, c.secret, t, i, s)
    return _page("Callback cancelled", "<p>Your callback is cancelled. We will not call you.</p>")


def plugin(app: FastAPI, c: Container, renderers: ErrorRenderers) -> None:
    guards(c)
    renderers.register("/v1/widget/", widget_error_renderer)
    renderers.register("/widget/", cancel_page_error)
    for router in (public, keys, pages):
        app.include_router(router)
