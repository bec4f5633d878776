"""The user agent as a network citizen: what it answers outside calls, and bad bytes."""

from __future__ import annotations

import asyncio
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rappel.telephony.sip.messages import (
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    parse_message,
)
from rappel.telephony.sip.transport import StreamFramer
from rappel.telephony.sip.useragent import Answered, Ended, Failed, SipConfig, UserAgent
from tests.support.sipp import free_port


def request(method: str, port: int, to_tag: str = "") -> bytes:
    to = f"<sip:rappel@127.0.0.1:{port}>" + (f";tag={to_tag}" if to_tag else "")
    return (
        f"{method} sip:rappel@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-probe-" + method + "\r\n"
        "From: <sip:probe@127.0.0.1>;tag=p1\r\n"
        f"To: {to}\r\n"
        "Call-ID: probe@127.0.0.1\r\n"
        f"CSeq: 1 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def exchange(port: int, data: bytes) -> SipResponse:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        raw = await asyncio.wait_for(loop.sock_recv(sock, 65535), 5)
    message = parse_message(raw)
    assert isinstance(message, SipResponse)
    return message


def test_requests_outside_any_dialog_get_sensible_answers() -> None:
    async def main() -> list[int]:
        ua = UserAgent(SipConfig(listen_port=0))
        await ua.start()
        port = ua.bound[1]
        try:
            statuses = []
            for data in (
                b"\x00\xffgarbage that is no SIP\r\n\r\n",
                request("OPTIONS", port),
                request("INVITE", port),
                request("BYE", port, to_tag="nope"),
                request("CANCEL", port),
                request("FROBNICATE", port),
            ):
                if data.startswith(b"\x00"):
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                        sock.sendto(data, ("127.0.0.1", port))
                    continue
                statuses.append((await exchange(port, data)).status_code)
            return statuses
        finally:
            await ua.close()

    assert asyncio.run(main()) == [200, 405, 481, 481, 501]


def test_options_reports_a_status_or_none_when_nobody_answers() -> None:
    async def main() -> tuple[int | None, int | None]:
        far = UserAgent(SipConfig(listen_port=0, transport="tcp"))
        near = UserAgent(SipConfig(listen_port=0, t1_s=0.05))
        await far.start()
        await near.start()
        try:
            alive = await near.options(f"sip:127.0.0.1:{far.bound[1]};transport=tcp")
            dead = await near.options(f"sip:127.0.0.1:{free_port()}", timeout_s=1.0)
            return alive, dead
        finally:
            await near.close()
            await far.close()

    assert asyncio.run(main()) == (200, None)


def test_call_refuses_an_unreachable_target_at_once() -> None:
    async def main() -> None:
        ua = UserAgent(SipConfig(listen_port=0))
        await ua.start()
        try:
            with pytest.raises(SipParseError):
                ua.call("tel:+16505551212", from_user="r", sdp_offer=b"")
            with pytest.raises(ValueError, match="extra header"):
                ua.call(
                    "sip:a@127.0.0.1",
                    from_user="r",
                    sdp_offer=b"",
                    extra_headers=[("X", "a\r\nB: c")],
                )
        finally:
            await ua.close()

    asyncio.run(main())


def test_stream_framer_cuts_by_content_length_and_enforces_bounds() -> None:
    framer = StreamFramer()
    one = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
    two = b"BYE sip:a SIP/2.0\r\nl: 0\r\n\r\n"
    assert framer.feed(b"\r\n\r\n" + one[:10]) == []
    assert framer.feed(one[10:] + two + b"\r\n") == [one, two]
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"X" * 20_000)
    with pytest.raises(SipParseError):
        StreamFramer().feed(b"A sip:a SIP/2.0\r\nContent-Length: 999999\r\n\r\n")


def answer_to(invite: bytes, port: int) -> bytes:
    request = parse_message(invite)
    assert isinstance(request, SipRequest)
    sdp = b"v=0\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7 RTP/AVP 0\r\n"
    response = make_response(
        request,
        200,
        "OK",
        to_tag="far",
        headers=(("Contact", f"<sip:bob@127.0.0.1:{port}>"), ("Content-Type", "application/sdp")),
        body=sdp,
    )
    return bytes(response)


