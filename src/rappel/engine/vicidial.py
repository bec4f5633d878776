"""VICIdial's adaptive predictive pacing, as a peer to compare Rappel's with. Pure, no I/O.

VICIdial paces a campaign with a *dial level*: each second its dialer places
round(level x dialable agents) minus the calls already up (ringing, answered and
waiting, or with an agent). Its adapt process moves the level:

* every second it samples the ready agents, the answered calls waiting for an
  agent and the logged-in agents, and averages the last 15 samples;
* every 15 seconds the differential (ready - waiting + `dl_diff_target`) over
  the logged-in agents scales the level: level x (1 + differential / agents),
  the step made larger or smaller by `intensity` (-40..40), capped at
  `maximum_level`, never under 1;
* once a minute it refreshes its drop counts. More than half the last
  minute's calls dropped (with over 20 calls) halves the level. Today's drops
  over today's answers above `dropped_percentage` (after 50 calls) then apply
  the method: ADAPT_HARD_LIMIT sets the level to 1, ADAPT_AVERAGE halves it,
  ADAPT_TAPERED multiplies it by (latest_server_time - now) / 1000 in HHMM
  arithmetic (no cut at all more than "1000" before the latest time, 1 after
  it), so the day's rate may run over early and must come back by evening.

Written from the behaviour of VICIdial's AST_VDadapt.pl and AST_VDauto_dial.pl
(see docs/dialer.md for what is left out).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from rappel.domain.errors import ValidationFailed

#: The adapt process's sampling and update periods (seconds).
SAMPLES = 15
ADJUST_EVERY_S = 15.0
DROPS_EVERY_S = 60.0


class AdaptMethod(StrEnum):
    """What VICIdial does once the day's drop rate is over the limit."""

    #: Back to one call per agent until the day's rate is under the limit again.
    HARD_LIMIT = "ADAPT_HARD_LIMIT"
    #: Cut by a share that shrinks as the latest server time nears.
    TAPERED = "ADAPT_TAPERED"
    #: Halve the level at each update while over.
    AVERAGE = "ADAPT_AVERAGE"


@dataclass(frozen=True, slots=True)
class AdaptSettings:
    """A campaign's adaptive settings, with VICIdial's defaults."""

    method: AdaptMethod = AdaptMethod.HARD_LIMIT
    #: adaptive_dropped_percentage: drops in percent of answers, over the day.
    dropped_percentage: float = 3.0
    #: adaptive_maximum_level.
    maximum_level: float = 3.0
    #: adaptive_latest_server_time, HHMM.
    latest_server_time: int = 2100
    #: adaptive_intensity: -40 (gentler steps) .. 40 (sharper steps).
    intensity: float = 0.0
    #: adaptive_dl_diff_target: agents to keep waiting (< 0) or calls waiting (> 0).
    dl_diff_target: int = 0
    #: auto_dial_level at the start of the day.
    start_level: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropped_percentage <= 100.0:
            raise ValidationFailed("dropped_percentage", "must be 0..100 %")
        if not 1.0 <= self.maximum_level <= 10.0:
            raise ValidationFailed("maximum_level", "must be 1..10")
        if not 0 <= self.latest_server_time <= 2400 or self.latest_server_time % 100 >= 60:
            raise ValidationFailed("latest_server_time", "must be a time HHMM, 0000..2400")
        if not -40.0 <= self.intensity <= 40.0:
            raise ValidationFailed("intensity", "must be -40..40")
        if not 1.0 <= self.start_level <= self.maximum_level:
            raise ValidationFailed("start_level", "must be 1..maximum_level")


@dataclass(frozen=True, slots=True)
class DropCounts:
    """The drop figures the adapt process refreshes once a minute."""

    calls_today: int = 0
    answers_today: int = 0
    drops_today: int = 0
    calls_last_minute: int = 0
    drops_last_minute: int = 0

    @property
    def today_pct(self) -> float:
        return 100.0 * self.drops_today / self.answers_today if self.answers_today else 0.0

    @property
    def last_minute_pct(self) -> float:
        if not self.calls_last_minute:
            return 0.0
        return 100.0 * self.drops_last_minute / self.calls_last_minute


