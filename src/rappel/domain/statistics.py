"""OBI statistics, computed from records only (attempts, customers, agent state log).

There are no free-standing counters: every number below is a function of the
stored rows, so a SQL version can compute the same and tests compare the two.
Definitions (seed 003, with Rappel's choices where the seed is silent):

* numberOfCalls: attempt records started in the window, dialled or not
  (the seed's example counts 14 not-dialled calls among 15 calls).
* numberOfSuccessfulCalls: SUCCESS + REFUSAL; numberOfRefusalCalls: REFUSAL;
  numberOfSkipCalls: SKIP; numberOfRejectCalls: AGENT_REJECTED;
  numberOfOperLogoutCalls: OPER_LOGOUT; numberOfNotDialedCalls: NOT_DIALED;
  numberOfHangupCalls: HANGUP; numberOfAbandonedCalls: ABANDONED plus EXPIRED
  (an expired callback is reported as abandoned; the callback service writes
  it as an undialled attempt record with result EXPIRED).
* numberOfAmountCalls: attempts carrying an amount; amount: sum over SUCCESS attempts.
* numberOfHandledCustomers: customers whose result is handled and whose last
  attempt started in the window (and, per agent, was that agent's).
* numberOfCustomers: per campaign, customers created in the window; per
  (campaign, agent), distinct customers attempted in the window.
* numberOfAgents: distinct agents with an attempt or logged-in time in the window.
* times: from `rappel.domain.agent.times_by_agent_and_campaign`, in seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rappel.domain.agent import AgentStateChange, AgentTimes, times_by_agent_and_campaign
from rappel.domain.codes import CallResult
from rappel.domain.results import CustomerResult, is_handled
from rappel.domain.retry import RetryPolicy, is_callable_again

R = CustomerResult


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt row as statistics need it."""

    campaign_id: str | None
    customer_id: str
    agent_id: str | None
    started_at: datetime
    call_result: CallResult | None
    customer_result: CustomerResult
    amount: float | None = None
    dialed: bool = True


