"""`sim`: the built-in simulated carrier and the simulated agents' handle times.

Every call's fate is drawn from a hash of (seed, call id), so a run is
reproducible whatever order calls are placed in, and a retried attempt (a new
call id) gets a fresh draw. Times come from the injected Clock, so the same
driver serves the demo on the wall clock and whole simulated days on the
virtual clock.

Distributions (see `Distribution`): ring time is log-normal (sigma 0.5) by
default, talk time exponential, wrap-up time log-normal (sigma 0.5). A call
whose drawn ring time exceeds the originate timeout ends NO_ANSWER even when
its outcome was `answer`. An answered customer hangs up after the drawn talk
time, counted from the bridge when the leg is bridged, else from the answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import math
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from statistics import NormalDist

from rappel.clock import Clock
from rappel.domain.errors import NotFound, ValidationFailed
from rappel.telephony.port import (
    FINAL_KINDS,
    CallEvent,
    CallEventKind,
    CallState,
    DialOutcome,
    DuplicateCall,
    number_digits,
)

_STANDARD_NORMAL = NormalDist()
# Datetimes tick in microseconds: an event due within that of "now" is due now.
_RESOLUTION_S = 1e-6


class DistributionKind(StrEnum):
    """Shape of a simulated duration."""

    #: Memoryless; standard deviation equals the mean.
    EXPONENTIAL = "exponential"
    #: Right-skewed, never near zero; `sigma` is the spread of log(duration).
    LOGNORMAL = "lognormal"
    #: Always the mean.
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class Distribution:
    """A positive duration in seconds with a given mean."""

    mean: float
    kind: DistributionKind = DistributionKind.EXPONENTIAL
    sigma: float = 0.5

    def __post_init__(self) -> None:
        if not (self.mean >= 0 and math.isfinite(self.mean)):
            raise ValidationFailed("mean", f"mean must be a finite number >= 0, not {self.mean}")
        if self.sigma <= 0:
            raise ValidationFailed("sigma", "sigma must be > 0")

    def draw(self, u: float) -> float:
        """The duration at quantile `u` (0 < u < 1): inverse-transform sampling."""
        if self.mean == 0 or self.kind is DistributionKind.FIXED:
            return self.mean
        if self.kind is DistributionKind.EXPONENTIAL:
            return -self.mean * math.log1p(-u)
        mu = math.log(self.mean) - self.sigma**2 / 2
        return math.exp(mu + self.sigma * _STANDARD_NORMAL.inv_cdf(u))

    def sample(self, rng: random.Random) -> float:
        return self.draw(_open_unit(rng.random()))

    def cdf(self, x: float) -> float:
        """P(duration <= x)."""
        if x < 0:
            return 0.0
        if self.mean == 0 or self.kind is DistributionKind.FIXED:
            return 1.0 if x >= self.mean else 0.0
        if self.kind is DistributionKind.EXPONENTIAL:
            return -math.expm1(-x / self.mean)
        if x == 0:
            return 0.0
        mu = math.log(self.mean) - self.sigma**2 / 2
        return _STANDARD_NORMAL.cdf((math.log(x) - mu) / self.sigma)


@dataclass(frozen=True, slots=True)
class SimRates:
    """Probability of each outcome; what the others leave over is NO_ANSWER."""

    answer: float = 0.8
    busy: float = 0.1
    no_answer: float = 0.08
    failed: float = 0.0
    machine: float = 0.0

    def __post_init__(self) -> None:
        for name in ("answer", "busy", "no_answer", "failed", "machine"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValidationFailed(name, f"{name} rate must be between 0 and 1, not {value}")
        total = self.answer + self.busy + self.no_answer + self.failed + self.machine
        if total > 1.0 + 1e-9:
            raise ValidationFailed("rates", f"outcome rates add up to {total:.3f}, more than 1")

    def outcome_at(self, u: float) -> DialOutcome:
        edge = 0.0
        for outcome, rate in (
            (DialOutcome.ANSWER, self.answer),
            (DialOutcome.BUSY, self.busy),
            (DialOutcome.FAILED, self.failed),
            (DialOutcome.MACHINE, self.machine),
        ):
            edge += rate
            if u < edge:
                return outcome
        return DialOutcome.NO_ANSWER


@dataclass(frozen=True, slots=True)
class SimAgentProfile:
    """Handle times of simulated agents (bots): talk when they lead, wrap-up always."""

    talk: Distribution = field(default_factory=lambda: Distribution(60.0))
    wrap: Distribution = field(
        default_factory=lambda: Distribution(10.0, DistributionKind.LOGNORMAL)
    )

    def draw_talk(self, rng: random.Random) -> float:
        return self.talk.sample(rng)

    def draw_wrap(self, rng: random.Random) -> float:
        return self.wrap.sample(rng)


class _LegState(StrEnum):
    DIALING = "DIALING"
    RINGING = "RINGING"
    UP = "UP"
    ENDED = "ENDED"


@dataclass(slots=True)
class _Leg:
    number: str
    outcome: DialOutcome
    ring_s: float
    talk_s: float
    state: _LegState = _LegState.DIALING
    generation: int = 0
    peer: str | None = None
    ivr: list[str] = field(default_factory=list)
    answered: bool = False


class SimTelephony:
    """A simulated carrier behind the Telephony port.

    Besides the port it offers `next_event_at` and `take_due`, so that a
    discrete-event loop (the what-if simulator) can jump the virtual clock from
    one event to the next instead of sleeping. `events()` is meant for one
    consumer.
    """

    def __init__(
        self,
        clock: Clock,
        seed: int = 1,
        rates: SimRates | None = None,
        ring: Distribution | None = None,
        talk: Distribution | None = None,
        fixed_outcomes: Mapping[str, DialOutcome] | None = None,
        busy_s: float = 3.0,
        failed_s: float = 1.0,
        detect_s: float = 2.5,
        machine_message_s: float = 20.0,
        prompt_s: float = 3.0,
    ) -> None:
        self._clock = clock
        self._seed = seed
        self._rates = rates or SimRates()
        self._ring = ring or Distribution(8.0, DistributionKind.LOGNORMAL)
        self._talk = talk or Distribution(60.0)
        self._fixed = {number_digits(k): v for k, v in (fixed_outcomes or {}).items()}
        self._busy_s = busy_s
        self._failed_s = failed_s
        self._detect_s = detect_s
        self._machine_message_s = machine_message_s
        self._prompt_s = prompt_s
        self._legs: dict[str, _Leg] = {}
        self._heap: list[tuple[float, int, str, int, CallEventKind, str]] = []
        self._seq = itertools.count()
        self._wakeup: asyncio.Event | None = None

    def set_rates(self, rates: SimRates, talk: Distribution | None = None) -> None:
        """Outcome rates (and talk time) of the calls placed from now on.

        What-if days change them as they go: the answer rate follows the hour
        and the list, handle times drift.
        """
        self._rates = rates
        if talk is not None:
            self._talk = talk

    async def originate(
        self,
        call_id: str,
        number: str,
        caller_id: str,
        timeout_s: float,
        detect_machine: bool,
    ) -> None:
        if call_id in self._legs:
            raise DuplicateCall(f"call {call_id} was already placed")
        u = _uniforms(self._seed, call_id)
        digits = number_digits(number)
        outcome = self._fixed.get(digits) or self._rates.outcome_at(u[0])
        leg = _Leg(digits, outcome, self._ring.draw(u[1]), self._talk.draw(u[2]))
        self._legs[call_id] = leg
        self._plan(call_id, leg, timeout_s, detect_machine)

    async def bridge(self, call_id_a: str, call_id_b: str) -> None:
        a, b = self._up_leg(call_id_a), self._up_leg(call_id_b)
        a.peer, b.peer = call_id_b, call_id_a
        # Talk time runs from the moment the customer reaches someone.
        for call_id, leg in ((call_id_a, a), (call_id_b, b)):
            leg.generation += 1
            self._schedule(call_id, leg, leg.talk_s, CallEventKind.HUNGUP, "remote")

    async def park(self, call_id: str) -> None:
        leg = self._up_leg(call_id)
        peer = self._legs.get(leg.peer) if leg.peer else None
        if peer is not None and peer.peer == call_id:
            peer.peer = None
        leg.peer = None

    async def play_ivr(self, call_id: str, script: str) -> None:
        leg = self._up_leg(call_id)
        leg.ivr.append(script)
        self._schedule(call_id, leg, self._prompt_s, CallEventKind.PROMPT_DONE, script)

    async def hangup(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            raise NotFound(f"no call {call_id}")
        if leg.state is _LegState.ENDED:
            return
        leg.generation += 1
        cause = "local" if leg.state is _LegState.UP else "cancelled"
        self._schedule(call_id, leg, 0.0, CallEventKind.HUNGUP, cause)

    async def events(self) -> AsyncIterator[CallEvent]:
        while True:
            for event in self.take_due():
                yield event
            wakeup = self._wakeup = self._wakeup or asyncio.Event()
            wakeup.clear()
            due = self.next_event_at()
            if due is None:
                await wakeup.wait()
                continue
            sleeper = asyncio.ensure_future(self._clock.sleep(due - self._clock.monotonic()))
            waker = asyncio.ensure_future(wakeup.wait())
            await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, waker):
                task.cancel()

    async def call_state(self, call_id: str) -> CallState:
        """The sim keeps its calls for as long as it lives; a restarted sim knows none."""
        leg = self._legs.get(call_id)
        if leg is None:
            return CallState.UNKNOWN
        if leg.state is _LegState.UP:
            return CallState.LIVE
        if leg.state is _LegState.ENDED:
            return CallState.ENDED_ANSWERED if leg.answered else CallState.ENDED_UNANSWERED
        return CallState.RINGING

    def next_event_at(self) -> float | None:
        """Monotonic second of the next pending event, if any."""
        while self._heap and self._is_stale(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def take_due(self) -> list[CallEvent]:
        """Deliver every event due by now, applying its effect on the leg."""
        now_mono, now = self._clock.monotonic(), self._clock.now()
        due: list[CallEvent] = []
        while self._heap and self._heap[0][0] <= now_mono + _RESOLUTION_S:
            entry = heapq.heappop(self._heap)
            if self._is_stale(entry):
                continue
            at_mono, _, call_id, _, kind, cause = entry
            at = now - timedelta(seconds=now_mono - at_mono)
            due.append(CallEvent(call_id, kind, at, cause))
            self._apply(call_id, kind, at_mono)
        return due

    def outcome_of(self, call_id: str) -> DialOutcome:
        """The outcome drawn for a placed call (for reports and tests)."""
        return self._legs[call_id].outcome

    def ivr_played(self, call_id: str) -> list[str]:
        return list(self._legs[call_id].ivr)

    def _plan(self, call_id: str, leg: _Leg, timeout_s: float, detect_machine: bool) -> None:
        if leg.outcome is DialOutcome.BUSY:
            self._schedule(call_id, leg, self._busy_s, CallEventKind.BUSY, "user_busy")
            return
        if leg.outcome is DialOutcome.FAILED:
            self._schedule(call_id, leg, self._failed_s, CallEventKind.FAILED, "congestion")
            return
        self._schedule(call_id, leg, 0.0, CallEventKind.RINGING)
        if leg.outcome is DialOutcome.NO_ANSWER or leg.ring_s > timeout_s:
            self._schedule(call_id, leg, timeout_s, CallEventKind.NO_ANSWER, "no_answer")
        elif leg.outcome is DialOutcome.MACHINE and detect_machine:
            self._schedule(call_id, leg, leg.ring_s + self._detect_s, CallEventKind.MACHINE)
        else:
            if leg.outcome is DialOutcome.MACHINE:
                leg.talk_s = self._machine_message_s
            self._schedule(call_id, leg, leg.ring_s, CallEventKind.ANSWERED)
            self._schedule(call_id, leg, leg.ring_s + leg.talk_s, CallEventKind.HUNGUP, "remote")

    def _apply(self, call_id: str, kind: CallEventKind, at_mono: float) -> None:
        leg = self._legs[call_id]
        if kind is CallEventKind.RINGING:
            leg.state = _LegState.RINGING
        elif kind is CallEventKind.ANSWERED:
            leg.state = _LegState.UP
            leg.answered = True
        elif kind in FINAL_KINDS:
            leg.state = _LegState.ENDED
            leg.generation += 1
            peer = self._legs.get(leg.peer) if leg.peer else None
            if peer is not None and peer.state is not _LegState.ENDED:
                # The sim's bridge ends with its first leg; the engine hears both.
                peer.generation += 1
                delay = at_mono - self._clock.monotonic()
                self._schedule(leg.peer or "", peer, delay, CallEventKind.HUNGUP, "peer_hangup")

    def _schedule(
        self, call_id: str, leg: _Leg, delay_s: float, kind: CallEventKind, cause: str = ""
    ) -> None:
        at = self._clock.monotonic() + max(0.0, delay_s)
        heapq.heappush(self._heap, (at, next(self._seq), call_id, leg.generation, kind, cause))
        if self._wakeup is not None:
            self._wakeup.set()

    def _is_stale(self, entry: tuple[float, int, str, int, CallEventKind, str]) -> bool:
        return self._legs[entry[2]].generation != entry[3]

    def _up_leg(self, call_id: str) -> _Leg:
        leg = self._legs.get(call_id)
        if leg is None:
            raise NotFound(f"no call {call_id}")
        if leg.state is not _LegState.UP:
            raise ValidationFailed("call_id", f"call {call_id} is not answered")
        return leg


def _uniforms(seed: int, call_id: str) -> list[float]:
    digest = hashlib.blake2b(f"{seed}\x00{call_id}".encode(), digest_size=32).digest()
    return [_open_unit(int.from_bytes(digest[i : i + 8], "big") / 2.0**64) for i in range(0, 32, 8)]


def _open_unit(u: float) -> float:
    # Keep quantiles strictly inside (0, 1) so that inverse CDFs stay finite.
    return min(max(u, 1e-12), 1.0 - 1e-12)
