"""What-if simulator: a campaign day on the virtual clock with the real pacing code.

A discrete-event loop: it asks `SimTelephony` and its own agenda (wrap-up ends,
connect deadlines, pacing ticks) for the next instant anything happens, jumps
the `VirtualClock` there and handles it, so a ten-hour day with fifty agents
takes seconds. Each run also plays the same day PROGRESSIVE as a baseline and
works out the clairvoyant bound (a dialer that knows every outcome in advance
never abandons and keeps agents in talk talk / (talk + wrap) of the time).
"""

from __future__ import annotations

import asyncio
import heapq
import random
from bisect import bisect_left
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from rappel.clock import VirtualClock
from rappel.domain.errors import ValidationFailed
from rappel.engine.pacing import (
    AbandonController,
    BusyAgent,
    DialingMode,
    LiveEstimates,
    PacingInput,
    decide,
)
from rappel.telephony.port import CallEvent, CallEventKind
from rappel.telephony.sim import Distribution, DistributionKind, SimRates, SimTelephony

_RETRIED = frozenset({CallEventKind.BUSY, CallEventKind.NO_ANSWER})
_UNANSWERED = _RETRIED | {CallEventKind.FAILED, CallEventKind.MACHINE}


@dataclass(frozen=True, slots=True)
class SimulationParams:
    """One what-if question: these agents, this list, these rates."""

    agents: int = 12
    customers: int = 5000
    answer_rate: float = 0.25
    busy_rate: float = 0.10
    machine_rate: float = 0.05
    failed_rate: float = 0.0
    ring: Distribution = field(
        default_factory=lambda: Distribution(15.0, DistributionKind.LOGNORMAL)
    )
    talk: Distribution = field(default_factory=lambda: Distribution(180.0))
    wrap: Distribution = field(
        default_factory=lambda: Distribution(30.0, DistributionKind.LOGNORMAL)
    )
    mode: DialingMode = DialingMode.PREDICTIVE
    abandon_rate_pct: float = 1.0
    increase_predictive_ratio_pct: float = 0.0
    retry_count: int = 3
    retry_delay_s: float = 1800.0
    hours: float = 10.0
    seed: int = 1
    #: Seconds a dial may ring before it counts as NO_ANSWER.
    timeout_s: float = 30.0
    #: Seconds an answered customer may wait for an agent before the call is abandoned.
    connect_limit_s: float = 2.0
    #: How often the dialer decides.
    pacing_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if self.agents < 1:
            raise ValidationFailed("agents", "at least one agent is needed")
        if self.customers < 0:
            raise ValidationFailed("customers", "customers must be >= 0")
        # OBI bounds abandonRate to 0..2 %; what-if runs may look further.
        if not 0.0 <= self.abandon_rate_pct <= 100.0:
            raise ValidationFailed("abandon_rate_pct", "abandon rate must be 0..100 %")
        if self.hours <= 0:
            raise ValidationFailed("hours", "hours must be > 0")
        if self.retry_count < 0 or self.retry_delay_s < 0:
            raise ValidationFailed("retry_count", "retry count and delay must be >= 0")
        total = self.answer_rate + self.busy_rate + self.machine_rate + self.failed_rate
        if total > 1.0 + 1e-9:
            raise ValidationFailed("answer_rate", f"outcome rates add up to {total:.3f} > 1")

    @property
    def no_answer_rate(self) -> float:
        rest = 1.0 - self.answer_rate - self.busy_rate - self.machine_rate - self.failed_rate
        return max(0.0, rest)


@dataclass(frozen=True, slots=True)
class DayFigures:
    """What one simulated day produced."""

    mode: str
    talk_min_per_agent_hour: float
    #: (talk + wrap-up) / logged-in time.
    occupancy: float
    #: Abandoned calls in percent of live answers, over the day.
    abandon_pct: float
    #: The same over the worst rolling 60-minute window (stepped every minute).
    worst_hour_abandon_pct: float
    calls_per_hour: float
    dials: int
    answered: int
    abandoned: int
    #: Customers who talked to an agent.
    customers_reached: int
    #: Customers done with: reached, machine, failed, or out of attempts.
    customers_handled: int
    #: Hours until the last customer was done with, when that happened in the day.
    cleared_after_h: float | None
    #: When not cleared: hours at the day's pace to get through the whole list.
    projected_clear_h: float | None
    #: `increasePredictiveRatio` as tuned at the end of the day.
    increase_predictive_ratio_pct: float


