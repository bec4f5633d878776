"""Native API: channels, queues, dial plans and users of the caller's tenant."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from rappel.api.auth import admin, container, supervisor
from rappel.api.native.schemas import (
    ChannelIn,
    ChannelOut,
    ChannelPatch,
    DialPlanIn,
    DialPlanOut,
    QueueIn,
    QueueOut,
    QueuePatch,
    UserIn,
    UserOut,
    UserPatch,
)
from rappel.bootstrap import Container
from rappel.domain.tenancy import Queue, User
from rappel.services import provisioning as svc
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["provisioning"])

PlanId = Annotated[int, Path(gt=0, lt=10**9, description="numeric dial plan id")]


def _queue(q: Queue) -> QueueOut:
    return QueueOut(
        id=q.id, short_id=q.short_id, name=q.name, direction=q.direction.value, enabled=q.enabled
    )


def _user(u: User) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        role=u.role.value,
        enabled=u.enabled,
        default_caller_id=u.default_caller_id,
        queue_ids=list(u.queue_ids),
        phone=u.phone,
    )


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[ChannelOut]:
    """The tenant's channels."""
    return [ChannelOut(**asdict(ch)) for ch in svc.list_channels(c.db, who.tenant_id)]


@router.post("/channels", response_model=ChannelOut, status_code=201)
def create_channel(
    body: ChannelIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> ChannelOut:
    """Add a channel (a phone number with an IVR script)."""
    return ChannelOut(**asdict(svc.create_channel(c.db, who.tenant_id, body.model_dump())))


@router.patch("/channels/{number}", response_model=ChannelOut)
def update_channel(
    number: str,
    body: ChannelPatch,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> ChannelOut:
    """Change a channel."""
    changes = body.model_dump(exclude_unset=True)
    return ChannelOut(**asdict(svc.update_channel(c.db, who.tenant_id, number, changes)))


@router.delete("/channels/{number}", status_code=204)
def delete_channel(
    number: str, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Remove a channel."""
    svc.delete_channel(c.db, who.tenant_id, number)
    return Response(status_code=204)


@router.get("/queues", response_model=list[QueueOut])
def list_queues(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[QueueOut]:
    """The tenant's queues."""
    return [_queue(q) for q in svc.list_queues(c.db, who.tenant_id)]


@router.post("/queues", response_model=QueueOut, status_code=201)
def create_queue(
    body: QueueIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> QueueOut:
    """Create a queue; `id` and `short_id` are generated when absent."""
    return _queue(svc.create_queue(c.db, c.clock, who.tenant_id, body.model_dump()))


@router.get("/queues/{queue_id}", response_model=QueueOut)
def read_queue(
    queue_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> QueueOut:
    """One queue."""
    return _queue(svc.get_queue(c.db, who.tenant_id, queue_id))


@router.patch("/queues/{queue_id}", response_model=QueueOut)
def update_queue(
    queue_id: str,
    body: QueuePatch,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> QueueOut:
    """Change a queue."""
    changes = body.model_dump(exclude_unset=True)
    return _queue(svc.update_queue(c.db, who.tenant_id, queue_id, changes))


@router.delete("/queues/{queue_id}", status_code=204)
def delete_queue(
    queue_id: str, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Remove a queue that no campaign uses."""
    svc.delete_queue(c.db, who.tenant_id, queue_id)
    return Response(status_code=204)


@router.get("/dialplans", response_model=list[DialPlanOut])
def list_dial_plans(
    who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> list[DialPlanOut]:
    """The tenant's dial plans."""
    return [DialPlanOut(**p) for p in svc.list_dial_plans(c.db, who.tenant_id)]


@router.put("/dialplans/{plan_id}", response_model=DialPlanOut)
def put_dial_plan(
    plan_id: PlanId,
    body: DialPlanIn,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> DialPlanOut:
    """Create or replace a dial plan (default region and prefix rules)."""
    values = body.model_dump()
    values["plan_id"] = plan_id
    return DialPlanOut(**svc.put_dial_plan(c.db, who.tenant_id, values))


@router.delete("/dialplans/{plan_id}", status_code=204)
def delete_dial_plan(
    plan_id: PlanId, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Remove a dial plan."""
    svc.delete_dial_plan(c.db, who.tenant_id, plan_id)
    return Response(status_code=204)


@router.get("/users", response_model=list[UserOut])
def list_users(
    role: str | None = None,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> list[UserOut]:
    """The tenant's users; `role=agent` lists the agents."""
    wanted = svc._role(role) if role else None
    return [_user(u) for u in svc.list_users(c.db, who.tenant_id, wanted)]


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(
    body: UserIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> UserOut:
    """Create a user (admin, supervisor or agent) with its queues."""
    return _user(svc.create_user(c.db, c.clock, who.tenant_id, body.model_dump()))


@router.get("/users/{user_id}", response_model=UserOut)
def read_user(
    user_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> UserOut:
    """One user."""
    return _user(svc.get_user(c.db, who.tenant_id, user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(
    user_id: str,
    body: UserPatch,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> UserOut:
    """Change a user: password, role, queues, enabled."""
    return _user(svc.update_user(c.db, who.tenant_id, user_id, body.model_dump(exclude_unset=True)))


@router.delete("/users/{user_id}", status_code=204)
def delete_user(
    user_id: str, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Remove a user."""
    svc.delete_user(c.db, who.tenant_id, user_id)
    return Response(status_code=204)
