"""The Genesys Callback Interaction resource (seed 001) under the native API.

`GET /v1/interactions/{interaction_id}` and `GET /v1/interactions` return the
documented field names only; `POST .../cancel` and `POST .../reschedule` follow
the lifecycle of `rappel.domain.callback` (an illegal move is a 409).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from rappel.api.auth import container, supervisor
from rappel.api.errors import ErrorRenderers
from rappel.api.times import BadTime, in_utc
from rappel.bootstrap import Container
from rappel.domain.codes import EntityType
from rappel.domain.errors import ValidationFailed
from rappel.domain.ids import parse_id
from rappel.services import interactions as manage
from rappel.services.tenancy import Principal
from rappel.store.interactions import Cursor, InteractionFilter

router = APIRouter(prefix="/v1", tags=["interactions"])
#: Most `udata.*` plus `param.*` filters in one list query: each is one more JSON
#: lookup in the SQL, and a thousand of them passed SQLite's expression limits.
MAX_DATA_FILTERS = 20


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and Z: [YYYY]-[MM]-[DD]T[HH]:[mm]:[ss].[SSS]Z."""
    if moment is None:
        return None
    # isoformat, not strftime: glibc writes year 1 as "1", not "0001".
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def render(row: dict[str, Any]) -> dict[str, Any]:
    """A stored interaction in the Genesys resource shape: every documented field, by name."""
    return {
        "callback_status": row["callback_status"],
        "callback_type": row["callback_type"],
        "desired_response_type": row["desired_response_type"],
        "start_time": iso(row["start_time"]),
        "end_time": iso(row["end_time"]),
        "customer_number": row["customer_number"],
        "attempts": row["attempts"],
        "call_result": row["call_result"],
        "dn": row["dn"],
        "location": row["location"],
        "callback_server_id": row["callback_server_id"],
        "customer_id": row["customer_id"],
        "interaction_id": row["id"],
        "status": row["status"],
        "entity_type": int(EntityType.CALLBACK),
        "type": "outbound",
        "sub_type": None,
        "media_type": "callback",
        # A callback starts no thread of its own and takes no children.
        "parent_id": None,
        "thread_id": row["id"],
        "external_id": row["external_id"],
        "owner_id": row["owner_id"],
        "creator_app_id": row["creator_app_id"],
        "start_date": iso(row["start_date"]),
        "end_date": iso(row["end_date"]),
        "timeshift": row["timeshift"],
        "category_id": None,
        "allow_children": False,
        "subject": row["subject"],
        "stopped_reason": row["stopped_reason"],
        # A callback carries no content of its own.
        "text": None,
        "structured_text": None,
        "structured_text_mime": None,
        "binary_content": None,
        "binary_content_mime": None,
        "binary_content_size": None,
        "udata": dict(row["udata"] or {}),
    }


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="CANCELED", min_length=1, max_length=200)


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start_time: datetime
    end_time: datetime | None = None


def encode_cursor(row: dict[str, Any]) -> str:
    text = f"{iso(row['start_date'])}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, interaction_id = text.split("|", 1)
        return Cursor(_aware(stamp, "cursor"), parse_id(interaction_id, "cursor"))
    except (binascii.Error, UnicodeDecodeError, ValueError, ValidationFailed) as exc:
        raise ValidationFailed("cursor", "cursor is not one this API handed out") from exc


