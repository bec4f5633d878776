"""Campaign use cases: read with counts and statistics, update, status, retry settings.

Status rules (OBI `status` / `dialerStatus`; the seed lists the values only):

* The stored status is what a client set: `Passive` or `Active`. It is shown as
  `Expired` once an Active campaign is past its endDate, and as `Handled` once
  every customer of an Active campaign is handled.
* dialerStatus: Passive -> PASSIVE; Expired -> EXPIRED; Handled -> COMPLETED;
  Quota -> QUOTA; Deleted/Invalid -> CLOSED; Active before its startDate ->
  CLOSED; Active with customers but none left to dial (all handled, MAXCALLS
  or filtered) -> COMPLETED; otherwise Active -> OPEN.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from rappel.clock import Clock
from rappel.domain.codes import CampaignStatus, DialerStatus, DialerType, DialingMode
from rappel.domain.errors import NotFound, ValidationFailed
from rappel.domain.ids import new_id
from rappel.domain.statistics import (
    CampaignCounts,
    CampaignStatistics,
    ResultCount,
    Window,
    campaign_statistics,
    statistics_by_agent,
)
from rappel.domain.tenancy import check_hhmm
from rappel.store import campaigns as store
from rappel.store import customers as customer_store
from rappel.store import statistics as stats_store
from rappel.store import tenancy as tenancy_store
from rappel.store.db import Database
from rappel.store.tables import channels, users

S = CampaignStatus


@dataclass(frozen=True)
class StatsRequest:
    """Which statistics to attach: daily for `day`, total unless a day was asked for."""

    day: date
    include_total: bool = True
    agent_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CampaignView:
    """A campaign as OBI shows it: stored fields, counts, derived statuses, statistics."""

    id: str
    name: str
    remarks: str | None
    dialer_id: str
    dialer_name: str
    dialer_type: str
    dialing_mode: str
    status: CampaignStatus
    dialer_status: DialerStatus
    queue_id: str
    queue_name: str
    custom_ivr_number: str | None
    counts: CampaignCounts
    start_date: datetime | None
    end_date: datetime | None
    registered: datetime
    time_zone: str | None
    logged_on: int
    abandon_rate: float
    increase_predictive_ratio: float
    retry_count: int
    stats_total: CampaignStatistics | None = None
    stats_daily: CampaignStatistics | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignUpdate:
    """OBI PUT /campaigns/{id}: every field is replaced (absent optional ones are cleared)."""

    name: str
    dialing_mode: DialingMode
    queue_id: str
    remarks: str | None = None
    custom_ivr_number: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    time_zone: str | None = None
    abandon_rate: float = 1.0
    increase_predictive_ratio: float = 0.0


def effective_status(stored: str, end: datetime | None, counts: CampaignCounts, now: datetime) -> S:
    status = S(stored) if stored in S._value2member_map_ else S.INVALID
    if status is S.ACTIVE and end is not None and now >= end:
        return S.EXPIRED
    if status is S.ACTIVE and counts.total > 0 and counts.handled == counts.total:
        return S.HANDLED
    return status


def dialer_status(
    status: S, start: datetime | None, counts: CampaignCounts, now: datetime
) -> DialerStatus:
    fixed = {
        S.PASSIVE: DialerStatus.PASSIVE,
        S.EXPIRED: DialerStatus.EXPIRED,
        S.HANDLED: DialerStatus.COMPLETED,
        S.QUOTA: DialerStatus.QUOTA,
        S.DELETED: DialerStatus.CLOSED,
        S.INVALID: DialerStatus.CLOSED,
    }
    if status in fixed:
        return fixed[status]
    if start is not None and now < start:
        return DialerStatus.CLOSED
    left = counts.total - counts.handled - counts.maxCalls - counts.filtered
    if counts.total > 0 and left == 0:
        return DialerStatus.COMPLETED
    return DialerStatus.OPEN


def _view(row: RowMapping, counts: CampaignCounts, logged_on: int, now: datetime) -> CampaignView:
    status = effective_status(row["status"], row["end_date"], counts, now)
    return CampaignView(
        id=row["id"],
        name=row["name"],
        remarks=row["remarks"],
        dialer_id=row["dialer_id"],
        dialer_name=row["dialer_name"],
        dialer_type=row["dialer_type"],
        dialing_mode=row["dialing_mode"],
        status=status,
        dialer_status=dialer_status(status, row["start_date"], counts, now),
        queue_id=row["queue_id"],
        queue_name=row["queue_name"],
        custom_ivr_number=row["custom_ivr_number"],
        counts=counts,
        start_date=row["start_date"],
        end_date=row["end_date"],
        registered=row["registered"],
        time_zone=row["time_zone"],
        logged_on=logged_on,
        abandon_rate=row["abandon_rate"],
        increase_predictive_ratio=row["increase_predictive_ratio"],
        retry_count=row["retry_count"],
        extra={
            k: row[k]
            for k in (
                "busy_retry_delay_s",
                "no_answer_retry_delay_s",
                "preview_time",
                "hours_start",
                "hours_end",
                "first_active_at",
            )
        },
    )


def views(
    conn: Connection, tenant_id: str, rows: Sequence[RowMapping], now: datetime
) -> list[CampaignView]:
    counts = store.counts_by_campaign(conn, tenant_id, [r["id"] for r in rows], now)
    logged = store.logged_on_by_queue(conn, tenant_id)
    return [_view(r, counts[r["id"]], logged.get(r["queue_id"], 0), now) for r in rows]


def get_campaign(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, stats: StatsRequest | None = None
) -> CampaignView:
    with db.read() as conn:
        row = store.get_campaign(conn, tenant_id, campaign_id)
        if row is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        found = views(conn, tenant_id, [row], clock.now())
        # A list leaves out campaigns without the agents' statistics; the campaign asked
        # for by id is still answered, without `stats`.
        counted = with_statistics(conn, tenant_id, found, stats, clock.now()) if stats else []
        return counted[0] if counted else found[0]


def with_statistics(
    conn: Connection,
    tenant_id: str,
    found: Sequence[CampaignView],
    request: StatsRequest | None,
    now: datetime,
) -> list[CampaignView]:
    """Attach stats.total / stats.daily; with agent ids, drop campaigns without their stats."""
    if request is None or not found:
        return list(found)
    ids = [v.id for v in found]
    daily = Window.day(request.day)
    windows = {"daily": daily, **({"total": Window()} if request.include_total else {})}
    since = None if request.include_total else daily.start
    attempts = stats_store.load_attempts(conn, tenant_id, ids, since)
    customers = stats_store.load_customers(conn, tenant_id, {a.customer_id for a in attempts})
    agents = list(request.agent_ids) if request.agent_ids is not None else None
    changes = stats_store.load_state_changes(conn, tenant_id, daily.end, agents)
    out = []
    for view in found:
        parts: dict[str, CampaignStatistics | None] = {}
        for name, window in windows.items():
            parts[name] = _one(
                conn, tenant_id, view, attempts, customers, changes, window, now, request
            )
        if request.agent_ids is not None and not any(parts.values()):
            continue
        today = daily.start is not None and daily.start <= now < (daily.end or now)
        if parts["daily"] is not None and not (
            _active(parts["daily"]) or (today and view.status is S.ACTIVE)
        ):
            parts["daily"] = None
        total = parts.get("total")
        if total is not None and not (_active(total) or view.extra.get("first_active_at")):
            total = None
        out.append(replace(view, stats_total=total, stats_daily=parts["daily"]))
    return out


def _active(stats: CampaignStatistics) -> bool:
    return stats.numberOfCalls > 0 or stats.loginTime > 0


def _one(
    conn: Connection,
    tenant_id: str,
    view: CampaignView,
    attempts: Sequence[Any],
    customers: Sequence[Any],
    changes: Sequence[Any],
    window: Window,
    now: datetime,
    request: StatsRequest,
) -> CampaignStatistics | None:
    if request.agent_ids is None:
        stats = campaign_statistics(view.id, attempts, customers, changes, window, now)
        created = stats_store.customers_created(conn, tenant_id, [view.id], window)
        # Only attempted customers were loaded; the created count comes from SQL.
        return replace(stats, numberOfCustomers=created.get(view.id, 0))
    own = [a for a in attempts if a.campaign_id == view.id]
    rows = statistics_by_agent(own, customers, changes, window, now)
    mine = [s for (cid, agent), s in rows.items() if cid == view.id and agent in request.agent_ids]
    return combine(mine) if mine else None


def combine(parts: Sequence[CampaignStatistics]) -> CampaignStatistics:
    """Sum of per-agent statistics; numberOfAgents is the number of agents summed."""
    values = {f.name: sum(getattr(p, f.name) for p in parts) for f in fields(CampaignStatistics)}
    values["numberOfAgents"] = len(parts)
    return CampaignStatistics(**values)


def check_update(conn: Connection, tenant_id: str, change: CampaignUpdate) -> dict[str, Any]:
    if not change.name.strip() or len(change.name) > 200:
        raise ValidationFailed("name", "name must be 1 to 200 characters")
    if tenancy_store.get_queue(conn, tenant_id, change.queue_id) is None:
        raise ValidationFailed("queueId", f"Invalid queueId: {change.queue_id} : Unknown queue")
    if change.custom_ivr_number is not None:
        known = conn.execute(
            select(channels.c.number).where(
                channels.c.tenant_id == tenant_id, channels.c.number == change.custom_ivr_number
            )
        ).first()
        if known is None:
            raise ValidationFailed(
                "customIvrNumber",
                f"Invalid customIvrNumber: {change.custom_ivr_number} : Unknown channel",
            )
    if change.start_date and change.end_date and change.start_date > change.end_date:
        raise ValidationFailed("endDate", "Invalid endDate: endDate is before startDate")
    if change.time_zone is not None:
        check_time_zone(change.time_zone)
    if not 0.0 <= change.abandon_rate <= 2.0:
        raise ValidationFailed("abandonRate", "Invalid abandonRate: must be between 0.0 and 2.0")
    if not 0.0 <= change.increase_predictive_ratio <= 100.0:
        raise ValidationFailed(
            "increasePredictiveRatio", "Invalid increasePredictiveRatio: must be between 0 and 100"
        )
    return {
        "name": change.name,
        "remarks": change.remarks,
        "dialing_mode": change.dialing_mode.value,
        "queue_id": change.queue_id,
        "custom_ivr_number": change.custom_ivr_number,
        "start_date": change.start_date,
        "end_date": change.end_date,
        "time_zone": change.time_zone,
        "abandon_rate": change.abandon_rate,
        "increase_predictive_ratio": change.increase_predictive_ratio,
    }


def check_time_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("timeZone", f"Invalid timeZone: {name} : Unknown time zone") from exc


def update_campaign(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, change: CampaignUpdate
) -> None:
    """Replace every updatable field (OBI PUT)."""
    with db.begin() as conn:
        if store.get_campaign(conn, tenant_id, campaign_id) is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        values = check_update(conn, tenant_id, change)
        store.update_campaign(conn, tenant_id, campaign_id, {**values, "modified_at": clock.now()})


def set_campaign_status(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, status: CampaignStatus
) -> None:
    """Make a campaign Active or Passive."""
    if status not in (S.ACTIVE, S.PASSIVE):
        raise ValidationFailed("status", "Invalid status: must be Active or Passive")
    now = clock.now()
    with db.begin() as conn:
        row = store.get_campaign(conn, tenant_id, campaign_id)
        if row is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        values: dict[str, Any] = {"status": status.value, "modified_at": now}
        if status is S.ACTIVE and row["first_active_at"] is None:
            values["first_active_at"] = now
        store.update_campaign(conn, tenant_id, campaign_id, values)


_SETTINGS = {
    "retry_count": (0, 100),
    "busy_retry_delay_s": (0, 7 * 86400),
    "no_answer_retry_delay_s": (0, 7 * 86400),
    "preview_time": (0, 3600),
}


def check_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Retry settings and calling hours of the native API."""
    out: dict[str, Any] = {}
    for name, (low, high) in _SETTINGS.items():
        if name in values:
            value = values[name]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValidationFailed(name, f"{name} must be an integer from {low} to {high}")
            out[name] = value
    for name in ("hours_start", "hours_end"):
        if name in values:
            check_hhmm(str(values[name]), name)
            out[name] = values[name]
    start, end = out.get("hours_start"), out.get("hours_end")
    if start is not None and end is not None and start >= end:
        raise ValidationFailed("hours_end", "hours_end must be after hours_start")
    return out


