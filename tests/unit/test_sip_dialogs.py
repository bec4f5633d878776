"""UAC dialogs: identifiers from the 2xx, route set reversed, loose and strict routing."""

from __future__ import annotations

import pytest

from rappel.telephony.sip.dialogs import Dialog
from rappel.telephony.sip.messages import SipParseError, SipRequest, SipResponse, parse_message

INVITE = (
    b"INVITE sip:1650@trunk.test SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n"
    b"From: <sip:rappel@127.0.0.1>;tag=ours\r\n"
    b"To: <sip:1650@trunk.test>\r\n"
    b"Call-ID: c1@127.0.0.1\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Contact: <sip:rappel@127.0.0.1:5060>\r\n\r\n"
)


def ok(
    record_routes: str = "", contact: str = "Contact: <sip:bob@10.0.0.9:5070;transport=tcp>\r\n"
) -> SipResponse:
    raw = (
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa\r\n"
        f"{record_routes}"
        "From: <sip:rappel@127.0.0.1>;tag=ours\r\n"
        "To: <sip:1650@trunk.test>;tag=theirs\r\n"
        "Call-ID: c1@127.0.0.1\r\n"
        "CSeq: 2 INVITE\r\n"
        f"{contact}\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipResponse)
    return message


def dialog(record_routes: str = "") -> Dialog:
    invite = parse_message(INVITE)
    assert isinstance(invite, SipRequest)
    return Dialog.from_2xx(invite, ok(record_routes))


def test_dialog_takes_ids_tags_cseq_and_target_from_the_2xx() -> None:
    d = dialog()
    assert (d.call_id, d.local_tag, d.remote_tag) == ("c1@127.0.0.1", "ours", "theirs")
    assert d.local_cseq == 2
    assert d.remote_target == "sip:bob@10.0.0.9:5070;transport=tcp"
    bye = d.new_request("BYE")
    assert bye.uri == "sip:bob@10.0.0.9:5070;transport=tcp"
    assert bye.get_header("cseq") == "3 BYE"
    assert bye.get_header("to") == "<sip:1650@trunk.test>;tag=theirs"
    assert bye.get_header("route") is None
    assert d.next_hop_uri() == "sip:bob@10.0.0.9:5070;transport=tcp"


def test_route_set_is_the_record_route_reversed_with_loose_routing() -> None:
    d = dialog("Record-Route: <sip:p2.test;lr>\r\nRecord-Route: <sip:p1.test:5100;lr>\r\n")
    assert d.route_set == ("<sip:p1.test:5100;lr>", "<sip:p2.test;lr>")
    bye = d.new_request("BYE")
    assert bye.uri == d.remote_target
    assert bye.headers.get("route") == ["<sip:p1.test:5100;lr>", "<sip:p2.test;lr>"]
    assert d.next_hop_uri() == "sip:p1.test:5100;lr"


def test_comma_joined_record_route_is_split_and_reversed() -> None:
    d = dialog("Record-Route: <sip:p2.test;lr>, <sip:p1.test;lr>\r\n")
    assert d.route_set == ("<sip:p1.test;lr>", "<sip:p2.test;lr>")


def test_strict_route_becomes_the_request_uri() -> None:
    d = dialog("Record-Route: <sip:p2.test;lr>\r\nRecord-Route: <sip:p1.test>\r\n")
    bye = d.new_request("BYE")
    assert bye.uri == "sip:p1.test"
    assert bye.headers.get("route") == ["<sip:p2.test;lr>", f"<{d.remote_target}>"]


def test_ack_reuses_the_invite_cseq_and_does_not_advance_it() -> None:
    d = dialog()
    ack = d.new_request("ACK", cseq=2)
    assert ack.get_header("cseq") == "2 ACK"
    assert d.new_request("BYE").get_header("cseq") == "3 BYE"


def request_from_far_end(to_tag: str, from_tag: str, cseq: int = 1) -> SipRequest:
    raw = (
        "BYE sip:rappel@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.9:5070;branch=z9hG4bKb\r\n"
        f"From: <sip:1650@trunk.test>;tag={from_tag}\r\n"
        f"To: <sip:rappel@127.0.0.1>;tag={to_tag}\r\n"
        "Call-ID: c1@127.0.0.1\r\n"
        f"CSeq: {cseq} BYE\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, SipRequest)
    return message


def test_recognises_requests_from_the_far_end() -> None:
    d = dialog()
    assert d.is_from_far_end(request_from_far_end("ours", "theirs"))
    assert not d.is_from_far_end(request_from_far_end("theirs", "ours"))
    assert not d.is_from_far_end(request_from_far_end("ours", "other"))


def test_remote_cseq_must_grow() -> None:
    d = dialog()
    assert d.accept_remote_cseq(request_from_far_end("ours", "theirs", 5))
    assert not d.accept_remote_cseq(request_from_far_end("ours", "theirs", 5))
    assert d.accept_remote_cseq(request_from_far_end("ours", "theirs", 6))


def test_a_2xx_without_contact_makes_no_dialog() -> None:
    invite = parse_message(INVITE)
    assert isinstance(invite, SipRequest)
    with pytest.raises(SipParseError):
        Dialog.from_2xx(invite, ok(contact=""))


def test_target_refresh_moves_the_remote_target() -> None:
    d = dialog()
    d.refresh_target(ok(contact="Contact: <sip:bob@10.0.0.10>\r\n"))
    assert d.new_request("BYE").uri == "sip:bob@10.0.0.10"
