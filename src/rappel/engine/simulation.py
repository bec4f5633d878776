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
import hashlib
import heapq
import random
from bisect import bisect_left
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from rappel.clock import VirtualClock
from rappel.domain.errors import ValidationFailed
from rappel.engine.pacing import BusyAgent, DialingMode
from rappel.engine.scenarios import Scenario
from rappel.engine.sim_pacers import PACINGS, RAPPEL, Pacer, Snapshot, make_pacer
from rappel.engine.vicidial import AdaptSettings
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
    #: "rappel" (the `mode` above) or a VICIdial method (`sim_pacers.PACINGS`).
    pacing: str = RAPPEL
    #: The kind of day (`scenarios.NAMES`).
    scenario: str = "stationary"
    #: Hour of day the day starts (hourly curves, VICIdial's taper).
    start_hour: float = 10.0
    #: Live answers the answering-machine detector takes for machines, in percent:
    #: hung up on, they count as abandons.
    amd_false_positive_pct: float = 0.0
    #: VICIdial's adaptive settings (method and drop limit come from `pacing`
    #: and `abandon_rate_pct`).
    adapt: AdaptSettings = field(default_factory=AdaptSettings)
    #: Share of web callbacks the customer answers.
    callback_answer_rate: float = 0.7

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
        if self.pacing not in PACINGS:
            raise ValidationFailed("pacing", f"unknown pacing; one of {', '.join(PACINGS)}")
        Scenario(self.scenario, self.start_hour)
        if not 0.0 <= self.amd_false_positive_pct <= 100.0:
            raise ValidationFailed("amd_false_positive_pct", "must be 0..100 %")
        if not 0.0 <= self.callback_answer_rate <= 1.0:
            raise ValidationFailed("callback_answer_rate", "must be 0..1")

    @property
    def day(self) -> Scenario:
        return Scenario(self.scenario, self.start_hour)

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
    #: `increasePredictiveRatio` as tuned at the end of the day (VICIdial: dial level - 1).
    increase_predictive_ratio_pct: float
    #: Hours agents were logged in.
    agent_hours: float = 0.0
    #: Abandons that were AMD false positives (included in `abandoned`).
    amd_false_positives: int = 0
    #: Web callbacks that came in, and their mean wait for an agent (seconds).
    callbacks: int = 0
    callback_wait_s: float = 0.0


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
        params["adapt"]["method"] = self.params.adapt.method.value
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
    """Play the day with `params.pacing`, and PROGRESSIVE as a baseline."""
    return asyncio.run(simulate(params))


async def simulate(params: SimulationParams) -> SimulationReport:
    """`run_simulation` for callers already inside an event loop."""
    run = await CampaignDay(params).play()
    if params.mode is DialingMode.PROGRESSIVE and params.pacing == RAPPEL:
        baseline = run
    else:
        progressive = replace(params, mode=DialingMode.PROGRESSIVE, pacing=RAPPEL)
        baseline = await CampaignDay(progressive).play()
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
    __slots__ = ("busy", "leaving", "on", "since", "talking")

    def __init__(self) -> None:
        self.busy = self.talking = self.on = self.leaving = False
        self.since = 0.0


