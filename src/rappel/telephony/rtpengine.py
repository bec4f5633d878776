"""An asyncio client of rtpengine's ng control protocol.

A request is a datagram `<cookie> <bencoded dict>`; rtpengine answers with the
same cookie and a bencoded dict whose "result" is "ok", "pong" or "error" (then
"error-reason" says why). rtpengine remembers the reply to each cookie for a
while, so a retransmission of the same cookie is answered from that cache and
never executes a command twice: that is what makes retrying an offer safe.

Everything here speaks in rtpengine's own terms (call-id, from-tag, to-tag);
`rappel.telephony.media` builds the per-leg recipe on top of it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rappel.domain.errors import RappelError, ValidationFailed
from rappel.telephony import bencode

#: The largest datagram sent or accepted; rtpengine's own receive buffer is 64 KiB.
MAX_DATAGRAM = 65_000
#: How many commands may wait for their replies at once on one client.
MAX_PENDING = 1_024

Value = bytes | str | int | Sequence["Value"] | Mapping[str, "Value"]


class RtpEngineError(RappelError):
    """rtpengine refused a command, or gave no usable answer in time."""


class RtpEngineTimeout(RtpEngineError):
    """No reply after every retransmission: rtpengine is down or unreachable."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where rtpengine listens for ng commands."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, field: str = "RAPPEL_RTPENGINE") -> Endpoint:
        """Read `host:port` (an IPv6 host in brackets: `[::1]:22222`)."""
        host, sep, port_text = text.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValidationFailed(field, f"{text!r} is not host:port, e.g. 127.0.0.1:22222")
        return cls(host, int(port_text))


@dataclass(frozen=True, slots=True)
class PlayResult:
    """What `play media` reported."""

    #: How long the file plays, in seconds (0.0 when rtpengine did not say).
    duration_s: float


