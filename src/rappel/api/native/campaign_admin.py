"""Native campaign administration: create and change campaigns (retry settings, calling
hours), bulk customer import, and do-not-call lists per tenant and per campaign."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from rappel.api.auth import admin, container, supervisor
from rappel.api.times import UtcInstant
from rappel.bootstrap import Container
from rappel.domain.codes import DialingMode
from rappel.domain.errors import ValidationFailed
from rappel.domain.ids import ID_PATTERN, parse_id
from rappel.services import campaigns as svc
from rappel.services import customers as customer_svc
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["campaigns"])


_HH_MM: JsonDict = {"pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}


def _range(high: int) -> JsonDict:
    return {"minimum": 0, "maximum": high}


class CampaignSettings(BaseModel):
    """Fields of a campaign; on PATCH only those given change.

    Fields typed `| SkipJsonSchema[None]` may be left out but not set to null.
    """

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = None
    dialing_mode: DialingMode | SkipJsonSchema[None] = None
    queue_id: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"pattern": ID_PATTERN}
    )
    remarks: str | None = None
    custom_ivr_number: str | None = None
    start_date: UtcInstant | None = None
    end_date: UtcInstant | None = None
    time_zone: str | None = None
    abandon_rate: float | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"minimum": 0, "maximum": 2}
    )
    increase_predictive_ratio: float | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"minimum": 0, "maximum": 100}
    )
    #: RetryCount: customers get RetryCount + 1 BUSY/NOANSWER attempts before MAXCALLS.
    retry_count: int | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_range(100))
    busy_retry_delay_s: int | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_range(7 * 86400)
    )
    no_answer_retry_delay_s: int | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_range(7 * 86400)
    )
    preview_time: int | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_range(3600))
    #: Calling hours in each customer's local time, "HH:MM".
    hours_start: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_HH_MM)
    hours_end: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_HH_MM)


class NewCampaign(CampaignSettings):
    """A campaign to create: its name, dialing mode and queue are required."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"required": ["name", "dialing_mode", "queue_id"]}
    )
    #: The dialer a campaign starts on; it never changes afterwards.
    dialer_id: str | None = Field(default=None, json_schema_extra={"pattern": ID_PATTERN})


class CampaignOut(BaseModel):
    id: str
    name: str
    status: str
    dialer_status: str
    dialing_mode: str
    dialer_id: str
    queue_id: str
    remarks: str | None
    custom_ivr_number: str | None
    start_date: datetime | None
    end_date: datetime | None
    time_zone: str | None
    abandon_rate: float
    increase_predictive_ratio: float
    retry_count: int
    busy_retry_delay_s: int
    no_answer_retry_delay_s: int
    preview_time: int
    hours_start: str
    hours_end: str
    total: int
    callable: int
    reopened: int = 0


class Numbers(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        min_length=1, max_length=10000
    )


class DncOut(BaseModel):
    campaign_id: str | None
    numbers: list[str]


class NativeCustomer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    external_id: str | None = None
    numbers: str | None = None
    date: UtcInstant | None = None
    agent_id: str | None = None
    dialing_mode: DialingMode | None = None
    preview_time: int | None = None
    priority: int | None = None
    time_zone: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


class BulkItem(BaseModel):
    status: str
    id: str | None = None
    error: str | None = None


class BulkOut(BaseModel):
    created: int
    items: list[BulkItem]


_SETTING_NAMES = (
    "retry_count",
    "busy_retry_delay_s",
    "no_answer_retry_delay_s",
    "preview_time",
    "hours_start",
    "hours_end",
)


def _out(v: svc.CampaignView, reopened: int = 0) -> CampaignOut:
    return CampaignOut(
        id=v.id,
        name=v.name,
        status=v.status.value,
        dialer_status=v.dialer_status.value,
        dialing_mode=v.dialing_mode,
        dialer_id=v.dialer_id,
        queue_id=v.queue_id,
        remarks=v.remarks,
        custom_ivr_number=v.custom_ivr_number,
        start_date=v.start_date,
        end_date=v.end_date,
        time_zone=v.time_zone,
        abandon_rate=v.abandon_rate,
        increase_predictive_ratio=v.increase_predictive_ratio,
        retry_count=v.retry_count,
        total=v.counts.total,
        callable=v.counts.callable,
        reopened=reopened,
        **{k: v.extra[k] for k in _SETTING_NAMES if k != "retry_count"},
    )


def _fields(given: dict[str, Any]) -> dict[str, Any]:
    """The CampaignUpdate fields of a body, ids parsed, null refused where a value is needed."""
    fields = {k: v for k, v in given.items() if k in svc.CampaignUpdate.__dataclass_fields__}
    for name in ("name", "dialing_mode", "queue_id", "abandon_rate", "increase_predictive_ratio"):
        if name in fields and fields[name] is None:
            raise ValidationFailed(name, f"{name} may not be null")
    if "queue_id" in fields:
        fields["queue_id"] = parse_id(str(fields["queue_id"]), "queue_id")
    return fields


