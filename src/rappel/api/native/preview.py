"""Preview dialing for the logged-in agent: see the record on the desk, dial it or skip it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from rappel.api.auth import container, principal
from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container
from rappel.domain.errors import PermissionDenied
from rappel.services import campaign_dialing as svc
from rappel.services.agents import AgentView
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1/agent/preview", tags=["agent"])


class PreviewRecord(BaseModel):
    """The campaign record on the agent's desk."""

    customer_id: str
    campaign_id: str | None
    external_id: str
    numbers: str
    attributes: list[dict[str, Any]]
    result: str
    call_count: int
    preview_since: datetime


class AgentStateOut(BaseModel):
    state: str
    interaction_id: str | None


def _agent(who: Principal) -> str:
    if who.user_id is None:
        raise PermissionDenied("preview is for a logged-in agent (session cookie)")
    return who.user_id


def _state(view: AgentView) -> AgentStateOut:
    return AgentStateOut(state=view.state.value, interaction_id=view.interaction_id)


@router.get("", response_model=PreviewRecord)
def on_desk(who: Principal = Depends(principal), c: Container = Depends(container)) -> Any:
    """The campaign record the agent is previewing."""
    row = svc.preview_on_desk(c.db, who.tenant_id, _agent(who))
    return PreviewRecord(
        customer_id=row["id"],
        campaign_id=row["campaign_id"],
        external_id=row["external_id"],
        numbers=row["numbers"],
        attributes=list(row["attributes"] or []),
        result=row["result"],
        call_count=row["call_count"],
        preview_since=row["preview_since"],
    )


@router.post("/{customer_id}/dial", response_model=AgentStateOut)
def dial(
    customer_id: str, who: Principal = Depends(principal), c: Container = Depends(container)
) -> AgentStateOut:
    """Dial the previewed record now; the agent goes to DIALING."""
    view = svc.preview_dial(c.db, c.clock, who.tenant_id, _agent(who), customer_id.upper())
    return _state(view)


@router.post("/{customer_id}/skip", response_model=AgentStateOut)
def skip(
    customer_id: str, who: Principal = Depends(principal), c: Container = Depends(container)
) -> AgentStateOut:
    """Skip the previewed record (result SKIP); the agent is READY for the next one."""
    view = svc.preview_skip(c.db, c.clock, who.tenant_id, _agent(who), customer_id.upper())
    return _state(view)


def plugin(app: FastAPI, _container: Container, _renderers: ErrorRenderers) -> None:
    app.include_router(router)
