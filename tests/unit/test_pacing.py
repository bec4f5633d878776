"""Pacing decisions and the abandon controller."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rappel.engine.pacing import (
    AbandonController,
    BusyAgent,
    DialingMode,
    LiveEstimates,
    PacingDecision,
    PacingInput,
    decide,
)


def estimates(answer_rate: float = 0.25, dials: int = 400) -> LiveEstimates:
    """History of `dials` dials answered after 12 s, the others ending at 30 s."""
    live = LiveEstimates()
    every = round(1 / answer_rate)
    for n in range(dials):
        answered = n % every == 0
        live.record_dial(12.0 if answered else 30.0, answered)
    for n in range(100):
        live.record_talk(120.0 + n)
        live.record_wrap(20.0 + n % 10)
    return live


def busy_team(size: int) -> list[BusyAgent]:
    # Half talking, half wrapping up at various stages.
    return [BusyAgent(n % 2 == 0, float(n % 30) * 4) for n in range(size)]


def test_progressive_launches_one_call_per_free_agent_not_yet_served() -> None:
    state = PacingInput(DialingMode.PROGRESSIVE, free_agents=5, ringing_s=[3.0, 8.0])
    assert decide(state, estimates()).launch == 3
    crowded = PacingInput(DialingMode.PROGRESSIVE, free_agents=1, ringing_s=[1.0, 2.0])
    assert decide(crowded, estimates()).launch == 0


def test_preview_launches_nothing_on_its_own() -> None:
    assert decide(PacingInput(DialingMode.PREVIEW, free_agents=4), estimates()).launch == 0


def test_predictive_dials_more_than_free_agents_when_few_answer() -> None:
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=4,
        busy_agents=busy_team(20),
        abandon_target_pct=3.0,
        increase_predictive_ratio_pct=100.0,
    )
    decision = decide(state, estimates(answer_rate=0.25))
    assert decision.launch > 4
    assert 0 < decision.expected_abandon_pct <= 3.0


def test_predictive_dials_fewer_extra_calls_when_most_answer() -> None:
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=4,
        busy_agents=busy_team(20),
        abandon_target_pct=3.0,
        increase_predictive_ratio_pct=100.0,
        burst_limit=100,
    )
    low = decide(state, estimates(answer_rate=0.25)).launch
    high = decide(state, estimates(answer_rate=0.5)).launch
    assert high < low


def test_abandon_rate_zero_means_no_extra_calls() -> None:
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=4,
        busy_agents=busy_team(20),
        ringing_s=[2.0],
        abandon_target_pct=0.0,
        increase_predictive_ratio_pct=100.0,
    )
    assert decide(state, estimates()).launch == 3


def test_predictive_dials_progressively_until_it_has_history() -> None:
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=4,
        busy_agents=busy_team(20),
        abandon_target_pct=3.0,
        increase_predictive_ratio_pct=100.0,
    )
    assert decide(state, LiveEstimates()).launch == 4


def test_increase_predictive_ratio_caps_calls_for_busy_agents() -> None:
    def launch(ratio: float) -> int:
        state = PacingInput(
            DialingMode.PREDICTIVE,
            free_agents=2,
            busy_agents=busy_team(20),
            abandon_target_pct=2.0,
            increase_predictive_ratio_pct=ratio,
        )
        return decide(state, estimates()).launch

    assert launch(0.0) == 2
    assert launch(10.0) == 2 + 2
    assert launch(100.0) >= launch(10.0)


def test_a_higher_target_never_launches_fewer_calls() -> None:
    launches = [
        decide(
            PacingInput(
                DialingMode.PREDICTIVE,
                free_agents=1,
                busy_agents=busy_team(40),
                ringing_s=[1.0, 5.0, 9.0],
                abandon_target_pct=target,
                increase_predictive_ratio_pct=100.0,
                burst_limit=100,
            ),
            estimates(),
        ).launch
        for target in (0.5, 1.0, 2.0, 5.0, 10.0)
    ]
    assert launches == sorted(launches)
    assert launches[-1] > launches[0]


def test_agent_near_the_end_of_wrap_up_will_be_free_soon() -> None:
    live = estimates()  # wrap-ups last 20..29 s
    assert live.free_probability(BusyAgent(False, 25.0), horizon_s=10.0) == 1.0
    assert live.free_probability(BusyAgent(False, 1.0), horizon_s=10.0) == 0.0
    assert live.free_probability(BusyAgent(True, 5.0), horizon_s=10.0) == 0.0


def test_late_ringing_calls_are_unlikely_to_be_answered() -> None:
    live = estimates(answer_rate=0.25)
    assert live.answer_probability(0.0) == pytest.approx(0.25)
    assert live.answer_probability(20.0) == 0.0


def feed(controller: AbandonController, answers: int, abandons: int, minutes: float) -> None:
    for n in range(answers):
        controller.record_answered(n * minutes * 60.0 / answers)
    for n in range(abandons):
        controller.record_abandoned(minutes * 60.0 * (n + 1) / (abandons + 1))


def test_controller_aims_at_the_target_when_the_hour_is_clean() -> None:
    controller = AbandonController(target_pct=3.0)
    feed(controller, answers=400, abandons=0, minutes=30)
    # A margin stays back for the hour that starts now.
    assert 2.0 < controller.aim_pct(1800.0) < 3.0
    # Before any evidence the model is taken to see half the abandons.
    assert controller.bias == pytest.approx(2.0)
    assert controller.model_target_pct(1800.0) == pytest.approx(controller.aim_pct(1800.0) / 2)


def test_controller_learns_how_far_the_model_underestimates_abandons() -> None:
    def bias_after(abandons: int) -> float:
        controller = AbandonController(target_pct=3.0)
        controller.record_decision(PacingDecision(1, expected_abandon_pct=1.0))
        for n in range(1000):  # the model expects 10 abandons
            controller.record_answered(n * 0.5)
        for n in range(abandons):
            controller.record_abandoned(n * 10.0 + 1.0)
        return controller.bias

    assert bias_after(30) == pytest.approx((30 + 3) / (10 + 1.5), rel=0.1)
    assert bias_after(40) > bias_after(30) > 2.0
    # Fewer abandons than expected: the model is trusted as it is, never more.
    assert bias_after(0) == 1.0


def test_room_is_what_the_tightest_open_hour_can_still_take() -> None:
    controller = AbandonController(target_pct=3.0)
    feed(controller, answers=400, abandons=0, minutes=30)
    clean = controller.room(1800.0)
    # 800 answers an hour projected low: 70 % of them less two std-devs.
    assert clean == pytest.approx(0.03 * (0.7 * 800 - 2 * 800**0.5))
    for at in (1790.0, 1791.0, 1792.0):
        controller.record_abandoned(at)
    assert controller.room(1800.0) < clean - 2.5
    # Once those abandons are an hour old, no open window holds them.
    for n in range(400, 1600):
        controller.record_answered(n * 4.5)
    assert controller.room(7200.0) == pytest.approx(clean)


def test_room_counts_the_abandons_of_every_window_that_holds_them() -> None:
    controller = AbandonController(target_pct=2.0)
    feed(controller, answers=600, abandons=0, minutes=45)
    for _ in range(5):
        controller.record_abandoned(600.0)
    controller.record_abandoned(2600.0)
    windows = controller.room(2700.0)
    later_only = AbandonController(target_pct=2.0)
    feed(later_only, answers=600, abandons=0, minutes=45)
    later_only.record_abandoned(2600.0)
    # The window starting at the first abandons holds all six.
    assert windows < later_only.room(2700.0) - 1.0


def test_controller_stops_extra_calls_when_the_hour_is_at_target() -> None:
    clean, at_target, over = (AbandonController(target_pct=3.0) for _ in range(3))
    feed(clean, answers=400, abandons=0, minutes=30)
    feed(at_target, answers=400, abandons=12, minutes=30)
    feed(over, answers=400, abandons=25, minutes=30)
    assert at_target.model_target_pct(1800.0) <= 2.0
    assert at_target.model_target_pct(1800.0) < clean.model_target_pct(1800.0)
    assert over.model_target_pct(1800.0) == 0.0


def test_controller_aims_at_nothing_before_any_answer() -> None:
    assert AbandonController(target_pct=2.0).model_target_pct(0.0) == 0.0
    assert AbandonController(target_pct=0.0, ratio_pct=10).model_target_pct(100.0) == 0.0


def test_controller_raises_the_ratio_only_while_it_holds_the_dialer_back() -> None:
    controller = AbandonController(target_pct=3.0, ratio_pct=20.0)
    feed(controller, answers=400, abandons=0, minutes=30)
    assert controller.tune(1800.0) == 20.0
    controller.record_decision(decide(capped_state(), estimates()))
    assert controller.tune(1860.0) == 30.0
    controller.record_decision(decide(capped_state(), estimates()))
    assert controller.tune(1920.0) == 45.0


def test_controller_lowers_the_ratio_when_the_hour_nears_target() -> None:
    controller = AbandonController(target_pct=3.0, ratio_pct=40.0)
    feed(controller, answers=400, abandons=20, minutes=30)
    assert controller.tune(1800.0) < 40.0


def capped_state() -> PacingInput:
    return PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=0,
        busy_agents=busy_team(20),
        abandon_target_pct=3.0,
        increase_predictive_ratio_pct=0.0,
    )


def test_extra_calls_go_out_a_few_at_a_time() -> None:
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=2,
        busy_agents=busy_team(28),
        abandon_target_pct=10.0,
        increase_predictive_ratio_pct=100.0,
    )
    assert decide(state, estimates()).launch == 2 + 3


def test_no_extra_call_without_one_abandon_of_room() -> None:
    def launch(room: float | None) -> int:
        state = PacingInput(
            DialingMode.PREDICTIVE,
            free_agents=4,
            busy_agents=busy_team(40),
            abandon_target_pct=3.0,
            increase_predictive_ratio_pct=100.0,
            burst_limit=100,
            abandon_room=room,
        )
        return decide(state, estimates()).launch

    assert launch(0.9) == 4
    assert launch(-2.0) == 4
    assert 4 < launch(1.0) <= launch(3.0) <= launch(20.0) <= launch(None)
    assert launch(20.0) > launch(1.0)


def test_guard_keeps_an_overrun_of_the_room_unlikely_whatever_the_model_says() -> None:
    # Thirty calls just placed and two free agents: the model expects most of
    # the answers to meet agents freeing up, the guard credits none of those.
    state = PacingInput(
        DialingMode.PREDICTIVE,
        free_agents=2,
        busy_agents=busy_team(40),
        ringing_s=[1.0] * 30,
        abandon_target_pct=10.0,
        increase_predictive_ratio_pct=100.0,
        abandon_room=2.0,
    )
    assert decide(state, estimates()).launch == 0
    assert decide(replace(state, abandon_room=None), estimates()).launch > 0
