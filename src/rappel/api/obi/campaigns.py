"""OBI campaigns: list with search and statistics, read, full update, status, result counts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rappel.api.auth import container, supervisor
from rappel.api.obi import codec
from rappel.api.obi.http import (
    answer,
    format_time,
    no_content,
    parse_bool,
    parse_day,
    parse_float,
    parse_ids,
    parse_time,
    path_id,
    query_params,
    read_body,
    read_document,
)
from rappel.bootstrap import Container
from rappel.domain.codes import CampaignStatus, DialingMode
from rappel.domain.errors import ValidationFailed
from rappel.domain.statistics import CampaignStatistics
from rappel.services import campaigns as svc
from rappel.services.tenancy import Principal
from rappel.store.campaigns import ID_FIELDS

router = APIRouter(prefix="/RI/obi", tags=["OBI"])

_RANGES = ("startDate", "endDate", "registered")
_LIST_PARAMS = (
    "statistics",
    "statisticsDate",
    "agentId",
    *svc.SEARCHABLE,
    *_RANGES,
    *(f"{r}End" for r in _RANGES),
)
#: PUT fields that are read-only (a client may send back what it read) and are ignored.
_READ_ONLY = {
    "id",
    "dialerId",
    "dialer",
    "dialerName",
    "dialerType",
    "status",
    "dialerStatus",
    "queueName",
    "total",
    "handled",
    "notHandled",
    "callable",
    "maxCalls",
    "filtered",
    "registered",
    "loggedOn",
    "stats",
}
_WRITABLE = {
    "name",
    "remarks",
    "dialingMode",
    "queueId",
    "customIvrNumber",
    "startDate",
    "endDate",
    "timeZone",
    "abandonRate",
    "increasePredictiveRatio",
}


def statistics_json(stats: CampaignStatistics, *, with_agents: bool = True) -> dict[str, Any]:
    return stats.to_obi(with_agents=with_agents)


def campaign_json(v: svc.CampaignView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": v.id,
        "name": v.name,
        "remarks": v.remarks,
        "dialerId": v.dialer_id,
        "dialer": v.dialer_id,
        "dialerName": v.dialer_name,
        "dialerType": v.dialer_type,
        "dialingMode": v.dialing_mode,
        "status": v.status.value,
        "dialerStatus": v.dialer_status.value,
        "queueId": v.queue_id,
        "queueName": v.queue_name,
        "customIvrNumber": v.custom_ivr_number,
        "total": v.counts.total,
        "handled": v.counts.handled,
        "notHandled": v.counts.notHandled,
        "callable": v.counts.callable,
        "maxCalls": v.counts.maxCalls,
        "filtered": v.counts.filtered,
        "startDate": format_time(v.start_date),
        "endDate": format_time(v.end_date),
        "registered": format_time(v.registered),
        "timeZone": v.time_zone,
        "loggedOn": v.logged_on,
        "abandonRate": v.abandon_rate,
        "increasePredictiveRatio": v.increase_predictive_ratio,
    }
    stats: dict[str, Any] = {}
    if v.stats_total is not None:
        stats["total"] = statistics_json(v.stats_total)
    if v.stats_daily is not None:
        stats["daily"] = statistics_json(v.stats_daily)
    if stats:
        out["stats"] = stats
    return {k: value for k, value in out.items() if value is not None}


def campaign_query(params: dict[str, str], today: datetime) -> svc.CampaignQuery:
    statistics = parse_bool("statistics", params["statistics"]) if "statistics" in params else False
    for needs in ("statisticsDate", "agentId"):
        if needs in params and not statistics:
            raise ValidationFailed(needs, f"{needs} needs statistics=true as well")
    stats = None
    if statistics:
        day = (
            parse_day("statisticsDate", params["statisticsDate"])
            if "statisticsDate" in params
            else today
        )
        agents = parse_ids("agentId", params["agentId"]) if "agentId" in params else None
        stats = svc.StatsRequest(
            day=day.date(), include_total="statisticsDate" not in params, agent_ids=agents
        )
    patterns, ids = [], []
    for name in svc.SEARCHABLE:
        if name not in params:
            continue
        if name in ID_FIELDS:
            ids.append((name, path_id(name, params[name].strip())))
        else:
            patterns.append((name, params[name]))
    ranges = []
    for name in _RANGES:
        after = parse_time(name, params[name]) if name in params else None
        end = f"{name}End"
        before = parse_time(end, params[end]) if end in params else None
        if after is not None or before is not None:
            ranges.append((name, after, before))
    return svc.CampaignQuery(tuple(patterns), tuple(ids), tuple(ranges), stats)


@router.get("/campaigns")
def list_campaigns(
    request: Request, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> Response:
    """Campaigns of the tenant, searchable, optionally with statistics."""
    query = campaign_query(query_params(request, _LIST_PARAMS), c.clock.now())
    found = svc.list_campaigns(c.db, c.clock, who.tenant_id, query)
    return answer(request, [campaign_json(v) for v in found], "campaigns", "campaign")


@router.get("/campaigns/{campaign_id}")
def get_campaign(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """One campaign (statistics=true / statisticsDate / agentId as on the list)."""
    params = query_params(request, ("statistics", "statisticsDate", "agentId"))
    query = campaign_query(params, c.clock.now())
    view = svc.get_campaign(
        c.db, c.clock, who.tenant_id, path_id("campaignId", campaign_id), query.stats
    )
    return answer(request, campaign_json(view), "campaign")


def campaign_update(data: Any) -> svc.CampaignUpdate:
    if not isinstance(data, dict):
        raise ValidationFailed("body", "Invalid campaign: expected an object")
    unknown = sorted(set(data) - _WRITABLE - _READ_ONLY)
    if unknown:
        raise ValidationFailed(unknown[0], f"Invalid field: {unknown[0][:64]} : Unknown field")
    for required in ("name", "dialingMode", "queueId"):
        if data.get(required) in (None, ""):
            raise ValidationFailed(required, f"Missing required property: {required}")

    def text(name: str) -> str | None:
        value = data.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str | int):
            raise ValidationFailed(name, f"Invalid {name}: {value} : Not a string")
        return str(value)

    try:
        mode = DialingMode(str(data["dialingMode"]))
    except ValueError as exc:
        raise ValidationFailed(
            "dialingMode",
            f"Invalid dialingMode: {data['dialingMode']} : Use PREVIEW, PROGRESSIVE or PREDICTIVE",
        ) from exc
    start, end = text("startDate"), text("endDate")
    return svc.CampaignUpdate(
        name=str(data["name"]),
        dialing_mode=mode,
        queue_id=parse_ids("queueId", str(data["queueId"]))[0],
        remarks=text("remarks"),
        custom_ivr_number=text("customIvrNumber"),
        start_date=parse_time("startDate", start) if start else None,
        end_date=parse_time("endDate", end) if end else None,
        time_zone=text("timeZone"),
        abandon_rate=parse_float("abandonRate", data["abandonRate"])
        if data.get("abandonRate") not in (None, "")
        else 1.0,
        increase_predictive_ratio=parse_float(
            "increasePredictiveRatio", data["increasePredictiveRatio"]
        )
        if data.get("increasePredictiveRatio") not in (None, "")
        else 0.0,
    )


@router.put("/campaigns/{campaign_id}", status_code=204)
async def put_campaign(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Replace every field of a campaign (name, dialingMode and queueId are required)."""
    cid = path_id("campaignId", campaign_id)
    change = await read_document(request, campaign_update)
    await run_in_threadpool(svc.update_campaign, c.db, c.clock, who.tenant_id, cid, change)
    return no_content()


