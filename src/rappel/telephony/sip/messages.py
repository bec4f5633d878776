"""SIP messages on the wire: parsing untrusted bytes, building requests and responses.

aiosipua does the parsing and serialisation; this module is the only place that imports it,
so the rest of Rappel sees `SipRequest`, `SipResponse`, `SipUri` and the functions below.
Parsing is strict where Rappel relies on a field (the start line, Via, From, To, Call-ID,
CSeq) and bounded (message size, header count): whatever a peer sends, `parse_message`
returns a message or raises `SipParseError`, never anything else.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from aiosipua.headers import parse_address, parse_uri, parse_via, stringify_address
from aiosipua.message import SipMessage, SipRequest, SipResponse
from aiosipua.sdp import SdpMessage, parse_sdp

from rappel.domain.errors import RappelError

__all__ = [
    "MAX_HEADERS",
    "MAX_MESSAGE_BYTES",
    "Hop",
    "SdpMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "cseq_of",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "next_hop",
    "parse_message",
    "parse_sdp_answer",
    "tag_of",
    "top_branch",
]

#: Largest message accepted (a UDP datagram cannot be larger; TCP frames are cut here too).
MAX_MESSAGE_BYTES = 65_535
#: Most header lines accepted in one message; more is hostile input.
MAX_HEADERS = 128
#: RFC 3261 section 8.1.1.8: CSeq numbers are below 2**31.
MAX_CSEQ = 2**31 - 1
#: The magic cookie that marks an RFC 3261 branch (section 8.1.1.7).
BRANCH_COOKIE = "z9hG4bK"

_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_URI_SCHEME = re.compile(r"(?i)(^|[<\s])(sips?|tel):")
_REQUIRED = ("via", "from", "to", "call-id", "cseq")


class SipParseError(RappelError):
    """Bytes that are not a SIP message Rappel can act on (malformed, too large, incomplete)."""


@dataclass(frozen=True, slots=True)
class Hop:
    """Where to send a request: host, port and transport ("udp" or "tcp")."""

    host: str
    port: int
    transport: str


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one SIP message; raise `SipParseError` for anything unusable."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    head = data.split(b"\r\n\r\n", 1)[0]
    if head.count(b"\n") > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} header lines")
    try:
        _check_start_line(head.split(b"\n", 1)[0].decode("utf-8").strip())
        message = SipMessage.parse(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SipParseError(f"malformed message: {exc}") from exc
    _check_required(message)
    return message


def _check_start_line(line: str) -> None:
    parts = line.split(" ", 2)
    if line.startswith("SIP/"):
        if parts[0] != "SIP/2.0" or len(parts) < 2 or not re.fullmatch(r"[1-6]\d\d", parts[1]):
            raise SipParseError(f"bad status line {line[:80]!r}")
        return
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not _TOKEN.match(parts[0]):
        raise SipParseError(f"bad request line {line[:80]!r}")
    if ":" not in parts[1]:
        raise SipParseError(f"bad Request-URI {parts[1][:80]!r}")


def _check_required(message: SipRequest | SipResponse) -> None:
    for name in _REQUIRED:
        if not message.get_header(name):
            raise SipParseError(f"missing {name} header")
    cseq_of(message)
    if not parse_via(message.headers.get("via")[0]).host:
        raise SipParseError("Via without a sent-by host")
    for name in ("from", "to"):
        value = message.get_header(name) or ""
        if not _URI_SCHEME.search(value) or not parse_address(value).uri.host:
            raise SipParseError(f"{name} header without a host")
    if isinstance(message, SipRequest) and message.cseq and message.cseq.method != message.method:
        raise SipParseError("CSeq method differs from the request method")


def cseq_of(message: SipRequest | SipResponse) -> tuple[int, str]:
    """The CSeq number and method; `SipParseError` when absent or malformed."""
    parts = (message.get_header("cseq") or "").split()
    if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.match(parts[1]):
        raise SipParseError("malformed CSeq header")
    number = int(parts[0])
    if number > MAX_CSEQ:
        raise SipParseError("CSeq number out of range")
    return number, parts[1]


def top_branch(message: SipRequest | SipResponse) -> str:
    """The branch parameter of the top Via ("" when the peer sent none)."""
    vias = message.headers.get("via")
    return (parse_via(vias[0]).branch or "") if vias else ""


def tag_of(header_value: str | None) -> str:
    """The tag parameter of a From or To header value ("" when absent)."""
    return (parse_address(header_value).tag or "") if header_value else ""


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie and 64 random bits."""
    return BRANCH_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (32 random bits or more, section 19.3)."""
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    """A globally unique Call-ID: 128 random bits at our host."""
    return f"{secrets.token_hex(16)}@{host}"


def make_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str = "",
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to `request` (section 8.2.6): Via, From, To, Call-ID and CSeq copied."""
    response = SipResponse(status_code=status, reason_phrase=reason)
    for via in request.headers.get("via"):
        response.add_header("Via", via)
    to = request.get_header("to") or ""
    if to_tag and not tag_of(to) and status > 100:
        address = parse_address(to)
        address.tag = to_tag
        to = stringify_address(address)
    response.set_header("From", request.get_header("from") or "")
    response.set_header("To", to)
    response.set_header("Call-ID", request.call_id or "")
    response.set_header("CSeq", request.get_header("cseq") or "")
    for name, value in headers:
        response.add_header(name, value)
    response.body = body
    return response


def next_hop(uri: str) -> Hop:
    """The host, port and transport a SIP URI points at (RFC 3263 without DNS SRV)."""
    parsed = parse_uri(uri.strip().strip("<>"))
    if (
        parsed.scheme != "sip"
        or not parsed.host
        or not uri.strip().lower().startswith(("sip:", "<sip:"))
    ):
        raise SipParseError(f"not a sip: URI with a host: {uri[:80]!r}")
    transport = (parsed.params.get("transport") or "udp").lower()
    if transport not in ("udp", "tcp"):
        raise SipParseError(f"unsupported transport {transport!r} in {uri[:80]!r}")
    port = parsed.port if parsed.port is not None else 5060
    if not 0 < port < 65536:
        raise SipParseError(f"port out of range in {uri[:80]!r}")
    return Hop(parsed.host.strip("[]"), port, transport)


def parse_sdp_answer(body: bytes) -> SdpMessage:
    """The session description of an answer; `SipParseError` unless it has an audio stream."""
    try:
        sdp = parse_sdp(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, IndexError) as exc:
        raise SipParseError(f"unparsable SDP: {exc}") from exc
    audio = sdp.audio
    if audio is None or (audio.connection or sdp.connection) is None:
        raise SipParseError("SDP without an audio stream and a connection address")
    return sdp
