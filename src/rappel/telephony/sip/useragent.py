"""The user-agent core: drives sans-I/O transactions from asyncio and routes messages.

`UserAgent` owns the transport, the table of client transactions (keyed by branch and
method, section 17.1.3), their timers, and the calls it placed. It answers what reaches it
outside a transaction: requests inside a call's dialog go to that call; requests outside any
dialog get 481 (they name a dialog we do not have), 405 (a method we know but do not serve
there) or 501 (a method we do not know); OPTIONS gets 200. A datagram that does not parse is
dropped with a log line. `OutgoingCall` (in `calls`) is what the telephony driver uses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from rappel.telephony.sip.calls import ALLOWED_METHODS, OutgoingCall, Transaction
from rappel.telephony.sip.messages import (
    Hop,
    SipParseError,
    SipRequest,
    SipResponse,
    cseq_of,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    next_hop,
    parse_message,
    tag_of,
    top_branch,
)
from rappel.telephony.sip.signals import (
    Answered,
    CallSignal,
    Ended,
    Failed,
    Provisional,
    SipCallError,
)
from rappel.telephony.sip.transactions import (
    Action,
    CancelTimer,
    Deliver,
    Ending,
    InviteClientTransaction,
    NonInviteClientTransaction,
    Send,
    StartTimer,
    Terminated,
    Timer,
    TimerValues,
)
from rappel.telephony.sip.transport import Peer, SipTransport, TransportError

__all__ = [
    "Answered",
    "CallSignal",
    "Ended",
    "Failed",
    "OutgoingCall",
    "Provisional",
    "SipCallError",
    "SipConfig",
    "UserAgent",
]

logger = logging.getLogger(__name__)

#: Methods a peer may send that we recognise but do not serve outside a dialog (405).
KNOWN_METHODS = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}
)  # fmt: skip
#: How long `close` waits for BYEs and CANCELs to be answered before it stops listening.
CLOSE_WAIT_S = 5.0
#: How long a response we sent is kept to answer a retransmitted request (64*T1 default).
RESPONSE_CACHE_S = 32.0


@dataclass(frozen=True)
class SipConfig:
    """How Rappel's user agent listens, names itself and authenticates."""

    listen_host: str = "127.0.0.1"
    #: UDP and TCP listen here; 0 picks any free port (`UserAgent.bound` tells which).
    listen_port: int = 5060
    #: Default transport for targets that name none.
    transport: str = "udp"
    #: Public address for Contact and Via behind NAT; defaults to the listen address.
    contact_host: str | None = None
    contact_port: int | None = None
    #: Digest credentials answering 401 and 407 challenges.
    username: str = ""
    password: str = ""
    #: RFC 4028 session timer: we offer Session-Expires with refresher=uac and refresh at half.
    session_expires_s: int = 90
    min_se_s: int = 90
    user_agent: str = "Rappel"
    #: RFC 3261 T1 in seconds (tests shorten it so Timer B fires in seconds).
    t1_s: float = 0.5


class _Running:
    """One client transaction in flight: its timers and the future of its final answer."""

    def __init__(self, tx: Transaction, hop: Hop, on_provisional: Callable[[SipResponse], None]):
        self.tx = tx
        self.hop = hop
        self.on_provisional = on_provisional
        self.timers: dict[Timer, asyncio.TimerHandle] = {}
        self.final: asyncio.Future[SipResponse | Ending] = (
            asyncio.get_running_loop().create_future()
        )


