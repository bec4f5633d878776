"""VICIdial's adaptive pacing, the peer Rappel's pacing is compared with."""

from __future__ import annotations

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.engine.vicidial import (
    AdaptivePacer,
    AdaptMethod,
    AdaptSettings,
    AdaptView,
    DropCounts,
    calls_to_place,
    differential_level,
    drop_rules,
    tapered_rate,
)

OVER = DropCounts(calls_today=1000, answers_today=200, drops_today=10)  # 5 % of answers


def test_ready_agents_raise_the_level_by_their_share_of_the_team() -> None:
    level = differential_level(1.5, AdaptSettings(), ready=5, waiting=0, agents=50)
    assert level == pytest.approx(1.5 * 1.1)


def test_waiting_calls_lower_the_level() -> None:
    level = differential_level(2.0, AdaptSettings(), ready=1, waiting=6, agents=50)
    assert level == pytest.approx(2.0 * 0.9)


def test_intensity_sharpens_rises_and_softens_cuts() -> None:
    sharp = AdaptSettings(intensity=40)
    assert differential_level(1.5, sharp, 5, 0, 50) == pytest.approx(1.5 * 1.14)
    assert differential_level(2.0, sharp, 0, 5, 50) == pytest.approx(2.0 * (1 - 0.1 * 0.6))


def test_level_stays_between_one_and_the_maximum() -> None:
    assert differential_level(2.9, AdaptSettings(maximum_level=3.0), 40, 0, 50) == 3.0
    assert differential_level(1.0, AdaptSettings(), 0, 40, 50) == 1.0


def test_diff_target_keeps_agents_waiting() -> None:
    settings = AdaptSettings(dl_diff_target=-2)
    assert differential_level(2.0, settings, ready=2, waiting=0, agents=50) == 2.0


def test_over_the_limit_hard_limit_goes_back_to_one() -> None:
    settings = AdaptSettings(method=AdaptMethod.HARD_LIMIT)
    assert drop_rules(2.6, settings, OVER, 1200) == 1.0


def test_over_the_limit_average_halves() -> None:
    settings = AdaptSettings(method=AdaptMethod.AVERAGE)
    assert drop_rules(2.6, settings, OVER, 1200) == pytest.approx(1.3)


def test_over_the_limit_tapered_cuts_more_as_the_latest_time_nears() -> None:
    settings = AdaptSettings(method=AdaptMethod.TAPERED, latest_server_time=2100)
    assert drop_rules(2.5, settings, OVER, 1000) == 2.5  # more than "1000" before: no cut
    assert drop_rules(2.5, settings, OVER, 1300) == pytest.approx(2.0)
    assert drop_rules(2.5, settings, OVER, 2000) == 1.0  # 2.5 x 0.1, raised to 1
    assert drop_rules(2.5, settings, OVER, 2130) == 1.0


def test_tapered_rate_is_hhmm_arithmetic() -> None:
    assert tapered_rate(2100, 1830) == pytest.approx(0.27)
    assert tapered_rate(2100, 900) == 1.0
    assert tapered_rate(2100, 2200) < 0


def test_drop_rules_wait_for_fifty_calls_and_watch_the_last_minute() -> None:
    few = DropCounts(calls_today=40, answers_today=10, drops_today=5)
    assert drop_rules(2.0, AdaptSettings(), few, 1200) == 2.0
    burst = DropCounts(calls_today=40, answers_today=30, calls_last_minute=30, drops_last_minute=16)
    assert drop_rules(3.0, AdaptSettings(), burst, 1200) == 1.5


def test_calls_to_place_fill_level_times_agents_less_calls_up() -> None:
    assert calls_to_place(2.0, 10, 12, 0) == 8
    assert calls_to_place(1.0, 10, 12, 0) == 0
    assert calls_to_place(1.0, 10, 7, -2) == 1


def test_pacer_adapts_every_fifteen_seconds_from_averaged_samples() -> None:
    pacer = AdaptivePacer(AdaptSettings())
    view = AdaptView(ready=10, incall=40, logged_in=50, active_calls=40, waiting=0)
    assert pacer.launch(0.0, 1000, view) == 10  # level 1: one call per ready agent
    for s in range(1, 15):
        pacer.launch(float(s), 1000, view)
    assert pacer.level == 1.0
    launched = pacer.launch(15.0, 1000, view)
    assert pacer.level == pytest.approx(1.2)
    assert launched == 60 - 40


def test_pacer_sees_drops_only_at_its_minute_refresh() -> None:
    pacer = AdaptivePacer(AdaptSettings(start_level=2.0))
    idle = AdaptView(ready=0, incall=50, logged_in=50, active_calls=100, waiting=0)
    pacer.launch(0.0, 1000, idle)
    for k in range(100):
        pacer.record_dial(1.0 + k * 0.1)
    for _ in range(30):
        pacer.record_answer()
    for k in range(5):
        pacer.record_drop(2.0 + k)
    pacer.launch(15.0, 1000, idle)
    assert pacer.level == 2.0  # drop counts not refreshed yet
    pacer.launch(60.0, 1000, idle)
    assert pacer.level == 1.0  # 5 of 30 answers dropped: hard limit


@pytest.mark.parametrize(
    "bad",
    [{"dropped_percentage": -1}, {"maximum_level": 0.5}, {"latest_server_time": 2175},
     {"intensity": 50}, {"start_level": 4.0}],
)  # fmt: skip
def test_bad_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationFailed):
        AdaptSettings(**bad)  # type: ignore[arg-type]


def test_rappel_pacer_sets_twice_the_amd_false_positive_share_aside() -> None:
    from rappel.engine.pacing import DialingMode
    from rappel.engine.sim_pacers import make_pacer

    pacer = make_pacer("rappel", DialingMode.PREDICTIVE, 3.0, 0.0, 0.5, 2.0, AdaptSettings())
    assert pacer.controller.target_pct == pytest.approx(2.0)  # type: ignore[attr-defined]
    peer = make_pacer("vicidial-tapered", DialingMode.PREDICTIVE, 3.0, 0.0, 0.5, 2.0,
                      AdaptSettings())  # fmt: skip
    assert peer.label == "ADAPT_TAPERED"
    assert peer.adapt.settings.dropped_percentage == 3.0  # type: ignore[attr-defined]
