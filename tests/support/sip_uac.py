"""Just enough SIP over UDP on loopback to call a test phone with an SDP of our choosing.

INVITE, ACK and BYE, no retransmission, no authentication: a harness for media
tests (what a 3PCC controller does with rtpengine's SDP), not Rappel's SIP stack.

    uac = MiniUac()
    call = uac.invite(phone.uri, offer_sdp)     # blocks until the 200 OK
    call.answer_sdp                              # the phone's SDP answer
    uac.bye(call)
"""

from __future__ import annotations

import re
import secrets
import socket
from dataclasses import dataclass
from types import TracebackType


@dataclass
class Dialog:
    """One call placed by `MiniUac`."""

    uri: str
    call_id: str
    from_tag: str
    to_header: str
    remote_target: str
    destination: tuple[str, int]
    answer_sdp: bytes
    cseq: int = 1


class SipFailure(Exception):
    """The phone answered the INVITE with a final failure."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status


class MiniUac:
    """A UDP SIP user agent client on 127.0.0.1 and a free port; a context manager."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout_s)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MiniUac:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def invite(self, uri: str, sdp: bytes) -> Dialog:
        """Call `uri` offering `sdp`; ACK the 200 OK and return the dialog."""
        host, port = _host_port(uri)
        call_id, from_tag = secrets.token_hex(8), secrets.token_hex(4)
        self._send(
            (host, port),
            f"INVITE {uri} SIP/2.0",
            self._headers(call_id, from_tag, f"<{uri}>", "1 INVITE"),
            sdp,
        )
        while True:
            message = self._receive()
            status, reason, headers, body = _parse_response(message)
            if status is None or headers.get("call-id") != call_id or status < 200:
                continue
            if status >= 300:
                self._ack(uri, (host, port), call_id, from_tag, headers["to"])
                raise SipFailure(status, reason)
            contact = re.search(r"<([^>]+)>", headers.get("contact", f"<{uri}>"))
            target = contact.group(1) if contact else uri
            dialog = Dialog(uri, call_id, from_tag, headers["to"], target, (host, port), body)
            self._ack(target, (host, port), call_id, from_tag, headers["to"])
            return dialog

    def bye(self, dialog: Dialog) -> None:
        """Hang up; waits for the phone's 200."""
        dialog.cseq += 1
        headers = self._headers(
            dialog.call_id, dialog.from_tag, dialog.to_header, f"{dialog.cseq} BYE"
        )
        self._send(dialog.destination, f"BYE {dialog.remote_target} SIP/2.0", headers, b"")
        while True:
            status, _, headers_in, _ = _parse_response(self._receive())
            if status is not None and headers_in.get("cseq", "").endswith("BYE"):
                return

    def _ack(
        self, target: str, destination: tuple[str, int], call_id: str, from_tag: str, to: str
    ) -> None:
        headers = self._headers(call_id, from_tag, to, "1 ACK")
        self._send(destination, f"ACK {target} SIP/2.0", headers, b"")

    def _headers(self, call_id: str, from_tag: str, to: str, cseq: str) -> list[str]:
        local = f"127.0.0.1:{self.port}"
        return [
            f"Via: SIP/2.0/UDP {local};branch=z9hG4bK{secrets.token_hex(6)};rport",
            "Max-Forwards: 70",
            f"From: <sip:rappel@{local}>;tag={from_tag}",
            f"To: {to}",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq}",
            f"Contact: <sip:rappel@{local}>",
        ]

    def _send(
        self, destination: tuple[str, int], start: str, headers: list[str], body: bytes
    ) -> None:
        lines = [start, *headers]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode() + body, destination)

    def _receive(self) -> bytes:
        """The next response; requests from the phone (a BYE) are answered 200 and skipped."""
        while True:
            data, source = self.sock.recvfrom(65536)
            if data.startswith(b"SIP/2.0 "):
                return data
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
            if head[0].startswith("ACK"):
                continue
            kept = [line for line in head[1:] if line.split(":")[0].lower() in _ECHOED]
            reply = "\r\n".join(["SIP/2.0 200 OK", *kept, "Content-Length: 0"]) + "\r\n\r\n"
            self.sock.sendto(reply.encode(), source)


_ECHOED = {"via", "from", "to", "call-id", "cseq"}


def _host_port(uri: str) -> tuple[str, int]:
    match = re.match(r"sips?:(?:[^@]+@)?([^:;>]+)(?::(\d+))?", uri)
    if match is None:
        raise ValueError(f"not a SIP URI: {uri}")
    return match.group(1), int(match.group(2) or 5060)


def _parse_response(message: bytes) -> tuple[int | None, str, dict[str, str], bytes]:
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None, "", {}, b""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers, body
