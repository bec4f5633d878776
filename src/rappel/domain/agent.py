"""Agents: a state machine whose every change is logged, and the time accounting on that log.

OBI times come from the log alone: loginTime is the time spent in any state
but LOGGED_OUT, split exactly into pauseTime (PAUSED), waitTime (READY),
previewTime (PREVIEW), callTime (DIALING), talkingTime (TALKING) and
wrapTime (WRAPUP). Durations are `timedelta`s (whole microseconds), so the
parts add up to loginTime exactly.

Campaign attribution: time in PREVIEW, DIALING, TALKING and WRAPUP belongs to
the campaign of the interaction (the change's campaign_id). READY and PAUSED
time belongs to the change's campaign_id when the agent service sets one (an
agent logged into a campaign); otherwise to the campaign the agent last
worked on, since waiting after a campaign call is waiting for that campaign;
before any campaign work it is unattributed (campaign None).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import groupby

from rappel.domain.errors import InvalidTransition, ValidationFailed


class AgentState(StrEnum):
    """What an agent is doing."""

    LOGGED_OUT = "LOGGED_OUT"  #: not working; no time counted
    READY = "READY"  #: free, waiting for work (OBI waitTime)
    PAUSED = "PAUSED"  #: on a break, with a reason (OBI pauseTime)
    PREVIEW = "PREVIEW"  #: reading a record before dialling (OBI previewTime)
    DIALING = "DIALING"  #: the customer is being dialled (OBI callTime)
    TALKING = "TALKING"  #: connected with the customer (OBI talkingTime)
    WRAPUP = "WRAPUP"  #: after the call, recording the disposition (OBI wrapTime)


A = AgentState
#: states that belong to one interaction
WORKING: frozenset[AgentState] = frozenset({A.PREVIEW, A.DIALING, A.TALKING, A.WRAPUP})

TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    A.LOGGED_OUT: frozenset({A.READY, A.PAUSED}),
    A.READY: frozenset({A.PAUSED, A.PREVIEW, A.DIALING, A.TALKING, A.LOGGED_OUT}),
    A.PAUSED: frozenset({A.PAUSED, A.READY, A.LOGGED_OUT}),
    A.PREVIEW: frozenset({A.DIALING, A.READY, A.WRAPUP, A.LOGGED_OUT}),
    A.DIALING: frozenset({A.TALKING, A.WRAPUP, A.READY, A.LOGGED_OUT}),
    A.TALKING: frozenset({A.WRAPUP, A.LOGGED_OUT}),
    A.WRAPUP: frozenset({A.READY, A.PAUSED, A.LOGGED_OUT}),
}


@dataclass(frozen=True)
class AgentStateChange:
    """One line of the agent state log: from `at` on, the agent is in `state`."""

    agent_id: str
    state: AgentState
    reason: str | None
    at: datetime
    interaction_id: str | None = None
    campaign_id: str | None = None


@dataclass
class Agent:
    """An agent's current state; `changes` holds the log lines not yet stored."""

    agent_id: str
    state: AgentState = A.LOGGED_OUT
    reason: str | None = None
    since: datetime | None = None
    interaction_id: str | None = None
    campaign_id: str | None = None
    changes: list[AgentStateChange] = field(default_factory=list, compare=False, repr=False)

    def login(
        self, now: datetime, paused_reason: str | None = None, campaign_id: str | None = None
    ) -> None:
        """Log in READY, or PAUSED with a reason; `campaign_id` when logging into a campaign."""
        state = A.READY if paused_reason is None else A.PAUSED
        self.move(state, now, reason=paused_reason, campaign_id=campaign_id)

    def ready(self, now: datetime, campaign_id: str | None = None) -> None:
        self.move(A.READY, now, campaign_id=campaign_id)

    def pause(self, reason: str, now: datetime) -> None:
        self.move(A.PAUSED, now, reason=reason)

    def preview(self, interaction_id: str, campaign_id: str | None, now: datetime) -> None:
        self.move(A.PREVIEW, now, interaction_id=interaction_id, campaign_id=campaign_id)

    def dial(
        self, now: datetime, interaction_id: str | None = None, campaign_id: str | None = None
    ) -> None:
        self.move(A.DIALING, now, interaction_id=interaction_id, campaign_id=campaign_id)

    def talk(
        self, now: datetime, interaction_id: str | None = None, campaign_id: str | None = None
    ) -> None:
        self.move(A.TALKING, now, interaction_id=interaction_id, campaign_id=campaign_id)

    def wrap_up(self, now: datetime) -> None:
        self.move(A.WRAPUP, now)

    def logout(self, now: datetime) -> str | None:
        """Log out; returns the interaction cut off (to be recorded as OPER_LOGOUT), if any."""
        cut_off = self.interaction_id if self.state in WORKING else None
        self.move(A.LOGGED_OUT, now)
        return cut_off

    def move(
        self,
        state: AgentState,
        now: datetime,
        *,
        reason: str | None = None,
        interaction_id: str | None = None,
        campaign_id: str | None = None,
    ) -> AgentStateChange:
        """Check and apply one transition; interaction and campaign carry over while working."""
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransition(
                f"agent {self.agent_id} cannot go from {self.state.value} to {state.value}"
            )
        if self.since is not None and now < self.since:
            raise ValidationFailed("at", "agent state changes must not go back in time")
        if state is A.PAUSED and not reason:
            raise ValidationFailed("reason", "a pause needs a reason")
        if state in WORKING:
            interaction_id = interaction_id or self.interaction_id
            campaign_id = campaign_id or (self.campaign_id if self.state in WORKING else None)
            if interaction_id is None:
                raise ValidationFailed("interaction_id", f"{state.value} needs an interaction")
        else:
            interaction_id = None
        change = AgentStateChange(self.agent_id, state, reason, now, interaction_id, campaign_id)
        self.state, self.reason, self.since = state, reason, now
        self.interaction_id, self.campaign_id = interaction_id, campaign_id
        self.changes.append(change)
        return change