def _new(body: NewCampaign) -> svc.CampaignUpdate:
    given = body.model_dump(exclude_unset=True)
    for required in ("name", "dialing_mode", "queue_id"):
        if not given.get(required):
            raise ValidationFailed(required, f"{required} is required")
    base = svc.CampaignUpdate(
        name=given["name"], dialing_mode=given["dialing_mode"], queue_id=given["queue_id"]
    )
    return replace(base, **_fields(given))


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[CampaignOut]:
    """The tenant's campaigns with their retry settings and calling hours."""
    return [_out(v) for v in svc.list_campaigns(c.db, c.clock, who.tenant_id, svc.CampaignQuery())]


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(
    body: NewCampaign, who: Principal = Depends(admin), c: Container = Depends(container)
) -> CampaignOut:
    """Create a Passive campaign (on the tenant's campaign dialer unless dialer_id is given)."""
    settings: dict[str, Any] = body.model_dump(exclude_unset=True)
    if settings.get("dialer_id"):
        settings["dialer_id"] = parse_id(settings["dialer_id"], "dialer_id")
    new_id = svc.create_campaign(c.db, c.clock, who.tenant_id, _new(body), settings)
    return _out(svc.get_campaign(c.db, c.clock, who.tenant_id, new_id))


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(
    campaign_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> CampaignOut:
    """One campaign."""
    return _out(
        svc.get_campaign(c.db, c.clock, who.tenant_id, parse_id(campaign_id, "campaign_id"))
    )


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
def patch_campaign(
    campaign_id: str,
    body: CampaignSettings,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> CampaignOut:
    """Change some fields; raising retry_count makes MAXCALLS customers callable again."""
    cid = parse_id(campaign_id, "campaign_id")
    given = body.model_dump(exclude_unset=True)
    settings = {k: v for k, v in given.items() if k in _SETTING_NAMES}
    reopened = svc.patch_campaign(c.db, c.clock, who.tenant_id, cid, _fields(given), settings)
    return _out(svc.get_campaign(c.db, c.clock, who.tenant_id, cid), reopened)


@router.post("/campaigns/{campaign_id}/customers/bulk", response_model=BulkOut)
def bulk_customers(
    campaign_id: str,
    body: list[NativeCustomer],
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> BulkOut:
    """Add up to 10000 customers in one transaction (multi-row INSERTs)."""
    cid = parse_id(campaign_id, "campaign_id")
    items = [
        customer_svc.NewCustomer(
            external_id=b.external_id,
            numbers=b.numbers,
            date=b.date,
            agent_id=parse_id(b.agent_id, "agent_id") if b.agent_id else None,
            dialing_mode=b.dialing_mode,
            preview_time=b.preview_time,
            priority=b.priority,
            time_zone=b.time_zone,
            attributes=tuple(b.attributes.items()),
        )
        for b in body
    ]
    results = customer_svc.add_customers(
        c.db, c.clock, who.tenant_id, cid, items, max_items=customer_svc.MAX_NATIVE_BULK
    )
    return BulkOut(
        created=sum(1 for r in results if r.outcome is customer_svc.Outcome.CREATED),
        items=[
            BulkItem(status=r.outcome.value, id=r.id, error=r.error.message if r.error else None)
            for r in results
        ],
    )


def _dnc(c: Container, tenant_id: str, campaign_id: str | None) -> DncOut:
    rows = customer_svc.list_dnc(c.db, tenant_id, campaign_id)
    return DncOut(campaign_id=campaign_id, numbers=[r["number"] for r in rows])


@router.get("/dnc", response_model=DncOut)
def get_dnc(who: Principal = Depends(supervisor), c: Container = Depends(container)) -> DncOut:
    """The tenant-wide do-not-call list (E.164)."""
    return _dnc(c, who.tenant_id, None)


@router.post("/dnc", response_model=DncOut)
def add_dnc(
    body: Numbers, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> DncOut:
    """Block numbers for every campaign; customers whose numbers are all blocked are filtered."""
    customer_svc.add_to_dnc(c.db, c.clock, who.tenant_id, body.numbers)
    return _dnc(c, who.tenant_id, None)


@router.delete("/dnc/{number}", status_code=204)
def remove_dnc(
    number: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> Response:
    """Unblock a number tenant-wide."""
    customer_svc.remove_from_dnc(c.db, c.clock, who.tenant_id, [number])
    return Response(status_code=204)


@router.get("/campaigns/{campaign_id}/dnc", response_model=DncOut)
def get_campaign_dnc(
    campaign_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> DncOut:
    """The campaign's own do-not-call list (the tenant-wide list applies as well)."""
    return _dnc(c, who.tenant_id, parse_id(campaign_id, "campaign_id"))


@router.post("/campaigns/{campaign_id}/dnc", response_model=DncOut)
def add_campaign_dnc(
    campaign_id: str,
    body: Numbers,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> DncOut:
    """Block numbers for this campaign only."""
    cid = parse_id(campaign_id, "campaign_id")
    customer_svc.add_to_dnc(c.db, c.clock, who.tenant_id, body.numbers, cid)
    return _dnc(c, who.tenant_id, cid)


@router.delete("/campaigns/{campaign_id}/dnc/{number}", status_code=204)
def remove_campaign_dnc(
    campaign_id: str,
    number: str,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Unblock a number for this campaign."""
    cid = parse_id(campaign_id, "campaign_id")
    customer_svc.remove_from_dnc(c.db, c.clock, who.tenant_id, [number], cid)
    return Response(status_code=204)
