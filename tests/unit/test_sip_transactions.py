"""RFC 3261 section 17.1 client transactions, driven event by event without any I/O."""

from __future__ import annotations

import pytest

from rappel.telephony.sip.messages import SipRequest, SipResponse, parse_message
from rappel.telephony.sip.transactions import (
    Action,
    CancelTimer,
    Deliver,
    Ending,
    InviteClientTransaction,
    NonInviteClientTransaction,
    Send,
    StartTimer,
    State,
    Terminated,
    Timer,
    TimerValues,
    build_cancel,
)

BRANCH = "z9hG4bKtest1"


def request(method: str = "INVITE") -> SipRequest:
    raw = (
        f"{method} sip:bob@127.0.0.1:5090 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={BRANCH};rport\r\n"
        "Max-Forwards: 70\r\n"
        "Route: <sip:proxy.test;lr>\r\n"
        "From: <sip:rappel@127.0.0.1>;tag=abc\r\n"
        "To: <sip:bob@127.0.0.1>\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: 7 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipRequest)
    return message


def response(status: int, method: str = "INVITE", branch: str = BRANCH) -> SipResponse:
    raw = (
        f"SIP/2.0 {status} Whatever\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch};rport\r\n"
        "From: <sip:rappel@127.0.0.1>;tag=abc\r\n"
        "To: <sip:bob@127.0.0.1>;tag=far\r\n"
        "Call-ID: call-1@127.0.0.1\r\n"
        f"CSeq: 7 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipResponse)
    return message


def sends(actions: list[Action]) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


def timers_started(actions: list[Action]) -> list[tuple[Timer, float]]:
    return [(a.timer, a.delay_s) for a in actions if isinstance(a, StartTimer)]


def delivered(actions: list[Action]) -> list[int]:
    return [a.response.status_code for a in actions if isinstance(a, Deliver)]


def ended(actions: list[Action]) -> list[Ending]:
    return [a.reason for a in actions if isinstance(a, Terminated)]


def invite(reliable: bool = False) -> InviteClientTransaction:
    return InviteClientTransaction(request(), reliable=reliable, timers=TimerValues(t1=0.5))


def test_invite_over_udp_starts_timers_a_at_t1_and_b_at_64_t1() -> None:
    tx = invite()
    actions = tx.start()
    assert sends(actions) == [bytes(tx.request)]
    assert timers_started(actions) == [(Timer.A, 0.5), (Timer.B, 32.0)]
    assert tx.state == State.CALLING


def test_invite_over_tcp_has_no_timer_a() -> None:
    assert timers_started(invite(reliable=True).start()) == [(Timer.B, 32.0)]


def test_timer_a_retransmits_and_doubles_without_a_cap() -> None:
    tx = invite()
    tx.start()
    delays = []
    for _ in range(6):
        actions = tx.timer_fired(Timer.A)
        assert sends(actions) == [bytes(tx.request)]
        delays += [d for _, d in timers_started(actions)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_timer_b_without_any_response_is_a_timeout() -> None:
    tx = invite()
    tx.start()
    actions = tx.timer_fired(Timer.B)
    assert ended(actions) == [Ending.TIMEOUT]
    assert tx.state == State.TERMINATED
    assert tx.timer_fired(Timer.A) == []


def test_provisional_stops_retransmissions_and_is_delivered() -> None:
    tx = invite()
    tx.start()
    actions = tx.receive(response(180))
    assert delivered(actions) == [180]
    assert CancelTimer(Timer.A) in actions
    assert tx.state == State.PROCEEDING
    assert tx.timer_fired(Timer.A) == []
    assert tx.timer_fired(Timer.B) == []


def test_2xx_passes_up_and_terminates_without_an_ack() -> None:
    tx = invite()
    tx.start()
    tx.receive(response(180))
    actions = tx.receive(response(200))
    assert delivered(actions) == [200]
    assert sends(actions) == []
    assert ended(actions) == [Ending.FINAL]


@pytest.mark.parametrize("status", [486, 407, 487, 401, 600, 404, 503, 302])
def test_non_2xx_final_is_acked_with_the_same_branch(status: int) -> None:
    tx = invite()
    tx.start()
    actions = tx.receive(response(status))
    assert delivered(actions) == [status]
    (ack_bytes,) = sends(actions)
    ack = parse_message(ack_bytes)
    assert isinstance(ack, SipRequest)
    assert ack.method == "ACK"
    assert ack.uri == tx.request.uri
    assert ack.get_header("cseq") == "7 ACK"
    assert f"branch={BRANCH}" in (ack.get_header("via") or "")
    assert ack.get_header("to") == "<sip:bob@127.0.0.1>;tag=far"
    assert ack.get_header("route") == "<sip:proxy.test;lr>"
    assert timers_started(actions) == [(Timer.D, 32.0)]
    assert tx.state == State.COMPLETED


def test_retransmitted_final_is_absorbed_and_re_acked_until_timer_d() -> None:
    tx = invite()
    tx.start()
    first = sends(tx.receive(response(486)))
    again = tx.receive(response(486))
    assert sends(again) == first
    assert delivered(again) == []
    assert ended(tx.timer_fired(Timer.D)) == [Ending.FINAL]
    assert tx.receive(response(486)) == []


def test_non_2xx_final_over_tcp_terminates_at_once() -> None:
    tx = invite(reliable=True)
    tx.start()
    actions = tx.receive(response(486))
    assert len(sends(actions)) == 1
    assert ended(actions) == [Ending.FINAL]


def test_transport_error_terminates_once() -> None:
    tx = invite()
    tx.start()
    assert ended(tx.transport_error()) == [Ending.TRANSPORT_ERROR]
    assert tx.transport_error() == []


def test_start_twice_sends_once() -> None:
    tx = invite()
    assert sends(tx.start())
    assert tx.start() == []


def test_matching_needs_branch_and_method() -> None:
    tx = invite()
    assert tx.matches(response(200))
    assert not tx.matches(response(200, branch="z9hG4bKother"))
    assert not tx.matches(response(200, method="CANCEL"))


def non_invite(reliable: bool = False) -> NonInviteClientTransaction:
    return NonInviteClientTransaction(request("BYE"), reliable=reliable, timers=TimerValues())


def test_timer_e_doubles_up_to_t2() -> None:
    tx = non_invite()
    assert timers_started(tx.start()) == [(Timer.E, 0.5), (Timer.F, 32.0)]
    delays = [timers_started(tx.timer_fired(Timer.E))[0][1] for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_timer_e_in_proceeding_fires_every_t2() -> None:
    tx = non_invite()
    tx.start()
    assert delivered(tx.receive(response(100, "BYE"))) == [100]
    assert timers_started(tx.timer_fired(Timer.E)) == [(Timer.E, 4.0)]


def test_timer_f_is_a_timeout() -> None:
    tx = non_invite()
    tx.start()
    assert ended(tx.timer_fired(Timer.F)) == [Ending.TIMEOUT]


def test_non_invite_final_waits_timer_k_then_ends() -> None:
    tx = non_invite()
    tx.start()
    actions = tx.receive(response(200, "BYE"))
    assert delivered(actions) == [200]
    assert timers_started(actions) == [(Timer.K, 5.0)]
    assert tx.receive(response(200, "BYE")) == []
    assert tx.timer_fired(Timer.E) == []
    assert ended(tx.timer_fired(Timer.K)) == [Ending.FINAL]


def test_non_invite_over_tcp_has_no_timer_e_nor_k() -> None:
    tx = non_invite(reliable=True)
    assert timers_started(tx.start()) == [(Timer.F, 32.0)]
    assert ended(tx.receive(response(481, "BYE"))) == [Ending.FINAL]


def test_abandon_ends_a_proceeding_invite_once() -> None:
    tx = invite()
    tx.start()
    tx.receive(response(180))
    assert ended(tx.abandon()) == [Ending.TIMEOUT]
    assert tx.abandon() == []


def test_cancel_copies_the_invite_branch_uri_routes_and_cseq_number() -> None:
    cancel = build_cancel(request())
    assert cancel.method == "CANCEL"
    assert cancel.uri == "sip:bob@127.0.0.1:5090"
    assert f"branch={BRANCH}" in (cancel.get_header("via") or "")
    assert cancel.get_header("cseq") == "7 CANCEL"
    assert cancel.get_header("route") == "<sip:proxy.test;lr>"
    assert cancel.get_header("to") == "<sip:bob@127.0.0.1>"
