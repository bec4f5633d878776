"""Parsing untrusted SIP bytes: a message or `SipParseError`, nothing else (hypothesis fuzzing)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rappel.telephony.sip.messages import (
    MAX_HEADERS,
    MAX_MESSAGE_BYTES,
    Hop,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    new_branch,
    new_call_id,
    next_hop,
    parse_message,
    parse_sdp_answer,
)
from rappel.telephony.sip.transactions import (
    InviteClientTransaction,
    NonInviteClientTransaction,
    Timer,
)

INVITE = (
    b"INVITE sip:bob@127.0.0.1:5090 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc\r\n"
    b"From: <sip:rappel@127.0.0.1>;tag=1\r\n"
    b"To: <sip:bob@127.0.0.1>\r\n"
    b"Call-ID: c1@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc\r\n"
    b"From: <sip:rappel@127.0.0.1>;tag=1\r\n"
    b"To: <sip:bob@127.0.0.1>;tag=2\r\n"
    b"Call-ID: c1@127.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n\r\n"
)
SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
)


def test_a_request_and_a_response_parse() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, SipRequest)
    assert request.method == "INVITE"
    assert request.body == b"v=0\n"
    assert isinstance(parse_message(OK), SipResponse)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"HELLO\r\n\r\n",
        b"SIP/2.0 abc OK\r\n\r\n",
        b"SIP/2.0 99 Low\r\n\r\n",
        b"SIP/3.0 200 OK\r\n\r\n",
        b"INVITE sip:x SIP/1.0\r\n\r\n",
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"),
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"),
        INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: 99999999999 INVITE"),
        INVITE.replace(b"Call-ID: c1@127.0.0.1\r\n", b""),
        INVITE.replace(b"From: <sip:rappel@127.0.0.1>;tag=1", b"From: nothing"),
        INVITE.replace(b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc", b"Via: ;"),
        b"\xff\xfe INVITE",
        INVITE.replace(b"\r\n\r\n", b"\r\n" + b"X-A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n"),
        INVITE + b"x" * MAX_MESSAGE_BYTES,
    ],
)
def test_malformed_or_oversized_bytes_raise_sip_parse_error(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_nothing_but_sip_parse_error(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass


def _mutations() -> st.SearchStrategy[bytes]:
    base = st.sampled_from([INVITE, OK])
    return st.tuples(base, st.integers(0, 400), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda t: t[0][: t[1]] + t[3] + t[0][t[1] + t[2] :]
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mutated_messages_raise_nothing_but_sip_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError:
        return
    bytes(message)  # what parsed serialises again


def test_response_copies_the_request_and_adds_a_to_tag() -> None:
    request = parse_message(INVITE)
    assert isinstance(request, SipRequest)
    response = make_response(request, 486, "Busy Here", to_tag="xyz")
    parsed = parse_message(bytes(response))
    assert isinstance(parsed, SipResponse)
    assert parsed.status_code == 486
    assert parsed.get_header("to") == "<sip:bob@127.0.0.1>;tag=xyz"
    assert parsed.get_header("cseq") == "1 INVITE"


def test_identifiers_are_rfc_shaped_and_unique() -> None:
    assert new_branch().startswith("z9hG4bK")
    assert new_branch() != new_branch()
    assert new_call_id("h").endswith("@h")


@pytest.mark.parametrize(
    ("uri", "hop"),
    [
        ("sip:1650@trunk.example.net:5070;transport=TCP", Hop("trunk.example.net", 5070, "tcp")),
        ("sip:agent1@10.0.0.5", Hop("10.0.0.5", 5060, "udp")),
        ("<sip:10.0.0.1:5100;lr>", Hop("10.0.0.1", 5100, "udp")),
        ("sip:[::1]:5062", Hop("::1", 5062, "udp")),
    ],
)
def test_next_hop_reads_host_port_and_transport(uri: str, hop: Hop) -> None:
    assert next_hop(uri) == hop


@pytest.mark.parametrize(
    "uri", ["tel:+1650", "sips:a@b", "sip:", "sip:a@b;transport=sctp", "sip:a@b:0", "nothing"]
)
def test_next_hop_refuses_what_it_cannot_reach(uri: str) -> None:
    with pytest.raises(SipParseError):
        next_hop(uri)


def test_sdp_answer_needs_an_audio_stream_with_an_address() -> None:
    assert parse_sdp_answer(SDP).audio is not None
    for bad in (b"", b"v=0\r\n", b"\xff\xfe", SDP.replace(b"c=IN IP4 127.0.0.1\r\n", b"")):
        with pytest.raises(SipParseError):
            parse_sdp_answer(bad)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_sdp_raises_nothing_but_sip_parse_error(data: bytes) -> None:
    try:
        parse_sdp_answer(data)
    except SipParseError:
        pass


_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.just(0)),
        st.tuples(st.just("response"), st.integers(0, 800)),
        st.tuples(st.just("timer"), st.sampled_from(list(Timer))),
        st.tuples(st.just("error"), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_EVENTS, st.booleans(), st.booleans())
def test_any_event_sequence_is_handled_by_both_transactions(
    events: list[tuple[str, object]], invite: bool, reliable: bool
) -> None:
    request = parse_message(INVITE if invite else INVITE.replace(b"INVITE", b"OPTIONS"))
    assert isinstance(request, SipRequest)
    tx = (InviteClientTransaction if invite else NonInviteClientTransaction)(
        request, reliable=reliable
    )
    terminations = 0
    for kind, value in events:
        if kind == "start":
            actions = tx.start()
        elif kind == "response":
            status = int(str(value))
            response = SipResponse(status_code=status, reason_phrase="x")
            response.headers = parse_message(OK).headers
            actions = tx.receive(response)
        elif kind == "timer":
            actions = tx.timer_fired(Timer(str(value)))
        else:
            actions = tx.transport_error()
        terminations += sum(1 for a in actions if type(a).__name__ == "Terminated")
    assert terminations <= 1
