"""One outgoing call: the INVITE, its answer, the dialog, session refresh, hangup.

`OutgoingCall` is the driver's handle on a call and reports what happens as `CallSignal`s:
`Provisional`, then `Answered` or `Failed`, then (after an answer) `Ended` (see `signals`).
A 2xx without a usable SDP is ACKed, BYE'd and reported as a failure. A 401/407 is answered
once with the configured credentials and a new CSeq; a 422 is retried once with the far
end's Min-SE.

Session timer (RFC 4028): the INVITE offers `Session-Expires` with refresher=uac. When we
are the refresher, the session is refreshed by re-INVITE (same SDP) at half the interval;
a refresh that fails sends BYE and reports `Ended("refresh_failed")`. When the far end is
the refresher and stays silent for the whole interval, the call ends the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Literal

from rappel.telephony.sip.auth import credentials_for
from rappel.telephony.sip.dialogs import Dialog
from rappel.telephony.sip.messages import (
    Hop,
    SipParseError,
    SipRequest,
    SipResponse,
    cseq_of,
    make_response,
    new_call_id,
    new_tag,
    next_hop,
    parse_sdp_answer,
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
    Ending,
    InviteClientTransaction,
    NonInviteClientTransaction,
    State,
    build_cancel,
)

if TYPE_CHECKING:
    from rappel.telephony.sip.useragent import UserAgent

__all__ = [
    "ALLOWED_METHODS",
    "Answered",
    "CallSignal",
    "Ended",
    "Failed",
    "OutgoingCall",
    "Provisional",
    "SipCallError",
]

logger = logging.getLogger(__name__)

Transaction = InviteClientTransaction | NonInviteClientTransaction

#: Methods we accept inside a dialog.
ALLOWED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE")


def _outcome(answer: SipResponse | Ending) -> tuple[int, str]:
    if isinstance(answer, SipResponse):
        return answer.status_code, answer.reason_phrase
    if answer == Ending.TIMEOUT:
        return 408, "Request Timeout"
    return 503, "Service Unavailable (transport error)"


def _session_expires(response: SipRequest | SipResponse) -> tuple[int | None, str]:
    value = response.get_header("session-expires") or ""
    head, _, params = value.partition(";")
    refresher = "uac"
    for param in params.split(";"):
        name, _, val = param.strip().partition("=")
        if name.lower() == "refresher" and val.strip().lower() in ("uac", "uas"):
            refresher = val.strip().lower()
    seconds = head.strip()
    return (int(seconds) if seconds.isdigit() and int(seconds) > 0 else None), refresher


class OutgoingCall:
    """A call Rappel placed: read `events()`, end it with `hangup()`, move media with `reinvite`."""

    def __init__(
        self,
        ua: UserAgent,
        *,
        target: str,
        hop: Hop,
        from_user: str,
        sdp_offer: bytes,
        extra_headers: tuple[tuple[str, str], ...],
    ) -> None:
        self._ua = ua
        self._target = target.strip("<>")
        self._hop = hop
        self._from_user = from_user
        self._local_sdp = sdp_offer
        self._extra_headers = extra_headers
        self.sip_call_id = new_call_id(ua.contact_host)
        self._from = f"<sip:{from_user}@{ua.contact_host}>;tag={new_tag()}"
        self._cseq = 0
        self._signals: asyncio.Queue[CallSignal] = asyncio.Queue()
        self._state: Literal["calling", "confirmed", "ended"] = "calling"
        self._dialog: Dialog | None = None
        self._acks: dict[int, tuple[bytes, Hop]] = {}
        self._invite_tx: Transaction | None = None
        self._provisional = asyncio.Event()
        self._hangup = asyncio.Event()
        self._done = asyncio.Event()
        self._lock = asyncio.Lock()
        self._interval = ua.config.session_expires_s
        self._refresher = "uac"
        self._last_refresh = time.monotonic()
        self._refresh_task: asyncio.Task[None] | None = None
        self._bye_task: asyncio.Task[None] | None = None

    # -- the driver's side -----------------------------------------------------------------

    async def events(self) -> AsyncIterator[CallSignal]:
        """Signals as they happen; the iteration stops after `Failed` or `Ended`."""
        while True:
            signal = await self._signals.get()
            yield signal
            if isinstance(signal, Failed | Ended):
                return

    async def hangup(self) -> None:
        """CANCEL before the answer (after a provisional, as section 9.1 says), BYE after.

        Returns once the call is over and the BYE answered (or timed out); calling it again is
        harmless. The final signal is queued before the BYE is even sent.
        """
        if not self._hangup.is_set():
            self._hangup.set()
            if self._state == "confirmed":
                self._bye_task = self._ua.spawn(self._bye("local", "hung up by Rappel"))
        await self._done.wait()
        if self._bye_task is not None:
            await asyncio.shield(self._bye_task)

    async def reinvite(self, sdp: bytes) -> bytes:
        """Offer `sdp` in the dialog and return the far end's answer; `SipCallError` on failure."""
        async with self._lock:
            if self._state != "confirmed" or self._dialog is None:
                raise SipCallError(481, "no established dialog")
            answer = await self._reinvite(sdp)
            if isinstance(answer, SipResponse) and 200 <= answer.status_code < 300:
                try:
                    parse_sdp_answer(answer.body)
                except SipParseError as exc:
                    raise SipCallError(488, f"answer without a usable SDP: {exc}") from exc
                self._local_sdp = sdp
                return answer.body
            status, reason = _outcome(answer)
            if status in (408, 481):  # section 12.2.1.2: the dialog is gone
                self._ua.spawn(self._bye("remote", f"{status} {reason} to a re-INVITE"))
            raise SipCallError(status, reason)

    # -- placing the call ------------------------------------------------------------------

    def begin(self) -> None:
        self._ua.spawn(self._run())
        self._ua.spawn(self._cancel_on_hangup())

    def _invite(self, auth: tuple[str, str] | None) -> SipRequest:
        self._cseq += 1
        ua = self._ua
        request = SipRequest(method="INVITE", uri=self._target)
        request.set_header("Max-Forwards", "70")
        request.set_header("From", self._from)
        request.set_header("To", f"<{self._target}>")
        request.set_header("Call-ID", self.sip_call_id)
        request.set_header("CSeq", f"{self._cseq} INVITE")
        self._common_headers(request)
        if auth is not None:
            request.set_header(*auth)
        for name, value in self._extra_headers:
            request.add_header(name, value)
        request.set_header("Content-Type", "application/sdp")
        request.body = self._local_sdp
        ua.stamp(request, self._hop)
        return request

    def _common_headers(self, request: SipRequest) -> None:
        config = self._ua.config
        transport = ";transport=tcp" if self._hop.transport == "tcp" else ""
        contact = f"<sip:{self._from_user}@{self._ua.contact_host}:{self._ua.contact_port}"
        request.set_header("Contact", f"{contact}{transport}>")
        request.set_header("Allow", ", ".join(ALLOWED_METHODS))
        request.set_header("Supported", "timer")
        request.set_header("Session-Expires", f"{self._interval};refresher=uac")
        request.set_header("Min-SE", str(config.min_se_s))

    async def _run(self) -> None:
        retried_auth = retried_interval = False
        auth: tuple[str, str] | None = None
        while True:
            invite = self._invite(auth)
            answer = await self._ua.transact(
                invite, self._hop, self._on_provisional, self._remember_invite
            )
            status, reason = _outcome(answer)
            if isinstance(answer, SipResponse) and 200 <= status < 300:
                await self._answered(invite, answer)
                return
            if self._hangup.is_set():
                self._finish(Failed(487, "Request Terminated"))
                return
            if isinstance(answer, SipResponse) and status in (401, 407) and not retried_auth:
                config = self._ua.config
                auth = credentials_for(
                    answer, "INVITE", invite.uri, config.username, config.password
                )
                if auth is not None:
                    retried_auth = True
                    continue
            if isinstance(answer, SipResponse) and status == 422 and not retried_interval:
                min_se = (answer.get_header("min-se") or "").split(";")[0].strip()
                if min_se.isdigit() and int(min_se) > self._interval:
                    self._interval, retried_interval, auth = int(min_se), True, None
                    continue
            self._finish(Failed(status, reason))
            return

    def _remember_invite(self, tx: Transaction) -> None:
        self._invite_tx = tx

    def _on_provisional(self, response: SipResponse) -> None:
        self._provisional.set()
        if response.status_code > 100 and self._state == "calling":
            sdp = response.body if response.body else None
            self._signals.put_nowait(Provisional(response.status_code, response.reason_phrase, sdp))

    async def _cancel_on_hangup(self) -> None:
        await self._hangup.wait()
        await self._provisional.wait()
        tx = self._invite_tx
        if self._state != "calling" or tx is None or tx.state != State.PROCEEDING:
            return
        cancel = build_cancel(tx.request)
        await self._ua.transact(cancel, self._hop)
        # Section 9.1: without a final 64*T1 after the CANCEL, the INVITE is given up.
        await asyncio.sleep(64 * self._ua.timers.t1)
        self._ua.abandon(tx)

    # -- after the answer ------------------------------------------------------------------

    async def _answered(self, invite: SipRequest, response: SipResponse) -> None:
        try:
            dialog = Dialog.from_2xx(invite, response)
        except SipParseError:
            dialog = Dialog(
                call_id=self.sip_call_id,
                local_tag=self._from.rsplit("tag=", 1)[1],
                remote_tag="",
                local_header=self._from,
                remote_header=response.get_header("to") or invite.get_header("to") or "",
                local_cseq=self._cseq,
                remote_target=invite.uri,
                route_set=tuple(reversed(response.headers.get("record-route"))),
            )
        self._dialog = dialog
        self._state = "confirmed"
        self._ack(cseq_of(invite)[0])
        if self._hangup.is_set():
            await self._bye(
                "local", "answered after Rappel hung up", Failed(487, "Request Terminated")
            )
            return
        try:
            parse_sdp_answer(response.body)
        except SipParseError as exc:
            await self._bye(
                "local", "no usable SDP", Failed(488, f"answer without a usable SDP: {exc}")
            )
            return
        seconds, self._refresher = _session_expires(response)
        if seconds is not None:
            self._interval = seconds
        elif not response.get_header("session-expires"):
            self._refresher = "uac"
        self._signals.put_nowait(Answered(response.body))
        self._last_refresh = time.monotonic()
        self._refresh_task = self._ua.spawn(self._keep_session())

    def _dialog_hop(self) -> Hop:
        assert self._dialog is not None
        uri = self._dialog.next_hop_uri()
        hop = next_hop(uri)
        if "transport=" not in uri.lower():
            return Hop(hop.host, hop.port, self._hop.transport)
        return hop

    def _ack(self, cseq: int) -> None:
        assert self._dialog is not None
        hop = self._dialog_hop()
        ack = self._dialog.new_request("ACK", cseq=cseq)
        self._ua.stamp(ack, hop)
        ack.set_header("User-Agent", self._ua.config.user_agent)
        data = bytes(ack)
        self._acks[cseq] = (data, hop)
        self._ua.send_later(data, hop)

    def on_stray_2xx(self, response: SipResponse) -> None:
        """A retransmitted 2xx (our ACK was lost): send the same ACK again (section 13.2.2.4)."""
        sent = self._acks.get(cseq_of(response)[0])
        if sent is not None:
            self._ua.send_later(*sent)

    async def _reinvite(self, sdp: bytes) -> SipResponse | Ending:
        assert self._dialog is not None
        hop = self._dialog_hop()
        request = self._dialog.new_request("INVITE", body=sdp)
        self._common_headers(request)
        request.set_header("Content-Type", "application/sdp")
        answer = await self._ua.transact(request, hop)
        if isinstance(answer, SipResponse) and 200 <= answer.status_code < 300:
            self._dialog.refresh_target(answer)
            self._ack(cseq_of(request)[0])
            self._last_refresh = time.monotonic()
        return answer

    async def _refresh(self) -> SipResponse | Ending | None:
        """One session refresh; a 491 (glare) is retried once after 2.1 to 4 s (section 14.1)."""
        for attempt in range(2):
            async with self._lock:
                if self._state != "confirmed":
                    return None
                answer = await self._reinvite(self._local_sdp)
            if attempt or not (isinstance(answer, SipResponse) and answer.status_code == 491):
                break
            await asyncio.sleep(random.uniform(2.1, 4.0))
        return answer

    async def _keep_session(self) -> None:
        while self._state == "confirmed":
            if self._refresher == "uac":
                await asyncio.sleep(self._interval / 2)
                answer = await self._refresh()
                if answer is None:
                    return
                if not (isinstance(answer, SipResponse) and 200 <= answer.status_code < 300):
                    status, reason = _outcome(answer)
                    await self._bye("refresh_failed", f"session refresh failed: {status} {reason}")
                    return
            else:
                await asyncio.sleep(
                    max(0.1, self._last_refresh + self._interval - time.monotonic())
                )
                if time.monotonic() - self._last_refresh >= self._interval:
                    await self._bye("refresh_failed", "the far end did not refresh the session")
                    return

    async def _bye(
        self,
        by: Literal["remote", "local", "refresh_failed"],
        reason: str,
        signal: Failed | Ended | None = None,
    ) -> None:
        if self._state != "confirmed" or self._dialog is None:
            return
        # Reported at once: a far end that vanished would delay it by Timer F otherwise.
        self._finish(signal or Ended(by, reason))
        await self._ua.transact(self._dialog.new_request("BYE"), self._dialog_hop())

    def _stop_refresh(self) -> None:
        task = self._refresh_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _finish(self, signal: Failed | Ended) -> None:
        if self._done.is_set():
            return
        self._state = "ended"
        self._stop_refresh()
        self._signals.put_nowait(signal)
        self._done.set()
        self._provisional.set()  # lets a CANCEL still waiting for a provisional give up
        self._ua.forget_call(self)

    # -- requests from the far end ---------------------------------------------------------

    def owns(self, request: SipRequest) -> bool:
        """True when `request` belongs to this call's dialog."""
        return self._dialog is not None and self._dialog.is_from_far_end(request)

    def on_request(self, request: SipRequest) -> SipResponse:
        """Answer a request the far end sent in our dialog."""
        assert self._dialog is not None
        if not self._dialog.accept_remote_cseq(request):
            return make_response(request, 500, "Server Internal Error (CSeq out of order)")
        if self._state != "confirmed":
            return make_response(request, 481, "Call/Transaction Does Not Exist")
        if request.method == "BYE":
            self._state = "ended"
            self._finish(Ended("remote", "BYE from the far end"))
            return make_response(request, 200, "OK")
        if request.method in ("INVITE", "UPDATE"):
            return self._answer_refresh(request)
        if request.method == "OPTIONS":
            return make_response(
                request, 200, "OK", headers=(("Allow", ", ".join(ALLOWED_METHODS)),)
            )
        return make_response(request, 501, "Not Implemented")

    def _answer_refresh(self, request: SipRequest) -> SipResponse:
        if self._lock.locked() and request.method == "INVITE":
            return make_response(request, 491, "Request Pending")
        assert self._dialog is not None
        self._dialog.refresh_target(request)
        self._last_refresh = time.monotonic()
        seconds, _ = _session_expires(request)
        headers = [
            ("Contact", f"<sip:{self._from_user}@{self._ua.contact_host}:{self._ua.contact_port}>"),
            ("Supported", "timer"),
        ]
        if seconds is not None:
            # Roles in the far end's request: "uac" is the far end, "uas" is us.
            they_refresh = "refresher=uas" not in (request.get_header("session-expires") or "")
            self._interval = seconds
            self._refresher = "uas" if they_refresh else "uac"
            role = "uac" if they_refresh else "uas"
            headers.append(("Session-Expires", f"{seconds};refresher={role}"))
            headers.append(("Require", "timer"))
        body = b""
        if request.method == "INVITE" or request.body:
            body = self._local_sdp
            headers.append(("Content-Type", "application/sdp"))
        return make_response(request, 200, "OK", headers=tuple(headers), body=body)