@dataclass(frozen=True)
class AgentTimes:
    """Time per OBI category; loginTime is their sum by construction."""

    pauseTime: timedelta = timedelta()  # OBI field names, camelCase on purpose
    waitTime: timedelta = timedelta()
    previewTime: timedelta = timedelta()
    callTime: timedelta = timedelta()
    talkingTime: timedelta = timedelta()
    wrapTime: timedelta = timedelta()

    @property
    def loginTime(self) -> timedelta:
        return (
            self.pauseTime
            + self.waitTime
            + self.previewTime
            + self.callTime
            + self.talkingTime
            + self.wrapTime
        )

    def __add__(self, other: AgentTimes) -> AgentTimes:
        return AgentTimes(*(getattr(self, n) + getattr(other, n) for n in _FIELD_OF_STATE.values()))

    def add(self, state: AgentState, duration: timedelta) -> AgentTimes:
        name = _FIELD_OF_STATE[state]
        return AgentTimes(
            **{
                n: getattr(self, n) + (duration if n == name else timedelta())
                for n in _FIELD_OF_STATE.values()
            }
        )


_FIELD_OF_STATE: dict[AgentState, str] = {
    A.PAUSED: "pauseTime",
    A.READY: "waitTime",
    A.PREVIEW: "previewTime",
    A.DIALING: "callTime",
    A.TALKING: "talkingTime",
    A.WRAPUP: "wrapTime",
}


def time_in_states(
    changes: Iterable[AgentStateChange],
    window_start: datetime | None,
    window_end: datetime | None,
    now: datetime,
) -> AgentTimes:
    """Time of all agents in `changes` within [window_start, window_end) up to `now`."""
    total = AgentTimes()
    for times in times_by_agent_and_campaign(changes, window_start, window_end, now).values():
        total = total + times
    return total


def times_by_agent_and_campaign(
    changes: Iterable[AgentStateChange],
    window_start: datetime | None,
    window_end: datetime | None,
    now: datetime,
) -> dict[tuple[str, str | None], AgentTimes]:
    """Time keyed by (agent_id, campaign_id); None windows are unbounded."""
    out: dict[tuple[str, str | None], AgentTimes] = {}
    for agent_id, campaign_id, state, duration in _segments(changes, window_start, window_end, now):
        key = (agent_id, campaign_id)
        out[key] = out.get(key, AgentTimes()).add(state, duration)
    return out


def _segments(
    changes: Iterable[AgentStateChange],
    window_start: datetime | None,
    window_end: datetime | None,
    now: datetime,
) -> Iterator[tuple[str, str | None, AgentState, timedelta]]:
    stop = now if window_end is None else min(now, window_end)
    ordered = sorted(changes, key=lambda c: (c.agent_id, c.at))
    for agent_id, group in groupby(ordered, key=lambda c: c.agent_id):
        log = list(group)
        last_campaign: str | None = None
        for change, following in zip(log, [*log[1:], None], strict=True):
            if change.state in WORKING or change.campaign_id is not None:
                last_campaign = change.campaign_id
            if change.state is A.LOGGED_OUT:
                continue
            start = change.at if window_start is None else max(change.at, window_start)
            end = min(stop, following.at) if following is not None else stop
            if end > start:
                yield agent_id, last_campaign, change.state, end - start


def current_state(changes: Sequence[AgentStateChange]) -> AgentState:
    return changes[-1].state if changes else A.LOGGED_OUT


def idle_since(changes: Sequence[AgentStateChange]) -> datetime | None:
    """When a READY agent became READY (for longest-idle routing); None if not READY.

    `changes` is one agent's log, oldest first.
    """
    if current_state(changes) is not A.READY:
        return None
    return changes[-1].at