def test_a_retransmitted_2xx_is_acked_again_with_the_same_ack() -> None:
    async def main() -> tuple[bytes, bytes]:
        loop = asyncio.get_running_loop()
        ua = UserAgent(SipConfig(listen_port=0))
        await ua.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far:
            far.bind(("127.0.0.1", 0))
            far.setblocking(False)
            port = far.getsockname()[1]
            try:
                call = ua.call(f"sip:bob@127.0.0.1:{port}", from_user="r", sdp_offer=b"v=0\r\n")
                invite = await asyncio.wait_for(loop.sock_recv(far, 65535), 5)
                ok = answer_to(invite, port)
                await loop.sock_sendto(far, ok, ua.bound)
                first = await asyncio.wait_for(loop.sock_recv(far, 65535), 5)
                await loop.sock_sendto(far, ok, ua.bound)
                second = await asyncio.wait_for(loop.sock_recv(far, 65535), 5)
                assert isinstance(await anext(call.events()), Answered)
                hangup = asyncio.create_task(call.hangup())
                bye = parse_message(await asyncio.wait_for(loop.sock_recv(far, 65535), 5))
                assert isinstance(bye, SipRequest)
                assert bye.method == "BYE"
                await loop.sock_sendto(far, bytes(make_response(bye, 200, "OK")), ua.bound)
                await hangup
                return first, second
            finally:
                await ua.close()

    first, second = asyncio.run(main())
    assert first.startswith(b"ACK sip:bob@127.0.0.1:")
    assert second == first


def test_a_far_end_that_vanishes_mid_call_ends_it_as_refresh_failed() -> None:
    async def main() -> list[object]:
        loop = asyncio.get_running_loop()
        ua = UserAgent(SipConfig(listen_port=0, session_expires_s=1, min_se_s=1, t1_s=0.05))
        await ua.start()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far:
            far.bind(("127.0.0.1", 0))
            far.setblocking(False)
            port = far.getsockname()[1]
            try:
                call = ua.call(f"sip:bob@127.0.0.1:{port}", from_user="r", sdp_offer=b"v=0\r\n")
                invite = await asyncio.wait_for(loop.sock_recv(far, 65535), 5)
                await loop.sock_sendto(far, answer_to(invite, port), ua.bound)
                return [s async for s in call.events()]  # then nothing more is answered
            finally:
                await ua.close()

    signals = asyncio.run(main())
    assert isinstance(signals[0], Answered)
    assert isinstance(signals[1], Ended)
    assert signals[1].by == "refresh_failed"
    assert "408" in signals[1].reason


_SAMPLES = [
    request("OPTIONS", 9),
    request("BYE", 9, to_tag="t"),
    request("INVITE", 9),
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
    b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
]
_MUTATED = st.tuples(
    st.sampled_from(_SAMPLES), st.integers(0, 300), st.integers(0, 30), st.binary(max_size=30)
).map(lambda t: t[0][: t[1]] + t[3] + t[0][t[1] + t[2] :])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MUTATED, min_size=1, max_size=15))
def test_fuzzed_datagrams_never_break_the_user_agent(datagrams: list[bytes]) -> None:
    async def main() -> tuple[list[object], int]:
        errors: list[object] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        ua = UserAgent(SipConfig(listen_port=0))
        await ua.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for data in datagrams:
                    sock.sendto(data, ua.bound)
            status = (await exchange(ua.bound[1], request("OPTIONS", ua.bound[1]))).status_code
            return errors, status
        finally:
            await ua.close()

    errors, status = asyncio.run(main())
    assert errors == []
    assert status == 200


def test_a_call_over_tcp_to_a_closed_port_fails_with_503() -> None:
    async def main() -> list[object]:
        ua = UserAgent(SipConfig(listen_port=0))
        await ua.start()
        try:
            target = f"sip:bob@127.0.0.1:{free_port()};transport=tcp"
            call = ua.call(target, from_user="r", sdp_offer=b"v=0\r\n")
            return [s async for s in call.events()]
        finally:
            await ua.close()

    (signal,) = asyncio.run(main())
    assert isinstance(signal, Failed)
    assert signal.status == 503
