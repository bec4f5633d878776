"""Rappel's SIP user agent against sipp far ends: answer, rejections, CANCEL, timeouts, BYE.

sipp's exit code proves what the far end saw: 0 means every message the scenario expects
(ACK for a 486, the CANCEL, the BYE, answers to its own requests) arrived in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from rappel.telephony.sip.useragent import (
    Answered,
    CallSignal,
    Ended,
    Failed,
    OutgoingCall,
    Provisional,
    SipCallError,
    SipConfig,
    UserAgent,
)
from tests.support.sipp import Sipp, sipp_uas

T = TypeVar("T")

OFFER = (
    b"v=0\r\no=rappel 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def with_ua(
    body: Callable[[UserAgent], Awaitable[T]], transport: str = "udp", **config: object
) -> T:
    async def main() -> T:
        ua = UserAgent(SipConfig(listen_port=0, transport=transport, **config))  # type: ignore[arg-type]
        await ua.start()
        try:
            return await asyncio.wait_for(body(ua), 60)
        finally:
            await ua.close()

    return asyncio.run(main())


async def collect(call: OutgoingCall, *, hangup_on: type | None = None) -> list[CallSignal]:
    signals: list[CallSignal] = []
    async for signal in call.events():
        signals.append(signal)
        if hangup_on is not None and isinstance(signal, hangup_on):
            asyncio.get_running_loop().create_task(call.hangup())
    return signals


def dial(peer: Sipp, transport: str = "udp", **config: object) -> Callable[..., list[CallSignal]]:
    def run(hangup_on: type | None = None) -> list[CallSignal]:
        async def body(ua: UserAgent) -> list[CallSignal]:
            call = ua.call(peer.uri(transport=transport), from_user="rappel", sdp_offer=OFFER)
            return await collect(call, hangup_on=hangup_on)

        return with_ua(body, transport, **config)

    return run


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_answered_call_gets_the_sdp_answer_and_our_bye(tmp_path: Path, transport: str) -> None:
    with sipp_uas("uas_answer.xml", tmp_path, transport=transport) as peer:
        signals = dial(peer, transport)(hangup_on=Answered)
        assert peer.finished() == 0, peer.log()
    assert isinstance(signals[0], Provisional)
    assert signals[0].status == 180
    assert isinstance(signals[1], Answered)
    assert b"m=audio" in signals[1].sdp
    assert signals[2:] == [Ended("local", "hung up by Rappel")]


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, "Busy Here"),
        (600, "Busy Everywhere"),
        (404, "Not Found"),
        (503, "Service Unavailable"),
    ],
)
def test_rejected_call_is_acked_and_reported_with_its_status(
    tmp_path: Path, status: int, reason: str
) -> None:
    keys = {"status": str(status), "reason": reason}
    with sipp_uas("uas_reject.xml", tmp_path, fill=keys) as peer:
        signals = dial(peer)()
        assert peer.finished() == 0, peer.log()
    assert signals == [Failed(status, reason)]


def test_ringing_call_hung_up_is_cancelled_and_the_487_acked(tmp_path: Path) -> None:
    with sipp_uas("uas_noanswer.xml", tmp_path) as peer:
        signals = dial(peer)(hangup_on=Provisional)
        assert peer.finished() == 0, peer.log()
    assert signals == [Provisional(180, "Ringing", None), Failed(487, "Request Terminated")]
    assert "CANCEL sip:bob@" in peer.log()


def test_far_end_that_never_answers_is_a_408_after_timer_b(tmp_path: Path) -> None:
    with sipp_uas("uas_silent.xml", tmp_path) as peer:
        signals = dial(peer, t1_s=0.05)()
    assert signals == [Failed(408, "Request Timeout")]
    assert peer.log().count("INVITE sip:bob@") >= 3  # Timer A retransmitted it


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_far_end_reinvite_options_and_bye_are_answered(tmp_path: Path, transport: str) -> None:
    with sipp_uas("uas_remote_bye.xml", tmp_path, transport=transport) as peer:
        signals = dial(peer, transport)()
        assert peer.finished() == 0, peer.log()
    assert peer.log().count("m=audio 40000 RTP/AVP 0") == 2  # our offer, then our answer
    assert isinstance(signals[0], Answered)
    assert signals[1:] == [Ended("remote", "BYE from the far end")]


def test_answer_without_sdp_is_acked_then_hung_up_and_failed(tmp_path: Path) -> None:
    with sipp_uas("uas_answer_nosdp.xml", tmp_path) as peer:
        signals = dial(peer)()
        assert peer.finished() == 0, peer.log()
    assert len(signals) == 1
    assert isinstance(signals[0], Failed)
    assert signals[0].status == 488


def test_401_challenge_is_answered_with_a_digest_sipp_verifies(tmp_path: Path) -> None:
    with sipp_uas("uas_auth401.xml", tmp_path) as peer:
        signals = dial(peer, username="rappel", password="s3cret")(hangup_on=Answered)
        assert peer.finished() == 0, peer.log()
    assert [type(s) for s in signals] == [Provisional, Answered, Ended]
    assert 'Authorization: Digest username="rappel"' in peer.log()


def test_wrong_password_ends_with_the_far_ends_refusal(tmp_path: Path) -> None:
    with sipp_uas("uas_auth401.xml", tmp_path) as peer:
        signals = dial(peer, username="rappel", password="wrong")()
    assert signals == [Failed(403, "Forbidden")]


def test_challenge_without_credentials_fails_with_401(tmp_path: Path) -> None:
    with sipp_uas("uas_auth401.xml", tmp_path) as peer:
        signals = dial(peer)()
    assert signals == [Failed(401, "Unauthorized")]


def wait_for_log(peer: Sipp, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in peer.log():
        assert time.monotonic() < deadline, f"sipp never logged {text!r}:\n{peer.log()}"
        time.sleep(0.1)


def test_session_is_refreshed_by_re_invite_before_it_expires(tmp_path: Path) -> None:
    keys, fill = {"session_expires": "2"}, {"refresh_status": "200"}
    with sipp_uas("uas_refresh.xml", tmp_path, keys=keys, fill=fill) as peer:

        async def body(ua: UserAgent) -> list[CallSignal]:
            call = ua.call(peer.uri(), from_user="rappel", sdp_offer=OFFER)
            signals = [s async for s in _until_answered(call)]
            while "Refresh Answer" not in peer.log():
                await asyncio.sleep(0.1)
            await call.hangup()
            return signals + [s async for s in call.events()]

        signals = with_ua(body, session_expires_s=2, min_se_s=2)
        assert peer.finished() == 0, peer.log()
    assert isinstance(signals[-1], Ended)
    assert signals[-1].by == "local"
    assert "Session-Expires: 2;refresher=uac" in peer.log()


async def _until_answered(call: OutgoingCall) -> AsyncIterator[CallSignal]:
    async for signal in call.events():
        yield signal
        if isinstance(signal, Answered):
            return


def test_failed_refresh_sends_bye_and_reports_refresh_failed(tmp_path: Path) -> None:
    keys, fill = {"session_expires": "2"}, {"refresh_status": "500"}
    with sipp_uas("uas_refresh.xml", tmp_path, keys=keys, fill=fill) as peer:
        signals = dial(peer, session_expires_s=2, min_se_s=2)()
        assert peer.finished() == 0, peer.log()
    assert isinstance(signals[-1], Ended)
    assert signals[-1].by == "refresh_failed"


def test_cancel_without_a_487_gives_the_invite_up_after_64_t1(tmp_path: Path) -> None:
    with sipp_uas("uas_cancel_ignored.xml", tmp_path) as peer:
        signals = dial(peer, t1_s=0.05)(hangup_on=Provisional)
    assert signals == [Provisional(180, "Ringing", None), Failed(487, "Request Terminated")]


def test_reinvite_returns_the_far_ends_answer_and_raises_on_refusal(tmp_path: Path) -> None:
    keys = {"session_expires": "90"}
    for status, expected in (("200", "answer"), ("488", "refused")):
        (tmp_path / status).mkdir()
        with sipp_uas(
            "uas_refresh.xml", tmp_path / status, keys=keys, fill={"refresh_status": status}
        ) as peer:

            async def body(ua: UserAgent, peer: Sipp = peer) -> str:
                call = ua.call(peer.uri(), from_user="rappel", sdp_offer=OFFER)
                [s async for s in _until_answered(call)]
                try:
                    answer = await call.reinvite(OFFER.replace(b"40000", b"40002"))
                    outcome = "answer" if b"m=audio" in answer else "no sdp"
                except SipCallError as exc:
                    outcome = "refused" if exc.status == 488 else str(exc)
                await call.hangup()
                return outcome

            assert with_ua(body) == expected
            assert peer.finished() == 0, peer.log()
            assert "m=audio 40002 RTP/AVP 0" in peer.log()


def test_far_end_refresher_that_stays_silent_gets_a_bye(tmp_path: Path) -> None:
    with sipp_uas("uas_refresher_silent.xml", tmp_path) as peer:
        signals = dial(peer, session_expires_s=2, min_se_s=2)()
        assert peer.finished() == 0, peer.log()
    assert signals[-1] == Ended("refresh_failed", "the far end did not refresh the session")
    assert "INVITE sip:bob" in peer.log()
    assert peer.log().count("CSeq: 2 INVITE") == 0  # we never refreshed it ourselves


def test_refresh_refused_with_491_is_retried_once(tmp_path: Path) -> None:
    with sipp_uas("uas_refresh_glare.xml", tmp_path, keys={"session_expires": "6"}) as peer:

        async def body(ua: UserAgent) -> list[CallSignal]:
            call = ua.call(peer.uri(), from_user="rappel", sdp_offer=OFFER)
            signals = [s async for s in _until_answered(call)]
            while "Refresh Answer" not in peer.log():
                await asyncio.sleep(0.05)
            await call.hangup()
            return signals + [s async for s in call.events()]

        signals = with_ua(body, session_expires_s=6, min_se_s=6)
        assert peer.finished() == 0, peer.log()
    assert signals[-1] == Ended("local", "hung up by Rappel")
    assert "491 Request Pending" in peer.log()