class RtpEngine:
    """One UDP socket to one rtpengine; commands may run concurrently.

    Use it as an async context manager, or call `open()` and `close()`.
    """

    def __init__(self, address: str, timeout_s: float = 1.0, retries: int = 3) -> None:
        if timeout_s <= 0:
            raise ValidationFailed("timeout_s", "must be positive")
        if retries < 0:
            raise ValidationFailed("retries", "must not be negative")
        self.endpoint = Endpoint.parse(address)
        self.timeout_s = timeout_s
        self.retries = retries
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _NgProtocol | None = None

    # Lifecycle ------------------------------------------------------------

    async def open(self) -> RtpEngine:
        await self._connection()
        return self

    async def _connection(self) -> tuple[asyncio.DatagramTransport, _NgProtocol]:
        if self._transport is None or self._protocol is None:
            loop = asyncio.get_running_loop()
            self._transport, self._protocol = await loop.create_datagram_endpoint(
                _NgProtocol, remote_addr=(self.endpoint.host, self.endpoint.port)
            )
        return self._transport, self._protocol

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._protocol is not None:
            self._protocol.fail_all(RtpEngineError("the rtpengine client was closed"))
            self._protocol = None

    async def __aenter__(self) -> RtpEngine:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # The raw command --------------------------------------------------------

    async def command(self, name: str, **params: Value) -> dict[str, Any]:
        """Send one command; return its reply with keys as text.

        Parameter names use the protocol's dashes with underscores in Python:
        `from_tag="a"` is sent as "from-tag". Raises `RtpEngineError` when
        rtpengine answers "error", `RtpEngineTimeout` when it never answers.
        """
        request: dict[str, Value] = {"command": name}
        request.update({key.replace("_", "-"): value for key, value in params.items()})
        cookie = secrets.token_hex(8).encode()
        datagram = cookie + b" " + bencode.encode(request)
        if len(datagram) > MAX_DATAGRAM:
            raise RtpEngineError(f"the {name} command is {len(datagram)} bytes, too large")
        reply = await self._exchange(cookie, datagram, name)
        if reply.get("result") == "error":
            reason = reply.get("error-reason", "no reason given")
            raise RtpEngineError(f"rtpengine refused {name}: {reason}")
        return reply

    async def _exchange(self, cookie: bytes, datagram: bytes, name: str) -> dict[str, Any]:
        transport, protocol = await self._connection()
        reply = protocol.expect(cookie)
        try:
            for _ in range(self.retries + 1):
                transport.sendto(datagram)
                try:
                    return await asyncio.wait_for(asyncio.shield(reply), self.timeout_s)
                except TimeoutError:
                    continue
        finally:
            protocol.forget(cookie)
            if not reply.done():
                reply.cancel()
        raise RtpEngineTimeout(
            f"rtpengine at {self.endpoint.host}:{self.endpoint.port} did not answer {name}"
        )

    # Commands ------------------------------------------------------------

    async def ping(self) -> bool:
        """True when rtpengine answers "pong"; False when it does not answer."""
        try:
            reply = await self.command("ping")
        except RtpEngineError:
            return False
        return reply.get("result") == "pong"

    async def offer(
        self,
        call_id: str,
        from_tag: str,
        sdp: bytes,
        flags: Sequence[str] = (),
        **params: Value,
    ) -> bytes:
        """Hand rtpengine an offer from `from_tag`; return the SDP to send onward."""
        reply = await self.command(
            "offer", call_id=call_id, from_tag=from_tag, sdp=sdp, flags=list(flags), **params
        )
        return _sdp_of(reply, "offer")

    async def answer(
        self,
        call_id: str,
        from_tag: str,
        to_tag: str,
        sdp: bytes,
        flags: Sequence[str] = (),
        **params: Value,
    ) -> bytes:
        """Hand rtpengine the answer of `to_tag`; return the SDP to send back to `from_tag`."""
        reply = await self.command(
            "answer",
            call_id=call_id,
            from_tag=from_tag,
            to_tag=to_tag,
            sdp=sdp,
            flags=list(flags),
            **params,
        )
        return _sdp_of(reply, "answer")

    async def delete(self, call_id: str) -> bool:
        """End a call's media at once; False when rtpengine no longer knew the call."""
        # Without delete-delay 0 rtpengine keeps a deleted call for 30 s.
        reply = await self.command("delete", call_id=call_id, delete_delay=0)
        return "warning" not in reply

    async def query(self, call_id: str) -> dict[str, Any] | None:
        """The call's state as rtpengine reports it, or None when it is unknown."""
        try:
            return await self.command("query", call_id=call_id)
        except RtpEngineTimeout:
            raise
        except RtpEngineError as error:
            if "Unknown call-id" in error.message:
                return None
            raise

    async def play_media(
        self, call_id: str, from_tag: str, file: str, repeat_times: int = 1
    ) -> PlayResult:
        """Play an audio file into the call from `from_tag`'s side."""
        reply = await self.command(
            "play media",
            call_id=call_id,
            from_tag=from_tag,
            file=file,
            repeat_times=repeat_times,
        )
        duration = reply.get("duration")
        return PlayResult(duration / 1000 if isinstance(duration, int) else 0.0)

    async def stop_media(self, call_id: str, from_tag: str) -> None:
        """Stop what `play_media` started; nothing playing (or no such party yet) is fine."""
        try:
            await self.command("stop media", call_id=call_id, from_tag=from_tag)
        except RtpEngineTimeout:
            raise
        except RtpEngineError as error:
            if not any(reason in error.message for reason in _NOT_PLAYING):
                raise


_NOT_PLAYING = ("Not currently playing media", "no such tag exists")


def _sdp_of(reply: Mapping[str, Any], name: str) -> bytes:
    sdp = reply.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise RtpEngineError(f"rtpengine's reply to {name} carries no SDP")
    return sdp.encode()


def _text(value: Any) -> Any:
    """Bencode has only byte strings; rtpengine's replies are ASCII/UTF-8 text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_text(item) for item in value]
    if isinstance(value, dict):
        return {_text(key): _text(item) for key, item in value.items()}
    return value


class _NgProtocol(asyncio.DatagramProtocol):
    """Matches replies to waiting commands by cookie; drops anything else."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, cookie: bytes) -> asyncio.Future[dict[str, Any]]:
        if len(self._waiting) >= MAX_PENDING:
            raise RtpEngineError(f"more than {MAX_PENDING} rtpengine commands are waiting")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[cookie] = future
        return future

    def forget(self, cookie: bytes) -> None:
        self._waiting.pop(cookie, None)

    def fail_all(self, error: Exception) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
        self._waiting.clear()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        cookie, sep, body = data.partition(b" ")
        future = self._waiting.get(cookie)
        if not sep or future is None or future.done() or len(data) > MAX_DATAGRAM:
            return
        try:
            reply = bencode.decode(body)
        except bencode.BencodeError:
            future.set_exception(RtpEngineError("rtpengine's reply is not valid bencode"))
            return
        if not isinstance(reply, dict):
            future.set_exception(RtpEngineError("rtpengine's reply is not a dictionary"))
            return
        future.set_result(_text(reply))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while rtpengine is down: the retransmission
        # timer decides when to give up, so there is nothing to do here.
        pass
