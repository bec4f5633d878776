"""Pacing: how many calls a dialer launches now. Pure, no I/O, no clock.

The engine and the what-if simulator both call `decide` about once a second.

PREDICTIVE sizing. Over the next horizon h (mean time to answer plus the
connect limit) the calls in flight bring A answers and the busy agents free up
B of themselves. A is a Poisson-binomial variable: each ringing call answers
with the empirical probability that a call still ringing after its elapsed time
is answered; B is Poisson-binomial too: each busy agent is free by h with the
empirical conditional probability P(handle <= elapsed + h | handle > elapsed)
taken from recent talk and wrap durations. The expected number of abandoned
calls is E[(A - free - B)+], computed exactly by convolution; the dialer adds
calls while that expectation stays at or under `abandon_target_pct` of E[A].
`increase_predictive_ratio_pct` caps the calls in flight beyond the free agents
at that share of the busy agents (the OBI meaning: extra calls made for busy
agents); `AbandonController` tunes both from the abandons actually seen.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class DialingMode(StrEnum):
    """How a campaign paces its calls (OBI `dialingMode`)."""

    #: The agent sees the record first and dials it; the dialer launches nothing.
    PREVIEW = "PREVIEW"
    #: One call per free agent.
    PROGRESSIVE = "PROGRESSIVE"
    #: More calls than free agents, paced to the abandon target.
    PREDICTIVE = "PREDICTIVE"


@dataclass(frozen=True, slots=True)
class BusyAgent:
    """An agent who is not free: talking or wrapping up, for `elapsed_s` so far."""

    talking: bool
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class PacingInput:
    """The dialer's view of one queue at one instant."""

    mode: DialingMode
    free_agents: int
    busy_agents: Sequence[BusyAgent] = ()
    #: How long each call in flight (dialed, not yet answered or failed) has rung.
    ringing_s: Sequence[float] = ()
    #: Answered calls waiting for an agent (they will take the next free ones).
    waiting_answered: int = 0
    #: Abandon rate the sizing aims at, in percent of answered calls.
    abandon_target_pct: float = 1.0
    #: Calls in flight beyond the free agents, in percent of the busy agents.
    increase_predictive_ratio_pct: float = 0.0
    #: Seconds an answered customer may wait for an agent before it is an abandon.
    connect_limit_s: float = 2.0
    #: Most extra calls launched in one decision; None: a tenth of the agents.
    burst_limit: int | None = None


@dataclass(frozen=True, slots=True)
class PacingDecision:
    """How many calls to launch now and why."""

    launch: int
    #: The model's expected abandon rate (%) of the calls in flight after launching.
    expected_abandon_pct: float = 0.0
    #: True when `increase_predictive_ratio_pct` held the dialer back.
    capped_by_ratio: bool = False


class _SortedWindow:
    """The last `size` values, kept sorted for quantile and survival queries."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[float] = deque()
        self.sorted: list[float] = []
        self.total = 0.0

    def add(self, value: float) -> None:
        if len(self._order) == self._size:
            old = self._order.popleft()
            del self.sorted[bisect_right(self.sorted, old) - 1]
            self.total -= old
        self._order.append(value)
        insort(self.sorted, value)
        self.total += value

    def __len__(self) -> int:
        return len(self._order)

    def mean(self) -> float:
        return self.total / len(self._order) if self._order else 0.0

    def count_above(self, x: float) -> int:
        return len(self.sorted) - bisect_right(self.sorted, x)


class LiveEstimates:
    """Sliding-window statistics of recent dials and handle times."""

    def __init__(self, window: int = 400, min_dials: int = 60, min_handles: int = 20) -> None:
        self._dials: deque[tuple[float, bool]] = deque()
        self._window = window
        self._all = _SortedWindow(window)
        self._answered: list[float] = []
        self._answered_total = 0.0
        self._talk = _SortedWindow(window)
        self._wrap = _SortedWindow(window)
        self._min_dials = min_dials
        self._min_handles = min_handles

    def record_dial(self, resolved_after_s: float, answered: bool) -> None:
        """A dial ended ringing after `resolved_after_s`: answered, or not."""
        if len(self._dials) == self._window:
            old, was_answered = self._dials.popleft()
            if was_answered:
                del self._answered[bisect_right(self._answered, old) - 1]
                self._answered_total -= old
        self._dials.append((resolved_after_s, answered))
        self._all.add(resolved_after_s)
        if answered:
            insort(self._answered, resolved_after_s)
            self._answered_total += resolved_after_s

    def record_talk(self, seconds: float) -> None:
        self._talk.add(seconds)

    def record_wrap(self, seconds: float) -> None:
        self._wrap.add(seconds)

    @property
    def warm(self) -> bool:
        """Enough history to predict; until then PREDICTIVE dials progressively."""
        return (
            len(self._dials) >= self._min_dials
            and len(self._answered) >= self._min_handles // 2
            and len(self._talk) >= self._min_handles
            and len(self._wrap) >= self._min_handles
        )

    @property
    def answer_rate(self) -> float:
        return len(self._answered) / len(self._dials) if self._dials else 0.0

    @property
    def mean_answer_delay_s(self) -> float:
        return self._answered_total / len(self._answered) if self._answered else 0.0

    @property
    def mean_talk_s(self) -> float:
        return self._talk.mean()

    @property
    def mean_wrap_s(self) -> float:
        return self._wrap.mean()

    def answer_probability(self, ringing_for_s: float) -> float:
        """P(answered | still unresolved after `ringing_for_s`)."""
        alive = self._all.count_above(ringing_for_s)
        if alive == 0:
            return 0.0
        answered = len(self._answered) - bisect_right(self._answered, ringing_for_s)
        return answered / alive

    def free_probability(self, agent: BusyAgent, horizon_s: float) -> float:
        """P(the agent is free within `horizon_s`), given how long it has been busy."""
        if agent.talking:
            # Wrap-up follows talk; its mean stands in for its spread.
            return _conditional_cdf(
                self._talk, agent.elapsed_s, agent.elapsed_s + horizon_s - self.mean_wrap_s
            )
        return _conditional_cdf(self._wrap, agent.elapsed_s, agent.elapsed_s + horizon_s)


def _conditional_cdf(window: _SortedWindow, elapsed: float, until: float) -> float:
    """P(X <= until | X > elapsed) from the window's samples, exponential in the tail."""
    if until <= elapsed:
        return 0.0
    alive = window.count_above(elapsed)
    if alive < 3:
        mean = window.mean() or 1.0
        return -math.expm1(-(until - elapsed) / mean)
    return (alive - window.count_above(until)) / alive


