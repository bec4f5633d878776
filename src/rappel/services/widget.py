"""The call-me-back widget's use cases: keys, availability, wait estimate, request, cancel.

Formulas (documented in docs/web.md):

* Slots are SLOT_MINUTES long, inside the tenant's hard hours, in the tenant's
  time zone, starting at least MIN_LEAD_MINUTES from now.
* capacity(slot) = rostered agents covering the whole slot (sum of the queue's
  agent_schedules rows for that weekday) x (slot seconds // PLANNED_HANDLE_S);
  booked(slot) = open callbacks on the queue whose start time falls in the slot.
  A slot with booked >= capacity is full and refused.
* estimated wait for "now" = (waiting // agents) x handle, where waiting is the
  number of due callbacks waiting on the queue, agents the queue's agents
  logged in, and handle the mean talk time of the queue's answered calls of the
  last 7 days (DEFAULT_HANDLE_S with fewer than MIN_HANDLE_SAMPLES); no
  estimate when no agent is logged in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from rappel.clock import Clock
from rappel.domain.calling_hours import CallingHours, next_allowed
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from rappel.domain.phone import Acceptance, normalize
from rappel.domain.tenancy import QueueDirection, Tenant
from rappel.integrations.ssrf import OutboundAllowlist
from rappel.services import callbacks, interactions, tenancy
from rappel.services.widget_guards import WidgetGuards
from rappel.store import tenancy as tenant_store
from rappel.store import widget as store
from rappel.store.db import Database

SLOT_MINUTES = 30
PLANNED_HANDLE_S = 300
MIN_LEAD_MINUTES = 10
DEFAULT_HANDLE_S = 240.0
MIN_HANDLE_SAMPLES = 5
MAX_DELAY_MINUTES = 240
MAX_DAYS_AHEAD = 14
DEMO_WIDGET_KEY = "demo-widget-key-acme"


@dataclass(frozen=True)
class WidgetContext:
    """A valid key, its tenant and the queue its callbacks go to."""

    key: str
    tenant: Tenant
    queue_id: str
    webhook_url: str | None = None
    udata: dict[str, str] | None = None


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    capacity: int
    booked: int

    @property
    def available(self) -> bool:
        return self.booked < self.capacity


@dataclass(frozen=True)
class Estimate:
    open: bool
    opens_at: datetime | None
    waiting: int
    agents: int
    handle_s: float
    wait_s: int | None


@dataclass(frozen=True)
class WidgetRequest:
    phone: str
    when: str  #: "now", "in" (delay_minutes) or "slot" (slot_start)
    name: str = ""
    delay_minutes: int | None = None
    slot_start: datetime | None = None
    honeypot: str = ""
    captcha_token: str = ""


@dataclass(frozen=True)
class Confirmation:
    interaction_id: str | None
    start_time: datetime
    end_time: datetime | None
    time_zone: str
    cancel_url: str | None


# -- keys -----------------------------------------------------------------


def create_widget_key(
    db: Database,
    clock: Clock,
    tenant_id: str,
    queue_id: str,
    key: str | None = None,
    webhook_url: str | None = None,
    udata: dict[str, str] | None = None,
    allowlist: OutboundAllowlist | None = None,
) -> dict[str, Any]:
    """A new public key for the tenant's websites; its callbacks go to `queue_id`."""
    key = key or "wk_" + secrets.token_urlsafe(24)
    if not 16 <= len(key) <= 64:
        raise ValidationFailed("key", "a widget key has 16 to 64 characters")
    if webhook_url:
        webhook_url = callbacks.check_webhook_url(webhook_url, allowlist or OutboundAllowlist())
    udata = {str(k)[:100]: str(v)[:500] for k, v in (udata or {}).items()}
    row = {
        "tenant_id": tenant_id,
        "key": key,
        "queue_id": queue_id,
        "enabled": True,
        "webhook_url": webhook_url or None,
        "udata": udata,
        "created_at": clock.now(),
    }
    try:
        with db.begin() as conn:
            queue = tenant_store.get_queue(conn, tenant_id, queue_id)
            if queue is None:
                raise ValidationFailed("queue_id", "no such queue")
            if queue.direction is not QueueDirection.OUTBOUND:
                raise ValidationFailed("queue_id", "web callbacks need an outbound queue")
            if store.find_widget_key(conn, key) is not None:
                raise Conflict("that widget key exists already")
            store.insert_widget_key(conn, row)
    except IntegrityError as exc:
        # A concurrent request inserted the same key between the check and the insert.
        raise Conflict("that widget key exists already") from exc
    return row


