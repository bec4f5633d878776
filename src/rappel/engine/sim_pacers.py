"""The pacing strategies the what-if simulator can play: Rappel's and VICIdial's.

Both see the same day through `Snapshot` and hear the same call results, so a
comparison is one seed, one list, one team, two algorithms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rappel.domain.errors import ValidationFailed
from rappel.engine.pacing import (
    AbandonController,
    BusyAgent,
    DialingMode,
    LiveEstimates,
    PacingInput,
    decide,
)
from rappel.engine.vicidial import AdaptivePacer, AdaptMethod, AdaptSettings, AdaptView

#: `--pacing` names: Rappel's own (the campaign's dialing mode) and VICIdial's methods.
RAPPEL = "rappel"
VICIDIAL = {
    "vicidial-hard-limit": AdaptMethod.HARD_LIMIT,
    "vicidial-tapered": AdaptMethod.TAPERED,
    "vicidial-average": AdaptMethod.AVERAGE,
}
PACINGS = (RAPPEL, *VICIDIAL)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The campaign at one pacing tick."""

    now_s: float
    now_hhmm: int
    #: Free agents, less those a waiting callback will take.
    free: int
    #: Agents on a call or in wrap-up who stay logged in after it.
    busy: Sequence[BusyAgent]
    #: Agents on a call (campaign or callback).
    incall: int
    logged_in: int
    ringing_s: Sequence[float]
    #: Answered campaign calls waiting for an agent.
    waiting: int
    #: Callbacks waiting for an agent.
    callbacks_waiting: int
    #: Campaign calls with an agent.
    connected: int


class Pacer(Protocol):
    """How many calls to launch now; told what happened to the calls launched."""

    label: str

    def launch(self, snap: Snapshot) -> int: ...
    def dialed(self, at_s: float) -> None: ...
    def resolved(self, at_s: float, ring_s: float, answered: bool) -> None: ...
    def abandoned(self, at_s: float, counted: bool) -> None: ...
    def handled(self, talk_s: float | None, wrap_s: float | None) -> None: ...
    @property
    def ratio_pct(self) -> float: ...


class RappelPacer:
    """Rappel's `decide` with its `LiveEstimates` and `AbandonController`."""

    def __init__(self, mode: DialingMode, target_pct: float, ratio_pct: float, fp_pct: float,
                 connect_limit_s: float) -> None:  # fmt: skip
        self.label = mode.value
        self.mode = mode
        self.estimates = LiveEstimates()
        # AMD false positives count as abandons but the dialer never sees which
        # detections they were: twice the expected share is set aside from the
        # target, as an hour's count of them is a small Poisson number.
        self.controller = AbandonController(max(0.0, target_pct - 2.0 * fp_pct), ratio_pct)
        self.connect_limit_s = connect_limit_s

    @property
    def ratio_pct(self) -> float:
        return self.controller.increase_predictive_ratio_pct

    def launch(self, snap: Snapshot) -> int:
        t = snap.now_s
        predictive = self.mode is DialingMode.PREDICTIVE
        state = PacingInput(
            mode=self.mode,
            free_agents=snap.free,
            busy_agents=snap.busy if predictive else (),
            ringing_s=snap.ringing_s,
            waiting_answered=snap.waiting,
            abandon_target_pct=self.controller.model_target_pct(t) if predictive else 0.0,
            abandon_room=self.controller.room(t) if predictive else None,
            increase_predictive_ratio_pct=self.controller.tune(t) if predictive else 0.0,
            connect_limit_s=self.connect_limit_s,
        )
        decision = decide(state, self.estimates)
        self.controller.record_decision(decision)
        return decision.launch

    def dialed(self, at_s: float) -> None:
        pass

    def resolved(self, at_s: float, ring_s: float, answered: bool) -> None:
        self.estimates.record_dial(ring_s, answered)
        if answered:
            self.controller.record_answered(at_s)

    def abandoned(self, at_s: float, counted: bool) -> None:
        if counted:
            self.controller.record_abandoned(at_s)

    def handled(self, talk_s: float | None, wrap_s: float | None) -> None:
        if talk_s is not None:
            self.estimates.record_talk(talk_s)
        if wrap_s is not None:
            self.estimates.record_wrap(wrap_s)


class VicidialPacer:
    """VICIdial's adaptive methods (`AdaptivePacer`) behind the same interface."""

    def __init__(self, settings: AdaptSettings) -> None:
        self.label = settings.method.value
        self.adapt = AdaptivePacer(settings)

    @property
    def ratio_pct(self) -> float:
        """The dial level at the end, as extra calls per agent in percent."""
        return 100.0 * (self.adapt.level - 1.0)

    def launch(self, snap: Snapshot) -> int:
        ready = snap.free
        view = AdaptView(
            ready=ready,
            incall=snap.incall,
            logged_in=snap.logged_in,
            # Waiting callbacks are inbound calls in the queue: VICIdial counts them as up.
            active_calls=len(snap.ringing_s) + snap.waiting + snap.connected,
            waiting=snap.waiting,
        )
        return self.adapt.launch(snap.now_s, snap.now_hhmm, view)

    def dialed(self, at_s: float) -> None:
        self.adapt.record_dial(at_s)

    def resolved(self, at_s: float, ring_s: float, answered: bool) -> None:
        if answered:
            self.adapt.record_answer()

    def abandoned(self, at_s: float, counted: bool) -> None:
        # VICIdial logs an AMD hang-up as AA, not as a DROP: its drop rate never sees them.
        if counted:
            self.adapt.record_drop(at_s)

    def handled(self, talk_s: float | None, wrap_s: float | None) -> None:
        pass


def make_pacer(pacing: str, mode: DialingMode, target_pct: float, ratio_pct: float,
               fp_pct: float, connect_limit_s: float, adapt: AdaptSettings) -> Pacer:  # fmt: skip
    """The pacer named `pacing` (one of `PACINGS`)."""
    if pacing == RAPPEL:
        return RappelPacer(mode, target_pct, ratio_pct, fp_pct, connect_limit_s)
    method = VICIDIAL.get(pacing)
    if method is None:
        raise ValidationFailed("pacing", f"unknown pacing; one of {', '.join(PACINGS)}")
    return VicidialPacer(adapt_settings(adapt, method, target_pct))


def adapt_settings(base: AdaptSettings, method: AdaptMethod, target_pct: float) -> AdaptSettings:
    return AdaptSettings(
        method=method,
        dropped_percentage=target_pct,
        maximum_level=base.maximum_level,
        latest_server_time=base.latest_server_time,
        intensity=base.intensity,
        dl_diff_target=base.dl_diff_target,
        start_level=base.start_level,
    )