def create_campaign(
    db: Database, clock: Clock, tenant_id: str, change: CampaignUpdate, settings: Mapping[str, Any]
) -> str:
    """A new campaign on the tenant's campaign dialer (native API)."""
    now = clock.now()
    with db.begin() as conn:
        values = check_update(conn, tenant_id, change)
        dialer_id = settings.get("dialer_id")
        dialer = (
            store.get_dialer(conn, tenant_id, dialer_id)
            if dialer_id
            else store.first_dialer(conn, tenant_id, DialerType.CAMPAIGN_DIALER.value)
        )
        if dialer is None and dialer_id:
            raise ValidationFailed("dialer_id", f"Unknown dialer {dialer_id}")
        if dialer is None:
            dialer_id = new_id()
            store.insert_dialer(
                conn, tenant_id, dialer_id, "Campaign Dialer", DialerType.CAMPAIGN_DIALER.value
            )
        else:
            dialer_id = dialer["id"]
        campaign_id = new_id()
        store.insert_campaign(
            conn,
            {
                **values,
                **check_settings(settings),
                "tenant_id": tenant_id,
                "id": campaign_id,
                "dialer_id": dialer_id,
                "status": S.PASSIVE.value,
                "registered": now,
                "modified_at": now,
            },
        )
    return campaign_id


