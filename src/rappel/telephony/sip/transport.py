"""asyncio UDP and TCP endpoints that carry SIP messages (RFC 3261 section 18).

`SipTransport` listens on one address for UDP and TCP alike, hands every complete message
to a receiver callback as raw bytes with the `Peer` it came from, and sends bytes to a peer.
TCP connections are reused per peer, both those we open and those peers open to us, so a
response goes back on the connection its request came in on. A stream is cut into messages
by Content-Length (`StreamFramer`, sans-I/O); a peer that exceeds the bounds is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from rappel.domain.errors import RappelError
from rappel.telephony.sip.messages import MAX_MESSAGE_BYTES, SipParseError

__all__ = ["Peer", "SipTransport", "StreamFramer", "TransportError"]

logger = logging.getLogger(__name__)

#: Longest header section accepted on a stream before its blank line.
MAX_STREAM_HEADER_BYTES = 16_384
#: How long opening a TCP connection may take.
CONNECT_TIMEOUT_S = 5.0

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.I | re.M)


class TransportError(RappelError):
    """A message could not be sent (connection refused, reset, unreachable)."""


@dataclass(frozen=True, slots=True)
class Peer:
    """The far side of a message: address and transport ("udp" or "tcp")."""

    host: str
    port: int
    transport: str


Receiver = Callable[[bytes, Peer], None]


class StreamFramer:
    """Cuts a byte stream into SIP messages by Content-Length (section 18.3)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return the complete messages. `SipParseError` when a bound is broken."""
        self._buffer += data
        messages: list[bytes] = []
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # keep-alive CRLFs between messages
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_STREAM_HEADER_BYTES:
                    raise SipParseError("header section too long on a stream")
                return messages
            if end > MAX_STREAM_HEADER_BYTES:
                raise SipParseError("header section too long on a stream")
            head = self._buffer[:end]
            match = _CONTENT_LENGTH.search(head)
            length = int(match.group(1)) if match else 0
            if end + 4 + length > MAX_MESSAGE_BYTES:
                raise SipParseError("message too large on a stream")
            if len(self._buffer) < end + 4 + length:
                return messages
            messages.append(self._buffer[: end + 4 + length])
            self._buffer = self._buffer[end + 4 + length :]


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.receiver(data, Peer(str(addr[0]), int(addr[1]), "udp"))

    def error_received(self, exc: Exception) -> None:
        logger.info("SIP UDP error: %s", exc)


class _Stream(asyncio.Protocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(str(host), int(port), "tcp")
        self.owner._streams[(self.peer.host, self.peer.port)] = self

    def data_received(self, data: bytes) -> None:
        try:
            messages = self.framer.feed(data)
        except SipParseError as exc:
            logger.warning("SIP TCP peer %s dropped: %s", self.peer, exc)
            if self.transport is not None:
                self.transport.close()
            return
        for message in messages:
            if self.peer is not None:
                self.owner.receiver(message, self.peer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.owner._forget((self.peer.host, self.peer.port), self)


class SipTransport:
    """One UDP socket and one TCP listener on the same address, plus outgoing TCP streams."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._streams: dict[tuple[str, int], _Stream] = {}
        self.bound: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on UDP and TCP; port 0 picks a port free for both. Returns the address."""
        loop = asyncio.get_running_loop()
        for _attempt in range(20):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self.receiver), local_addr=(host, port)
            )
            chosen = int(udp.get_extra_info("sockname")[1])
            try:
                self._server = await loop.create_server(lambda: _Stream(self), host, chosen)
            except OSError:
                udp.close()
                if port:
                    raise
                continue
            self._udp = udp
            self.bound = (host, chosen)
            return self.bound
        raise TransportError(f"no port free for both UDP and TCP on {host}")

    async def send(self, data: bytes, peer: Peer) -> None:
        """Send one message; `TransportError` when it cannot be sent."""
        if peer.transport == "udp":
            if self._udp is None:
                raise TransportError("transport is closed")
            self._udp.sendto(data, (await self._resolve(peer.host), peer.port))
            return
        stream = self._streams.get((peer.host, peer.port)) or await self._connect(peer)
        if stream.transport is None or stream.transport.is_closing():
            raise TransportError(f"connection to {peer.host}:{peer.port} is closed")
        stream.transport.write(data)

    async def _resolve(self, host: str) -> str:
        """An IPv4 address for `host` (the UDP socket is IPv4); resolved without blocking."""
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, family=socket.AF_INET)
        except OSError as exc:
            raise TransportError(f"cannot resolve {host}: {exc}") from exc
        if not infos:
            raise TransportError(f"cannot resolve {host}")
        return str(infos[0][4][0])

    async def _connect(self, peer: Peer) -> _Stream:
        loop = asyncio.get_running_loop()
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(lambda: _Stream(self), peer.host, peer.port),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            raise TransportError(f"cannot connect to {peer.host}:{peer.port}: {exc}") from exc
        self._streams[(peer.host, peer.port)] = stream
        return stream

    def _forget(self, key: tuple[str, int], stream: _Stream) -> None:
        for name, known in list(self._streams.items()):
            if known is stream:
                del self._streams[name]

    async def close(self) -> None:
        """Stop listening and close every connection."""
        if self._udp is not None:
            self._udp.close()
        for stream in list(self._streams.values()):
            if stream.transport is not None:
                stream.transport.close()
        self._streams.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