@dataclass(frozen=True, slots=True)
class SimulationReport:
    """The run asked for, its PROGRESSIVE baseline and the clairvoyant bound."""

    params: SimulationParams
    run: DayFigures
    baseline: DayFigures
    #: Talk minutes per agent-hour of a dialer that knows every outcome in advance.
    bound_talk_min_per_agent_hour: float

    @property
    def ratio_to_bound(self) -> float:
        bound = self.bound_talk_min_per_agent_hour
        return self.run.talk_min_per_agent_hour / bound if bound > 0 else 0.0

    @property
    def baseline_ratio_to_bound(self) -> float:
        bound = self.bound_talk_min_per_agent_hour
        return self.baseline.talk_min_per_agent_hour / bound if bound > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self.params)
        params["mode"] = self.params.mode.value
        for name in ("ring", "talk", "wrap"):
            params[name]["kind"] = getattr(self.params, name).kind.value
        return {
            "params": params,
            "run": asdict(self.run),
            "baseline": asdict(self.baseline),
            "bound_talk_min_per_agent_hour": self.bound_talk_min_per_agent_hour,
            "ratio_to_bound": self.ratio_to_bound,
            "baseline_ratio_to_bound": self.baseline_ratio_to_bound,
        }


def run_simulation(params: SimulationParams) -> SimulationReport:
    """Play the day in `params.mode`, and PROGRESSIVE as a baseline."""
    return asyncio.run(simulate(params))


async def simulate(params: SimulationParams) -> SimulationReport:
    """`run_simulation` for callers already inside an event loop."""
    run = await CampaignDay(params).play()
    if params.mode is DialingMode.PROGRESSIVE:
        baseline = run
    else:
        baseline = await CampaignDay(replace(params, mode=DialingMode.PROGRESSIVE)).play()
    return SimulationReport(params, run, baseline, clairvoyant_bound(params))


def clairvoyant_bound(params: SimulationParams) -> float:
    """Talk minutes per agent-hour when no agent ever waits and no call is abandoned.

    Agents then alternate talk and wrap-up only, unless the list runs dry: the
    customers who would answer within their attempts hold only so much talk.
    """
    talk, wrap = params.talk.mean, params.wrap.mean
    if talk + wrap <= 0:
        return 0.0
    capacity = 60.0 * talk / (talk + wrap)
    reachable = params.answer_rate * params.ring.cdf(params.timeout_s)
    retried = params.busy_rate + params.no_answer_rate + params.answer_rate - reachable
    attempts = params.retry_count + 1
    if retried < 1.0:
        reach = reachable * (1.0 - retried**attempts) / (1.0 - retried)
    else:
        reach = 0.0
    supply_min = params.customers * reach * talk / 60.0
    return min(capacity, supply_min / (params.agents * params.hours))


class _Agent:
    __slots__ = ("busy", "since", "talking")

    def __init__(self) -> None:
        self.busy = self.talking = False
        self.since = 0.0