class CampaignDay:
    """One campaign day, played event by event on a virtual clock."""

    def __init__(self, params: SimulationParams) -> None:
        p = self.params = params
        self.day = p.day
        self.end = p.hours * 3600.0
        self.clock = VirtualClock()
        self.origin = self.clock.now()
        self.rates = SimRates(
            p.answer_rate, p.busy_rate, p.no_answer_rate, p.failed_rate, p.machine_rate
        )
        self.telephony = SimTelephony(self.clock, p.seed, self.rates, p.ring, p.talk)
        self.wrap_rng = random.Random(p.seed)
        self.callback_rng = random.Random(f"callback-calls:{p.seed}")
        self.pacer: Pacer = make_pacer(
            p.pacing, p.mode, p.abandon_rate_pct, p.increase_predictive_ratio_pct,
            p.amd_false_positive_pct, p.connect_limit_s, p.adapt,
        )  # fmt: skip
        self.agents = [_Agent() for _ in range(p.agents)]
        self.idle: list[int] = []
        self.shift_events: list[tuple[float, int, bool]] = sorted(
            (t, k, login)
            for k, spans in enumerate(self.day.shifts(p.agents, self.end))
            for a, b in spans
            for t, login in ((a, True), (b, False))
            if t < self.end
        )
        self.logged_s = 0.0
        self.logins = [0.0] * p.agents
        self.callback_arrivals = deque(self.day.callbacks(p.seed, p.agents, self.end))
        self.callbacks_waiting: deque[float] = deque()
        self.callback_ends: list[tuple[float, int, float]] = []
        self.callback_count = 0
        self.callback_wait = 0.0
        self.next_fresh = 0
        self.retries: list[tuple[float, int]] = []
        self.attempts = [0] * p.customers
        self.ringing: dict[str, tuple[int, float]] = {}
        self.waiting: dict[str, tuple[int, float]] = {}
        self.connected: dict[str, tuple[int, int]] = {}
        self.wrap_ends: list[tuple[float, int]] = []
        self.answer_times: list[float] = []
        self.abandon_times: list[float] = []
        self.false_positives = 0
        self.talk_s = self.wrap_s = 0.0
        self.dials = self.handled = self.reached = 0
        self.last_handled_at = 0.0

    async def play(self) -> DayFigures:
        tick = 0.0
        while True:
            t = self._next_instant(tick)
            if t > self.end:
                break
            self.clock.set(self.origin + timedelta(seconds=t))
            while self.shift_events and self.shift_events[0][0] <= t:
                _, agent_no, login = self.shift_events.pop(0)
                self._login(agent_no, t) if login else self._logout(agent_no, t)
            while self.callback_arrivals and self.callback_arrivals[0] <= t:
                self.callbacks_waiting.append(self.callback_arrivals.popleft())
                self.callback_count += 1
            for event in self.telephony.take_due():
                await self._on_event(event, t)
            while self.callback_ends and self.callback_ends[0][0] <= t:
                self._end_callback(*heapq.heappop(self.callback_ends)[1:], t)
            while self.wrap_ends and self.wrap_ends[0][0] <= t:
                self._free(heapq.heappop(self.wrap_ends)[1], t)
            while self.waiting and next(iter(self.waiting.values()))[1] <= t:
                await self._abandon(next(iter(self.waiting)), t)
            while self.callbacks_waiting and self.idle:
                self._take_callback(self.idle.pop(), t)
            if t >= tick:
                await self._pace(t)
                tick += self.params.pacing_interval_s
        return self._figures(self.end)

    def _next_instant(self, tick: float) -> float:
        candidates = [tick, self.telephony.next_event_at()]
        candidates += [self.wrap_ends[0][0] if self.wrap_ends else None]
        candidates += [self.callback_ends[0][0] if self.callback_ends else None]
        candidates += [self.shift_events[0][0] if self.shift_events else None]
        candidates += [self.callback_arrivals[0] if self.callback_arrivals else None]
        if self.waiting:
            candidates.append(next(iter(self.waiting.values()))[1])
        return min(c for c in candidates if c is not None)

    def _login(self, agent_no: int, t: float) -> None:
        agent = self.agents[agent_no]
        agent.leaving = False
        if not agent.on:
            agent.on = True
            self.logins[agent_no] = t
            if not agent.busy:
                self._serve(agent_no, t)

    def _logout(self, agent_no: int, t: float) -> None:
        agent = self.agents[agent_no]
        if agent.busy:
            agent.leaving = True  # finishes the call and its wrap-up first
            return
        self._sign_off(agent_no, t)

    def _sign_off(self, agent_no: int, t: float) -> None:
        agent = self.agents[agent_no]
        agent.on = agent.leaving = False
        self.logged_s += t - self.logins[agent_no]
        if agent_no in self.idle:
            self.idle.remove(agent_no)

    async def _on_event(self, event: CallEvent, t: float) -> None:
        call_id, kind = event.call_id, event.kind
        if kind is CallEventKind.ANSWERED:
            customer, placed = self.ringing.pop(call_id)
            self.pacer.resolved(t, t - placed, answered=True)
            self.answer_times.append(t)
            if _draw(self.params.seed, call_id) < self.params.amd_false_positive_pct / 100.0:
                # The detector hangs up on a person: an abandon nobody can see.
                self.false_positives += 1
                self.waiting[call_id] = (customer, t)
                await self._abandon(call_id, t, counted=False)
            elif self.idle:
                self._connect(self.idle.pop(), call_id, customer, t)
            else:
                self.waiting[call_id] = (customer, t + self.params.connect_limit_s)
        elif kind in _UNANSWERED:
            customer, placed = self.ringing.pop(call_id)
            self.pacer.resolved(t, t - placed, answered=False)
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
        self._wrap(agent_no, t - self.agents[agent_no].since, t)
        self.reached += 1
        self._close(customer, t)

    def _wrap(self, agent_no: int, talk: float, t: float) -> None:
        agent = self.agents[agent_no]
        self.talk_s += talk
        self.pacer.handled(t - agent.since, None)
        agent.talking, agent.since = False, t
        wrap = self.params.wrap.sample(self.wrap_rng) * self.day.handle_factor(t, self.end)
        heapq.heappush(self.wrap_ends, (t + wrap, agent_no))

    def _take_callback(self, agent_no: int, t: float) -> None:
        """Agent-first web callback: the agent rings the customer, then they talk."""
        self.callback_wait += t - self.callbacks_waiting.popleft()
        p, rng = self.params, self.callback_rng
        agent = self.agents[agent_no]
        agent.busy, agent.talking, agent.since = True, True, t
        ring = p.ring.sample(rng)
        talk = 0.0
        if ring <= p.timeout_s and rng.random() < p.callback_answer_rate:
            talk = p.talk.sample(rng) * self.day.handle_factor(t, self.end)
        busy = min(ring, p.timeout_s) + talk
        heapq.heappush(self.callback_ends, (t + busy, agent_no, talk))

    def _end_callback(self, agent_no: int, talk: float, t: float) -> None:
        self._wrap(agent_no, talk, t)

    def _free(self, agent_no: int, t: float) -> None:
        agent = self.agents[agent_no]
        self.wrap_s += t - agent.since
        self.pacer.handled(None, t - agent.since)
        agent.busy = False
        if agent.leaving:
            self._sign_off(agent_no, t)
        else:
            self._serve(agent_no, t)

    def _serve(self, agent_no: int, t: float) -> None:
        """A free agent takes a waiting answered call, else a waiting callback."""
        if self.waiting:
            call_id = next(iter(self.waiting))
            customer, _ = self.waiting.pop(call_id)
            self._connect(agent_no, call_id, customer, t)
        elif self.callbacks_waiting:
            self._take_callback(agent_no, t)
        else:
            self.idle.append(agent_no)

    async def _abandon(self, call_id: str, t: float, counted: bool = True) -> None:
        customer, _ = self.waiting.pop(call_id)
        self.pacer.abandoned(t, counted)
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
        launch = self.pacer.launch(self._snapshot(t))
        for _ in range(launch):
            customer = self._next_customer(t)
            if customer is None:
                break
            await self._dial(customer, t)

    def _snapshot(self, t: float) -> Snapshot:
        on = [a for a in self.agents if a.on]
        return Snapshot(
            now_s=t,
            now_hhmm=self.day.hhmm(t),
            free=max(0, len(self.idle) - len(self.callbacks_waiting)),
            busy=[BusyAgent(a.talking, t - a.since) for a in on if a.busy and not a.leaving],
            incall=sum(1 for a in on if a.talking),
            logged_in=len(on),
            ringing_s=[t - placed for _, placed in self.ringing.values()],
            waiting=len(self.waiting),
            callbacks_waiting=len(self.callbacks_waiting),
            connected=len(self.connected),
        )

    async def _dial(self, customer: int, t: float) -> None:
        p = self.params
        self.attempts[customer] += 1
        call_id = f"C{customer}-{self.attempts[customer]}"
        if self.day.name != "stationary":
            self.telephony.set_rates(*self._rates_for(customer, t))
        await self.telephony.originate(call_id, f"+1555{customer:07d}", "+15550000000",
                                       p.timeout_s, True)  # fmt: skip
        self.ringing[call_id] = (customer, t)
        self.pacer.dialed(t)
        self.dials += 1

    def _rates_for(self, customer: int, t: float) -> tuple[SimRates, Distribution]:
        p, r = self.params, self.rates
        factor = self.day.answer_factor(t) * self.day.list_quality(customer, p.agents)
        answer = min(r.answer * factor, 1.0 - r.busy - r.failed - r.machine)
        no_answer = max(0.0, r.no_answer - (answer - r.answer))
        rates = SimRates(answer, r.busy, no_answer, r.failed, r.machine)
        talk = replace(p.talk, mean=p.talk.mean * self.day.handle_factor(t, self.end))
        return rates, talk

    def _next_customer(self, t: float) -> int | None:
        if self.retries and self.retries[0][0] <= t:
            return heapq.heappop(self.retries)[1]
        if self.next_fresh < self.params.customers:
            self.next_fresh += 1
            return self.next_fresh - 1
        return None

    def _figures(self, end: float) -> DayFigures:
        p = self.params
        for k, agent in enumerate(self.agents):
            if agent.talking and any(k == a for a, _ in self.connected.values()):
                self.talk_s += end - agent.since
            if agent.on:
                self.logged_s += end - self.logins[k]
        for _, agent_no in self.wrap_ends:
            self.wrap_s += end - self.agents[agent_no].since
        agent_hours = self.logged_s / 3600.0
        answered, abandoned = len(self.answer_times), len(self.abandon_times)
        cleared = self.handled >= p.customers
        return DayFigures(
            mode=self.pacer.label,
            talk_min_per_agent_hour=self.talk_s / 60.0 / agent_hours if agent_hours else 0.0,
            occupancy=(self.talk_s + self.wrap_s) / self.logged_s if self.logged_s else 0.0,
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
            increase_predictive_ratio_pct=self.pacer.ratio_pct,
            agent_hours=agent_hours,
            amd_false_positives=self.false_positives,
            callbacks=self.callback_count,
            callback_wait_s=self.callback_wait / max(1, self.callback_count),
        )


def _draw(seed: int, call_id: str) -> float:
    """A uniform draw fixed by (seed, call id), apart from the carrier's own draws."""
    digest = hashlib.blake2b(f"amd\x00{seed}\x00{call_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


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
