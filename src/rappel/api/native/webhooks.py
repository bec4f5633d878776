"""Native API for webhooks: deliveries with every attempt, redelivery, the signing secret.

`webhooks_plugin` mounts the routes and, when the engine runs in this process
(`settings.run_engine`), starts the delivery worker with the app.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import BaseModel, Field

from rappel.api.auth import admin, container, supervisor
from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container
from rappel.integrations.webhooks import delivery_worker
from rappel.services import webhook_secrets, webhooks
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookAttemptOut(BaseModel):
    attempt_no: int
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    error: str | None = Field(description="Why the attempt failed: `<kind>: <detail>`.")
    duration_ms: float | None


class WebhookOut(BaseModel):
    id: str = Field(description="Also the `webhook-id` header of every attempt.")
    interaction_id: str
    url: str
    status: str = Field(description="pending, delivered or failed.")
    payload: str = Field(description="The exact application/x-www-form-urlencoded body sent.")
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    attempts: list[WebhookAttemptOut]


class WebhookSecretOut(BaseModel):
    secret: str | None = Field(
        description="`whsec_...`; present only the first time it is read and after a rotation."
    )
    revealed_at: datetime | None
    rotated_at: datetime | None
    previous_valid_until: datetime | None = Field(
        description="Until then deliveries also carry a signature made with the previous secret."
    )


def _out(delivery: webhooks.WebhookDelivery) -> WebhookOut:
    return WebhookOut.model_validate(asdict(delivery))


@router.get("/secret", response_model=WebhookSecretOut)
def read_secret(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> WebhookSecretOut:
    """The tenant's signing secret, shown once (made on first use); later reads show dates only."""
    shown = webhook_secrets.reveal_webhook_secret(c.db, c.clock, c.secret, who.tenant_id)
    return WebhookSecretOut.model_validate(asdict(shown))


@router.post("/secret/rotate", response_model=WebhookSecretOut)
def rotate_secret(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> WebhookSecretOut:
    """Replace the signing secret; the new one is shown here only, the old one signs 24 h more."""
    shown = webhook_secrets.rotate_webhook_secret(c.db, c.clock, c.secret, who.tenant_id)
    return WebhookSecretOut.model_validate(asdict(shown))


@router.get("", response_model=list[WebhookOut])
def list_webhooks(
    interaction_id: str | None = Query(default=None, description="Only this interaction's."),
    limit: int = Query(default=100, ge=1, le=500),
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> list[WebhookOut]:
    """Webhook deliveries, newest first, each with all its attempts."""
    return [_out(d) for d in webhooks.list_webhooks(c.db, who.tenant_id, interaction_id, limit)]


@router.get("/{webhook_id}", response_model=WebhookOut)
def read_webhook(
    webhook_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> WebhookOut:
    """One webhook delivery with all its attempts."""
    return _out(webhooks.get_webhook(c.db, who.tenant_id, webhook_id))


@router.post("/{webhook_id}/redeliver", response_model=WebhookOut, status_code=202)
def redeliver(
    webhook_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> WebhookOut:
    """Send the same payload again now, with a fresh retry schedule."""
    return _out(webhooks.redeliver_webhook(c.db, c.clock, who.tenant_id, webhook_id))


def webhooks_plugin(app: FastAPI, c: Container, _renderers: ErrorRenderers) -> None:
    app.include_router(router)
    if c.settings.run_engine:
        app.state.startup_hooks.append(delivery_worker)