class UserAgent:
    """Rappel's SIP user agent: places calls and sends OPTIONS; see the module docstring."""

    def __init__(self, config: SipConfig) -> None:
        if config.transport not in ("udp", "tcp"):
            raise ValueError(f"SIP transport must be udp or tcp, not {config.transport!r}")
        self.config = config
        self.timers = TimerValues(t1=config.t1_s)
        self.transport = SipTransport(self._on_bytes)
        self.bound: tuple[str, int] = (config.listen_host, config.listen_port)
        self._running: dict[tuple[str, str], _Running] = {}
        self._calls: dict[str, OutgoingCall] = {}
        self._answered: dict[tuple[str, str, str], tuple[bytes, Peer]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind UDP and TCP on the configured address."""
        self.bound = await self.transport.start(self.config.listen_host, self.config.listen_port)

    async def close(self) -> None:
        """Hang up every call (waiting for the far ends at most `CLOSE_WAIT_S`), then stop."""
        hangups = [self.spawn(call.hangup()) for call in list(self._calls.values())]
        if hangups:
            await asyncio.wait(hangups, timeout=CLOSE_WAIT_S)
        for running in list(self._running.values()):
            self._stop_timers(running)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()

    @property
    def contact_host(self) -> str:
        return self.config.contact_host or self.bound[0]

    @property
    def contact_port(self) -> int:
        return self.config.contact_port or self.bound[1]

    # -- what the driver calls -------------------------------------------------------------

    def call(
        self,
        target: str,
        *,
        from_user: str,
        sdp_offer: bytes,
        proxy: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> OutgoingCall:
        """Start an INVITE to `target` (through `proxy` when given); see `OutgoingCall`.

        Raises `SipParseError` for a target or proxy that is not a reachable sip: URI and
        `ValueError` for a header that would break the message.
        """
        hop = self._hop_for(proxy or target)
        next_hop(target)
        for name, value in extra_headers:
            if any(c in name + value for c in "\r\n") or ":" in name or not name:
                raise ValueError(f"invalid extra header {name!r}")
        call = OutgoingCall(
            self,
            target=target,
            hop=hop,
            from_user=from_user,
            sdp_offer=sdp_offer,
            extra_headers=tuple(extra_headers),
        )
        self._calls[call.sip_call_id] = call
        call.begin()
        return call

    async def options(self, target: str, timeout_s: float = 5.0) -> int | None:
        """Send OPTIONS outside any dialog; the final status, or None when nothing answered."""
        hop = self._hop_for(target)
        request = SipRequest(method="OPTIONS", uri=target.strip("<>"))
        request.set_header("Max-Forwards", "70")
        request.set_header(
            "From", f"<sip:{self.config.user_agent.lower()}@{self.contact_host}>;tag={new_tag()}"
        )
        request.set_header("To", f"<{target.strip('<>')}>")
        request.set_header("Call-ID", new_call_id(self.contact_host))
        request.set_header("CSeq", "1 OPTIONS")
        request.set_header("Accept", "application/sdp")
        try:
            answer = await asyncio.wait_for(self.transact(request, hop), timeout_s)
        except TimeoutError:
            return None
        return answer.status_code if isinstance(answer, SipResponse) else None

    # -- transactions ----------------------------------------------------------------------

    def _hop_for(self, uri: str) -> Hop:
        hop = next_hop(uri)
        if "transport=" not in uri.lower() and hop.transport != self.config.transport:
            return Hop(hop.host, hop.port, self.config.transport)
        return hop

    def stamp(self, request: SipRequest, hop: Hop) -> None:
        """Put our Via (a new branch, rport) on top of `request`."""
        via = (
            f"SIP/2.0/{hop.transport.upper()} {self.contact_host}:{self.contact_port}"
            f";branch={new_branch()};rport"
        )
        others = request.headers.get("via")
        request.headers.remove("via")
        for value in [via, *others]:
            request.add_header("Via", value)

    async def transact(
        self,
        request: SipRequest,
        hop: Hop,
        on_provisional: Callable[[SipResponse], None] = lambda _: None,
        on_started: Callable[[Transaction], None] = lambda _: None,
    ) -> SipResponse | Ending:
        """Run one client transaction for `request`: its final response, or why it ended."""
        if not request.headers.get("via"):
            self.stamp(request, hop)
        request.set_header("User-Agent", self.config.user_agent)
        kind = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        tx = kind(request, reliable=hop.transport == "tcp", timers=self.timers)
        running = _Running(tx, hop, on_provisional)
        self._running[(tx.branch, tx.method)] = running
        on_started(tx)
        self._perform(running, tx.start())
        return await running.final

    def abandon(self, tx: Transaction) -> None:
        """Give up on a transaction still running (its final never came)."""
        running = self._running.get((tx.branch, tx.method))
        if running is not None:
            self._perform(running, tx.abandon())

    def send_later(
        self, data: bytes, hop: Hop, on_error: Callable[[], None] = lambda: None
    ) -> None:
        """Send bytes outside a transaction (an ACK for a 2xx, a response)."""
        self.spawn(self._send(data, Peer(hop.host, hop.port, hop.transport), on_error))

    async def _send(self, data: bytes, peer: Peer, on_error: Callable[[], None]) -> None:
        try:
            await self.transport.send(data, peer)
        except TransportError as exc:
            logger.info("SIP send to %s:%s failed: %s", peer.host, peer.port, exc)
            on_error()

    def _perform(self, running: _Running, actions: list[Action]) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, Send):
                self.send_later(action.data, running.hop, partial(self._failed_send, running))
            elif isinstance(action, StartTimer):
                self._cancel_timer(running, action.timer)
                running.timers[action.timer] = loop.call_later(
                    action.delay_s, self._fire, running, action.timer
                )
            elif isinstance(action, CancelTimer):
                self._cancel_timer(running, action.timer)
            elif isinstance(action, Deliver):
                self._deliver(running, action.response)
            elif isinstance(action, Terminated):
                self._stop_timers(running)
                self._running.pop((running.tx.branch, running.tx.method), None)
                if not running.final.done():
                    running.final.set_result(action.reason)

    def _deliver(self, running: _Running, response: SipResponse) -> None:
        if response.status_code < 200:
            running.on_provisional(response)
        elif not running.final.done():
            running.final.set_result(response)

    def _fire(self, running: _Running, timer: Timer) -> None:
        running.timers.pop(timer, None)
        self._perform(running, running.tx.timer_fired(timer))

    def _failed_send(self, running: _Running) -> None:
        self._perform(running, running.tx.transport_error())

    def _cancel_timer(self, running: _Running, timer: Timer) -> None:
        handle = running.timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def _stop_timers(self, running: _Running) -> None:
        for handle in running.timers.values():
            handle.cancel()
        running.timers.clear()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coro` as a task the user agent keeps and cancels at close."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def forget_call(self, call: OutgoingCall) -> None:
        """Drop a finished call once retransmitted 2xx responses can no longer arrive."""
        asyncio.get_running_loop().call_later(
            64 * self.timers.t1, lambda: self._calls.pop(call.sip_call_id, None)
        )

    # -- what arrives ----------------------------------------------------------------------

    def _on_bytes(self, data: bytes, peer: Peer) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_message(data)
        except SipParseError as exc:
            logger.warning("SIP message from %s:%s dropped: %s", peer.host, peer.port, exc)
            return
        if isinstance(message, SipResponse):
            self._on_response(message)
        else:
            self._on_request(message, peer)

    def _on_response(self, response: SipResponse) -> None:
        method = cseq_of(response)[1]
        running = self._running.get((top_branch(response), method))
        if running is not None:
            self._perform(running, running.tx.receive(response))
            return
        call = self._calls.get(response.call_id or "")
        if call is not None and method == "INVITE" and 200 <= response.status_code < 300:
            call.on_stray_2xx(response)

    def _on_request(self, request: SipRequest, peer: Peer) -> None:
        if request.method == "ACK":
            return
        key = (request.call_id or "", top_branch(request), request.method)
        cached = self._answered.get(key)
        if cached is not None:
            self.spawn(self._send(cached[0], peer, lambda: None))
            return
        call = self._calls.get(request.call_id or "")
        if call is not None and call.owns(request):
            response = call.on_request(request)
        else:
            response = self._outside_dialog(request)
        self.respond(request, response, peer)

    def respond(self, request: SipRequest, response: SipResponse, peer: Peer) -> None:
        """Send `response` to where `request` came from and remember it for retransmissions."""
        response.set_header("Server", self.config.user_agent)
        data = bytes(response)
        key = (request.call_id or "", top_branch(request), request.method)
        self._answered[key] = (data, peer)
        asyncio.get_running_loop().call_later(
            RESPONSE_CACHE_S, lambda: self._answered.pop(key, None)
        )
        self.spawn(self._send(data, peer, lambda: None))

    def _outside_dialog(self, request: SipRequest) -> SipResponse:
        tag = new_tag()
        allow = (("Allow", ", ".join(ALLOWED_METHODS)),)
        if request.method == "OPTIONS":
            return make_response(request, 200, "OK", to_tag=tag, headers=allow)
        if request.method == "CANCEL" or tag_of(request.get_header("to")):
            return make_response(request, 481, "Call/Transaction Does Not Exist", to_tag=tag)
        if request.method in KNOWN_METHODS:
            only = (("Allow", "OPTIONS"),)
            return make_response(request, 405, "Method Not Allowed", to_tag=tag, headers=only)
        return make_response(request, 501, "Not Implemented", to_tag=tag)