def change_settings(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, settings: Mapping[str, Any]
) -> int:
    """Retry settings and calling hours; raising RetryCount reopens MAXCALLS customers.

    Returns how many customers were reopened.
    """
    return patch_campaign(db, clock, tenant_id, campaign_id, {}, settings)


def _stored_update(row: RowMapping) -> CampaignUpdate:
    return CampaignUpdate(
        name=row["name"],
        dialing_mode=DialingMode(row["dialing_mode"]),
        queue_id=row["queue_id"],
        remarks=row["remarks"],
        custom_ivr_number=row["custom_ivr_number"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        time_zone=row["time_zone"],
        abandon_rate=row["abandon_rate"],
        increase_predictive_ratio=row["increase_predictive_ratio"],
    )


def patch_campaign(
    db: Database,
    clock: Clock,
    tenant_id: str,
    campaign_id: str,
    fields: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> int:
    """Native PATCH: the given campaign fields and settings change together or not at all.

    `fields` are CampaignUpdate fields, laid over the stored ones; `settings` are retry
    settings and calling hours. Everything is checked before the one UPDATE, in one
    transaction, so a refused value leaves the campaign as it was. Returns how many
    MAXCALLS customers a raised RetryCount reopened.
    """
    values = check_settings(settings)
    now = clock.now()
    with db.begin() as conn:
        row = store.get_campaign(conn, tenant_id, campaign_id)
        if row is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        if fields:
            values.update(check_update(conn, tenant_id, replace(_stored_update(row), **fields)))
        hours = (
            values.get("hours_start", row["hours_start"]),
            values.get("hours_end", row["hours_end"]),
        )
        if hours[0] >= hours[1]:
            raise ValidationFailed("hours_end", "hours_end must be after hours_start")
        if not values:
            return 0
        store.update_campaign(conn, tenant_id, campaign_id, {**values, "modified_at": now})
        retry = values.get("retry_count", row["retry_count"])
        if retry > row["retry_count"]:
            return customer_store.reopen_max_calls(conn, tenant_id, campaign_id, retry + 1, now)
    return 0


def customer_result_statistics(db: Database, tenant_id: str, campaign_id: str) -> list[ResultCount]:
    """Customers per (result, callResult, classifier)."""
    from rappel.domain.results import CustomerResult

    with db.read() as conn:
        if store.get_campaign(conn, tenant_id, campaign_id) is None:
            raise NotFound(f"Campaign {campaign_id} not found")
        rows = stats_store.result_counts(conn, tenant_id, campaign_id)
    known = CustomerResult._value2member_map_
    return [
        ResultCount(
            CustomerResult(r.result) if r.result in known else CustomerResult.DIALING,
            CustomerResult(r.call_result) if r.call_result in known else None,
            r.classifier,
            int(r.count),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class StatisticsRow:
    """One row of OBI GET /statistics."""

    campaign_id: str
    campaign_name: str
    agent_id: str | None
    agent_name: str | None
    stats: CampaignStatistics


def statistics_rows(
    db: Database,
    clock: Clock,
    tenant_id: str,
    first_day: date | None,
    last_day: date | None,
    campaign_ids: Sequence[str] | None = None,
    agent_ids: Sequence[str] | None = None,
) -> list[StatisticsRow]:
    """Statistics per (campaign, agent) over whole UTC days; agent None is the dialer alone."""
    window = Window.days(first_day, last_day)
    now = clock.now()
    with db.read() as conn:
        attempts = stats_store.load_attempts(conn, tenant_id, campaign_ids, window.start)
        customers = stats_store.load_customers(conn, tenant_id, {a.customer_id for a in attempts})
        changes = stats_store.load_state_changes(conn, tenant_id, window.end, None)
        names = {r["id"]: r["name"] for r in store.list_campaigns(conn, tenant_id, [])}
        people = {
            r.id: r.display_name or r.username
            for r in conn.execute(
                select(users.c.id, users.c.display_name, users.c.username).where(
                    users.c.tenant_id == tenant_id
                )
            )
        }
    rows = statistics_by_agent(attempts, customers, changes, window, now)
    out = []
    for (campaign_id, agent_id), stats in rows.items():
        if campaign_id not in names or (
            campaign_ids is not None and campaign_id not in campaign_ids
        ):
            continue
        if agent_ids is not None and agent_id not in agent_ids:
            continue
        out.append(
            StatisticsRow(
                campaign_id,
                names[campaign_id],
                agent_id,
                None if agent_id is None else people.get(agent_id),
                stats,
            )
        )
    return sorted(
        out, key=lambda r: (r.campaign_name, r.campaign_id, r.agent_name or "", r.agent_id or "")
    )


@dataclass(frozen=True)
class CampaignQuery:
    """OBI campaign search: field patterns, exact ids, time ranges, statistics."""

    patterns: tuple[tuple[str, str], ...] = ()
    ids: tuple[tuple[str, str], ...] = ()
    ranges: tuple[tuple[str, datetime | None, datetime | None], ...] = ()
    stats: StatsRequest | None = None


#: Searchable fields computed per campaign, matched after the SQL query.
DERIVED_FIELDS: dict[str, Any] = {
    "status": lambda v: v.status.value,
    "dialerStatus": lambda v: v.dialer_status.value,
    "total": lambda v: v.counts.total,
    "handled": lambda v: v.counts.handled,
    "maxCalls": lambda v: v.counts.maxCalls,
    "filtered": lambda v: v.counts.filtered,
}
SEARCHABLE = (*store.TEXT_FIELDS, *store.ID_FIELDS, *DERIVED_FIELDS)


def list_campaigns(
    db: Database, clock: Clock, tenant_id: str, query: CampaignQuery
) -> list[CampaignView]:
    conditions = [
        customer_store.text_match(store.TEXT_FIELDS[name], pattern)
        for name, pattern in query.patterns
        if name in store.TEXT_FIELDS
    ]
    conditions += [store.ID_FIELDS[name] == value for name, value in query.ids]
    for name, after, before in query.ranges:
        column = store.DATE_FIELDS[name]
        if after is not None:
            conditions.append(column >= after)
        if before is not None:
            conditions.append(column <= before)
    derived = [
        (DERIVED_FIELDS[name], customer_store.pattern_regex(pattern))
        for name, pattern in query.patterns
        if name in DERIVED_FIELDS
    ]
    now = clock.now()
    with db.read() as conn:
        found = views(conn, tenant_id, store.list_campaigns(conn, tenant_id, conditions), now)
        found = [v for v in found if all(rx.fullmatch(str(get(v))) for get, rx in derived)]
        return with_statistics(conn, tenant_id, found, query.stats, now)