@dataclass(frozen=True)
class CustomerRecord:
    """One customer row as statistics need it."""

    customer_id: str
    campaign_id: str | None
    result: CustomerResult
    created_at: datetime
    call_result: CustomerResult | None = None
    classifier: str | None = None
    call_count: int = 0
    next_call_at: datetime | None = None


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC; None is unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def day(cls, day: date) -> Window:
        start = datetime.combine(day, time(0), tzinfo=UTC)
        if day == date.max:
            # The next midnight is in year 10000, which datetime cannot hold; no
            # instant lies past this day, so an open end is the same window.
            return cls(start, None)
        return cls(start, start + timedelta(days=1))

    @classmethod
    def days(cls, first: date | None, last: date | None) -> Window:
        """Whole UTC days from `first` through `last` (OBI startDate/endDate)."""
        return cls(
            None if first is None else cls.day(first).start,
            None if last is None else cls.day(last).end,
        )

    def __contains__(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


@dataclass(frozen=True)
class CampaignStatistics:
    """OBI statistics object; attribute names and order are the seed's."""

    numberOfHandledCustomers: int = 0
    numberOfCalls: int = 0
    numberOfSuccessfulCalls: int = 0
    numberOfRefusalCalls: int = 0
    numberOfAmountCalls: int = 0
    numberOfSkipCalls: int = 0
    numberOfRejectCalls: int = 0
    numberOfOperLogoutCalls: int = 0
    numberOfNotDialedCalls: int = 0
    numberOfHangupCalls: int = 0
    numberOfAbandonedCalls: int = 0
    amount: float = 0.0
    loginTime: float = 0.0
    pauseTime: float = 0.0
    waitTime: float = 0.0
    previewTime: float = 0.0
    callTime: float = 0.0
    talkingTime: float = 0.0
    wrapTime: float = 0.0
    numberOfCustomers: int = 0
    numberOfAgents: int = 0

    def to_obi(self, *, with_agents: bool = True) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if not with_agents:
            del out["numberOfAgents"]
        return out


@dataclass(frozen=True)
class ResultCount:
    """One row of OBI customerResultStatistics."""

    result: CustomerResult
    callResult: CustomerResult | None
    classifier: str | None
    count: int

    def to_obi(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": self.result.value}
        if self.callResult is not None:
            out["callResult"] = self.callResult.value
        if self.classifier is not None:
            out["classifier"] = self.classifier
        out["count"] = self.count
        return out


@dataclass(frozen=True)
class CampaignCounts:
    """OBI campaign counters: total, handled, notHandled, callable, maxCalls, filtered."""

    total: int
    handled: int
    notHandled: int
    callable: int
    maxCalls: int
    filtered: int


def campaign_statistics(
    campaign_id: str,
    attempts: Iterable[AttemptRecord],
    customers: Iterable[CustomerRecord],
    changes: Iterable[AgentStateChange],
    window: Window,
    now: datetime,
) -> CampaignStatistics:
    """One campaign's statistics in `window` (OBI stats.total or stats.daily)."""
    own = [a for a in attempts if a.campaign_id == campaign_id]
    people = [c for c in customers if c.campaign_id == campaign_id]
    times = {
        agent: t
        for (agent, campaign), t in times_by_agent_and_campaign(
            changes, window.start, window.end, now
        ).items()
        if campaign == campaign_id
    }
    in_window = [a for a in own if a.started_at in window]
    handled = _handled_customers(own, people, window)
    agents = {a.agent_id for a in in_window if a.agent_id is not None}
    agents |= {agent for agent, t in times.items() if t.loginTime > timedelta()}
    return _build(
        in_window,
        handled=len(handled),
        times=sum(times.values(), AgentTimes()),
        customers=sum(1 for c in people if c.created_at in window),
        agents=len(agents),
    )


def total_statistics(
    campaign_id: str,
    attempts: Iterable[AttemptRecord],
    customers: Iterable[CustomerRecord],
    changes: Iterable[AgentStateChange],
    now: datetime,
) -> CampaignStatistics:
    return campaign_statistics(campaign_id, attempts, customers, changes, Window(), now)


def daily_statistics(
    campaign_id: str,
    day: date,
    attempts: Iterable[AttemptRecord],
    customers: Iterable[CustomerRecord],
    changes: Iterable[AgentStateChange],
    now: datetime,
) -> CampaignStatistics:
    """Statistics of one UTC day."""
    return campaign_statistics(campaign_id, attempts, customers, changes, Window.day(day), now)


def statistics_by_agent(
    attempts: Iterable[AttemptRecord],
    customers: Iterable[CustomerRecord],
    changes: Iterable[AgentStateChange],
    window: Window,
    now: datetime,
) -> dict[tuple[str, str | None], CampaignStatistics]:
    """OBI GET /statistics rows keyed by (campaign_id, agent_id).

    agent_id None gathers what the dialer handled without an agent. Work
    outside any campaign (queue callbacks) has no row.
    """
    all_attempts = [a for a in attempts if a.campaign_id is not None]
    people = list(customers)
    times = times_by_agent_and_campaign(changes, window.start, window.end, now)
    keys = {(a.campaign_id, a.agent_id) for a in all_attempts if a.started_at in window}
    keys |= {(c, agent) for (agent, c), t in times.items() if t.loginTime > timedelta()}
    out: dict[tuple[str, str | None], CampaignStatistics] = {}
    for campaign_id, agent_id in keys:
        if campaign_id is None:
            continue
        own = [a for a in all_attempts if a.campaign_id == campaign_id]
        mine = [a for a in own if a.agent_id == agent_id and a.started_at in window]
        handled = _handled_customers(own, people, window)
        out[(campaign_id, agent_id)] = _build(
            mine,
            handled=sum(1 for agent in handled.values() if agent == agent_id),
            times=AgentTimes()
            if agent_id is None
            else times.get((agent_id, campaign_id), AgentTimes()),
            customers=len({a.customer_id for a in mine}),
            agents=0 if agent_id is None else 1,
        )
    return out


def customer_result_statistics(customers: Iterable[CustomerRecord]) -> list[ResultCount]:
    """OBI customerResultStatistics: counts per (result, callResult, classifier)."""
    counts = Counter((c.result, c.call_result, c.classifier) for c in customers)
    rows = [ResultCount(r, cr, cl, n) for (r, cr, cl), n in counts.items()]
    return sorted(rows, key=lambda x: (x.result.value, x.callResult or "", x.classifier or ""))


def campaign_counts(
    customers: Iterable[CustomerRecord], now: datetime, retry_count: int
) -> CampaignCounts:
    """OBI total/handled/notHandled/callable/maxCalls/filtered of one campaign's customers.

    A MAXCALLS customer whose RetryCount has since been raised counts as
    callable, not as maxCalls.
    """
    policy = RetryPolicy(retry_count=retry_count)
    total = handled = callable_ = max_calls = filtered = 0
    for c in customers:
        total += 1
        reopened = is_callable_again(c.result, c.call_count, policy)
        if is_handled(c.result):
            handled += 1
        elif c.result is R.FILTERED:
            filtered += 1
        elif c.result is R.MAXCALLS and not reopened:
            max_calls += 1
        elif c.next_call_at is None or c.next_call_at <= now:
            callable_ += 1
    return CampaignCounts(total, handled, total - handled, callable_, max_calls, filtered)


def _handled_customers(
    attempts: Sequence[AttemptRecord], customers: Sequence[CustomerRecord], window: Window
) -> dict[str, str | None]:
    """Customer id -> agent of its last attempt, for handled customers whose last attempt
    started in the window."""
    last: dict[str, AttemptRecord] = {}
    for a in attempts:
        seen = last.get(a.customer_id)
        if seen is None or a.started_at >= seen.started_at:
            last[a.customer_id] = a
    return {
        c.customer_id: last[c.customer_id].agent_id
        for c in customers
        if is_handled(c.result)
        and c.customer_id in last
        and last[c.customer_id].started_at in window
    }


def _build(
    attempts: Sequence[AttemptRecord],
    *,
    handled: int,
    times: AgentTimes,
    customers: int,
    agents: int,
) -> CampaignStatistics:
    by_result = Counter(a.customer_result for a in attempts)
    return CampaignStatistics(
        numberOfHandledCustomers=handled,
        numberOfCalls=len(attempts),
        numberOfSuccessfulCalls=by_result[R.SUCCESS] + by_result[R.REFUSAL],
        numberOfRefusalCalls=by_result[R.REFUSAL],
        numberOfAmountCalls=sum(1 for a in attempts if a.amount is not None),
        numberOfSkipCalls=by_result[R.SKIP],
        numberOfRejectCalls=by_result[R.AGENT_REJECTED],
        numberOfOperLogoutCalls=by_result[R.OPER_LOGOUT],
        numberOfNotDialedCalls=by_result[R.NOT_DIALED],
        numberOfHangupCalls=by_result[R.HANGUP],
        numberOfAbandonedCalls=by_result[R.ABANDONED] + by_result[R.EXPIRED],
        amount=sum(a.amount or 0.0 for a in attempts if a.customer_result is R.SUCCESS),
        loginTime=times.loginTime.total_seconds(),
        pauseTime=times.pauseTime.total_seconds(),
        waitTime=times.waitTime.total_seconds(),
        previewTime=times.previewTime.total_seconds(),
        callTime=times.callTime.total_seconds(),
        talkingTime=times.talkingTime.total_seconds(),
        wrapTime=times.wrapTime.total_seconds(),
        numberOfCustomers=customers,
        numberOfAgents=agents,
    )
