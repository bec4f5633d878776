"""Pacing: how many calls a dialer launches now. Pure, no I/O, no clock.

The engine and the what-if simulator both call `decide` about once a second.

PREDICTIVE sizing. Over the next horizon h (mean time to answer plus the
connect limit) the calls in flight bring A answers and the busy agents free up
B of themselves. A is a Poisson-binomial variable: each ringing call answers
with the empirical probability that a call still ringing after its elapsed time
is answered; B is Poisson-binomial too: each busy agent is free by h with the
empirical conditional probability P(handle <= elapsed + h | handle > elapsed)
taken from recent talk and wrap durations (the soon-free agents). The expected
number of abandoned calls is E[(A - free - B)+], computed exactly by
convolution; the dialer adds calls while that expectation stays at or under
`abandon_target_pct` of E[A].

Two limits come on top. The guard: with `abandon_room` (the abandons the
tightest rolling hour can still take) the dialer adds no call that makes
P(A >= free + room + 1) exceed `_OVERRUN_PROBABILITY`, crediting no busy agent
at all, and none at all below one abandon of room. And
`increase_predictive_ratio_pct` caps the calls in flight beyond the free agents
at that share of the busy agents (the OBI meaning: extra calls made for busy
agents). `AbandonController` works out the room and the target from the
answers and abandons seen, and tunes the ratio.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# Largest chance the guard takes that the calls in flight bring more answers
# than the free agents and the rolling hour's room can absorb. Pools of calls
# in flight renew every twenty seconds or so: a day holds a few thousand.
_OVERRUN_PROBABILITY = 1e-5
# Answers still to come in an hour window are projected at this share of the
# recent rate, less this many standard deviations (see `_projected`).
_SLOWDOWN = 0.7
_SPREAD = 2.0
# The bias (abandons seen per abandon the model expected) is learned over
# about two hours, from a prior worth three abandons at a bias of two.
_BIAS_MEMORY_S = 7200.0
_PRIOR_ABANDONS = 3.0
_PRIOR_BIAS = 2.0


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
    #: Abandons the tightest rolling hour can still take (`AbandonController.room`);
    #: below one no extra calls; None: no such limit.
    abandon_room: float | None = None


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
    if state.mode is DialingMode.PROGRESSIVE or not estimates.warm:
        return PacingDecision(progressive)
    room = state.abandon_room
    if state.abandon_target_pct <= 0 or (room is not None and room < 1.0):
        # No extra calls; the model still rates the calls in flight for the controller.
        _, rates = _predictive_size(state, estimates, progressive, None, progressive)
        return PacingDecision(progressive, rates[progressive])
    extra_allowed = math.ceil(
        state.increase_predictive_ratio_pct / 100.0 * len(state.busy_agents) - 1e-9
    )
    most = state.free_agents + extra_allowed - in_flight
    # Calls launched together are answered together: a big batch is a burst of
    # abandons when the estimates are off, so extra calls go out a few at a time.
    burst = state.burst_limit
    if burst is None:
        burst = max(1, math.ceil((state.free_agents + len(state.busy_agents)) / 10))
    overrun = None if room is None else state.free_agents + math.floor(room) + 1
    sized, rates = _predictive_size(state, estimates, most + 1, overrun, progressive)
    launch = max(progressive, min(sized, most, progressive + burst))
    return PacingDecision(
        launch,
        rates[min(launch, len(rates) - 1)],
        capped_by_ratio=sized > max(most, progressive),
    )


def _predictive_size(
    state: PacingInput,
    estimates: LiveEstimates,
    limit: int,
    overrun: int | None,
    at_least: int,
) -> tuple[int, list[float]]:
    """Largest n <= limit the targets allow, and the expected abandon rate (%) per n.

    n is allowed while the expected abandons stay within the target share of
    the expected answers and, when `overrun` is given, the chance that the
    calls in flight bring `overrun` answers or more stays under
    `_OVERRUN_PROBABILITY`. The rates run up to the first n refused past
    `at_least` (the calls launched anyway), or to `limit`.
    """
    horizon = estimates.mean_answer_delay_s + state.connect_limit_s
    frees = [estimates.free_probability(a, horizon) for a in state.busy_agents]
    ringing = [estimates.answer_probability(s) for s in state.ringing_s]
    answers = [0.0] * state.waiting_answered + _poisson_binomial(ringing)
    expected = state.waiting_answered + sum(ringing)
    p_new = estimates.answer_probability(0.0)
    last = max(limit, at_least)
    excess = _excess_table(
        state.free_agents,
        _poisson_binomial([q for q in frees if q > 1e-4]),
        len(answers) + last + 1,
    )
    target = state.abandon_target_pct / 100.0
    rates: list[float] = []
    best = -1
    for n in range(last + 1):
        if n:
            answers = _add_trial(answers, p_new)
            expected += p_new
        rate = _abandon_ratio(answers, expected, excess)
        rates.append(100.0 * rate)
        # The guard credits no agent that is still busy: a soon-free agent may
        # be taken by a call launched later, and answers come in bursts.
        risky = overrun is not None and math.fsum(answers[overrun:]) > _OVERRUN_PROBABILITY
        if rate <= target and not risky and best == n - 1 and n <= limit:
            best = n
        elif n >= at_least:
            break
    return max(best, 0), rates


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


def _dot(pmf: list[float], table: list[float]) -> float:
    return sum(map(float.__mul__, pmf, table))


def _abandon_ratio(pmf_a: list[float], expected_answers: float, excess: list[float]) -> float:
    if expected_answers <= 0:
        return 0.0
    return _dot(pmf_a, excess) / expected_answers


class AbandonController:
    """Keeps the abandon rate of every rolling hour at or under the target.

    Fed with answered and abandoned calls (monotonic seconds) and with each
    decision, it hands `decide` two things:

    * `room`: how many more abandons the tightest hour window that contains
      "now" can take, its answers still to come projected low. `decide` keeps
      the chance that the calls in flight bring that many abandons small, and
      dials no extra call below one: this is the hard guard.
    * `model_target_pct`: the abandon rate to size for. The aim spreads each
      open window's unspent allowance over its answers still to come, less a
      margin of about one standard deviation of those abandons; the model
      target is the aim divided by the `bias` learned so far, the ratio of
      the abandons seen to those the model expected (a dialer cannot recall
      calls once the news turns bad, so it loses more than each snapshot says).

    It also tunes `increase_predictive_ratio_pct`: up while the ratio holds the
    dialer back with room to spare, down while the hour's allowance is spent.
    """

    def __init__(
        self,
        target_pct: float,
        ratio_pct: float = 0.0,
        start_s: float = 0.0,
        window_s: float = 3600.0,
    ) -> None:
        self.target_pct = target_pct
        self.increase_predictive_ratio_pct = ratio_pct
        self._start = start_s
        self._window = window_s
        # Appended in time order, so they stay sorted for bisection.
        self._answered: list[float] = []
        self._abandoned: list[float] = []
        self._capped = False
        self._last_tune = start_s
        # What the model expected of the calls in flight, and the abandons seen,
        # both decaying with time; the prior says the model sees half the abandons.
        self._in_flight_rate = 0.0
        self._expected = self._seen = 0.0
        self._decayed_at = start_s

    def record_answered(self, at_s: float) -> None:
        self._answered.append(at_s)
        self._decay(at_s)
        self._expected += self._in_flight_rate

    def record_abandoned(self, at_s: float) -> None:
        self._abandoned.append(at_s)
        self._decay(at_s)
        self._seen += 1.0

    def record_decision(self, decision: PacingDecision) -> None:
        self._capped = self._capped or decision.capped_by_ratio
        self._in_flight_rate = decision.expected_abandon_pct / 100.0

    @property
    def bias(self) -> float:
        """Abandons seen per abandon the model expected (at least one)."""
        expected = self._expected + _PRIOR_ABANDONS / _PRIOR_BIAS
        return max(1.0, (self._seen + _PRIOR_ABANDONS) / expected)

    def room(self, now_s: float) -> float:
        """Abandons the tightest open hour window can still take."""
        return min(room for room, _ in self._windows(now_s))

    def aim_pct(self, now_s: float) -> float:
        """The abandon rate (%) the dialer aims to see from now: the target, or less."""
        if self.target_pct <= 0:
            return 0.0
        aim = min(_aim(room, to_come) for room, to_come in self._windows(now_s))
        return min(self.target_pct, 100.0 * aim)

    def model_target_pct(self, now_s: float) -> float:
        """The abandon rate `decide` should size for now: the aim over the bias."""
        return self.aim_pct(now_s) / self.bias

    def tune(self, now_s: float, every_s: float = 60.0) -> float:
        """Adjust `increase_predictive_ratio_pct` (at most once per `every_s`)."""
        if now_s - self._last_tune < every_s:
            return self.increase_predictive_ratio_pct
        self._last_tune = now_s
        windows = self._windows(now_s)
        # The aim of an hour starting now: what the aim is with nothing spent.
        fresh = _aim(*windows[-1])
        if fresh <= 0:  # no answers seen yet: nothing to go by
            self._capped = False
            return self.increase_predictive_ratio_pct
        headroom = min(_aim(room, to_come) for room, to_come in windows) / fresh
        ratio = self.increase_predictive_ratio_pct
        if headroom < 0.25:
            ratio *= 0.85
        elif self._capped and headroom >= 0.5:
            # Fast enough to reach what a big team needs within minutes.
            ratio = max(ratio + 10.0, ratio * 1.5)
        self.increase_predictive_ratio_pct = min(100.0, max(0.0, ratio))
        self._capped = False
        return self.increase_predictive_ratio_pct

    def _windows(self, now_s: float) -> list[tuple[float, float]]:
        """(room, answers to come) of the open hour windows that can be the tightest.

        A window's room is target * (answers seen + answers to come) - abandons.
        Among the windows holding the same abandons the one starting at the
        first of them has the fewest answers (those to come are projected low),
        so only windows starting at each abandon of the last hour, and the one
        starting now, are checked; the window starting now comes last.
        """
        self._forget(now_s)
        target = max(0.0, self.target_pct) / 100.0
        recent = min(900.0, now_s - self._start)
        rate = _count_since(self._answered, now_s - recent) / recent if recent > 0 else 0.0
        first = bisect_right(self._abandoned, now_s - self._window)
        windows = []
        for k in range(first, len(self._abandoned)):
            begin = self._abandoned[k]
            to_come = _projected(rate, begin + self._window - now_s)
            seen = _count_since(self._answered, begin)
            windows.append((target * (seen + to_come) - (len(self._abandoned) - k), to_come))
        to_come = _projected(rate, self._window)
        windows.append((target * to_come, to_come))
        return windows

    def _decay(self, at_s: float) -> None:
        factor = math.exp(-(at_s - self._decayed_at) / _BIAS_MEMORY_S)
        self._expected *= factor
        self._seen *= factor
        self._decayed_at = at_s

    def _forget(self, now_s: float) -> None:
        horizon = now_s - self._window
        for times in (self._answered, self._abandoned):
            old = bisect_left(times, horizon)
            if old > 256:
                del times[:old]


def _projected(rate: float, seconds: float) -> float:
    """Answers still to come, counted low.

    When the guard stops the extra calls the answers come slower (with many
    agents PROGRESSIVE gets about three quarters of PREDICTIVE's), and a
    window that already holds abandons must still reach the answers they need.
    """
    mean = rate * max(0.0, seconds)
    return max(0.0, _SLOWDOWN * mean - _SPREAD * math.sqrt(mean))


def _aim(room: float, to_come: float) -> float:
    """The abandon rate among `to_come` answers whose abandons fit in `room`
    with one standard deviation to spare (abandons come in bursts: the variance
    is taken as twice the Poisson one)."""
    if room <= 0:
        return 0.0
    if to_come <= 0:
        return math.inf
    spread = math.sqrt(2.0)
    root = (math.sqrt(spread * spread + 4.0 * room) - spread) / 2.0
    return root * root / to_come


def _count_since(times: list[float], since: float) -> int:
    return len(times) - bisect_left(times, since)
