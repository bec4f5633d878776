"""Realistic days for the what-if simulator. Pure, no I/O.

A stationary day (the same answer rate and handle times from the first minute
to the last, every agent there all day) flatters any pacing. Real days are
not like that; each scenario here changes one thing, and `full-day` all of
them at once. Times are seconds since the day starts (10:00 by default);
factors multiply the day's base answer rate or handle times.

* `evening-peak`: the answer rate follows the hour: low over lunch, a jump at
  18:00 when people get home (x 1.6 of the base rate).
* `list-decay`: the list is sorted best first; the answer rate of the n-th
  fresh customer decays from x 1.2 towards x 0.45 as the good numbers are used.
* `agent-waves`: agents log in in waves (10:00, 10:30, 11:00, 14:00), go to
  lunch in two waves and leave in two (16:00, 18:30).
* `handle-drift`: talk and wrap-up times grow through the day from x 0.8 to x 1.3.
* `callback-burst`: web callbacks, a trickle all day and a burst at 14:00,
  taken by the same agents before campaign calls (agent-first).
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from rappel.domain.errors import ValidationFailed

#: (hour of day, answer factor) knots, linear in between; flat outside.
_HOURLY_ANSWER = (
    (10.0, 0.85),
    (12.0, 0.8),
    (13.0, 0.65),
    (14.0, 0.75),
    (16.0, 0.9),
    (17.5, 1.0),
    (18.0, 1.6),
    (20.0, 1.5),
)
_DECAY_FLOOR, _DECAY_SPAN = 0.45, 0.75
#: Fresh customers per agent over which list quality falls by 1/e.
_DECAY_PER_AGENT = 300.0
_DRIFT_FROM, _DRIFT_TO = 0.8, 1.3
#: Shift groups: (share of the team, shift (from, to) and lunch (from, to) in hours of day).
_SHIFTS = (
    (0.3, (10.0, 16.0), (12.5, 13.5)),
    (0.3, (10.5, 18.5), (13.5, 14.5)),
    (0.2, (11.0, 20.0), (15.0, 15.5)),
    (0.2, (14.0, 20.0), None),
)
#: Web callbacks per agent and hour: all day, and during the burst.
_CALLBACK_TRICKLE = 0.2
_CALLBACK_BURST = 1.5
_BURST_HOURS = (14.0, 15.0)

FEATURES = ("evening-peak", "list-decay", "agent-waves", "handle-drift", "callback-burst")
NAMES = ("stationary", *FEATURES, "full-day")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One kind of day: which of the realistic features it has."""

    name: str = "stationary"
    #: Hour of day the day starts, for the hourly curves and VICIdial's taper.
    start_hour: float = 10.0

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise ValidationFailed("scenario", f"unknown scenario; one of {', '.join(NAMES)}")
        if not 0.0 <= self.start_hour < 24.0:
            raise ValidationFailed("start_hour", "start hour must be 0..24")

    def has(self, feature: str) -> bool:
        return self.name == feature or (self.name == "full-day" and feature in FEATURES)

    def hour(self, t_s: float) -> float:
        return self.start_hour + t_s / 3600.0

    def hhmm(self, t_s: float) -> int:
        """Clock time as VICIdial's HHMM integer."""
        minutes = int(self.hour(t_s) * 60.0) % (24 * 60)
        return 100 * (minutes // 60) + minutes % 60

    def answer_factor(self, t_s: float) -> float:
        return hourly_answer_factor(self.hour(t_s)) if self.has("evening-peak") else 1.0

    def list_quality(self, customer: int, team: int) -> float:
        if not self.has("list-decay"):
            return 1.0
        return _DECAY_FLOOR + _DECAY_SPAN * math.exp(-customer / (_DECAY_PER_AGENT * team))

    def handle_factor(self, t_s: float, day_s: float) -> float:
        if not self.has("handle-drift"):
            return 1.0
        return _DRIFT_FROM + (_DRIFT_TO - _DRIFT_FROM) * min(1.0, max(0.0, t_s / day_s))

    def shifts(self, team: int, day_s: float) -> list[list[tuple[float, float]]]:
        """Per agent, the (login, logout) intervals in seconds of the day."""
        if not self.has("agent-waves"):
            return [[(0.0, day_s)] for _ in range(team)]
        return [self._intervals(_group_of(k, team), day_s) for k in range(team)]

    def callbacks(self, seed: int, team: int, day_s: float) -> list[float]:
        """Arrival times (seconds of the day) of web callbacks, a Poisson stream."""
        if not self.has("callback-burst"):
            return []
        rng = random.Random(f"callbacks:{seed}")
        burst = tuple((h - self.start_hour) * 3600.0 for h in _BURST_HOURS)
        peak = (_CALLBACK_TRICKLE + _CALLBACK_BURST) * team / 3600.0
        arrivals: list[float] = []
        t = 0.0
        while True:
            t += rng.expovariate(peak)  # thinning: accept at the rate of the moment
            if t >= day_s:
                return arrivals
            rate = _CALLBACK_TRICKLE + (_CALLBACK_BURST if burst[0] <= t < burst[1] else 0.0)
            if rng.random() * (_CALLBACK_TRICKLE + _CALLBACK_BURST) < rate:
                arrivals.append(t)

    def _intervals(self, group: int, day_s: float) -> list[tuple[float, float]]:
        _, (start, end), lunch = _SHIFTS[group]
        cuts = [start, *(lunch or ()), end]
        seconds = [min(day_s, max(0.0, (h - self.start_hour) * 3600.0)) for h in cuts]
        pairs = list(zip(seconds[::2], seconds[1::2], strict=True))
        return [(a, b) for a, b in pairs if b > a]


def hourly_answer_factor(hour: float) -> float:
    """The answer factor at `hour` of day (evening peak), linear between the knots."""
    hours = [h for h, _ in _HOURLY_ANSWER]
    k = bisect_right(hours, hour)
    if k == 0:
        return _HOURLY_ANSWER[0][1]
    if k == len(hours):
        return _HOURLY_ANSWER[-1][1]
    (h0, f0), (h1, f1) = _HOURLY_ANSWER[k - 1], _HOURLY_ANSWER[k]
    return f0 + (f1 - f0) * (hour - h0) / (h1 - h0)


def _group_of(agent: int, team: int) -> int:
    """The shift group of the `agent`-th agent: groups take their share of the team."""
    edge = 0.0
    for group, (share, _, _) in enumerate(_SHIFTS):
        edge += share
        if agent < round(edge * team):
            return group
    return len(_SHIFTS) - 1
