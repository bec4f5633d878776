"""Native agent API: the agent desktop's calls, and the supervisors' view of agents.

An agent acts as itself (the session cookie from `POST /v1/auth/login`, or a
tenant token with `?agent_id=` for integrations). Offers arrive as
server-sent events on `GET /v1/agent/events` (or by polling
`GET /v1/agent/offer`); an offer not accepted within the tenant's
`offer_timeout_s` goes to the next agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rappel.api.auth import anyone, container, supervisor
from rappel.api.errors import ErrorRenderers
from rappel.api.times import UtcInstant
from rappel.bootstrap import Container
from rappel.domain.errors import PermissionDenied
from rappel.domain.ids import parse_id
from rappel.domain.results import CustomerResult, Disposition, ScriptAnswer, TransactionCode
from rappel.domain.tenancy import Role
from rappel.services import agents as svc
from rappel.services.tenancy import Principal
from rappel.store import signals

router = APIRouter(prefix="/v1", tags=["agents"])

#: A change made in this process wakes the agent's event stream at once; one made in
#: another process (an engine node of its own) is found by re-reading this often.
EVENTS_RECHECK_S = 2.0


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    paused_reason: str | None = Field(default=None, max_length=200)


class PauseIn(Strict):
    reason: str = Field(min_length=1, max_length=200)


class CodeIn(Strict):
    list_name: str = Field(max_length=200)
    code_short: str = Field(max_length=100)
    code_desc: str = Field(default="", max_length=500)


class AnswerIn(Strict):
    question: str = Field(max_length=500)
    answer: str = Field(max_length=2000)


class WrapUpIn(Strict):
    result: Literal[
        "SUCCESS", "REFUSAL", "CALLBACK", "HANGUP", "BUSY", "NOANSWER", "MACHINE", "NOT_DIALED"
    ]
    classifier: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=4000)
    amount: float | None = None
    transaction_codes: list[CodeIn] = Field(default_factory=list, max_length=50)
    script_name: str | None = Field(default=None, max_length=200)
    answers: list[AnswerIn] = Field(default_factory=list, max_length=200)
    callback_at: UtcInstant | None = None
    pause_reason: str | None = Field(
        default=None, max_length=200, description="Pause after the wrap-up instead of READY."
    )


class AgentStateOut(BaseModel):
    agent_id: str
    state: str
    reason: str | None
    since: datetime | None
    interaction_id: str | None


def _out(view: svc.AgentView) -> AgentStateOut:
    return AgentStateOut(
        agent_id=view.agent_id,
        state=view.state.value,
        reason=view.reason,
        since=view.since,
        interaction_id=view.interaction_id,
    )


def me(
    who: Principal = Depends(anyone),
    agent_id: str | None = Query(default=None, description="with a tenant token: which agent"),
) -> tuple[str, str]:
    """(tenant_id, agent_id) of the agent this request acts for."""
    if who.user_id is not None and who.role is Role.AGENT:
        if agent_id is not None and parse_id(agent_id, "agent_id") != who.user_id:
            raise PermissionDenied("an agent acts only for itself")
        return who.tenant_id, who.user_id
    if agent_id is None:
        # The caller is no agent, so there is no desk of its own to act on.
        raise PermissionDenied("a tenant token or a supervisor acts for an agent named by agent_id")
    if who.role is Role.AGENT:
        raise PermissionDenied("an agent acts only for itself")
    return who.tenant_id, parse_id(agent_id, "agent_id")


Me = tuple[str, str]


def _sip(c: Container) -> bool:
    """On a SIP node calls reach agents on their own phones."""
    return c.settings.telephony == "sip"


#: One server-sent event (OpenAPI 3.1 describes each event of a stream by `schema`).
_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["state", "offer"]},
        "data": {"type": "string", "description": "JSON: the agent's state, or the offer"},
    },
}


@router.post("/agent/login", response_model=AgentStateOut)
def login(
    body: LoginIn | None = None, who: Me = Depends(me), c: Container = Depends(container)
) -> AgentStateOut:
    """Start working: READY, or PAUSED with a reason."""
    reason = body.paused_reason if body else None
    return _out(svc.login(c.db, c.clock, who[0], who[1], reason, require_phone=_sip(c)))


@router.post("/agent/ready", response_model=AgentStateOut)
def ready(who: Me = Depends(me), c: Container = Depends(container)) -> AgentStateOut:
    """Ready for the next call."""
    return _out(svc.ready(c.db, c.clock, who[0], who[1], require_phone=_sip(c)))


@router.post("/agent/pause", response_model=AgentStateOut)
def pause(body: PauseIn, who: Me = Depends(me), c: Container = Depends(container)) -> AgentStateOut:
    """Take a break, with a reason."""
    return _out(svc.pause(c.db, c.clock, who[0], who[1], body.reason))


@router.post("/agent/logout", response_model=AgentStateOut)
def logout(who: Me = Depends(me), c: Container = Depends(container)) -> AgentStateOut:
    """Stop working; a callback on the desk goes back to the engine."""
    return _out(svc.logout(c.db, c.clock, who[0], who[1]))


@router.get("/agent/state", response_model=AgentStateOut)
def state(who: Me = Depends(me), c: Container = Depends(container)) -> AgentStateOut:
    """The agent's current state."""
    return _out(svc.state_of(c.db, who[0], who[1]))


