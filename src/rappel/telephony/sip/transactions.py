"""RFC 3261 section 17.1 client transactions as sans-I/O state machines.

No sockets, no asyncio, no clock: a transaction takes events (`start`, a received response,
a timer that fired, a transport error) and answers with a list of plain actions (send these
bytes, start or cancel a timer, deliver a response upward, terminated with a reason). The
user-agent core performs the actions; tests feed events and read actions, the way h11 keeps
HTTP a state machine.

Timers follow section 17.1 with T1, T2 and T4 given by `TimerValues`:

- INVITE (figure 5): Timer A retransmits the request over UDP, starting at T1 and doubling;
  Timer B (64*T1) ends a transaction that got no response at all; every non-2xx final is
  ACKed by the transaction itself with the INVITE's branch, and Timer D (32 s on UDP, 0 on
  TCP) absorbs the retransmitted finals. A 2xx ends the transaction at once: ACKing it
  belongs to the dialog.
- non-INVITE (figure 6): Timer E retransmits over UDP (doubling up to T2, then every T2 once
  a provisional came), Timer F (64*T1) times out, Timer K (T4 on UDP, 0 on TCP) absorbs
  retransmitted finals.

Every method accepts any event in any state: an event a state does not expect is ignored
(it returns no actions), so a peer's stray or repeated messages can never break the machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rappel.telephony.sip.messages import (
    SipParseError,
    SipRequest,
    SipResponse,
    cseq_of,
    top_branch,
)

__all__ = [
    "Action",
    "CancelTimer",
    "Deliver",
    "Ending",
    "InviteClientTransaction",
    "NonInviteClientTransaction",
    "Send",
    "StartTimer",
    "State",
    "Terminated",
    "Timer",
    "TimerValues",
    "build_cancel",
    "build_non2xx_ack",
]


class Timer(StrEnum):
    """The section 17.1 client timers."""

    #: INVITE request retransmission over UDP.
    A = "A"
    #: INVITE transaction timeout (64*T1).
    B = "B"
    #: Wait time for retransmitted INVITE finals (32 s UDP, 0 TCP).
    D = "D"
    #: Non-INVITE request retransmission over UDP.
    E = "E"
    #: Non-INVITE transaction timeout (64*T1).
    F = "F"
    #: Wait time for retransmitted non-INVITE finals (T4 UDP, 0 TCP).
    K = "K"


class State(StrEnum):
    """Client transaction states (figures 5 and 6)."""

    #: INVITE sent, nothing heard yet.
    CALLING = "Calling"
    #: Non-INVITE request sent, nothing heard yet.
    TRYING = "Trying"
    #: A provisional response came.
    PROCEEDING = "Proceeding"
    #: A final response came; retransmissions of it are absorbed.
    COMPLETED = "Completed"
    #: Over; every further event is ignored.
    TERMINATED = "Terminated"


class Ending(StrEnum):
    """Why a transaction terminated."""

    #: A final response was delivered (and the absorbing timer, if any, ran out).
    FINAL = "final"
    #: No final response before Timer B or F: the user agent reports 408.
    TIMEOUT = "timeout"
    #: The transport could not send: the user agent reports 503.
    TRANSPORT_ERROR = "transport_error"


@dataclass(frozen=True, slots=True)
class TimerValues:
    """T1, T2 and T4 of section 17.1.1.1 in seconds; tests shorten T1 to run fast."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    #: Timer D on an unreliable transport ("at least 32 seconds").
    d_unreliable: float = 32.0


@dataclass(frozen=True, slots=True)
class Send:
    """Send these bytes to the transaction's next hop."""

    data: bytes


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Start (or restart) `timer`; call `timer_fired(timer)` after `delay_s` seconds."""

    timer: Timer
    delay_s: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Stop `timer` if it is running."""

    timer: Timer


@dataclass(frozen=True, slots=True)
class Deliver:
    """Pass this response up to the transaction user."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class Terminated:
    """The transaction is over; forget it."""

    reason: Ending


Action = Send | StartTimer | CancelTimer | Deliver | Terminated


def build_non2xx_ack(request: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a non-2xx final (section 17.1.1.3): same branch, Request-URI and routes."""
    ack = SipRequest(method="ACK", uri=request.uri)
    ack.add_header("Via", request.headers.get("via")[0])
    ack.set_header("Max-Forwards", "70")
    for route in request.headers.get("route"):
        ack.add_header("Route", route)
    ack.set_header("From", request.get_header("from") or "")
    ack.set_header("To", response.get_header("to") or "")
    ack.set_header("Call-ID", request.call_id or "")
    ack.set_header("CSeq", f"{cseq_of(request)[0]} ACK")
    return ack


def build_cancel(invite: SipRequest) -> SipRequest:
    """The CANCEL for a pending INVITE (section 9.1): its Via, Request-URI, routes and tags."""
    cancel = SipRequest(method="CANCEL", uri=invite.uri)
    cancel.add_header("Via", invite.headers.get("via")[0])
    cancel.set_header("Max-Forwards", "70")
    for route in invite.headers.get("route"):
        cancel.add_header("Route", route)
    for name in ("From", "To", "Call-ID"):
        cancel.set_header(name, invite.get_header(name) or "")
    cancel.set_header("CSeq", f"{cseq_of(invite)[0]} CANCEL")
    return cancel