def status_text(body: bytes) -> str:
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ValidationFailed("status", "Invalid status: body is not UTF-8") from exc
    if text.startswith('"'):
        try:
            text = str(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValidationFailed("status", "Invalid status: use Active or Passive") from exc
    elif text.startswith("<"):
        value = codec.decode(body, codec.Format.XML)
        text = value if isinstance(value, str) else ""
    return text.strip()


@router.put("/campaigns/{campaign_id}/status", status_code=204)
async def put_status(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Make the campaign Active or Passive (text/plain body)."""
    cid = path_id("campaignId", campaign_id)
    text = await run_in_threadpool(status_text, await read_body(request))
    wanted = {s.value.lower(): s for s in (CampaignStatus.ACTIVE, CampaignStatus.PASSIVE)}
    if text.lower() not in wanted:
        raise ValidationFailed("status", f"Invalid status: {text[:64]} : Use Active or Passive")
    await run_in_threadpool(
        svc.set_campaign_status, c.db, c.clock, who.tenant_id, cid, wanted[text.lower()]
    )
    return no_content()


@router.get("/campaigns/{campaign_id}/customerResultStatistics")
def result_statistics(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Customers per combination of result, callResult and classifier."""
    query_params(request, ())
    rows = svc.customer_result_statistics(c.db, who.tenant_id, path_id("campaignId", campaign_id))
    return answer(
        request,
        [r.to_obi() for r in rows],
        "customerResultStatistics",
        "customerResultStatistic",
    )
