"""Agent state machine, its log, and OBI time accounting from the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.domain.agent import (
    TRANSITIONS,
    Agent,
    AgentState,
    AgentStateChange,
    AgentTimes,
    idle_since,
    time_in_states,
    times_by_agent_and_campaign,
)
from rappel.domain.errors import InvalidTransition, ValidationFailed

A = AgentState
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CAMP = "C" * 32
CAMP2 = "D" * 32
CALL = "I" * 32


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def worked_day() -> Agent:
    agent = Agent("G" * 32)
    agent.login(s(0))  # READY 0-100
    agent.preview(CALL, CAMP, s(100))  # PREVIEW 100-130
    agent.dial(s(130))  # DIALING 130-140
    agent.talk(s(140))  # TALKING 140-440
    agent.wrap_up(s(440))  # WRAPUP 440-500
    agent.pause("lunch", s(500))  # PAUSED 500-2300
    agent.ready(s(2300))  # READY 2300-2400
    agent.logout(s(2400))
    return agent


def test_every_transition_is_logged_with_interaction_and_campaign() -> None:
    agent = worked_day()
    assert [c.state for c in agent.changes] == [
        A.READY,
        A.PREVIEW,
        A.DIALING,
        A.TALKING,
        A.WRAPUP,
        A.PAUSED,
        A.READY,
        A.LOGGED_OUT,
    ]
    working = [c for c in agent.changes if c.state in (A.PREVIEW, A.DIALING, A.TALKING, A.WRAPUP)]
    assert all((c.interaction_id, c.campaign_id) == (CALL, CAMP) for c in working)
    assert agent.changes[5].reason == "lunch"
    assert agent.changes[6].interaction_id is None


def test_times_of_a_day_are_exact_per_state() -> None:
    times = time_in_states(worked_day().changes, None, None, s(5000))
    assert times == AgentTimes(
        pauseTime=timedelta(seconds=1800),
        waitTime=timedelta(seconds=200),
        previewTime=timedelta(seconds=30),
        callTime=timedelta(seconds=10),
        talkingTime=timedelta(seconds=300),
        wrapTime=timedelta(seconds=60),
    )
    assert times.loginTime == timedelta(seconds=2400)


def test_times_are_clipped_to_the_window() -> None:
    times = time_in_states(worked_day().changes, s(120), s(450), s(5000))
    assert times.previewTime == timedelta(seconds=10)
    assert times.talkingTime == timedelta(seconds=300)
    assert times.wrapTime == timedelta(seconds=10)
    assert times.loginTime == timedelta(seconds=330)


def test_still_logged_in_agent_counts_up_to_now() -> None:
    agent = Agent("G" * 32)
    agent.login(s(0))
    assert time_in_states(agent.changes, None, None, s(90)).waitTime == timedelta(seconds=90)


def test_ready_time_after_campaign_work_belongs_to_that_campaign() -> None:
    by_key = times_by_agent_and_campaign(worked_day().changes, None, None, s(5000))
    agent = "G" * 32
    assert by_key[(agent, None)] == AgentTimes(waitTime=timedelta(seconds=100))
    assert by_key[(agent, CAMP)].waitTime == timedelta(seconds=100)
    assert by_key[(agent, CAMP)].pauseTime == timedelta(seconds=1800)


def test_queue_callback_work_is_not_charged_to_an_earlier_campaign() -> None:
    agent = Agent("G" * 32)
    agent.login(s(0))
    agent.talk(s(10), CALL, CAMP)
    agent.wrap_up(s(20))
    agent.ready(s(30))
    agent.talk(s(40), "J" * 32, None)
    agent.wrap_up(s(50))
    agent.ready(s(60))
    by_key = times_by_agent_and_campaign(agent.changes, None, None, s(70))
    assert by_key[("G" * 32, None)].talkingTime == timedelta(seconds=10)
    assert by_key[("G" * 32, None)].waitTime == timedelta(seconds=10 + 10)
    assert by_key[("G" * 32, CAMP)].waitTime == timedelta(seconds=10)


def test_illegal_agent_transitions_are_refused() -> None:
    agent = Agent("G" * 32)
    with pytest.raises(InvalidTransition):
        agent.talk(s(0), CALL, CAMP)
    agent.login(s(0))
    agent.talk(s(1), CALL, CAMP)
    with pytest.raises(InvalidTransition):
        agent.ready(s(2))
    with pytest.raises(InvalidTransition):
        agent.pause("coffee", s(2))


LEGAL = [(old, new) for old, targets in TRANSITIONS.items() for new in targets]


@pytest.mark.parametrize(("old", "new"), LEGAL)
def test_every_legal_agent_transition_is_applied(old: AgentState, new: AgentState) -> None:
    agent = Agent("G" * 32, state=old, interaction_id=CALL, since=s(0))
    agent.move(new, s(1), reason="r", interaction_id=CALL)
    assert agent.state is new
    assert agent.changes[-1].state is new


def test_pause_needs_a_reason_and_time_never_goes_back() -> None:
    agent = Agent("G" * 32)
    agent.login(s(10))
    with pytest.raises(ValidationFailed):
        agent.pause("", s(11))
    with pytest.raises(ValidationFailed):
        agent.pause("coffee", s(5))


def test_logout_while_working_reports_the_interaction_cut_off() -> None:
    agent = Agent("G" * 32)
    agent.login(s(0))
    agent.preview(CALL, CAMP, s(1))
    assert agent.logout(s(2)) == CALL
    agent.login(s(3))
    assert agent.logout(s(4)) is None


def test_idle_since_is_the_moment_the_agent_became_ready() -> None:
    agent = Agent("G" * 32)
    agent.login(s(0))
    assert idle_since(agent.changes) == s(0)
    agent.pause("coffee", s(5))
    assert idle_since(agent.changes) is None
    agent.ready(s(9))
    assert idle_since(agent.changes) == s(9)
    assert idle_since([]) is None


NEXT = {
    A.LOGGED_OUT: [A.READY, A.PAUSED],
    A.READY: [A.PAUSED, A.PREVIEW, A.DIALING, A.TALKING, A.LOGGED_OUT],
    A.PAUSED: [A.READY, A.LOGGED_OUT],
    A.PREVIEW: [A.DIALING, A.READY, A.WRAPUP, A.LOGGED_OUT],
    A.DIALING: [A.TALKING, A.WRAPUP, A.READY, A.LOGGED_OUT],
    A.TALKING: [A.WRAPUP, A.LOGGED_OUT],
    A.WRAPUP: [A.READY, A.PAUSED, A.LOGGED_OUT],
}


@st.composite
def agent_logs(draw: st.DrawFn) -> list[AgentStateChange]:
    agents = []
    for name in ("G" * 32, "H" * 32):
        agent = Agent(name)
        at = T0
        for _ in range(draw(st.integers(0, 25))):
            state = draw(st.sampled_from(NEXT[agent.state]))
            at += timedelta(microseconds=draw(st.integers(0, 10**10)))
            campaign = draw(st.sampled_from([CAMP, CAMP2, None]))
            agent.move(state, at, reason="r", interaction_id=CALL, campaign_id=campaign)
        agents.append(agent)
    return [c for a in agents for c in a.changes]


def logged_in_span(changes: list[AgentStateChange], start: datetime, end: datetime) -> timedelta:
    total = timedelta()
    for name in {c.agent_id for c in changes}:
        log = [c for c in changes if c.agent_id == name]
        for change, following in zip(log, [*log[1:], None], strict=True):
            if change.state is A.LOGGED_OUT:
                continue
            until = end if following is None else min(following.at, end)
            total += max(timedelta(), until - max(change.at, start))
    return total


@given(changes=agent_logs(), a=st.integers(0, 10**11), b=st.integers(0, 10**11))
def test_state_times_add_up_to_logged_in_time_in_any_window(
    changes: list[AgentStateChange], a: int, b: int
) -> None:
    start = T0 + timedelta(microseconds=min(a, b))
    end = T0 + timedelta(microseconds=max(a, b))
    now = T0 + timedelta(days=30)
    times = time_in_states(changes, start, end, now)
    assert times.loginTime == logged_in_span(changes, start, end)
    split = times_by_agent_and_campaign(changes, start, end, now)
    assert sum(split.values(), AgentTimes()) == times
