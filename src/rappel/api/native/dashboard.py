"""Native API for the pages: the supervisor's live overview and the agent's desk."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from rappel.api.auth import anyone, container, supervisor
from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container
from rappel.domain.errors import PermissionDenied
from rappel.domain.tenancy import Role
from rappel.services import dashboard
from rappel.services.session_params import store_for
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"])


@router.get("/overview")
async def overview(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> dict[str, Any]:
    """Queues (waiting, oldest wait, estimated wait), agents with time in state, today's charts."""
    return await run_in_threadpool(dashboard.overview, c.db, c.clock, who.tenant_id)


@router.get("/desk")
async def desk(
    who: Principal = Depends(anyone), c: Container = Depends(container)
) -> dict[str, Any]:
    """The logged-in agent's state, the callback on the desk and the agent's stats today."""
    if who.role is not Role.AGENT or who.user_id is None:
        raise PermissionDenied("the desk is for agents logged in with a session")
    agent_id = who.user_id

    def read() -> dict[str, Any]:
        view = dashboard.desk(c.db, c.clock, who.tenant_id, agent_id)
        work = view["work"]
        if work is not None:
            work["session_parameters"] = store_for(c).for_agent(
                who.tenant_id, work["interaction_id"]
            )
        return view

    return await run_in_threadpool(read)


def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
    app.include_router(router)
