"""Realistic days: the curves and streams the simulator's scenarios are made of."""

from __future__ import annotations

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.engine.scenarios import NAMES, Scenario, hourly_answer_factor

DAY = 10 * 3600.0


def on_duty(shifts: list[list[tuple[float, float]]], t: float) -> int:
    return sum(any(a <= t < b for a, b in spans) for spans in shifts)


def test_stationary_day_changes_nothing() -> None:
    day = Scenario()
    assert day.answer_factor(8 * 3600) == 1.0
    assert day.list_quality(10_000, 10) == 1.0
    assert day.handle_factor(DAY, DAY) == 1.0
    assert day.shifts(3, DAY) == [[(0.0, DAY)]] * 3
    assert day.callbacks(1, 50, DAY) == []


def test_answer_rate_jumps_in_the_evening() -> None:
    assert hourly_answer_factor(18.5) > 1.5 * hourly_answer_factor(17.0)
    assert hourly_answer_factor(13.0) == min(hourly_answer_factor(h / 4) for h in range(96))
    day = Scenario("evening-peak", start_hour=10.0)
    assert day.answer_factor(8.5 * 3600) == hourly_answer_factor(18.5)


def test_list_quality_decays_as_good_numbers_are_used() -> None:
    day = Scenario("list-decay")
    qualities = [day.list_quality(n, 50) for n in (0, 5000, 15000, 60000)]
    assert qualities == sorted(qualities, reverse=True)
    assert qualities[0] > 1.1
    assert qualities[-1] < 0.5


def test_agents_come_in_waves_and_lunch_in_turns() -> None:
    shifts = Scenario("agent-waves", start_hour=10.0).shifts(50, DAY)
    at = {h: on_duty(shifts, (h - 10.0) * 3600.0) for h in (10.0, 10.75, 11.5, 13.0, 14.25, 19.0)}
    assert at[10.0] == 15
    assert at[10.75] == 30
    assert at[11.5] == 40
    assert at[13.0] == 25  # the first wave at lunch
    assert at[14.25] == 35  # the second wave at lunch, the late shift in
    assert at[19.0] == 20


def test_handle_times_drift_up_through_the_day() -> None:
    day = Scenario("handle-drift")
    assert day.handle_factor(0.0, DAY) == pytest.approx(0.8)
    assert day.handle_factor(DAY, DAY) == pytest.approx(1.3)


def test_callbacks_burst_after_two_and_trickle_otherwise() -> None:
    arrivals = Scenario("callback-burst", start_hour=10.0).callbacks(3, 50, DAY)
    burst = sum(4 * 3600 <= t < 5 * 3600 for t in arrivals)
    quiet = sum(1 * 3600 <= t < 2 * 3600 for t in arrivals)
    assert 50 <= burst <= 110  # 85 expected
    assert quiet <= 25  # 10 expected
    assert arrivals == sorted(arrivals)
    assert arrivals == Scenario("callback-burst").callbacks(3, 50, DAY)


def test_full_day_has_every_feature() -> None:
    day = Scenario("full-day")
    assert day.answer_factor(8.5 * 3600) > 1.5
    assert day.list_quality(60_000, 50) < 0.5
    assert day.callbacks(1, 50, DAY)


def test_clock_time_reads_as_hhmm() -> None:
    assert Scenario(start_hour=9.5).hhmm(3 * 3600 + 20 * 60) == 1250


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        Scenario("monday")
    assert "full-day" in NAMES
