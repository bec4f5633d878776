"""Native callback intake (`POST /v1/callbacks`) and campaign field schemas / activities.

`Idempotency-Key`: the same key with the same body returns the callback the
first request made (200); the same key with another body is a 409.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Header, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy.exc import IntegrityError

from rappel.api.auth import admin, container, supervisor
from rappel.api.errors import ErrorRenderers
from rappel.api.native.interactions import render
from rappel.api.times import UtcInstant
from rappel.api.webcallback import COMMITTER
from rappel.bootstrap import Container
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import ValidationFailed
from rappel.domain.ids import ID_PATTERN
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks as svc
from rappel.services import campaign_fields
from rappel.services.tenancy import Principal
from rappel.store.group_commit import run_write

router = APIRouter(prefix="/v1", tags=["callbacks"])
MAX_SECONDS = 30 * 24 * 3600


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallbackIn(Strict):
    phone: str = Field(min_length=1, max_length=40, description="The customer's number.")
    when: Literal["now", "delay", "at", "agent_available"] = Field(
        default="now",
        description="now; after delay_s; at start_time (window to end_time); "
        "when an agent of queue_id is free.",
    )
    delay_s: int = Field(default=0, ge=0, le=MAX_SECONDS)
    start_time: UtcInstant | None = None
    end_time: UtcInstant | None = None
    expiration_s: int | None = Field(default=None, gt=0, le=MAX_SECONDS)
    queue_id: str | None = Field(default=None, max_length=36, description="id32 or short id")
    channel_number: str | None = Field(default=None, max_length=32)
    dialplan_id: int | None = Field(default=None, ge=0, lt=10**9)
    caller_id: str | None = Field(default=None, max_length=32)
    udata: dict[str, str] = Field(default_factory=dict, max_length=100)
    webhook_url: str | None = Field(default=None, max_length=2048)
    external_id: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=500)


class FieldIn(Strict):
    name: str = Field(
        min_length=1,
        max_length=100,
        json_schema_extra={"pattern": r"^(?![Xx][Mm][Ll])[A-Za-z_][A-Za-z0-9_.-]{0,99}$"},
    )
    meaning: str = Field(
        default="text", json_schema_extra={"enum": ["text", "phone", "number", "date", "email"]}
    )


class ActivityIn(Strict):
    # An empty id is no id: one is made.
    id: str | None = Field(default=None, json_schema_extra={"pattern": f"^$|{ID_PATTERN}"})
    name: str = Field(min_length=1, max_length=200)
    enabled: StrictBool = True


def _flow(body: CallbackIn) -> CallbackFlow:
    if body.when == "agent_available":
        return CallbackFlow.AGENT_FIRST
    if body.when == "at":
        if body.start_time is None:
            raise ValidationFailed("start_time", "when=at needs a start_time")
        return CallbackFlow.SCHEDULED
    if body.queue_id is None and body.channel_number is not None:
        return CallbackFlow.CUSTOMER_FIRST
    return CallbackFlow.ASAP


def _request(body: CallbackIn, key: str | None) -> svc.CallbackRequest:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return svc.CallbackRequest(
        phone=body.phone,
        flow=_flow(body),
        source="native",
        queue=body.queue_id,
        channel_number=body.channel_number,
        start_time=body.start_time if body.when == "at" else None,
        delay_s=body.delay_s if body.when == "delay" else 0,
        end_time=body.end_time,
        expiration_s=body.expiration_s,
        dial_plan_id=body.dialplan_id,
        caller_id=body.caller_id,
        udata={k[:200]: v for k, v in body.udata.items()},
        webhook_url=body.webhook_url,
        idempotency_key=key,
        request_hash=hashlib.sha256(canonical.encode()).hexdigest() if key else None,
        external_id=body.external_id,
        subject=body.subject,
    )


@router.post("/callbacks", status_code=201)
async def create_callback(
    body: CallbackIn,
    response: Response,
    idempotency_key: str | None = Header(default=None, max_length=200),
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """Request a callback; 201 when created, 200 for an existing one (duplicate or replay)."""
    req = _request(body, idempotency_key or None)
    allow = OutboundAllowlist.parse(c.settings.outbound_allow)
    job = svc.intake_job(c.clock, who.tenant_id, req, allow)
    try:
        intake = await run_write(c.db, c.parts.get(COMMITTER), job)
    except IntegrityError:
        if req.idempotency_key is None:
            raise
        intake = svc.replay(c.db, who.tenant_id, req)
    if intake.created:
        svc.after_intake(c.after_intake, who.tenant_id, intake.interaction_id)
    else:
        response.status_code = 200
    response.headers["Location"] = f"/v1/interactions/{intake.interaction_id}"
    return render(intake.interaction)


@router.put("/campaigns/{campaign_id}/fields")
def put_fields(
    campaign_id: str,
    body: list[FieldIn],
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> list[dict[str, str]]:
    """Replace a campaign's field schema (Nixxis "campaign database structure")."""
    fields = [f.model_dump() for f in body]
    return campaign_fields.put_field_schema(c.db, c.clock, who.tenant_id, campaign_id, fields)


@router.get("/campaigns/{campaign_id}/fields")
def get_fields(
    campaign_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[dict[str, str]]:
    """A campaign's field schema."""
    return campaign_fields.get_field_schema(c.db, who.tenant_id, campaign_id)


@router.post("/campaigns/{campaign_id}/activities", status_code=201)
def add_activity(
    campaign_id: str,
    body: ActivityIn,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """Add an outbound activity to a campaign (Nixxis CurrentActivity targets)."""
    return campaign_fields.add_activity(c.db, who.tenant_id, campaign_id, body.model_dump())


@router.get("/campaigns/{campaign_id}/activities")
def list_activities(
    campaign_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[dict[str, Any]]:
    """A campaign's activities."""
    return campaign_fields.list_activities(c.db, who.tenant_id, campaign_id)


def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
    app.include_router(router)