class CampaignDay:
    """One campaign day, played event by event on a virtual clock."""

    def __init__(self, params: SimulationParams) -> None:
        p = self.params = params
        self.clock = VirtualClock()
        self.origin = self.clock.now()
        rates = SimRates(
            p.answer_rate, p.busy_rate, p.no_answer_rate, p.failed_rate, p.machine_rate
        )
        self.telephony = SimTelephony(self.clock, p.seed, rates, p.ring, p.talk)
        self.wrap_rng = random.Random(p.seed)
        self.estimates = LiveEstimates()
        self.controller = AbandonController(p.abandon_rate_pct, p.increase_predictive_ratio_pct)
        self.agents = [_Agent() for _ in range(p.agents)]
        self.idle = list(range(p.agents))
        self.next_fresh = 0
        self.retries: list[tuple[float, int]] = []
        self.attempts = [0] * p.customers
        self.ringing: dict[str, tuple[int, float]] = {}
        self.waiting: dict[str, tuple[int, float]] = {}
        self.connected: dict[str, tuple[int, int]] = {}
        self.wrap_ends: list[tuple[float, int]] = []
        self.answer_times: list[float] = []
        self.abandon_times: list[float] = []
        self.talk_s = self.wrap_s = 0.0
        self.dials = self.handled = self.reached = 0
        self.last_handled_at = 0.0

    async def play(self) -> DayFigures:
        end = self.params.hours * 3600.0
        tick = 0.0
        while True:
            t = self._next_instant(tick)
            if t > end:
                break
            self.clock.set(self.origin + timedelta(seconds=t))
            for event in self.telephony.take_due():
                await self._on_event(event, t)
            while self.wrap_ends and self.wrap_ends[0][0] <= t:
                self._free(heapq.heappop(self.wrap_ends)[1], t)
            while self.waiting and next(iter(self.waiting.values()))[1] <= t:
                await self._abandon(next(iter(self.waiting)), t)
            if t >= tick:
                await self._pace(t)
                tick += self.params.pacing_interval_s
        return self._figures(end)

    def _next_instant(self, tick: float) -> float:
        t = tick
        due = self.telephony.next_event_at()
        if due is not None and due < t:
            t = due
        if self.wrap_ends and self.wrap_ends[0][0] < t:
            t = self.wrap_ends[0][0]
        if self.waiting:
            t = min(t, next(iter(self.waiting.values()))[1])
        return t

    async def _on_event(self, event: CallEvent, t: float) -> None:
        call_id, kind = event.call_id, event.kind
        if kind is CallEventKind.ANSWERED:
            customer, placed = self.ringing.pop(call_id)
            self.estimates.record_dial(t - placed, answered=True)
            self.controller.record_answered(t)
            self.answer_times.append(t)
            if self.idle:
                self._connect(self.idle.pop(), call_id, customer, t)
            else:
                self.waiting[call_id] = (customer, t + self.params.connect_limit_s)
        elif kind in _UNANSWERED:
            customer, placed = self.ringing.pop(call_id)
            self.estimates.record_dial(t - placed, answered=False)
            if kind in _RETRIED:
                self._retry_or_close(customer, t)
            else:
                self._close(customer, t)
        elif kind is CallEventKind.HUNGUP:
            if call_id in self.connected:
                self._end_talk(call_id, t)
            elif call_id in self.waiting:
                await self._abandon(call_id, t)

    def _connect(self, agent_no: int, call_id: str, customer: int, t: float) -> None:
        agent = self.agents[agent_no]
        agent.busy, agent.talking, agent.since = True, True, t
        self.connected[call_id] = (agent_no, customer)

    def _end_talk(self, call_id: str, t: float) -> None:
        agent_no, customer = self.connected.pop(call_id)
        agent = self.agents[agent_no]
        self.talk_s += t - agent.since
        self.estimates.record_talk(t - agent.since)
        agent.talking, agent.since = False, t
        wrap = self.params.wrap.sample(self.wrap_rng)
        heapq.heappush(self.wrap_ends, (t + wrap, agent_no))
        self.reached += 1
        self._close(customer, t)

    def _free(self, agent_no: int, t: float) -> None:
        agent = self.agents[agent_no]
        self.wrap_s += t - agent.since
        self.estimates.record_wrap(t - agent.since)
        agent.busy = False
        if self.waiting:
            call_id = next(iter(self.waiting))
            customer, _ = self.waiting.pop(call_id)
            self._connect(agent_no, call_id, customer, t)
        else:
            self.idle.append(agent_no)

    async def _abandon(self, call_id: str, t: float) -> None:
        customer, _ = self.waiting.pop(call_id)
        self.controller.record_abandoned(t)
        self.abandon_times.append(t)
        await self.telephony.hangup(call_id)
        self._retry_or_close(customer, t)

    def _retry_or_close(self, customer: int, t: float) -> None:
        if self.attempts[customer] <= self.params.retry_count:
            heapq.heappush(self.retries, (t + self.params.retry_delay_s, customer))
        else:
            self._close(customer, t)

    def _close(self, customer: int, t: float) -> None:
        self.handled += 1
        self.last_handled_at = t

    async def _pace(self, t: float) -> None:
        if self.next_fresh >= self.params.customers and not (
            self.retries and self.retries[0][0] <= t
        ):
            return
        p = self.params
        predictive = p.mode is DialingMode.PREDICTIVE
        busy = [BusyAgent(a.talking, t - a.since) for a in self.agents if predictive and a.busy]
        state = PacingInput(
            mode=p.mode,
            free_agents=len(self.idle),
            busy_agents=busy,
            ringing_s=[t - placed for _, placed in self.ringing.values()],
            waiting_answered=len(self.waiting),
            abandon_target_pct=self.controller.model_target_pct(t) if predictive else 0.0,
            abandon_room=self.controller.room(t) if predictive else None,
            increase_predictive_ratio_pct=self.controller.tune(t) if predictive else 0.0,
            connect_limit_s=p.connect_limit_s,
        )
        decision = decide(state, self.estimates)
        self.controller.record_decision(decision)
        for _ in range(decision.launch):
            customer = self._next_customer(t)
            if customer is None:
                break
            self.attempts[customer] += 1
            call_id = f"C{customer}-{self.attempts[customer]}"
            number = f"+1555{customer:07d}"
            await self.telephony.originate(call_id, number, "+15550000000", p.timeout_s, True)
            self.ringing[call_id] = (customer, t)
            self.dials += 1

    def _next_customer(self, t: float) -> int | None:
        if self.retries and self.retries[0][0] <= t:
            return heapq.heappop(self.retries)[1]
        if self.next_fresh < self.params.customers:
            self.next_fresh += 1
            return self.next_fresh - 1
        return None

    def _figures(self, end: float) -> DayFigures:
        p = self.params
        for agent in self.agents:
            if agent.talking:
                self.talk_s += end - agent.since
        for _, agent_no in self.wrap_ends:
            self.wrap_s += end - self.agents[agent_no].since
        agent_hours = p.agents * end / 3600.0
        answered, abandoned = len(self.answer_times), len(self.abandon_times)
        cleared = self.handled >= p.customers
        return DayFigures(
            mode=p.mode.value,
            talk_min_per_agent_hour=self.talk_s / 60.0 / agent_hours,
            occupancy=(self.talk_s + self.wrap_s) / (p.agents * end),
            abandon_pct=100.0 * abandoned / answered if answered else 0.0,
            worst_hour_abandon_pct=worst_hour_pct(self.answer_times, self.abandon_times, end),
            calls_per_hour=self.dials / (end / 3600.0),
            dials=self.dials,
            answered=answered,
            abandoned=abandoned,
            customers_reached=self.reached,
            customers_handled=self.handled,
            cleared_after_h=self.last_handled_at / 3600.0 if cleared else None,
            projected_clear_h=(
                None if cleared or not self.handled else p.hours * p.customers / self.handled
            ),
            increase_predictive_ratio_pct=self.controller.increase_predictive_ratio_pct,
        )


def worst_hour_pct(
    answers: list[float], abandons: list[float], end: float, window: float = 3600.0
) -> float:
    """Worst abandon rate (% of answers) over windows of `window` stepped every minute."""
    window = min(window, end)
    worst = 0.0
    for minute in range(int((end - window) // 60.0) + 1):
        begin = minute * 60.0
        n_answers = bisect_left(answers, begin + window) - bisect_left(answers, begin)
        n_lost = bisect_left(abandons, begin + window) - bisect_left(abandons, begin)
        if n_answers:
            worst = max(worst, 100.0 * n_lost / n_answers)
    return worst
