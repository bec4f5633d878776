"""Calling hours in the customer's local time, across zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from rappel.domain.calling_hours import (
    DEFAULT_HARD_LIMITS,
    CallingHours,
    customer_zone,
    may_dial,
    next_allowed,
)
from rappel.domain.errors import ValidationFailed

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
OFFICE = CallingHours(time(9), time(20))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_record_time_zone_wins_over_the_number() -> None:
    assert customer_zone("Europe/Helsinki", "+16505551212") == ZoneInfo("Europe/Helsinki")


def test_number_gives_the_zone_when_the_record_has_none() -> None:
    assert customer_zone(None, "+16505551212") == ZoneInfo("America/Los_Angeles")
    assert customer_zone("", "4930123456") == BERLIN
    assert customer_zone("Not/AZone", "+61291234567") == SYDNEY


def test_number_with_several_zones_prefers_the_default_else_the_first_by_name() -> None:
    toll_free = "+18005551212"
    assert customer_zone(None, toll_free, ZoneInfo("America/Chicago")) == ZoneInfo(
        "America/Chicago"
    )
    assert customer_zone(None, toll_free, BERLIN) == ZoneInfo("America/Adak")


def test_unknown_number_falls_back_to_the_default() -> None:
    assert customer_zone(None, "+15555", BERLIN) == BERLIN
    assert customer_zone(None, "not a number", BERLIN) == BERLIN
    assert customer_zone(None, "+15555") == ZoneInfo("UTC")


def test_hard_limits_default_to_eight_to_nine_pm() -> None:
    assert DEFAULT_HARD_LIMITS == CallingHours(time(8), time(21))


def test_same_instant_is_allowed_in_one_zone_and_not_in_another() -> None:
    instant = utc(2026, 1, 15, 14, 0)  # 15:00 Berlin, 09:00 New York, 01:00 Sydney
    assert may_dial(instant, BERLIN, OFFICE)
    assert may_dial(instant, NEW_YORK, OFFICE)
    assert not may_dial(instant, SYDNEY, OFFICE)


def test_customer_requested_callback_may_go_outside_campaign_hours_but_not_hard_limits() -> None:
    half_past_eight = utc(2026, 1, 15, 7, 30)  # 08:30 Berlin
    assert not may_dial(half_past_eight, BERLIN, OFFICE)
    assert may_dial(half_past_eight, BERLIN, OFFICE, customer_requested=True)
    seven = utc(2026, 1, 15, 6, 0)  # 07:00 Berlin
    assert not may_dial(seven, BERLIN, OFFICE, customer_requested=True)
    assert not may_dial(utc(2026, 1, 15, 20, 0), BERLIN, None, customer_requested=True)


def test_hours_follow_daylight_saving_time() -> None:
    # New York: EST (UTC-5) until 2026-03-08, EDT (UTC-4) after.
    assert not may_dial(utc(2026, 3, 6, 12, 30), NEW_YORK, None)  # 07:30 EST
    assert may_dial(utc(2026, 3, 9, 12, 30), NEW_YORK, None)  # 08:30 EDT
    # Berlin leaves summer time on 2026-10-25.
    assert not may_dial(utc(2026, 10, 24, 19, 30), BERLIN, None)  # 21:30 CEST
    assert may_dial(utc(2026, 10, 26, 19, 30), BERLIN, None)  # 20:30 CET


def test_next_allowed_is_now_when_dialling_is_allowed() -> None:
    now = utc(2026, 1, 15, 14, 0)
    assert next_allowed(now, BERLIN, OFFICE) == now


def test_next_allowed_is_the_campaign_opening_in_the_customer_zone() -> None:
    evening = utc(2026, 1, 15, 20, 0)  # 21:00 Berlin
    assert next_allowed(evening, BERLIN, OFFICE) == utc(2026, 1, 16, 8, 0)
    assert next_allowed(evening, BERLIN, OFFICE, customer_requested=True) == utc(2026, 1, 16, 7, 0)


def test_next_allowed_crosses_the_spring_forward_night() -> None:
    night = utc(2026, 3, 8, 3, 0)  # 22:00 EST on the 7th; clocks go forward at 02:00
    assert next_allowed(night, NEW_YORK, None) == utc(2026, 3, 8, 12, 0)  # 08:00 EDT


def test_next_allowed_when_the_window_opens_inside_the_dst_gap() -> None:
    night_hours = CallingHours(time(2, 30), time(5))
    night = utc(2026, 3, 8, 5, 0)  # 00:00 EST
    # 02:30 does not exist that night: dialling opens when the clocks jump to 03:00 EDT.
    assert next_allowed(night, NEW_YORK, None, hard_limits=night_hours) == utc(2026, 3, 8, 7, 0)


def test_overnight_window_runs_past_midnight() -> None:
    late = CallingHours(time(22), time(2))
    assert late.contains(time(23, 30))
    assert late.contains(time(1, 0))
    assert not late.contains(time(12, 0))


def test_non_overlapping_windows_are_reported() -> None:
    with pytest.raises(ValidationFailed):
        next_allowed(utc(2026, 1, 15, 12), BERLIN, CallingHours(time(22), time(23)))


def test_bad_or_empty_hours_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        CallingHours(time(9), time(9))
    with pytest.raises(ValidationFailed):
        CallingHours.parse("9h", "20:00")
    assert CallingHours.parse("09:00", "20:00") == OFFICE


@pytest.mark.parametrize("zone", [NEW_YORK, BERLIN, SYDNEY, ZoneInfo("Asia/Kolkata")])
def test_next_allowed_is_always_allowed_and_nothing_earlier_is(zone: ZoneInfo) -> None:
    start = utc(2026, 3, 1)
    for hour in range(0, 24 * 60, 7):
        now = start + timedelta(hours=hour)
        found = next_allowed(now, zone, OFFICE)
        assert found >= now
        assert may_dial(found, zone, OFFICE)
        assert not may_dial(found - timedelta(seconds=1), zone, OFFICE) or found == now


def test_equal_stored_limits_mean_round_the_clock() -> None:
    hours = CallingHours.parse_limits("00:00", "00:00")
    assert all(hours.contains(time(h, 30)) for h in range(24))
    assert CallingHours.parse_limits("08:00", "21:00") == CallingHours(time(8), time(21))