def decide(state: PacingInput, estimates: LiveEstimates) -> PacingDecision:
    """How many calls to launch now for `state`."""
    in_flight = len(state.ringing_s) + state.waiting_answered
    progressive = max(0, state.free_agents - in_flight)
    if state.mode is DialingMode.PREVIEW:
        return PacingDecision(0)
    if state.mode is DialingMode.PROGRESSIVE:
        return PacingDecision(progressive)
    if state.abandon_target_pct <= 0 or not estimates.warm:
        return PacingDecision(progressive)
    extra_allowed = math.ceil(
        state.increase_predictive_ratio_pct / 100.0 * len(state.busy_agents) - 1e-9
    )
    most = state.free_agents + extra_allowed - in_flight
    if most <= progressive:
        return PacingDecision(progressive, capped_by_ratio=True)
    # Calls launched together are answered together: a big batch is a burst of
    # abandons when the estimates are off, so extra calls go out a few at a time.
    burst = state.burst_limit
    if burst is None:
        burst = max(1, math.ceil((state.free_agents + len(state.busy_agents)) / 10))
    sized, expected = _predictive_size(state, estimates, most + 1)
    launch = max(progressive, min(sized, most, progressive + burst))
    return PacingDecision(launch, expected, capped_by_ratio=sized > most)


def _predictive_size(state: PacingInput, estimates: LiveEstimates, limit: int) -> tuple[int, float]:
    """Largest n <= limit keeping expected abandons within target; and that rate (%)."""
    horizon = estimates.mean_answer_delay_s + state.connect_limit_s
    frees = [estimates.free_probability(a, horizon) for a in state.busy_agents]
    ringing = [estimates.answer_probability(s) for s in state.ringing_s]
    answers = [0.0] * state.waiting_answered + _poisson_binomial(ringing)
    expected = state.waiting_answered + sum(ringing)
    p_new = estimates.answer_probability(0.0)
    excess = _excess_table(
        state.free_agents,
        _poisson_binomial([q for q in frees if q > 1e-4]),
        len(answers) + limit,
    )
    target = state.abandon_target_pct / 100.0
    best, best_rate = 0, _abandon_ratio(answers, expected, excess)
    if best_rate > target:
        return 0, best_rate * 100
    for n in range(1, limit + 1):
        answers = _add_trial(answers, p_new)
        expected += p_new
        rate = _abandon_ratio(answers, expected, excess)
        if rate > target:
            break
        best, best_rate = n, rate
    return best, best_rate * 100


def _poisson_binomial(probabilities: Sequence[float]) -> list[float]:
    pmf = [1.0]
    for p in probabilities:
        pmf = _add_trial(pmf, p)
    return pmf


def _add_trial(pmf: list[float], p: float) -> list[float]:
    q = 1.0 - p
    out = [a * q + b * p for a, b in zip([*pmf, 0.0], [0.0, *pmf], strict=True)]
    # Mass too small to matter only slows the next convolutions down.
    while len(out) > 1 and out[-1] < 1e-12:
        out.pop()
    return out