class _ClientTransaction:
    """What both kinds share: the request, its branch, the state, the end of life."""

    def __init__(
        self, request: SipRequest, *, reliable: bool, timers: TimerValues | None = None
    ) -> None:
        self.request = request
        self.branch = top_branch(request)
        self.method = request.method
        self.reliable = reliable
        self.timers = timers or TimerValues()
        self.state = State.TERMINATED
        self._started = False
        self._interval = self.timers.t1

    def matches(self, response: SipResponse) -> bool:
        """Section 17.1.3: same top-Via branch and same CSeq method."""
        try:
            method = cseq_of(response)[1]
        except SipParseError:
            return False
        return top_branch(response) == self.branch and method == self.method

    def transport_error(self) -> list[Action]:
        """The transport failed to send a request or an ACK (section 17.1.4)."""
        if self.state == State.TERMINATED:
            return []
        return self._terminate(Ending.TRANSPORT_ERROR)

    def abandon(self) -> list[Action]:
        """The transaction user gives up on it (section 9.1: no final 64*T1 after a CANCEL)."""
        if self.state == State.TERMINATED:
            return []
        return self._terminate(Ending.TIMEOUT)

    def _terminate(self, reason: Ending) -> list[Action]:
        self.state = State.TERMINATED
        cancels: list[Action] = [CancelTimer(t) for t in Timer]
        return [*cancels, Terminated(reason)]

    def _begin(self, first: State, retransmit: Timer, timeout: Timer) -> list[Action]:
        if self._started:
            return []
        self._started = True
        self.state = first
        actions: list[Action] = [Send(bytes(self.request))]
        if not self.reliable:
            actions.append(StartTimer(retransmit, self._interval))
        actions.append(StartTimer(timeout, 64 * self.timers.t1))
        return actions


class InviteClientTransaction(_ClientTransaction):
    """The INVITE client transaction of section 17.1.1 (figure 5)."""

    def __init__(
        self, request: SipRequest, *, reliable: bool, timers: TimerValues | None = None
    ) -> None:
        super().__init__(request, reliable=reliable, timers=timers)
        self.ack: SipRequest | None = None

    def start(self) -> list[Action]:
        """Send the INVITE and start Timers A (UDP only) and B."""
        return self._begin(State.CALLING, Timer.A, Timer.B)

    def receive(self, response: SipResponse) -> list[Action]:
        """A response matched to this transaction arrived."""
        status = response.status_code
        if self.state in (State.CALLING, State.PROCEEDING):
            if 100 <= status < 200:
                self.state = State.PROCEEDING
                return [CancelTimer(Timer.A), CancelTimer(Timer.B), Deliver(response)]
            if 200 <= status < 300:
                return [Deliver(response), *self._terminate(Ending.FINAL)]
            if 300 <= status < 700:
                return self._complete(response)
        if self.state == State.COMPLETED and 300 <= status < 700 and self.ack is not None:
            return [Send(bytes(self.ack))]
        return []

    def timer_fired(self, timer: Timer) -> list[Action]:
        """A timer this transaction started has fired."""
        if timer == Timer.A and self.state == State.CALLING:
            self._interval *= 2
            return [Send(bytes(self.request)), StartTimer(Timer.A, self._interval)]
        if timer == Timer.B and self.state == State.CALLING:
            return self._terminate(Ending.TIMEOUT)
        if timer == Timer.D and self.state == State.COMPLETED:
            return self._terminate(Ending.FINAL)
        return []

    def _complete(self, response: SipResponse) -> list[Action]:
        self.state = State.COMPLETED
        self.ack = build_non2xx_ack(self.request, response)
        actions: list[Action] = [
            CancelTimer(Timer.A),
            CancelTimer(Timer.B),
            Send(bytes(self.ack)),
            Deliver(response),
        ]
        if self.reliable:
            return actions + self._terminate(Ending.FINAL)
        return [*actions, StartTimer(Timer.D, self.timers.d_unreliable)]


class NonInviteClientTransaction(_ClientTransaction):
    """The non-INVITE client transaction of section 17.1.2 (figure 6): BYE, CANCEL, OPTIONS..."""

    def start(self) -> list[Action]:
        """Send the request and start Timers E (UDP only) and F."""
        return self._begin(State.TRYING, Timer.E, Timer.F)

    def receive(self, response: SipResponse) -> list[Action]:
        """A response matched to this transaction arrived."""
        status = response.status_code
        if self.state not in (State.TRYING, State.PROCEEDING) or not 100 <= status < 700:
            return []
        if status < 200:
            self.state = State.PROCEEDING
            return [Deliver(response)]
        self.state = State.COMPLETED
        actions: list[Action] = [CancelTimer(Timer.E), CancelTimer(Timer.F), Deliver(response)]
        if self.reliable:
            return actions + self._terminate(Ending.FINAL)
        return [*actions, StartTimer(Timer.K, self.timers.t4)]

    def timer_fired(self, timer: Timer) -> list[Action]:
        """A timer this transaction started has fired."""
        if timer == Timer.E and self.state in (State.TRYING, State.PROCEEDING):
            if self.state == State.TRYING:
                self._interval = min(2 * self._interval, self.timers.t2)
            else:
                self._interval = self.timers.t2
            return [Send(bytes(self.request)), StartTimer(Timer.E, self._interval)]
        if timer == Timer.F and self.state in (State.TRYING, State.PROCEEDING):
            return self._terminate(Ending.TIMEOUT)
        if timer == Timer.K and self.state == State.COMPLETED:
            return self._terminate(Ending.FINAL)
        return []