def _aware(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(name, f"{name} must be an ISO 8601 date-time") from exc
    return _in_utc(moment, name)


def _in_utc(moment: datetime, name: str) -> datetime:
    """`moment` in UTC; naive times and instants UTC cannot hold are refused."""
    try:
        return in_utc(moment)
    except BadTime as exc:
        raise ValidationFailed(name, f"{name} {exc}") from exc


def _refuse_nul(request: Request) -> None:
    # Neither database can search for a NUL character: PostgreSQL text refuses it,
    # and SQLite's JSON path ends at it (a malformed path for `udata.<key>`).
    for key, value in request.query_params.multi_items():
        if "\x00" in key or "\x00" in value:
            name = key.replace("\x00", "\\0")
            raise ValidationFailed(name, f"{name} must not contain a NUL character")


def _optional_time(text: str | None, name: str) -> datetime | None:
    return _aware(text, name) if text else None


def _filter(request: Request, **given: Any) -> InteractionFilter:
    udata: dict[str, str] = {}
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        prefix, dot, name = key.partition(".")
        if dot and name and prefix == "udata":
            udata[name[:200]] = value
        elif dot and name and prefix == "param":
            params[name[:200]] = value
    if len(udata) + len(params) > MAX_DATA_FILTERS:
        raise ValidationFailed(
            "udata", f"at most {MAX_DATA_FILTERS} udata.* and param.* filters in one query"
        )
    return InteractionFilter(
        status=given["status"],
        callback_status=given["callback_status"],
        customer_number=given["customer_number"],
        start_date_from=_optional_time(given["start_date_from"], "start_date_from"),
        start_date_to=_optional_time(given["start_date_to"], "start_date_to"),
        start_time_from=_optional_time(given["start_time_from"], "start_time_from"),
        start_time_to=_optional_time(given["start_time_to"], "start_time_to"),
        udata=udata,
        params=params,
    )


@router.get("/interactions")
def list_interactions(
    request: Request,
    status: int | None = Query(default=None, ge=0, le=3),
    callback_status: int | None = Query(default=None, ge=0, le=14),
    customer_number: str | None = Query(default=None, max_length=32),
    start_date_from: str | None = None,
    start_date_to: str | None = None,
    start_time_from: str | None = None,
    start_time_to: str | None = None,
    limit: int = Query(default=50, ge=1, le=500),
    cursor: str | None = Query(default=None, max_length=200),
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """Callback interactions, newest first; `udata.<key>=<v>` and `param.<name>=<v>` filter too."""
    _refuse_nul(request)
    where = _filter(
        request,
        status=status,
        callback_status=callback_status,
        customer_number=customer_number,
        start_date_from=start_date_from,
        start_date_to=start_date_to,
        start_time_from=start_time_from,
        start_time_to=start_time_to,
    )
    after = decode_cursor(cursor) if cursor else None
    rows = manage.list_interactions(c.db, who.tenant_id, where, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    return {
        "interactions": [render(r) for r in page],
        "next_cursor": encode_cursor(page[-1]) if more and page else None,
    }


@router.get("/interactions/{interaction_id}")
def read_interaction(
    interaction_id: str, who: Principal = Depends(supervisor), c: Container = Depends(container)
) -> dict[str, Any]:
    """One callback interaction (Genesys Callback Interaction resource)."""
    body = render(manage.get_interaction(c.db, who.tenant_id, interaction_id))
    from rappel.store.datadip import saved_parameters

    # Data-dip values the CRM marked saveToDatabase; unsaved ones never reach storage.
    # Only present when a dip saved something, so the Genesys field set stays exact otherwise.
    with c.db.read() as conn:
        saved = saved_parameters(conn, who.tenant_id, body["interaction_id"])
    if saved:
        body["parameters"] = saved
    return body


@router.post("/interactions/{interaction_id}/cancel")
def cancel_interaction(
    interaction_id: str,
    body: CancelIn | None = None,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """Cancel a callback: FINAL with call_result 52 (CANCEL_RECORD); 409 once it has ended."""
    reason = body.reason if body else "CANCELED"
    return render(manage.cancel_callback(c.db, c.clock, who.tenant_id, interaction_id, reason))


@router.post("/interactions/{interaction_id}/reschedule")
def reschedule_interaction(
    interaction_id: str,
    body: RescheduleIn,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> dict[str, Any]:
    """New start_time/end_time while the callback still waits; 409 once in process or ended."""
    start = _in_utc(body.start_time, "start_time")
    end = _in_utc(body.end_time, "end_time") if body.end_time is not None else None
    return render(
        manage.reschedule_callback(c.db, c.clock, who.tenant_id, interaction_id, start, end)
    )


def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
    app.include_router(router)