def _excess_table(free: int, pmf_b: list[float], size: int) -> list[float]:
    """g[a] = E[(a - free - B)+] for a = 0..size-1, from the pmf of B."""
    table = [0.0] * size
    below = below_b = 0.0
    for a in range(free + 1, size):
        b = a - free - 1
        if b < len(pmf_b):
            below += pmf_b[b]
            below_b += b * pmf_b[b]
        table[a] = (a - free) * below - below_b
    return table


def _abandon_ratio(pmf_a: list[float], expected_answers: float, excess: list[float]) -> float:
    if expected_answers <= 0:
        return 0.0
    return sum(map(float.__mul__, pmf_a, excess)) / expected_answers


# Open hour windows are checked every five minutes of their start.
_WINDOW_SHIFTS = tuple(k / 12 for k in range(1, 13))


class AbandonController:
    """Keeps the abandon rate of every rolling hour at or under the target.

    Fed with answered and abandoned calls (monotonic seconds), it works out how
    many more abandons the hour windows that contain "now" can still take,
    projecting their answers at the recent answer rate. The model target it
    hands to `decide` falls to zero before that allowance runs out, and it
    moves `increase_predictive_ratio_pct` up while the ratio holds the dialer
    back with room to spare, down when the allowance is nearly spent.
    """

    def __init__(
        self,
        target_pct: float,
        ratio_pct: float = 0.0,
        start_s: float = 0.0,
        window_s: float = 3600.0,
        reserve: float = 3.0,
    ) -> None:
        self.target_pct = target_pct
        self.increase_predictive_ratio_pct = ratio_pct
        self._start = start_s
        self._window = window_s
        self._reserve = reserve
        # Appended in time order, so they stay sorted for bisection.
        self._answered: list[float] = []
        self._abandoned: list[float] = []
        self._capped = False
        self._last_tune = start_s

    def record_answered(self, at_s: float) -> None:
        self._answered.append(at_s)

    def record_abandoned(self, at_s: float) -> None:
        self._abandoned.append(at_s)

    def record_decision(self, decision: PacingDecision) -> None:
        self._capped = self._capped or decision.capped_by_ratio

    def model_target_pct(self, now_s: float) -> float:
        """The abandon rate `decide` should size for now: the configured one, or less.

        For each hour window that is open now (began at b, ends at b + 1 h) with
        `seen` answers and `lost` abandons so far and F answers still to come
        at the recent rate, the window stays at or under the target as long as
        the abandons still to come stay under target + (target * seen - lost -
        reserve) / F of those answers. The tightest open window sets the rate,
        so the aim drops as soon as a window nears its target.
        """
        if self.target_pct <= 0:
            return 0.0
        self._forget(now_s)
        target = self.target_pct / 100.0
        recent = min(900.0, now_s - self._start)
        if recent <= 0:
            return 0.0
        rate = _count_since(self._answered, now_s - recent) / recent
        # Abandons are lumpy: keep back a fixed reserve plus one standard deviation
        # of the abandons of the next twenty minutes (what later aims cannot undo).
        reserve = self._reserve + math.sqrt(target * rate * 1200.0)
        allowed = target
        for shift in _WINDOW_SHIFTS:
            begin = max(self._start, now_s - self._window * (1.0 - shift))
            to_come = rate * (begin + self._window - now_s)
            room = target * _count_since(self._answered, begin)
            room -= _count_since(self._abandoned, begin) + reserve
            if to_come <= 0:
                return 0.0 if room < 0 else self.target_pct
            allowed = min(allowed, target + room / to_come)
        return 100.0 * max(0.0, allowed)

    def tune(self, now_s: float, every_s: float = 60.0) -> float:
        """Adjust `increase_predictive_ratio_pct` (at most once per `every_s`)."""
        if now_s - self._last_tune < every_s:
            return self.increase_predictive_ratio_pct
        self._last_tune = now_s
        headroom = self.model_target_pct(now_s) / self.target_pct if self.target_pct else 0.0
        ratio = self.increase_predictive_ratio_pct
        if headroom < 0.25:
            ratio *= 0.85
        elif self._capped and headroom >= 0.5:
            ratio += 5.0
        self.increase_predictive_ratio_pct = min(100.0, max(0.0, ratio))
        self._capped = False
        return self.increase_predictive_ratio_pct

    def _forget(self, now_s: float) -> None:
        horizon = now_s - self._window
        for times in (self._answered, self._abandoned):
            old = bisect_left(times, horizon)
            if old > 256:
                del times[:old]


def _count_since(times: list[float], since: float) -> int:
    return len(times) - bisect_left(times, since)
