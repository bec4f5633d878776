"""Calling hours in the customer's local time.

Two windows apply: the tenant's hard limits (default 08:00-21:00 local, never
crossed) and the campaign's hours. A callback the customer asked for may be
dialled outside the campaign's hours, never outside the hard limits.

The customer's zone is the record's time zone, else the number's (from
libphonenumber's geography), else a default. A number spread over several
zones (North American toll-free, Russian mobiles) gets the default when the
default is one of them, else the first by name, so the choice never depends
on library ordering.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from rappel.domain.errors import ValidationFailed

_UNKNOWN_ZONE = "Etc/Unknown"


@dataclass(frozen=True)
class CallingHours:
    """A daily window [start, end) of local wall time; end before start runs past midnight."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValidationFailed("calling_hours", "calling hours are local wall times")
        if self.start == self.end:
            raise ValidationFailed("calling_hours", "calling hours must not be empty")

    @classmethod
    def parse(cls, start: str, end: str) -> CallingHours:
        """From "HH:MM" strings (the stored form)."""
        try:
            return cls(time.fromisoformat(start), time.fromisoformat(end))
        except ValueError as exc:
            raise ValidationFailed("calling_hours", f"bad time: {exc}") from exc

    @classmethod
    def parse_limits(cls, start: str, end: str) -> CallingHours:
        """Stored limits, where equal start and end mean "no limit" (round the clock)."""
        if start == end:
            return ALL_DAY
        return cls.parse(start, end)

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


#: Round the clock (the last microsecond of the day aside).
ALL_DAY = CallingHours(time(0, 0), time(23, 59, 59, 999999))
#: the default tenant hard limits
DEFAULT_HARD_LIMITS = CallingHours(time(8, 0), time(21, 0))


def customer_zone(record_tz: str | None, e164: str, default: ZoneInfo | None = None) -> ZoneInfo:
    """The zone whose wall clock decides when this customer may be called."""
    fallback = default or ZoneInfo("UTC")
    if record_tz:
        try:
            return ZoneInfo(record_tz)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a bad stored zone must not stop dialling; the number's zone is next best
    names = sorted(n for n in _number_zones(e164) if n != _UNKNOWN_ZONE)
    if not names:
        return fallback
    if str(fallback) in names:
        return fallback
    return ZoneInfo(names[0])


def _number_zones(e164: str) -> tuple[str, ...]:
    text = e164 if e164.startswith("+") else "+" + e164
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return ()
    zones: tuple[str, ...] = phone_timezone.time_zones_for_number(number)
    return zones


def may_dial(
    now_utc: datetime,
    zone: ZoneInfo,
    campaign_hours: CallingHours | None,
    hard_limits: CallingHours = DEFAULT_HARD_LIMITS,
    customer_requested: bool = False,
) -> bool:
    """Whether a customer in `zone` may be dialled at `now_utc`."""
    local = now_utc.astimezone(zone).time().replace(tzinfo=None)
    if not hard_limits.contains(local):
        return False
    return customer_requested or campaign_hours is None or campaign_hours.contains(local)


def next_allowed(
    now_utc: datetime,
    zone: ZoneInfo,
    campaign_hours: CallingHours | None,
    hard_limits: CallingHours = DEFAULT_HARD_LIMITS,
    customer_requested: bool = False,
) -> datetime:
    """The first UTC instant at or after `now_utc` at which dialling is allowed."""
    if may_dial(now_utc, zone, campaign_hours, hard_limits, customer_requested):
        return now_utc
    # Allowed time begins where one of the windows opens; look a few days ahead.
    starts = {hard_limits.start}
    if campaign_hours is not None and not customer_requested:
        starts.add(campaign_hours.start)
    today = now_utc.astimezone(zone).date()
    candidates = (
        _first_instant_at(today + timedelta(days=offset), start, zone)
        for offset in range(-1, 9)
        for start in starts
    )
    allowed = [
        c
        for c in candidates
        if c >= now_utc and may_dial(c, zone, campaign_hours, hard_limits, customer_requested)
    ]
    if not allowed:
        raise ValidationFailed("calling_hours", "campaign hours and hard limits never overlap")
    return min(allowed)


def _first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall clock reads `wall` or later on `day`.

    When `wall` falls in a spring-forward gap it does not exist; the answer is
    then the moment the clocks jump.
    """
    naive = datetime.combine(day, wall)
    early = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if early.astimezone(zone).replace(tzinfo=None) == naive:
        return early
    # Bisect whole seconds between the two readings of the missing wall time.
    low = int(naive.replace(tzinfo=zone, fold=1).timestamp())
    high = int(early.timestamp())
    low, high = min(low, high), max(low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if _wall(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall(timestamp: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(timestamp, zone).replace(tzinfo=None)
