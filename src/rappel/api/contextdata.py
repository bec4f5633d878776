"""Nixxis ContextData (seed 000): `POST /data/?action=CreateContextData&context=|activity=`.

Creates a campaign record in callback state (State 15) plus its interaction,
through `services.callbacks.intake`. Success answers 200 with the new record's
id as plain text (and `Location: /v1/interactions/{id}`); errors answer a 4xx
plain-text line `Field: message` naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import Connection, RowMapping
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from rappel.api.auth import container, supervisor
from rappel.api.contextdata_xml import ContextData, parse_contextdata
from rappel.api.errors import ErrorRenderers
from rappel.api.webcallback import COMMITTER
from rappel.bootstrap import Container
from rappel.clock import Clock
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import NotFound, RappelError, ValidationFailed
from rappel.domain.ids import parse_id
from rappel.domain.phone import region_for_time_zone
from rappel.domain.tenancy import Tenant
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks as svc
from rappel.services.tenancy import Principal
from rappel.store import activities as campaign_store
from rappel.store import tenancy as tenancy_store
from rappel.store.group_commit import run_write

router = APIRouter(tags=["Nixxis ContextData"])
ACTION = "CreateContextData"
_SERVICE_FIELDS = {"start_time": "DialStartDate", "end_time": "DialEndDate", "queue_id": "context"}


class TooLarge(RappelError):
    """The body is over the XML size limit."""


async def _body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body: larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


# A vendor surface described in docs/, not in the OpenAPI document (see webcallback).
@router.post("/data/", response_model=None, include_in_schema=False)
@router.post("/data", response_model=None, include_in_schema=False)
async def create_context_data(
    request: Request, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> Response:
    """Nixxis CreateContextData: a campaign (or activity) record in callback state."""
    query = request.query_params
    action = query.get("action", "")
    if action.lower() != ACTION.lower():
        raise ValidationFailed("action", f"action must be {ACTION}")
    context = query.get("context") or None
    activity = query.get("activity") or None
    limit = c.settings.max_xml_bytes
    # In a worker thread: parsing is linear, but RAPPEL_MAX_XML_BYTES may be raised far
    # enough that on the event loop it would hold up every other request.
    data = await run_in_threadpool(parse_contextdata, await _body(request, limit), limit)
    allow = OutboundAllowlist.parse(c.settings.outbound_allow)
    job = _job(c.clock, who.tenant_id, context, activity, data, allow)
    intake = await run_write(c.db, c.parts.get(COMMITTER), job)
    if intake.created:
        svc.after_intake(c.after_intake, who.tenant_id, intake.interaction_id)
    headers = {"Location": f"/v1/interactions/{intake.interaction_id}"}
    return PlainTextResponse(intake.interaction["customer_id"], headers=headers)


def _job(
    clock: Clock,
    tenant_id: str,
    context: str | None,
    activity: str | None,
    data: ContextData,
    allow: OutboundAllowlist,
) -> Callable[[Connection], svc.Intake]:
    def job(conn: Connection) -> svc.Intake:
        tenant = tenancy_store.get_tenant(conn, tenant_id)
        if tenant is None:
            raise NotFound("tenant: no such tenant")
        svc.check_tenant_open(tenant)
        campaign, activity_id = _target(conn, tenant_id, context, activity, data)
        req, phone_field = _request(tenant, campaign, activity_id, data, clock.now())
        names = {**_SERVICE_FIELDS, "phone": phone_field}
        try:
            return svc.intake(conn, clock, tenant, req, allow)
        except svc.IntakeRefused as exc:
            field = names.get(exc.field, exc.field)
            raise svc.IntakeRefused(exc.problem, field, exc.message) from exc
        except ValidationFailed as exc:
            raise ValidationFailed(names.get(exc.field, exc.field), exc.message) from exc

    return job


def _target(
    conn: Connection,
    tenant_id: str,
    context: str | None,
    activity: str | None,
    data: ContextData,
) -> tuple[RowMapping, str | None]:
    """The campaign and the activity (if any) the record goes to."""
    activity_id = parse_id(activity, "activity") if activity else None
    if activity_id and data.current_activity and data.current_activity != activity_id:
        raise ValidationFailed("CurrentActivity", "CurrentActivity differs from activity")
    activity_id = activity_id or data.current_activity
    field = "activity" if activity else "CurrentActivity"
    campaign_id = parse_id(context, "context") if context else None
    if activity_id is not None:
        row = campaign_store.get_activity(conn, tenant_id, activity_id)
        if row is None:
            raise NotFound(f"{field}: no activity {activity_id}")
        if not row["enabled"]:
            raise ValidationFailed(field, f"activity {activity_id} is disabled")
        if campaign_id is not None and row["campaign_id"] != campaign_id:
            raise ValidationFailed(field, f"activity {activity_id} is not in campaign {context}")
        campaign_id = row["campaign_id"]
    if campaign_id is None:
        raise ValidationFailed("context", "give context={campaignId} or activity={activityId}")
    campaign = campaign_store.get_campaign(conn, tenant_id, campaign_id)
    if campaign is None:
        raise NotFound(f"context: no campaign {campaign_id}")
    return campaign, activity_id


def _request(
    tenant: Tenant,
    campaign: RowMapping,
    activity_id: str | None,
    data: ContextData,
    now: datetime,
) -> tuple[svc.CallbackRequest, str]:
    """The service request, and the name of the field the phone number came from."""
    if data.state is None:
        raise ValidationFailed("State", "State is required (15 = Callback)")
    if data.state != svc.CALLBACK_STATE:
        raise ValidationFailed("State", "only State 15 (Callback) is accepted")
    schema: list[dict[str, Any]] = list(campaign["field_schema"] or [])
    known = {f["name"] for f in schema}
    for name in data.campaign_fields:
        if name not in known:
            raise ValidationFailed(name, f"{name} is not a field of the campaign (case matters)")
    phone_fields = [f["name"] for f in schema if f.get("meaning") == "phone"]
    phones = [(n, data.campaign_fields[n]) for n in phone_fields if data.campaign_fields.get(n)]
    if not phones:
        where = phone_fields[0] if phone_fields else "campaigndata"
        raise ValidationFailed(where, f"{where}: a phone number is required in a phone field")
    zone = campaign["time_zone"] or tenant.time_zone
    udata = {}
    if data.creation_time is not None:
        udata["CreationTime"] = _utc(data.creation_time, zone, "CreationTime").isoformat()
    start = _utc(data.dial_start, zone, "DialStartDate") if data.dial_start else None
    req = svc.CallbackRequest(
        phone=phones[0][1],
        extra_phones=tuple(p for _, p in phones[1:]),
        region=region_for_time_zone(zone),
        flow=CallbackFlow.SCHEDULED if start else CallbackFlow.ASAP,
        source="nixxis",
        queue=campaign["queue_id"],
        start_time=max(start, now) if start else None,
        end_time=_utc(data.dial_end, zone, "DialEndDate") if data.dial_end else None,
        udata=udata,
        campaign_id=campaign["id"],
        activity_id=activity_id,
        priority=data.sort_info or 0,
        import_tag=data.import_tag,
        attributes=tuple(data.campaign_fields.items()),
    )
    return req, phones[0][0]


def _utc(local: datetime, zone: str, name: str) -> datetime:
    """`local`, read in the campaign's time zone, in UTC."""
    try:
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except OverflowError as exc:
        # Near year 1 or 9999 the zone's offset can carry the instant past what a
        # datetime (and so the database) holds: bad input, not a server fault.
        raise ValidationFailed(
            name, f"{name} is out of range: in {zone} it falls outside years 1 to 9999 UTC"
        ) from exc


def _render_error(
    request: Request, status: int, detail: str, error: RappelError | None
) -> Response:
    if isinstance(error, TooLarge):
        return PlainTextResponse(detail, status_code=413)
    if isinstance(error, ValidationFailed):
        text = detail if detail.startswith(error.field) else f"{error.field}: {detail}"
        return PlainTextResponse(text, status_code=400)
    if status >= 500:
        return PlainTextResponse("internal error: try again", status_code=503)
    return PlainTextResponse(detail, status_code=status)


def plugin(app: FastAPI, _c: Container, renderers: ErrorRenderers) -> None:
    app.include_router(router)
    renderers.register("/data", _render_error)