def list_widget_keys(db: Database, tenant_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [dict(r) for r in store.list_widget_keys(conn, tenant_id)]


def update_widget_key(
    db: Database,
    tenant_id: str,
    key: str,
    values: dict[str, Any],
    allowlist: OutboundAllowlist | None = None,
) -> dict[str, Any]:
    """Change `enabled`, `webhook_url` ("" or None removes it) or `udata` of a key."""
    checked: dict[str, Any] = {}
    if values.get("enabled") is not None:
        checked["enabled"] = bool(values["enabled"])
    if "webhook_url" in values:
        url = values["webhook_url"] or None
        checked["webhook_url"] = (
            callbacks.check_webhook_url(url, allowlist or OutboundAllowlist()) if url else None
        )
    if values.get("udata") is not None:
        checked["udata"] = {str(k)[:100]: str(v)[:500] for k, v in values["udata"].items()}
    with db.begin() as conn:
        if checked:
            store.update_widget_key(conn, tenant_id, key, checked)
        row = next((r for r in store.list_widget_keys(conn, tenant_id) if r["key"] == key), None)
    if row is None:
        raise NotFound("no such widget key")
    return dict(row)


def resolve_key(db: Database, key: str, origin: str | None) -> WidgetContext:
    """The key's context; refused when unknown, disabled, or used from a foreign origin."""
    with db.read() as conn:
        row = store.find_widget_key(conn, key) if 0 < len(key) <= 64 else None
        tenant = tenant_store.get_tenant(conn, row["tenant_id"]) if row else None
    if row is None or tenant is None or not row["enabled"] or row["queue_id"] is None:
        raise NotFound("unknown widget key")
    if not tenant.enabled or not tenant.web_callback_enabled:
        raise PermissionDenied("web callbacks are switched off for this website")
    if not origin_allowed(tenant, origin):
        raise PermissionDenied("this website is not allowed to use this widget key")
    return WidgetContext(
        key=key,
        tenant=tenant,
        queue_id=row["queue_id"],
        webhook_url=row["webhook_url"],
        udata=dict(row["udata"] or {}),
    )


def origin_allowed(tenant: Tenant, origin: str | None) -> bool:
    return origin is not None and origin.lower().rstrip("/") in tenant.widget_origins


def provision_demo_widget(db: Database, clock: Clock, tenant_id: str) -> list[str]:
    """The demo key on the web-callback queue, and a roster of 2 agents 08:00-21:00 daily."""
    from rappel.services.demo import CALLBACK_QUEUE_ID

    created = []
    with db.read() as conn:
        have_key = store.find_widget_key(conn, DEMO_WIDGET_KEY) is not None
        have_roster = bool(store.list_schedules(conn, tenant_id, CALLBACK_QUEUE_ID))
    if not have_key:
        create_widget_key(db, clock, tenant_id, CALLBACK_QUEUE_ID, DEMO_WIDGET_KEY)
        created.append("widget key " + DEMO_WIDGET_KEY)
    if not have_roster:
        roster = [
            {"weekday": day, "start": "08:00", "end": "21:00", "agents": 2} for day in range(1, 8)
        ]
        put_schedules(db, tenant_id, CALLBACK_QUEUE_ID, roster)
        created.append("agent roster of the web-callback queue")
    return created


# -- rosters --------------------------------------------------------------


def put_schedules(
    db: Database, tenant_id: str, queue_id: str, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace a queue's roster: rows of weekday (1-7), start, end ("HH:MM") and agents."""
    checked = []
    seen: set[tuple[int, time]] = set()
    for row in rows:
        weekday, agents = int(row.get("weekday", 0)), int(row.get("agents", -1))
        if not 1 <= weekday <= 7:
            raise ValidationFailed("weekday", "weekday is 1 (Monday) to 7 (Sunday)")
        if not 0 <= agents <= 10_000:
            raise ValidationFailed("agents", "agents is 0 to 10000")
        hours = CallingHours.parse(str(row.get("start")), str(row.get("end")))
        if hours.end < hours.start:
            raise ValidationFailed("end", "a roster row ends after it starts, on the same day")
        # One row per weekday and start (the table's key); `weekday: true` is weekday 1 and
        # "08:00:00" is "08:00", so duplicates are found on the values, not the text.
        if (weekday, hours.start) in seen:
            raise ValidationFailed(
                "start",
                f"two roster rows for weekday {weekday} start at "
                f"{hours.start.strftime('%H:%M')}: give one row with the sum of their agents",
            )
        seen.add((weekday, hours.start))
        checked.append(
            {"weekday": weekday, "start": row["start"], "end": row["end"], "agents": agents}
        )
    with db.begin() as conn:
        # Concurrent PUTs of one roster take turns on the queue, and the last one wins.
        if not tenant_store.lock_queue(conn, tenant_id, queue_id):
            raise NotFound("no such queue")
        store.replace_schedules(conn, tenant_id, queue_id, checked)
    return checked


def list_schedules(db: Database, tenant_id: str, queue_id: str) -> list[dict[str, Any]]:
    """A queue's roster; a queue that does not exist (or no longer does) has none to show."""
    with db.read() as conn:
        if tenant_store.get_queue(conn, tenant_id, queue_id) is None:
            raise NotFound("no such queue")
        rows = store.list_schedules(conn, tenant_id, queue_id)
    return [{k: r[k] for k in ("weekday", "start", "end", "agents")} for r in rows]


# -- availability and estimate -------------------------------------------


def day_slots(
    day: date,
    zone: ZoneInfo,
    hours: CallingHours,
    roster: list[tuple[time, time, int]],
    booked: list[datetime],
    not_before: datetime,
) -> list[Slot]:
    """The day's slots inside `hours` (local), with capacity from the roster."""
    per_agent = SLOT_MINUTES * 60 // PLANNED_HANDLE_S
    slots = []
    wall = datetime.combine(day, hours.start)
    close = datetime.combine(day, hours.end) if hours.end > hours.start else wall
    while wall + timedelta(minutes=SLOT_MINUTES) <= close:
        wall_end = wall + timedelta(minutes=SLOT_MINUTES)
        start = wall.replace(tzinfo=zone).astimezone(UTC)
        end = wall_end.replace(tzinfo=zone).astimezone(UTC)
        # A wall time inside a DST gap does not round-trip; such a slot does not exist.
        exists = start.astimezone(zone).replace(tzinfo=None) == wall
        if exists and start >= not_before:
            agents = sum(n for a, b, n in roster if a <= wall.time() and wall_end.time() <= b)
            if wall_end.time() == time(0):
                agents = 0
            taken = sum(1 for t in booked if start <= t < end)
            slots.append(Slot(start, end, agents * per_agent, taken))
        wall = wall_end
    return slots


def availability(db: Database, clock: Clock, ctx: WidgetContext, day: date) -> list[Slot]:
    zone = ZoneInfo(ctx.tenant.time_zone)
    now = clock.now()
    today = now.astimezone(zone).date()
    if not today <= day <= today + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationFailed("date", f"choose a date from today to {MAX_DAYS_AHEAD} days ahead")
    hours = CallingHours.parse_limits(ctx.tenant.hard_hours_start, ctx.tenant.hard_hours_end)
    day_start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    with db.read() as conn:
        rows = store.list_schedules(conn, ctx.tenant.id, ctx.queue_id, day.isoweekday())
        booked = store.booked_start_times(
            conn, ctx.tenant.id, ctx.queue_id, day_start, day_start + timedelta(days=1, hours=2)
        )
    roster = [
        (time.fromisoformat(r["start"]), time.fromisoformat(r["end"]), int(r["agents"]))
        for r in rows
    ]
    not_before = now + timedelta(minutes=MIN_LEAD_MINUTES)
    return day_slots(day, zone, hours, roster, booked, not_before)


def estimate(db: Database, clock: Clock, ctx: WidgetContext) -> Estimate:
    return queue_estimate(db, clock, ctx.tenant, ctx.queue_id)


def queue_estimate(db: Database, clock: Clock, tenant: Tenant, queue_id: str) -> Estimate:
    """The wait a new "call me now" request on the queue can expect (module docstring)."""
    now = clock.now()
    zone = ZoneInfo(tenant.time_zone)
    hours = CallingHours.parse_limits(tenant.hard_hours_start, tenant.hard_hours_end)
    opens = next_allowed(now, zone, None, hours, customer_requested=True)
    with db.read() as conn:
        waiting = store.count_waiting(conn, tenant.id, queue_id, now)
        agents = store.count_logged_in_agents(conn, tenant.id, queue_id)
        samples = store.handle_seconds_since(conn, tenant.id, queue_id, now - timedelta(days=7))
    handle = sum(samples) / len(samples) if len(samples) >= MIN_HANDLE_SAMPLES else DEFAULT_HANDLE_S
    wait = int((waiting // agents) * handle) if agents else None
    is_open = opens == now
    return Estimate(is_open, None if is_open else opens, waiting, agents, round(handle, 1), wait)


# -- request and cancel ---------------------------------------------------


def normalize_phone(db: Database, tenant: Tenant, raw: str) -> str:
    with db.read() as conn:
        plan = tenancy.dial_plan(conn, tenant)
    try:
        return normalize(raw.strip(), plan, accept=Acceptance.VALID)
    except ValidationFailed as exc:
        raise ValidationFailed(
            "phone",
            "Please enter a valid phone number, with the country code if you are abroad "
            "(for example +1 650 555 1212).",
        ) from exc


def request_widget_callback(
    db: Database,
    clock: Clock,
    ctx: WidgetContext,
    form: WidgetRequest,
    guards: WidgetGuards,
    visitor_ip: str,
    cancel_base_url: str,
    secret: str,
    allowlist: OutboundAllowlist | None = None,
) -> Confirmation:
    """Check the guards and the visitor's choice, then ask the intake for a callback."""
    now = clock.now()
    if form.honeypot:
        # A bot filled the hidden field: look successful, store nothing.
        return Confirmation(None, now, None, ctx.tenant.time_zone, None)
    if not guards.per_ip.hit(f"{ctx.tenant.id}:{visitor_ip}"):
        raise RateLimited("Too many requests from your network; please try again later.")
    if not guards.captcha.verify(form.captcha_token, visitor_ip):
        raise PermissionDenied("The anti-robot check failed; please try again.")
    phone = normalize_phone(db, ctx.tenant, form.phone)
    if not guards.per_phone.hit(f"{ctx.tenant.id}:{phone}"):
        raise RateLimited("This number has asked for too many callbacks; please try later.")
    start, end, scheduled = _window(db, clock, ctx, form)
    name = " ".join(form.name.split())[:100]
    request = callbacks.CallbackRequest(
        phone=phone,
        flow=CallbackFlow.SCHEDULED if scheduled else CallbackFlow.ASAP,
        source="widget",
        queue=ctx.queue_id,
        start_time=start,
        end_time=end,
        udata=dict(ctx.udata or {}),
        ext_transaction_data=(("Name", name),) if name else (),
        webhook_url=ctx.webhook_url,
        subject="Web widget callback",
    )
    # The key's webhook URL was checked when the key was made; the operator allowlist holds.
    intake = callbacks.request_callback(db, clock, ctx.tenant.id, request, allowlist)
    row = intake.interaction
    link = cancel_url(cancel_base_url, secret, ctx.tenant.id, intake.interaction_id)
    return Confirmation(
        intake.interaction_id, row["start_time"], row["end_time"], ctx.tenant.time_zone, link
    )


def _window(
    db: Database, clock: Clock, ctx: WidgetContext, form: WidgetRequest
) -> tuple[datetime, datetime | None, bool]:
    now = clock.now()
    if form.when == "slot":
        if form.slot_start is None:
            raise ValidationFailed("slot", "choose a time slot")
        wanted = form.slot_start.astimezone(UTC)
        if not now - timedelta(days=1) <= wanted <= now + timedelta(days=366):
            # Slots are offered for the days ahead; this also keeps the local date in range.
            raise ValidationFailed("slot", "That time slot is not offered; please choose another.")
        day = wanted.astimezone(ZoneInfo(ctx.tenant.time_zone)).date()
        for slot in availability(db, clock, ctx, day):
            if slot.start == wanted:
                if not slot.available:
                    raise ValidationFailed("slot", "That time slot is full; please choose another.")
                return slot.start, slot.end, True
        raise ValidationFailed("slot", "That time slot is not offered; please choose another.")
    if form.when == "in":
        minutes = form.delay_minutes
        if minutes is None or not 1 <= minutes <= MAX_DELAY_MINUTES:
            raise ValidationFailed("delay_minutes", f"choose 1 to {MAX_DELAY_MINUTES} minutes")
        start = now + timedelta(minutes=minutes)
    elif form.when == "now":
        start = now
    else:
        raise ValidationFailed("when", 'when is "now", "in" or "slot"')
    zone = ZoneInfo(ctx.tenant.time_zone)
    hours = CallingHours.parse_limits(ctx.tenant.hard_hours_start, ctx.tenant.hard_hours_end)
    if next_allowed(start, zone, None, hours, customer_requested=True) != start:
        raise ValidationFailed("when", "We are closed at that time; please choose a time slot.")
    return start, None, False


def _signature(secret: str, tenant_id: str, interaction_id: str) -> str:
    message = f"widget-cancel:{tenant_id}:{interaction_id}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode()


def cancel_url(base_url: str, secret: str, tenant_id: str, interaction_id: str) -> str:
    sig = _signature(secret, tenant_id, interaction_id)
    return f"{base_url.rstrip('/')}/widget/cancel?t={tenant_id}&i={interaction_id}&s={sig}"


def check_cancel_link(secret: str, tenant_id: str, interaction_id: str, sig: str) -> None:
    expected = _signature(secret, tenant_id, interaction_id).encode()
    # As bytes: compare_digest refuses str with non-ASCII characters, and a link's `s` is
    # whatever the visitor's browser sent.
    if not hmac.compare_digest(expected, sig.encode("utf-8", "surrogatepass")):
        raise PermissionDenied("this cancel link is not valid")


def cancel_by_link(
    db: Database, clock: Clock, secret: str, tenant_id: str, interaction_id: str, sig: str
) -> None:
    check_cancel_link(secret, tenant_id, interaction_id, sig)
    interactions.cancel_callback(db, clock, tenant_id, interaction_id, reason="CANCELED_BY_VISITOR")


@dataclass(frozen=True)
class CancelView:
    cancellable: bool
    summary: str


#: callback_status codes a visitor may still cancel: RECEIVED, TIMER, QUEUED, REJECTED_BY_AGT.
CANCELLABLE = (1, 2, 3, 6)


def describe_for_cancel(
    db: Database, secret: str, tenant_id: str, interaction_id: str, sig: str
) -> CancelView:
    """What a cancel link points at, in words for the visitor."""
    check_cancel_link(secret, tenant_id, interaction_id, sig)
    row = interactions.get_interaction(db, tenant_id, interaction_id)
    with db.read() as conn:
        tenant = tenant_store.get_tenant(conn, tenant_id)
    zone = ZoneInfo(tenant.time_zone if tenant else "UTC")
    number = str(row["customer_number"])
    masked = number[:-4].rstrip() and "•••" + number[-4:]
    start = row["start_time"].astimezone(zone)
    when = start.strftime("%A %d %B at %H:%M") + f" ({zone.key})"
    if int(row["callback_status"]) not in CANCELLABLE:
        return CancelView(False, f"The callback to {masked} is already under way or finished.")
    return CancelView(True, f"We will call {masked} from {when}.")
