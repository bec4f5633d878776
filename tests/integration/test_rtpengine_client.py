"""The ng client against a scripted UDP peer on loopback: cookies, retransmission, errors.

The real rtpengine is in test_rtpengine.py; this peer makes it misbehave on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.telephony import bencode
from rappel.telephony.rtpengine import RtpEngine, RtpEngineError, RtpEngineTimeout
from tests.support.peers import free_udp_port

Script = Callable[[bytes, dict[bytes, Any]], list[bytes]]


class ScriptedPeer(asyncio.DatagramProtocol):
    """Answers each datagram with what `script(cookie, request)` returns."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[tuple[bytes, dict[bytes, Any]]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        cookie, _, body = data.partition(b" ")
        request = bencode.decode(body)
        assert isinstance(request, dict)
        self.received.append((cookie, request))
        assert self.transport is not None
        for reply in self.script(cookie, request):
            self.transport.sendto(reply, addr)


def reply(cookie: bytes, **fields: Any) -> bytes:
    return cookie + b" " + bencode.encode(fields)


async def with_peer(script: Script, test: Callable[[RtpEngine, ScriptedPeer], Any]) -> None:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        lambda: ScriptedPeer(script), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        async with RtpEngine(f"127.0.0.1:{port}", timeout_s=0.05, retries=2) as engine:
            await test(engine, peer)
    finally:
        transport.close()


def run(script: Script, test: Callable[[RtpEngine, ScriptedPeer], Any]) -> None:
    asyncio.run(with_peer(script, test))


def test_a_command_is_sent_as_cookie_and_bencoded_dict_with_dashed_keys() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        sdp = await engine.offer("call-1", "tag-a", b"v=0\r\n", flags=["port-latching"])
        assert sdp == b"v=1\r\n"
        [(_, request)] = peer.received
        assert request == {
            b"command": b"offer",
            b"call-id": b"call-1",
            b"from-tag": b"tag-a",
            b"sdp": b"v=0\r\n",
            b"flags": [b"port-latching"],
        }

    run(lambda cookie, _: [reply(cookie, result="ok", sdp="v=1\r\n")], test)


def test_a_lost_request_is_retransmitted_with_the_same_cookie() -> None:
    def drop_first(cookie: bytes, request: dict[bytes, Any]) -> list[bytes]:
        dropped.append(cookie)
        return [] if len(dropped) == 1 else [reply(cookie, result="pong")]

    dropped: list[bytes] = []

    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        assert await engine.ping() is True
        cookies = [cookie for cookie, _ in peer.received]
        assert len(cookies) == 2
        assert cookies[0] == cookies[1]

    run(drop_first, test)


def test_silence_after_every_retransmission_raises_a_timeout() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        with pytest.raises(RtpEngineTimeout, match="did not answer query"):
            await engine.query("call-1")
        assert len(peer.received) == 3
        assert await engine.ping() is False

    run(lambda cookie, _: [], test)


def test_replies_are_matched_by_cookie_and_strangers_are_ignored() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        first, second = await asyncio.gather(
            engine.command("query", call_id="one"), engine.command("query", call_id="two")
        )
        assert first["echo"] == "one"
        assert second["echo"] == "two"

    def script(cookie: bytes, request: dict[bytes, Any]) -> list[bytes]:
        stranger = reply(b"0000", result="ok", echo="stranger")
        return [stranger, b"garbage", reply(cookie, result="ok", echo=request[b"call-id"])]

    run(script, test)


def test_an_error_reply_raises_with_rtpengines_reason() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        with pytest.raises(RtpEngineError, match="refused offer: Failed to parse SDP"):
            await engine.offer("call-1", "tag-a", b"nonsense")
        assert len(peer.received) == 1

    run(lambda c, _: [reply(c, result="error", **{"error-reason": "Failed to parse SDP"})], test)


def test_a_reply_that_is_not_bencode_raises() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        with pytest.raises(RtpEngineError, match="not valid bencode"):
            await engine.command("ping")

    run(lambda cookie, _: [cookie + b" d3:sdp"], test)


def test_play_media_reports_the_duration_in_seconds() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        result = await engine.play_media("call-1", "far", "/p.wav")
        assert result.duration_s == 2.5

    run(lambda cookie, _: [reply(cookie, result="ok", duration=2500)], test)


def test_an_oversized_command_is_refused_before_sending() -> None:
    async def test(engine: RtpEngine, peer: ScriptedPeer) -> None:
        with pytest.raises(RtpEngineError, match="too large"):
            await engine.offer("call-1", "tag-a", b"x" * 70_000)
        assert peer.received == []

    run(lambda cookie, _: [], test)


@pytest.mark.parametrize("address", ["", "127.0.0.1", "host:port", "127.0.0.1:0", ":22222"])
def test_a_bad_address_is_refused_naming_the_variable(address: str) -> None:
    with pytest.raises(ValidationFailed, match="not host:port") as error:
        RtpEngine(address)
    assert error.value.field == "RAPPEL_RTPENGINE"


def test_an_ipv6_address_is_read_without_brackets() -> None:
    engine = RtpEngine("[::1]:22222")
    assert (engine.endpoint.host, engine.endpoint.port) == ("::1", 22222)


def test_a_closed_port_is_no_answer_not_a_crash() -> None:
    async def test() -> None:
        async with RtpEngine(f"127.0.0.1:{free_udp_port()}", timeout_s=0.05, retries=1) as engine:
            assert await engine.ping() is False
            with pytest.raises(RtpEngineTimeout):
                await engine.query("call-1")

    asyncio.run(test())
