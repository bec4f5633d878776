"""The widget's pure rules: slots and capacity, the sliding-window limiter, the cancel link."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rappel.clock import VirtualClock
from rappel.domain.calling_hours import CallingHours
from rappel.domain.errors import PermissionDenied
from rappel.services.widget import cancel_url as make_cancel_url
from rappel.services.widget import check_cancel_link, day_slots
from rappel.services.widget_guards import SlidingWindowLimiter

LA = ZoneInfo("America/Los_Angeles")
HOURS = CallingHours(time(8), time(21))
EARLY = datetime(2000, 1, 1, tzinfo=UTC)


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=LA)


def test_slots_cover_the_hours_in_the_tenant_zone_with_roster_capacity() -> None:
    day = date(2026, 6, 10)
    roster = [(time(9), time(12), 2), (time(10), time(11), 1)]
    slots = day_slots(day, LA, HOURS, roster, [], EARLY)
    assert len(slots) == 26  # 08:00 .. 20:30
    assert slots[0].start == local(day, 8).astimezone(UTC)
    by_time = {s.start.astimezone(LA).time(): s for s in slots}
    assert by_time[time(8)].capacity == 0
    assert by_time[time(9)].capacity == 12  # 2 agents x 6 callbacks per 30 minutes
    assert by_time[time(10, 30)].capacity == 18  # both rows cover 10:30-11:00
    assert by_time[time(11, 30)].capacity == 12
    assert by_time[time(12)].capacity == 0  # the 09-12 row does not cover 12:00-12:30


def test_booked_callbacks_fill_their_slot_only() -> None:
    day = date(2026, 6, 10)
    booked = [local(day, 9, 10).astimezone(UTC)] * 12 + [local(day, 9, 30).astimezone(UTC)]
    slots = day_slots(day, LA, HOURS, [(time(8), time(21), 2)], booked, EARLY)
    by_time = {s.start.astimezone(LA).time(): s for s in slots}
    assert not by_time[time(9)].available
    assert by_time[time(9, 30)].booked == 1
    assert by_time[time(9, 30)].available


def test_slots_before_the_lead_time_are_not_offered() -> None:
    day = date(2026, 6, 10)
    not_before = local(day, 14, 5).astimezone(UTC)
    slots = day_slots(day, LA, HOURS, [], [], not_before)
    assert slots[0].start.astimezone(LA).time() == time(14, 30)


def test_the_spring_gap_has_no_slots_and_slots_keep_their_length() -> None:
    day = date(2026, 3, 8)  # US clocks go from 02:00 to 03:00
    slots = day_slots(day, LA, CallingHours(time(1), time(4)), [], [], EARLY)
    starts = [s.start.astimezone(LA).strftime("%H:%M") for s in slots]
    assert starts == ["01:00", "01:30", "03:00", "03:30"]
    assert all(s.end - s.start <= timedelta(minutes=30) for s in slots)


def test_limiter_allows_the_limit_then_refuses_until_the_window_slides() -> None:
    clock = VirtualClock()
    limiter = SlidingWindowLimiter(2, 3600, clock)
    assert limiter.hit("a")
    clock.set(clock.now() + timedelta(seconds=600))
    assert limiter.hit("a")
    assert not limiter.hit("a")
    assert limiter.hit("b")
    assert limiter.retry_after("a") == 3001
    clock.set(clock.now() + timedelta(seconds=3000))
    assert limiter.hit("a")  # the first hit left the window
    assert not limiter.hit("a")


def test_cancel_link_signature_binds_tenant_and_interaction() -> None:
    link = make_cancel_url("http://x", "secret", "T" * 32, "I" * 32)
    sig = link.rsplit("s=", 1)[1]
    check_cancel_link("secret", "T" * 32, "I" * 32, sig)
    with pytest.raises(PermissionDenied):
        check_cancel_link("secret", "T" * 32, "J" * 32, sig)
    with pytest.raises(PermissionDenied):
        check_cancel_link("other secret", "T" * 32, "I" * 32, sig)


@pytest.mark.parametrize("sig", ["é", "\u00e9" * 32, "\ud800", ""])
def test_cancel_link_with_a_non_ascii_or_empty_signature_is_refused(sig: str) -> None:
    with pytest.raises(PermissionDenied):
        check_cancel_link("secret", "T" * 32, "I" * 32, sig)
