"""Routing order: longest-idle READY agent first, a personal callback's agent before anyone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rappel.domain.agent import AgentState, AgentStateChange
from rappel.engine.routing import pick_agent
from rappel.store.agents import AgentLine

T0 = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def line(agent_id: str, state: AgentState, minutes_ago: int) -> AgentLine:
    return AgentLine(
        1, AgentStateChange(agent_id, state, None, T0 - timedelta(minutes=minutes_ago))
    )


def test_longest_idle_ready_agent_comes_first() -> None:
    lines = {
        "A": line("A", AgentState.READY, 1),
        "B": line("B", AgentState.READY, 9),
        "C": line("C", AgentState.READY, 5),
    }
    assert pick_agent(lines, ["A", "B", "C"], None) == ["B", "C", "A"]


def test_agents_not_ready_are_never_offered() -> None:
    lines = {
        "A": line("A", AgentState.PAUSED, 30),
        "B": line("B", AgentState.TALKING, 30),
        "C": line("C", AgentState.READY, 1),
    }
    assert pick_agent(lines, ["A", "B", "C", "never-logged-in"], None) == ["C"]


def test_personal_callback_goes_to_its_agent_first_when_ready() -> None:
    lines = {"A": line("A", AgentState.READY, 9), "B": line("B", AgentState.READY, 1)}
    assert pick_agent(lines, ["A", "B"], "B") == ["B", "A"]


def test_personal_callback_goes_to_others_when_its_agent_is_busy() -> None:
    lines = {"A": line("A", AgentState.READY, 9), "B": line("B", AgentState.WRAPUP, 1)}
    assert pick_agent(lines, ["A", "B"], "B") == ["A"]


def test_equal_idle_times_are_broken_by_agent_id() -> None:
    lines = {"B": line("B", AgentState.READY, 3), "A": line("A", AgentState.READY, 3)}
    assert pick_agent(lines, ["B", "A"], None) == ["A", "B"]
