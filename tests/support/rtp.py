"""A phone made of one UDP socket: it sends its own tone as PCMU RTP and keeps what it hears.

Enough of a far end to prove where rtpengine sends audio, without SIP::

    phone = await RtpPhone(440).start()
    phone.send_to(audio_address(offer_sdp_from_rtpengine))
    await anchor.leg_answered(leg, phone.sdp())
    await phone.until_hearing(600)          # the prompt
"""

from __future__ import annotations

import asyncio
import re
import struct
from typing import Any, cast

from tests.support.tones import RATE, frame_tone, sine, ulaw_decode, ulaw_encode

FRAME = 160  # 20 ms of 8 kHz audio, one RTP packet
FREQS = (440, 600, 800, 1000)


def audio_address(sdp: bytes) -> tuple[str, int]:
    """The connection address and audio port an SDP asks media to be sent to."""
    host = re.search(rb"^c=IN IP[46] (\S+)", sdp, re.MULTILINE)
    port = re.search(rb"^m=audio (\d+) ", sdp, re.MULTILINE)
    if host is None or port is None:
        raise ValueError(f"no audio address in {sdp!r}")
    return host.group(1).decode(), int(port.group(1))


class RtpPhone(asyncio.DatagramProtocol):
    """Sends `tone_hz` every 20 ms once it knows where to; records (source port, PCM) it hears."""

    def __init__(self, tone_hz: int) -> None:
        self.tone_hz = tone_hz
        self.heard: list[tuple[int, list[int]]] = []
        self.peer: tuple[str, int] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None
        one_second = sine(tone_hz, 1.0)
        self._payloads = [
            bytes(ulaw_encode(s) for s in one_second[i : i + FRAME]) for i in range(0, RATE, FRAME)
        ]

    async def start(self) -> RtpPhone:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self._sender = asyncio.create_task(self._send_forever(), name=f"rtp-{self.tone_hz}")
        return self

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()

    @property
    def port(self) -> int:
        assert self._transport is not None
        return int(self._transport.get_extra_info("sockname")[1])

    def sdp(self) -> bytes:
        lines = [
            "v=0",
            "o=phone 1 1 IN IP4 127.0.0.1",
            "s=phone",
            "c=IN IP4 127.0.0.1",
            "t=0 0",
            f"m=audio {self.port} RTP/AVP 0 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=sendrecv",
        ]
        return ("\r\n".join(lines) + "\r\n").encode()

    def send_to(self, address: tuple[str, int]) -> None:
        self.peer = address

    def tones_heard(self, last_packets: int = 10) -> set[int | None]:
        """The tone of each 40 ms among the last packets heard."""
        recent = [samples for _, samples in self.heard[-last_packets:]]
        pairs = [recent[i] + recent[i + 1] for i in range(0, len(recent) - 1, 2)]
        return {frame_tone(frame, RATE, FREQS) for frame in pairs}

    async def until_hearing(self, tone: int | None, timeout_s: float = 5.0) -> None:
        """Wait until only `tone` is heard (None: until nothing arrives any more)."""
        async with asyncio.timeout(timeout_s):
            while True:
                if tone is None:
                    count = len(self.heard)
                    await asyncio.sleep(0.2)
                    if len(self.heard) == count:
                        return
                    continue
                if self.tones_heard() == {tone}:
                    return
                await asyncio.sleep(0.02)

    def sources(self, last_packets: int = 10) -> set[int]:
        """The ports the last packets came from."""
        return {port for port, _ in self.heard[-last_packets:]}

    # asyncio ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.heard.append((addr[1], [ulaw_decode(b) for b in data[12:]]))

    async def _send_forever(self) -> None:
        sequence = 0
        while True:
            if self.peer is not None and self._transport is not None:
                header = struct.pack("!BBHII", 0x80, 0, sequence & 0xFFFF, sequence * FRAME, 0x5EED)
                payload = self._payloads[sequence % len(self._payloads)]
                self._transport.sendto(header + payload, self.peer)
                sequence += 1
            await asyncio.sleep(FRAME / RATE)
