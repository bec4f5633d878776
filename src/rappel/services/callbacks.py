"""Callback intake and management: the one service under every surface.

8x8 `webcallback.php`, Nixxis ContextData, the native `POST /v1/callbacks`
and the Genesys interaction resource all come here. A request becomes a
customer record (campaign_id NULL unless the request names a campaign) in
callback state plus an interaction, in one transaction, admitted at once
(RECEIVED -> TIMER when its start is ahead, else QUEUED) with `due_at` set so
the engine finds it, and `work_changed` signalled.

Order of checks in `intake` (surfaces rely on it for their error codes):
idempotency key, destination (queue, then channel), phone (dial plan), extra
data sizes, webhook URL, window, duplicate (same number, same queue or
channel, still open: the existing callback is returned), then the per-number
and per-tenant hourly limits.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, RowMapping, text
from sqlalchemy.exc import IntegrityError

from rappel.bootstrap import IntakeHook
from rappel.clock import Clock
from rappel.domain.callback import Callback
from rappel.domain.codes import (
    CallbackFlow,
    InteractionStatus,
)
from rappel.domain.errors import Conflict, NotFound, RateLimited, ValidationFailed
from rappel.domain.ids import is_id, new_ordered_id, parse_id
from rappel.domain.phone import normalize
from rappel.domain.tenancy import QueueDirection, Tenant
from rappel.domain.userdata import Pair
from rappel.domain.webhook_tokens import count_tokens
from rappel.integrations.ssrf import OutboundAllowlist, refusal_reason, validate_client_url
from rappel.services.tenancy import dial_plan
from rappel.store import interactions as store
from rappel.store import tenancy as tenancy_store
from rappel.store.db import Database
from rappel.store.signals import work_changed
from rappel.store.tenancy_cache import DIRECT, TenancyReader

EXT_DATA_MAX = 500
#: Most `$token$`s in the user data of a callback with a webhook. Each may expand to the
#: agent's notes (4,000 characters): without a bound, 4 KB of `$notes$` made a 2 MB webhook.
MAX_WEBHOOK_TOKENS = 32
CALLBACK_SERVER_ID = "rappel"
CALLBACK_STATE = 15  #: Nixxis record state "Callback"
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")


class IntakeProblem(StrEnum):
    """Why intake refused a request; surfaces map these to their own codes."""

    TENANT_DISABLED = "tenant_disabled"  #: the tenant is not enabled
    WEB_CALLBACK_DISABLED = "web_callback_disabled"  #: web callback is off for the tenant
    QUEUE_UNKNOWN = "queue_unknown"  #: no such queue (or none given where one is needed)
    QUEUE_DISABLED = "queue_disabled"  #: the queue is disabled
    QUEUE_NOT_OUTBOUND = "queue_not_outbound"  #: the queue is inbound
    CHANNEL_MISSING = "channel_missing"  #: a customer-first callback without a channel
    CHANNEL_UNKNOWN = "channel_unknown"  #: no such channel, or disabled
    DIAL_PLAN_UNKNOWN = "dial_plan_unknown"  #: dialplan_id names no dial plan
    EXT_DATA_TOO_LONG = "ext_data_too_long"  #: extTransactionData over 500 characters
    WEBHOOK_REFUSED = "webhook_refused"  #: the webhook URL is malformed or not reachable
    NUMBER_LIMIT = "number_limit"  #: too many requests for this number this hour
    TENANT_LIMIT = "tenant_limit"  #: too many requests for this tenant this hour


class IntakeRefused(ValidationFailed):
    """A request intake will not store, with the reason surfaces translate."""

    def __init__(self, problem: IntakeProblem, field: str, message: str) -> None:
        super().__init__(field, message)
        self.problem = problem


class IntakeLimited(RateLimited):
    """An hourly abuse limit was reached."""

    def __init__(self, problem: IntakeProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class CallbackRequest:
    """One callback request, whatever surface it came through."""

    phone: str
    flow: CallbackFlow
    source: str  #: "8x8", "nixxis", "native", "widget"
    queue: str | None = None  #: id32 or the numeric short id
    channel_number: str | None = None
    start_time: datetime | None = None  #: None: now plus `delay_s`
    delay_s: int = 0
    end_time: datetime | None = None
    expiration_s: int | None = None  #: end of window, seconds from now
    dial_plan_id: int | None = None
    region: str | None = None  #: overrides the dial plan's region (campaign time zone)
    extra_phones: tuple[str, ...] = ()
    caller_id: str | None = None
    udata: dict[str, str] = field(default_factory=dict)
    ext_transaction_data: tuple[Pair, ...] = ()
    webhook_url: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    external_id: str | None = None
    subject: str | None = None
    campaign_id: str | None = None
    activity_id: str | None = None
    priority: int = 0
    import_tag: str | None = None
    attributes: tuple[Pair, ...] = ()


@dataclass(frozen=True)
class Intake:
    """The stored interaction; `created` is False for a duplicate or a replayed key."""

    interaction: dict[str, Any]
    created: bool

    @property
    def interaction_id(self) -> str:
        return str(self.interaction["id"])


_running_hooks: set[asyncio.Task[None]] = set()


def after_intake(hooks: Sequence[IntakeHook], tenant_id: str, interaction_id: str) -> None:
    """Start every hook without waiting for it; call after the commit, inside the event loop."""
    for hook in list(hooks):
        outcome = hook(tenant_id, interaction_id)
        if outcome is not None:
            task = asyncio.ensure_future(outcome)
            _running_hooks.add(task)
            task.add_done_callback(_running_hooks.discard)


# -- intake --------------------------------------------------------------


def check_tenant_open(tenant: Tenant, *, web_callback: bool = False) -> None:
    if not tenant.enabled:
        raise IntakeRefused(IntakeProblem.TENANT_DISABLED, "tenant", "the tenant is not enabled")
    if web_callback and not tenant.web_callback_enabled:
        raise IntakeRefused(
            IntakeProblem.WEB_CALLBACK_DISABLED, "tenant", "web callback is not enabled"
        )


def request_callback(
    db: Database,
    clock: Clock,
    tenant_id: str,
    req: CallbackRequest,
    allowlist: OutboundAllowlist | None = None,
) -> Intake:
    """Store a callback request in its own transaction (see `intake` for the rules)."""
    job = intake_job(clock, tenant_id, req, allowlist or OutboundAllowlist())
    try:
        with db.begin() as conn:
            return job(conn)
    except IntegrityError:
        # Two requests with one idempotency key raced; the winner is stored now.
        if req.idempotency_key is None:
            raise
        return replay(db, tenant_id, req)


def intake_job(
    clock: Clock, tenant_id: str, req: CallbackRequest, allow: OutboundAllowlist
) -> Callable[[Connection], Intake]:
    """`intake` for a tenant id, as a job for a (grouped) write transaction."""

    def job(conn: Connection) -> Intake:
        tenant = tenancy_store.get_tenant(conn, tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        check_tenant_open(tenant)
        return intake(conn, clock, tenant, req, allow)

    return job


def replay(db: Database, tenant_id: str, req: CallbackRequest) -> Intake:
    """After a unique-key race on the idempotency key: the request that won."""
    with db.read() as conn:
        return _replay(conn, tenant_id, req)


def intake(
    conn: Connection,
    clock: Clock,
    tenant: Tenant,
    req: CallbackRequest,
    allow: OutboundAllowlist,
    tenancy: TenancyReader = DIRECT,
) -> Intake:
    """Validate and store one request on `conn` (the caller owns the transaction).

    `tenancy` answers the queue, channel and dial-plan lookups (a cache on hot paths).
    """
    now = clock.now()
    if req.idempotency_key is not None:
        previous = store.find_by_idempotency_key(conn, tenant.id, req.idempotency_key)
        if previous is not None:
            return _replay_row(previous, req)
    queue_id = _resolve_queue(conn, tenancy, tenant.id, req)
    channel = _resolve_channel(conn, tenancy, tenant.id, req)
    number = _normalise(conn, tenancy, tenant, req.phone, req)
    extra = [_normalise(conn, tenancy, tenant, p, req) for p in req.extra_phones if p]
    _check_ext_data(req.ext_transaction_data)
    webhook = check_webhook_url(req.webhook_url, allow) if req.webhook_url else None
    if webhook:
        _check_tokens(req.udata)
    start = req.start_time or now + timedelta(seconds=max(0, req.delay_s))
    end = req.end_time
    if req.expiration_s is not None:
        end = now + timedelta(seconds=req.expiration_s)
    # Time-ordered ids: busy intake appends to the primary-key indexes, not all over them.
    interaction_id, customer_id = new_ordered_id(now), new_ordered_id(now)
    callback = Callback.receive(
        interaction_id=interaction_id,
        tenant_id=tenant.id,
        customer_id=customer_id,
        customer_number=number,
        flow=req.flow,
        start_time=start,
        end_time=end,
        now=now,
    )
    _lock_number(conn, tenant.id, number)
    since = now - timedelta(hours=1)
    history = store.requests_for_number(conn, tenant.id, number, since)
    duplicate = _open_duplicate(history, queue_id, channel)
    if duplicate is not None:
        return Intake(dict(duplicate), created=False)
    _check_limits(conn, tenant, history, since, now)
    callback.admit(now)
    customer = _customer_row(tenant.id, customer_id, interaction_id, [number, *extra], req, now)
    store.insert_customer(conn, customer)
    store.insert_customer_attributes(
        conn,
        tenant.id,
        customer_id,
        req.attributes,
        campaign_id=customer["campaign_id"],
        external_id=customer["external_id"],
    )
    row = _interaction_row(tenant, callback, req, queue_id, channel, now)
    row.update(caller_id=_caller_id(conn, tenancy, tenant, req.caller_id), webhook_url=webhook)
    store.insert_interaction(conn, row)
    work_changed(conn)
    return Intake(row, created=True)


def _replay(conn: Connection, tenant_id: str, req: CallbackRequest) -> Intake:
    assert req.idempotency_key is not None
    row = store.find_by_idempotency_key(conn, tenant_id, req.idempotency_key)
    if row is None:
        raise Conflict("the request collided with another one; try again")
    return _replay_row(row, req)


def _replay_row(row: RowMapping, req: CallbackRequest) -> Intake:
    if row["request_hash"] != req.request_hash:
        raise Conflict("this Idempotency-Key was used with a different request body")
    return Intake(dict(row), created=False)


def _resolve_queue(
    conn: Connection, tenancy: TenancyReader, tenant_id: str, req: CallbackRequest
) -> str | None:
    given = (req.queue or "").strip()
    if not given:
        if req.flow is CallbackFlow.AGENT_FIRST:
            raise IntakeRefused(IntakeProblem.QUEUE_UNKNOWN, "queue_id", "a queue id is required")
        return None
    if given.isascii() and given.isdigit() and len(given) <= 9:
        queue = tenancy.queue_by_short_id(conn, tenant_id, int(given))
    elif is_id(given):
        queue = tenancy.queue(conn, tenant_id, parse_id(given, "queue_id"))
    else:
        queue = None
    if queue is None:
        raise IntakeRefused(IntakeProblem.QUEUE_UNKNOWN, "queue_id", f"no queue {given[:40]!r}")
    if not queue.enabled:
        raise IntakeRefused(IntakeProblem.QUEUE_DISABLED, "queue_id", "the queue is disabled")
    if queue.direction is not QueueDirection.OUTBOUND:
        raise IntakeRefused(
            IntakeProblem.QUEUE_NOT_OUTBOUND, "queue_id", "the queue's direction is not outbound"
        )
    return queue.id


def _resolve_channel(
    conn: Connection, tenancy: TenancyReader, tenant_id: str, req: CallbackRequest
) -> str | None:
    given = (req.channel_number or "").strip()
    if not given:
        if req.flow is CallbackFlow.CUSTOMER_FIRST:
            raise IntakeRefused(
                IntakeProblem.CHANNEL_MISSING, "channel_number", "a channel number is required"
            )
        if req.queue is None and req.campaign_id is None:
            raise IntakeRefused(
                IntakeProblem.QUEUE_UNKNOWN, "queue_id", "a queue or a channel is required"
            )
        return None
    channel = tenancy.channel(conn, tenant_id, given[:32])
    if channel is None or not channel.enabled:
        raise IntakeRefused(
            IntakeProblem.CHANNEL_UNKNOWN, "channel_number", f"no channel {given[:40]!r}"
        )
    return channel.number


def _normalise(
    conn: Connection, tenancy: TenancyReader, tenant: Tenant, raw: str, req: CallbackRequest
) -> str:
    try:
        plan = dial_plan(conn, tenant, req.dial_plan_id, tenancy)
    except NotFound as exc:
        raise IntakeRefused(
            IntakeProblem.DIAL_PLAN_UNKNOWN, "dialplan_id", f"no dial plan {req.dial_plan_id}"
        ) from exc
    return normalize(raw, plan, region=req.region)


def _check_ext_data(pairs: Sequence[Pair]) -> None:
    size = sum(len(name) + len(value) + 3 for name, value in pairs)
    if size > EXT_DATA_MAX:
        raise IntakeRefused(
            IntakeProblem.EXT_DATA_TOO_LONG,
            "extTransactionData",
            f"extTransactionData is over {EXT_DATA_MAX} characters",
        )


def _check_tokens(udata: Mapping[str, str]) -> None:
    found = count_tokens(udata.values())
    if found > MAX_WEBHOOK_TOKENS:
        raise ValidationFailed(
            "udata",
            f"user data holds {found} $tokens$, at most {MAX_WEBHOOK_TOKENS} with a webhook",
        )


def check_webhook_url(url: str, allow: OutboundAllowlist, field: str = "webhook_url") -> str:
    """Intake-time SSRF check without DNS: scheme, host, literal and local addresses.

    Delivery resolves and checks again (integrations/ssrf.check_url).
    """
    try:
        validate_client_url(url, field)
    except ValidationFailed as exc:
        raise IntakeRefused(IntakeProblem.WEBHOOK_REFUSED, field, exc.message) from exc
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if allow.permits_host(host):
        return url
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(_LOCAL_SUFFIXES) or "." not in host:
            raise IntakeRefused(
                IntakeProblem.WEBHOOK_REFUSED, field, f"{field} host {host} is not public"
            ) from None
        return url
    reason = refusal_reason(address)
    if reason and not allow.permits_address(address):
        raise IntakeRefused(
            IntakeProblem.WEBHOOK_REFUSED, field, f"{field} points to a {reason} address"
        )
    return url


def _lock_number(conn: Connection, tenant_id: str, number: str) -> None:
    # Serialises duplicate checks for one number across PostgreSQL nodes; SQLite has one writer.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": tenant_id + number})


def _open_duplicate(
    history: Sequence[RowMapping], queue_id: str | None, channel: str | None
) -> RowMapping | None:
    """The oldest open request for the same destination: the queue, else the channel."""
    for row in history:
        if row["status"] == int(InteractionStatus.STOPPED):
            continue
        if queue_id is not None and row["queue_id"] == queue_id:
            return row
        if queue_id is None and row["queue_id"] is None and row["channel_number"] == channel:
            return row
    return None


def _check_limits(
    conn: Connection, tenant: Tenant, history: Sequence[RowMapping], since: datetime, now: datetime
) -> None:
    per_number = tenant.max_callbacks_per_number_hour
    if sum(1 for row in history if row["start_date"] >= since) >= per_number:
        raise IntakeLimited(
            IntakeProblem.NUMBER_LIMIT, f"at most {per_number} callback requests per number an hour"
        )
    per_tenant = tenant.max_callbacks_per_tenant_hour
    hour = now.replace(minute=0, second=0, microsecond=0)
    # The last check: once counted, the request is stored.
    if not store.count_tenant_request(conn, tenant.id, hour, per_tenant):
        raise IntakeLimited(
            IntakeProblem.TENANT_LIMIT, f"at most {per_tenant} callback requests an hour"
        )


def _caller_id(
    conn: Connection, tenancy: TenancyReader, tenant: Tenant, given: str | None
) -> str | None:
    """8x8 caller_id: Anonymous, -1 (agent default), a tenant channel, else the tenant default."""
    value = (given or "").strip()
    if value.lower() == "anonymous":
        return "Anonymous"
    if value == "-1":
        return "-1"
    if value.isdigit() and len(value) <= 32:
        channel = tenancy.channel(conn, tenant.id, value)
        if channel is not None and channel.enabled and channel.usable_as_caller_id:
            return channel.number
    return tenant.default_caller_id


def _customer_row(
    tenant_id: str,
    customer_id: str,
    interaction_id: str,
    numbers: list[str],
    req: CallbackRequest,
    now: datetime,
) -> dict[str, Any]:
    slots = [*numbers, None, None, None][:3]
    return {
        "tenant_id": tenant_id,
        "id": customer_id,
        "campaign_id": req.campaign_id,
        "activity_id": req.activity_id,
        "external_id": req.external_id or (customer_id if req.campaign_id else interaction_id),
        "numbers": ",".join(numbers)[:200],
        "number1": slots[0],
        "number2": slots[1],
        "number3": slots[2],
        "attributes": [{"name": n, "value": v} for n, v in req.attributes],
        "state": CALLBACK_STATE,
        "priority": req.priority,
        "import_tag": req.import_tag,
        # The interaction's due_at drives the dialing of a callback, not next_call_at.
        "next_call_at": None,
        "created_at": now,
        "modified_at": now,
    }


def _interaction_row(
    tenant: Tenant,
    cb: Callback,
    req: CallbackRequest,
    queue_id: str | None,
    channel: str | None,
    now: datetime,
) -> dict[str, Any]:
    offset = now.astimezone(ZoneInfo(tenant.time_zone)).utcoffset()
    return {
        "tenant_id": tenant.id,
        "id": cb.interaction_id,
        "customer_id": cb.customer_id,
        "campaign_id": req.campaign_id,
        "queue_id": queue_id,
        "channel_number": channel,
        "flow": cb.flow.value,
        "callback_type": int(cb.callback_type),
        "desired_response_type": cb.desired_response_type.value,
        "callback_status": int(cb.callback_status),
        "status": int(cb.status),
        "start_time": cb.start_time,
        "end_time": cb.end_time,
        "customer_number": cb.customer_number,
        "attempts": 0,
        "call_result": None,
        "dn": channel,
        "location": None,
        "callback_server_id": CALLBACK_SERVER_ID,
        "external_id": req.external_id,
        "owner_id": None,
        "creator_app_id": 0,
        "start_date": now,
        "end_date": None,
        "timeshift": int(offset.total_seconds() // 60) if offset is not None else 0,
        "subject": req.subject,
        "stopped_reason": None,
        "udata": dict(req.udata),
        "ext_transaction_data": [[n, v] for n, v in req.ext_transaction_data],
        "source": req.source,
        "agent_id": None,
        "idempotency_key": req.idempotency_key,
        "request_hash": req.request_hash,
        "due_at": cb.due_at,
        "updated_at": now,
    }
