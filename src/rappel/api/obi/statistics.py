"""OBI GET /statistics: one row per campaign and agent over whole UTC days."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from rappel.api.auth import container, supervisor
from rappel.api.obi.http import answer, parse_day, parse_ids, query_params
from rappel.bootstrap import Container
from rappel.domain.errors import ValidationFailed
from rappel.services import campaigns as svc
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/RI/obi", tags=["OBI"])


def row_json(row: svc.StatisticsRow) -> dict[str, Any]:
    out = row.stats.to_obi(with_agents=False)
    out.update(
        campaignId=row.campaign_id,
        campaignName=row.campaign_name,
        agentId=row.agent_id,
        agentName=row.agent_name,
    )
    return out


@router.get("/statistics")
def statistics(
    request: Request, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> Response:
    """Statistics per campaign and agent; a null agent is what the dialer did alone."""
    params = query_params(request, ("startDate", "endDate", "campaignId", "agentId"))
    first = parse_day("startDate", params["startDate"]) if "startDate" in params else None
    last = parse_day("endDate", params["endDate"]) if "endDate" in params else None
    if first is not None and last is not None and last < first:
        raise ValidationFailed("endDate", "Invalid endDate: endDate is before startDate")
    campaigns = parse_ids("campaignId", params["campaignId"]) if "campaignId" in params else None
    agents = parse_ids("agentId", params["agentId"]) if "agentId" in params else None
    rows = svc.statistics_rows(
        c.db,
        c.clock,
        who.tenant_id,
        first.date() if first else None,
        last.date() if last else None,
        campaigns,
        agents,
    )
    return answer(request, [row_json(r) for r in rows], "statistics", "statistic")
