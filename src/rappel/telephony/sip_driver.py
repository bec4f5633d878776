"""`sip`: the Telephony port over SIP, with every call's audio anchored on rtpengine.

Rappel is a third-party call controller (RFC 3725): it places each leg itself
(the customer through the trunk, the agent on the agent's own phone), offers
each far end an SDP that points at rtpengine, and joins two answered legs by
re-pointing the media at rtpengine, never by asking the carrier for a
re-INVITE. The signalling is `rappel.telephony.sip` (a user agent client);
the media control is `rappel.telephony.rtpengine`. This module turns their
signals into the port's `CallEvent`s:

* 180/183 -> RINGING; 2xx -> ANSWERED (after rtpengine has the far end's SDP);
* a final answer >= 300 -> BUSY (486, 600), NO_ANSWER (408, 480, 487 and the
  ring timeout, which CANCELs), else FAILED; the SIP status rides on the event
  so the engine records the seed's call_result and keeps the status;
* BYE from the far end, a failed session refresh or our own hang-up -> HUNGUP.

Limits: calls through the trunk respect `TrunkLimits` (a refused call raises
`TrunkBusy` and nothing is dialled). Agents' SIP URIs are called directly.
Health: the trunk is probed with OPTIONS; `TrunkHealth` tells /readyz and
/metrics what the last probe saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rappel.clock import Clock
from rappel.domain.errors import NotFound, ValidationFailed
from rappel.telephony.media import MediaAnchor
from rappel.telephony.port import (
    CallEvent,
    CallEventKind,
    CallState,
    DuplicateCall,
    number_digits,
)
from rappel.telephony.prompts import PromptLibrary
from rappel.telephony.sip.useragent import (
    Answered,
    Ended,
    Failed,
    OutgoingCall,
    Provisional,
    UserAgent,
)
from rappel.telephony.trunk import TrunkHealth, TrunkLimits

log = logging.getLogger(__name__)

_BUSY = frozenset({486, 600})
_NO_ANSWER = frozenset({408, 480, 487})
#: How many finished call ids are remembered to refuse a duplicate originate.
_REMEMBERED = 100_000


@dataclass
class _Leg:
    call_id: str
    call: OutgoingCall
    via_trunk: bool
    answered: bool = False
    over: bool = False
    ringing: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def trunk_target(trunk: str, digits: str) -> str:
    """The Request-URI of a customer's number on the trunk: the digits become the user part.

    `sip:trunk.example.net:5060;transport=tcp` + 16505551212 ->
    `sip:16505551212@trunk.example.net:5060;transport=tcp`.
    """
    scheme, sep, rest = trunk.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips") or not rest:
        raise ValidationFailed("RAPPEL_SIP_TRUNK", f"{trunk!r} is not a SIP URI")
    host = rest.split("@", 1)[-1]
    return f"{scheme.lower()}:{digits}@{host}"


class SipTelephony:
    """The `sip` driver (see the module doc). One per engine, on the engine's event loop."""

    def __init__(
        self,
        clock: Clock,
        ua: UserAgent,
        media: MediaAnchor,
        *,
        trunk: str,
        limits: TrunkLimits,
        prompts: PromptLibrary | None = None,
        health: TrunkHealth | None = None,
        options_interval_s: float = 30.0,
    ) -> None:
        self._clock = clock
        self._ua = ua
        self._media = media
        self._trunk = trunk
        self._limits = limits
        self._prompts = prompts or PromptLibrary()
        self.health = health or TrunkHealth()
        self.health.uri = trunk
        self._options_interval_s = options_interval_s
        self._legs: dict[str, _Leg] = {}
        #: Finished call ids -> whether they were answered.
        self._finished: OrderedDict[str, bool] = OrderedDict()
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._probe: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self._ua.start()
        if not await self._media.ping():
            log.error("rtpengine does not answer; calls will fail until it does")
        if self._options_interval_s > 0:
            self._probe = asyncio.create_task(self._probe_trunk(), name="sip-trunk-options")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        for leg in list(self._legs.values()):
            with contextlib.suppress(Exception):
                await leg.call.hangup()
        tasks = [t for leg in self._legs.values() for t in leg.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._ua.close()

    # -- the port ----------------------------------------------------------------------

    async def originate(
        self,
        call_id: str,
        number: str,
        caller_id: str,
        timeout_s: float,
        detect_machine: bool,
    ) -> None:
        if call_id in self._legs or call_id in self._finished:
            raise DuplicateCall(f"call {call_id} was already placed")
        target, via_trunk = self._target(number)
        if via_trunk:
            self._limits.take(self._clock.monotonic())
            self.health.active_calls = self._limits.active
        try:
            offer = await self._media.open_leg(call_id)
        except Exception as exc:
            self._release(via_trunk)
            log.error("rtpengine refused a leg for %s: %s", call_id, exc)
            self._finished[call_id] = False
            self._emit(call_id, CallEventKind.FAILED, f"media: {exc}"[:200])
            return
        from_user = number_digits(caller_id) or "anonymous"
        try:
            call = self._ua.call(target, from_user=from_user, sdp_offer=offer)
        except Exception as exc:
            # A target the SIP layer cannot reach (an unusable URI): nothing was sent.
            self._release(via_trunk)
            self._finished[call_id] = False
            await self._close_media(call_id)
            self._emit(call_id, CallEventKind.FAILED, f"target: {exc}"[:200], 400)
            return
        leg = self._legs[call_id] = _Leg(call_id, call, via_trunk)
        leg.tasks.append(
            asyncio.create_task(self._follow(leg, timeout_s), name=f"sip-leg-{call_id}")
        )

    async def bridge(self, call_id_a: str, call_id_b: str) -> None:
        agent, customer = self._up(call_id_a), self._up(call_id_b)
        sdp = await self._media.join(customer.call_id, agent.call_id)
        if sdp is not None:
            await agent.call.reinvite(sdp)

    async def park(self, call_id: str) -> None:
        leg = self._up(call_id)
        sdp = await self._media.unjoin(leg.call_id)
        if sdp is not None:
            await leg.call.reinvite(sdp)

    async def play_ivr(self, call_id: str, script: str) -> None:
        leg = self._up(call_id)
        path = self._prompts.path_of(script)
        if path is None:
            log.warning("no prompt file for IVR script %r; the call goes on without it", script)
            self._emit(call_id, CallEventKind.PROMPT_DONE, script)
            return
        seconds = await self._media.play(call_id, str(path))
        leg.tasks.append(
            asyncio.create_task(self._prompt_done(call_id, script, seconds), name="sip-prompt")
        )

    async def hangup(self, call_id: str) -> None:
        leg = self._legs.get(call_id)
        if leg is None:
            if call_id in self._finished:
                return
            raise NotFound(f"no call {call_id}")
        if not leg.over:
            await leg.call.hangup()

    async def call_state(self, call_id: str) -> CallState:
        leg = self._legs.get(call_id)
        if leg is not None:
            return CallState.LIVE if leg.answered else CallState.RINGING
        if call_id in self._finished:
            return (
                CallState.ENDED_ANSWERED if self._finished[call_id] else CallState.ENDED_UNANSWERED
            )
        # Another process's call (a worker that died): its dialog is gone with it. End the
        # media it anchored so the call cannot go on unheard; what the customer did is unknown.
        try:
            if await self._media.exists(call_id):
                log.warning("ending the media of %s, left by another worker", call_id)
                await self._media.close_leg(call_id)
        except Exception as exc:
            log.warning("rtpengine could not be asked about %s: %s", call_id, exc)
        return CallState.UNKNOWN

    async def events(self) -> AsyncIterator[CallEvent]:
        while True:
            yield await self._events.get()

    # -- inside ------------------------------------------------------------------------

    def _target(self, number: str) -> tuple[str, bool]:
        if number.lower().startswith(("sip:", "sips:")):
            return number, False
        digits = number_digits(number)
        if not digits:
            raise ValidationFailed("number", f"{number!r} is neither a number nor a SIP URI")
        return trunk_target(self._trunk, digits), True

    def _up(self, call_id: str) -> _Leg:
        leg = self._legs.get(call_id)
        if leg is None:
            raise NotFound(f"no call {call_id}")
        if not leg.answered or leg.over:
            raise ValidationFailed("call_id", f"call {call_id} is not answered")
        return leg

    def _emit(
        self, call_id: str, kind: CallEventKind, cause: str = "", status: int | None = None
    ) -> None:
        self._events.put_nowait(CallEvent(call_id, kind, self._clock.now(), cause, status))

    def _release(self, via_trunk: bool) -> None:
        if via_trunk:
            self._limits.release()
            self.health.active_calls = self._limits.active

    async def _follow(self, leg: _Leg, timeout_s: float) -> None:
        """Turn one call's SIP signals into events until it is over; then free its media."""
        signals: asyncio.Queue[object] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for signal in leg.call.events():
                    signals.put_nowait(signal)
            finally:
                signals.put_nowait(None)

        leg.tasks.append(asyncio.create_task(pump(), name=f"sip-signals-{leg.call_id}"))
        ring_until = self._clock.monotonic() + timeout_s
        timed_out = False
        try:
            while True:
                wait = None if leg.answered or timed_out else ring_until - self._clock.monotonic()
                try:
                    signal = await asyncio.wait_for(
                        signals.get(), None if wait is None else max(wait, 0.0)
                    )
                except TimeoutError:
                    timed_out = True
                    await leg.call.hangup()  # CANCEL; a 487 (or a late 200 then BYE) follows
                    continue
                if signal is None:
                    if not leg.over:
                        self._end(leg, CallEventKind.FAILED, "signalling ended")
                    return
                if await self._on_signal(leg, signal, timed_out):
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s failed inside the driver", leg.call_id)
            if not leg.over:
                self._end(leg, CallEventKind.FAILED, "driver error")
            with contextlib.suppress(Exception):
                await leg.call.hangup()
        finally:
            await self._free(leg)

    async def _on_signal(self, leg: _Leg, signal: object, timed_out: bool) -> bool:
        """Handle one signal; True when the leg is over."""
        if isinstance(signal, Provisional):
            if signal.status in (180, 183) and not leg.ringing and not leg.answered:
                leg.ringing = True
                self._emit(leg.call_id, CallEventKind.RINGING, f"{signal.status} {signal.reason}")
            return False
        if isinstance(signal, Answered):
            if timed_out:
                # Answered as our CANCEL crossed it: the call is hung up, it rang out.
                await leg.call.hangup()
                self._end(leg, CallEventKind.NO_ANSWER, "ring timeout", 487)
                return True
            try:
                await self._media.leg_answered(leg.call_id, signal.sdp)
            except Exception as exc:
                log.error("rtpengine refused the answer of %s: %s", leg.call_id, exc)
                await leg.call.hangup()
                self._end(leg, CallEventKind.FAILED, f"media: {exc}"[:200])
                return True
            leg.answered = True
            self._emit(leg.call_id, CallEventKind.ANSWERED)
            return False
        if isinstance(signal, Failed):
            status = 487 if timed_out else signal.status
            if leg.answered:
                self._end(leg, CallEventKind.HUNGUP, signal.reason or "failed")
            elif status in _BUSY:
                self._end(leg, CallEventKind.BUSY, signal.reason, status)
            elif status in _NO_ANSWER:
                self._end(leg, CallEventKind.NO_ANSWER, signal.reason, status)
            else:
                self._end(leg, CallEventKind.FAILED, signal.reason, status)
            return True
        if isinstance(signal, Ended):
            if leg.answered:
                self._end(leg, CallEventKind.HUNGUP, signal.by)
            else:
                self._end(leg, CallEventKind.FAILED, signal.reason or signal.by)
            return True
        return False

    def _end(
        self, leg: _Leg, kind: CallEventKind, cause: str = "", status: int | None = None
    ) -> None:
        leg.over = True
        self._emit(leg.call_id, kind, cause, status)

    async def _free(self, leg: _Leg) -> None:
        self._legs.pop(leg.call_id, None)
        self._finished[leg.call_id] = leg.answered
        while len(self._finished) > _REMEMBERED:
            self._finished.popitem(last=False)
        self._release(leg.via_trunk)
        await self._close_media(leg.call_id)

    async def _close_media(self, call_id: str) -> None:
        try:
            await self._media.close_leg(call_id)
        except Exception as exc:
            log.warning("rtpengine did not delete %s: %s", call_id, exc)

    async def _prompt_done(self, call_id: str, script: str, seconds: float) -> None:
        await self._clock.sleep(seconds)
        leg = self._legs.get(call_id)
        if leg is not None and not leg.over:
            self._emit(call_id, CallEventKind.PROMPT_DONE, script)

    async def _probe_trunk(self) -> None:
        while True:
            try:
                status = await self._ua.options(self._trunk, timeout_s=5.0)
            except Exception as exc:
                log.warning("OPTIONS to the trunk failed: %s", exc)
                status = None
            was = self.health.alive
            self.health.record(status, self._clock.now())
            if was is not False and status is None:
                log.error("the trunk %s does not answer OPTIONS", self._trunk)
            elif was is False and status is not None:
                log.info("the trunk %s answers again (%s)", self._trunk, status)
            await self._clock.sleep(self._options_interval_s)
