"""UAC dialogs (RFC 3261 section 12): the state a 2xx to our INVITE creates, without I/O.

A `Dialog` holds the Call-ID, both tags, our CSeq, the remote target (the 2xx's Contact)
and the route set (the 2xx's Record-Route in reverse order, section 12.1.2). It builds
every in-dialog request as section 12.2.1.1 says, loose routing (`;lr`) and the older
strict routing alike, so that ACK, BYE and re-INVITE follow the proxies that asked to stay
in the path, and it recognises requests the far end sends inside it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiosipua.headers import parse_address, stringify_uri

from rappel.telephony.sip.messages import (
    SipParseError,
    SipRequest,
    SipResponse,
    cseq_of,
    tag_of,
)

__all__ = ["Dialog"]


def _uri_of(address: str) -> str:
    """The URI inside a name-addr (`<sip:...>;params`), parameters of the URI kept."""
    value = address.strip()
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0] if value.lower().startswith("sip") else value


def _is_loose(route: str) -> bool:
    return "lr" in parse_address(route).uri.params


class Dialog:
    """One UAC dialog: identifiers, sequence numbers, remote target and route set."""

    def __init__(
        self,
        *,
        call_id: str,
        local_tag: str,
        remote_tag: str,
        local_header: str,
        remote_header: str,
        local_cseq: int,
        remote_target: str,
        route_set: Sequence[str] = (),
    ) -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        #: Our From header value (with our tag), reused on every request.
        self.local_header = local_header
        #: The far end's To header value (with its tag), reused on every request.
        self.remote_header = remote_header
        self.local_cseq = local_cseq
        self.remote_cseq: int | None = None
        self.remote_target = remote_target
        self.route_set = tuple(route_set)

    @classmethod
    def from_2xx(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog a 2xx to `invite` establishes (section 12.1.2).

        Raises `SipParseError` when the 2xx lacks what a dialog needs (a Contact, a To tag).
        """
        contacts = response.headers.get("contact")
        remote_tag = tag_of(response.get_header("to"))
        if not contacts or not remote_tag:
            raise SipParseError("a 2xx to INVITE needs a Contact and a To tag")
        target = _uri_of(contacts[0])
        if not target.lower().startswith(("sip:", "sips:")):
            raise SipParseError(f"unusable Contact {contacts[0][:80]!r}")
        return cls(
            call_id=invite.call_id or "",
            local_tag=tag_of(invite.get_header("from")),
            remote_tag=remote_tag,
            local_header=invite.get_header("from") or "",
            remote_header=response.get_header("to") or "",
            local_cseq=cseq_of(invite)[0],
            remote_target=target,
            route_set=tuple(reversed(response.headers.get("record-route"))),
        )

    def next_hop_uri(self) -> str:
        """Where in-dialog requests go first: the first route, else the remote target."""
        return _uri_of(self.route_set[0]) if self.route_set else self.remote_target

    def new_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[str, str]] = (),
        cseq: int | None = None,
    ) -> SipRequest:
        """An in-dialog request without its Via (the transport layer adds one).

        A new CSeq is taken unless `cseq` is given (ACK reuses its INVITE's number).
        """
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        uri, routes = self._request_uri_and_routes()
        request = SipRequest(method=method, uri=uri)
        request.set_header("Max-Forwards", "70")
        for route in routes:
            request.add_header("Route", route)
        request.set_header("From", self.local_header)
        request.set_header("To", self.remote_header)
        request.set_header("Call-ID", self.call_id)
        request.set_header("CSeq", f"{cseq} {method}")
        for name, value in headers:
            request.add_header(name, value)
        request.body = body
        return request

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        if _is_loose(self.route_set[0]):
            return self.remote_target, list(self.route_set)
        # Strict routing (section 12.2.1.1): the first route becomes the Request-URI.
        first = parse_address(self.route_set[0]).uri
        first.params = {k: v for k, v in first.params.items() if k not in ("method", "maddr")}
        first.headers = {}
        return stringify_uri(first), [*self.route_set[1:], f"<{self.remote_target}>"]

    def is_from_far_end(self, request: SipRequest) -> bool:
        """True when `request` belongs to this dialog (section 12.2.2)."""
        return (
            request.call_id == self.call_id
            and tag_of(request.get_header("to")) == self.local_tag
            and tag_of(request.get_header("from")) == self.remote_tag
        )

    def accept_remote_cseq(self, request: SipRequest) -> bool:
        """Record the far end's CSeq; False for an out-of-order request (answer 500)."""
        number = cseq_of(request)[0]
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return request.method == "ACK"
        self.remote_cseq = number
        return True

    def refresh_target(self, message: SipRequest | SipResponse) -> None:
        """A target refresh (re-INVITE, UPDATE or their 2xx) moves the remote target."""
        contacts = message.headers.get("contact")
        if contacts:
            target = _uri_of(contacts[0])
            if target.lower().startswith(("sip:", "sips:")):
                self.remote_target = target