def tapered_rate(latest_hhmm: int, now_hhmm: int) -> float:
    """ADAPT_TAPERED's factor: HHMM difference over 1000, at most 1 (below 0: past the time)."""
    left = latest_hhmm - now_hhmm
    return 1.0 if left > 1000 else left / 1000.0


def differential_level(
    level: float, settings: AdaptSettings, ready: float, waiting: float, agents: float
) -> float:
    """The level the averaged differential suggests, with intensity, capped, at least 1."""
    target = ready - waiting + settings.dl_diff_target
    share = target / agents if target and agents else 0.0
    boost = settings.intensity / 100.0
    step = share * abs(boost - 1.0) if share < 0 else share * (boost + 1.0)
    return max(1.0, min(settings.maximum_level, level * (1.0 + step)))


def drop_rules(level: float, settings: AdaptSettings, drops: DropCounts, now_hhmm: int) -> float:
    """The level after the drop rules, at least 1."""
    if drops.calls_last_minute > 20 and drops.last_minute_pct > 50.0:
        level /= 2.0
    if drops.calls_today > 50 and drops.today_pct > settings.dropped_percentage:
        if settings.method is AdaptMethod.HARD_LIMIT:
            level = 1.0
        elif settings.method is AdaptMethod.AVERAGE:
            level /= 2.0
        else:
            rate = tapered_rate(settings.latest_server_time, now_hhmm)
            level = 1.0 if rate < 0 else level * rate
    return max(1.0, level)


def calls_to_place(level: float, dialable_agents: int, active_calls: int, diff_target: int) -> int:
    """New calls this second: round(level x agents) less the calls already up."""
    goal = round(level * max(0, dialable_agents + diff_target))
    return max(0, goal - active_calls)


@dataclass(frozen=True, slots=True)
class AdaptView:
    """What VICIdial sees of a campaign at one second."""

    #: READY agents (free, not paused, not in wrap-up).
    ready: int
    #: Agents on a call (INCALL).
    incall: int
    #: Agents logged in, whatever their state (paused and wrap-up included).
    logged_in: int
    #: Calls up: ringing, answered and waiting, or with an agent.
    active_calls: int
    #: Answered calls waiting for an agent (LIVE).
    waiting: int


class AdaptivePacer:
    """VICIdial's adapt process and auto-dialer for one campaign, fed once a second."""

    def __init__(self, settings: AdaptSettings) -> None:
        self.settings = settings
        self.level = settings.start_level
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=SAMPLES)
        self._dials: list[float] = []
        self._answers = 0
        self._drops: list[float] = []
        self._counts = DropCounts()
        self._next_adjust = ADJUST_EVERY_S
        self._next_drops = 0.0

    def record_dial(self, at_s: float) -> None:
        self._dials.append(at_s)

    def record_answer(self) -> None:
        self._answers += 1

    def record_drop(self, at_s: float) -> None:
        self._drops.append(at_s)

    def launch(self, now_s: float, now_hhmm: int, view: AdaptView) -> int:
        """Sample, adapt when due, and return the calls to place now."""
        self._samples.append((view.ready, view.waiting, view.logged_in))
        if now_s >= self._next_drops:
            self._counts = self._count_drops(now_s)
            self._next_drops = now_s + DROPS_EVERY_S
        if now_s >= self._next_adjust:
            self.level = self._adjusted(now_hhmm)
            self._next_adjust = now_s + ADJUST_EVERY_S
        dialable = view.ready + view.incall
        return calls_to_place(self.level, dialable, view.active_calls, self.settings.dl_diff_target)

    def _adjusted(self, now_hhmm: int) -> float:
        n = len(self._samples)
        ready = sum(s[0] for s in self._samples) / n
        waiting = sum(s[1] for s in self._samples) / n
        agents = sum(s[2] for s in self._samples) / n
        if agents <= 0:
            return self.level
        level = differential_level(self.level, self.settings, ready, waiting, agents)
        return drop_rules(level, self.settings, self._counts, now_hhmm)

    def _count_drops(self, now_s: float) -> DropCounts:
        minute = now_s - 60.0
        return DropCounts(
            calls_today=len(self._dials),
            answers_today=self._answers,
            drops_today=len(self._drops),
            calls_last_minute=len(self._dials) - bisect_left(self._dials, minute),
            drops_last_minute=len(self._drops) - bisect_left(self._drops, minute),
        )
