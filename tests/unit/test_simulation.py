"""The what-if simulator, played on the virtual clock with the real pacing code."""

from __future__ import annotations

import json

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.engine.pacing import DialingMode
from rappel.engine.sim_report import format_report, simulate_main
from rappel.engine.simulation import (
    SimulationParams,
    clairvoyant_bound,
    run_simulation,
    worst_hour_pct,
)
from rappel.telephony.sim import Distribution, DistributionKind


@pytest.mark.parametrize(("agents", "target"), [(10, 3.0), (20, 1.0), (50, 3.0)])
def test_predictive_day_keeps_every_rolling_hour_within_the_abandon_target(
    agents: int, target: float
) -> None:
    params = SimulationParams(agents=agents, customers=50_000, abandon_rate_pct=target, hours=3)
    report = run_simulation(params)
    assert report.run.answered > 300
    assert report.run.worst_hour_abandon_pct <= target
    assert report.run.abandon_pct <= target
    assert report.run.talk_min_per_agent_hour >= report.baseline.talk_min_per_agent_hour
    assert report.baseline.abandoned == 0


def test_predictive_beats_progressive_with_many_agents_and_few_answers() -> None:
    params = SimulationParams(agents=50, customers=50_000, abandon_rate_pct=3.0, hours=3, seed=2)
    report = run_simulation(params)
    assert report.run.abandoned > 0
    assert report.run.talk_min_per_agent_hour > 1.25 * report.baseline.talk_min_per_agent_hour
    assert 0.85 < report.ratio_to_bound < 1.0


def test_abandon_rate_zero_plays_the_day_like_progressive() -> None:
    params = SimulationParams(agents=10, customers=5000, abandon_rate_pct=0.0, hours=1)
    report = run_simulation(params)
    assert report.run.abandoned == 0
    assert report.run.talk_min_per_agent_hour == report.baseline.talk_min_per_agent_hour


def test_same_seed_gives_the_same_day() -> None:
    params = SimulationParams(agents=8, customers=2000, abandon_rate_pct=2.0, hours=1, seed=5)
    assert run_simulation(params) == run_simulation(params)


def test_a_short_list_is_cleared_and_every_customer_handled() -> None:
    params = SimulationParams(
        agents=10,
        customers=150,
        answer_rate=0.6,
        busy_rate=0.2,
        machine_rate=0.0,
        retry_count=2,
        retry_delay_s=600,
        mode=DialingMode.PROGRESSIVE,
        hours=4,
    )
    report = run_simulation(params)
    assert report.run.customers_handled == 150
    assert report.run.cleared_after_h is not None
    assert 0 < report.run.cleared_after_h < 4
    assert report.run.projected_clear_h is None
    assert 0 < report.run.customers_reached < 150


def test_unreached_busy_customers_are_retried_up_to_the_retry_count() -> None:
    params = SimulationParams(
        agents=2,
        customers=20,
        answer_rate=0.0,
        busy_rate=1.0,
        machine_rate=0.0,
        retry_count=3,
        retry_delay_s=60,
        mode=DialingMode.PROGRESSIVE,
        hours=1,
    )
    report = run_simulation(params)
    assert report.run.dials == 20 * 4
    assert report.run.customers_handled == 20
    assert report.run.customers_reached == 0


def test_clairvoyant_bound_is_the_talk_share_when_the_list_is_long() -> None:
    params = SimulationParams(agents=10, customers=100_000, talk=Distribution(180.0))
    assert clairvoyant_bound(params) == pytest.approx(60 * 180 / 210)


def test_clairvoyant_bound_is_capped_by_the_talk_the_list_holds() -> None:
    ring = Distribution(5.0, DistributionKind.FIXED)
    params = SimulationParams(
        agents=10, customers=100, answer_rate=1.0, busy_rate=0, machine_rate=0, ring=ring
    )
    assert clairvoyant_bound(params) == pytest.approx(100 * 3.0 / (10 * 10))


def test_worst_hour_is_taken_over_windows_stepped_every_minute() -> None:
    answers = [float(s) for s in range(0, 7200, 10)]  # 360 answers an hour
    abandons = [4000.0, 4010.0, 4020.0]
    assert worst_hour_pct(answers, abandons, 7200.0) == pytest.approx(100 * 3 / 360)
    assert worst_hour_pct(answers, [], 7200.0) == 0.0
    assert worst_hour_pct(answers[:60], [300.0], 1200.0) == pytest.approx(100 / 60)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        SimulationParams(agents=0)
    with pytest.raises(ValidationFailed):
        SimulationParams(answer_rate=0.9, busy_rate=0.2)


def test_report_reads_as_a_table() -> None:
    report = run_simulation(SimulationParams(agents=5, customers=500, hours=0.5))
    text = format_report(report)
    assert "talk min / agent-hour" in text
    assert "PROGRESSIVE (baseline)" in text
    assert "clairvoyant bound" in text
    assert json.loads(json.dumps(report.to_dict()))["params"]["mode"] == "PREDICTIVE"


def test_simulate_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--agents", "4", "--customers", "300", "--hours", "0.5", "--seed", "3", "--json"]
    assert simulate_main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["params"]["agents"] == 4
    assert printed["run"]["dials"] > 0


def test_simulate_command_refuses_bad_rates(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(["--answer-rate", "0.9", "--busy-rate", "0.5"]) == 2
    assert "add up" in capsys.readouterr().err


def test_vicidial_pacing_plays_the_same_day_with_the_dial_level() -> None:
    params = SimulationParams(
        agents=20, customers=20_000, abandon_rate_pct=3.0, hours=1, pacing="vicidial-hard-limit"
    )
    report = run_simulation(params)
    assert report.run.mode == "ADAPT_HARD_LIMIT"
    assert report.run.dials > report.baseline.dials  # the level rose above one
    assert report.baseline.mode == "PROGRESSIVE"


def test_agent_waves_count_only_logged_in_hours() -> None:
    params = SimulationParams(agents=10, customers=20_000, hours=2, scenario="agent-waves")
    report = run_simulation(params)
    assert report.run.agent_hours == pytest.approx(3 * 2 + 3 * 1.5 + 2 * 1)


def test_callbacks_take_agents_and_amd_false_positives_count_as_abandons() -> None:
    params = SimulationParams(
        agents=10, customers=20_000, hours=6, scenario="callback-burst",
        amd_false_positive_pct=5.0, mode=DialingMode.PROGRESSIVE,
    )  # fmt: skip
    run = run_simulation(params).run
    assert run.callbacks > 10
    assert run.amd_false_positives > 0
    assert run.abandoned == run.amd_false_positives  # PROGRESSIVE drops no call itself


def test_simulate_command_takes_pacing_and_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--agents", "5", "--customers", "500", "--hours", "0.5", "--json",
            "--pacing", "vicidial-tapered", "--scenario", "full-day"]  # fmt: skip
    assert simulate_main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run"]["mode"] == "ADAPT_TAPERED"
    assert out["params"]["scenario"] == "full-day"