def _offer(c: Container, tenant_id: str, agent_id: str) -> dict[str, Any] | None:
    offer = svc.offer_of(c.db, tenant_id, agent_id)
    if offer is None:
        return None
    from rappel.services.session_params import store_for

    live = store_for(c).for_agent(tenant_id, offer["interaction_id"])
    offer["displayToAgent"] = {**offer["displayToAgent"], **live}
    offer["offer_timeout_s"] = c.settings.offer_timeout_s
    return offer


@router.get("/agent/offer", responses={204: {"description": "nothing on the desk"}})
def offer(who: Me = Depends(me), c: Container = Depends(container)) -> Any:
    """The callback on the agent's desk (offered, in call or in wrap-up), or 204."""
    found = _offer(c, who[0], who[1])
    return found if found is not None else Response(status_code=204)


@router.get(
    "/agent/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": _EVENT}}}},
)
async def events(
    request: Request, who: Me = Depends(me), c: Container = Depends(container)
) -> StreamingResponse:
    """Server-sent events: `state` on every change, `offer` when a callback is offered."""

    async def stream() -> AsyncIterator[str]:
        changed = asyncio.Event()
        wake = signals.threadsafe_waker(asyncio.get_running_loop(), changed)

        def heard(tenant_id: str, agent_id: str) -> None:
            if (tenant_id, agent_id) == who:
                wake()

        svc.add_listener(heard)
        try:
            last: tuple[Any, ...] | None = None
            yield ": connected\n\n"
            while not await request.is_disconnected():
                changed.clear()  # before the read, so a change made during it is not lost
                view = await asyncio.to_thread(svc.state_of, c.db, who[0], who[1])
                key = (view.state, view.since, view.interaction_id)
                if key != last:
                    last = key
                    yield _sse("state", _out(view).model_dump(mode="json"))
                    if view.state.value == "PREVIEW":
                        found = await asyncio.to_thread(_offer, c, who[0], who[1])
                        if found is not None:
                            yield _sse("offer", found)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), EVENTS_RECHECK_S)
        finally:
            svc.remove_listener(heard)

    return StreamingResponse(stream(), media_type="text/event-stream")


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


@router.post("/agent/offers/{interaction_id}/accept", response_model=AgentStateOut)
def accept(
    interaction_id: str, who: Me = Depends(me), c: Container = Depends(container)
) -> AgentStateOut:
    """Take the offered callback: the agent's phone rings, then the customer's."""
    iid = parse_id(interaction_id, "interaction_id")
    return _out(svc.accept(c.db, c.clock, who[0], who[1], iid))


@router.post("/agent/offers/{interaction_id}/reject", response_model=AgentStateOut)
def reject(
    interaction_id: str, who: Me = Depends(me), c: Container = Depends(container)
) -> AgentStateOut:
    """Refuse the offer (REJECTED_BY_AGT): it goes to the next agent."""
    iid = parse_id(interaction_id, "interaction_id")
    return _out(svc.reject(c.db, c.clock, who[0], who[1], iid))


@router.post("/agent/calls/{interaction_id}/hangup", response_model=AgentStateOut)
def hangup(
    interaction_id: str, who: Me = Depends(me), c: Container = Depends(container)
) -> AgentStateOut:
    """End the call; the agent goes to wrap-up."""
    iid = parse_id(interaction_id, "interaction_id")
    return _out(svc.hang_up(c.db, c.clock, who[0], who[1], iid))


@router.post("/agent/calls/{interaction_id}/wrapup", response_model=AgentStateOut)
def wrapup(
    interaction_id: str, body: WrapUpIn, who: Me = Depends(me), c: Container = Depends(container)
) -> AgentStateOut:
    """Record the disposition (result, classifier, notes, amount, codes, script answers)."""
    iid = parse_id(interaction_id, "interaction_id")
    disposition = Disposition(
        result=CustomerResult(body.result),
        classifier=body.classifier,
        notes=body.notes,
        amount=body.amount,
        transaction_codes=tuple(
            TransactionCode(t.list_name, t.code_short, t.code_desc) for t in body.transaction_codes
        ),
        script_name=body.script_name,
        answers=tuple(ScriptAnswer(a.question, a.answer) for a in body.answers),
        callback_at=body.callback_at,
    )
    view = svc.wrap_up(c.db, c.clock, who[0], who[1], iid, disposition, body.pause_reason)
    return _out(view)


@router.get("/agents/states", response_model=list[AgentStateOut])
def agent_states(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[AgentStateOut]:
    """Every agent of the tenant and its current state (supervisors)."""
    return [_out(v) for v in svc.states(c.db, who.tenant_id)]


def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
    app.include_router(router)
