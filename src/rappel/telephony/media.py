"""The media recipe of Rappel's calls: one rtpengine call per leg, joined by re-offers.

Rappel is a third-party call controller, so it owns no phone of its own. Each
leg (a customer reached through the trunk, or an agent's phone) is one
rtpengine call whose call-id is the leg id, with two sides:

- `FAR_TAG`, the phone or trunk at the far end. Its port on rtpengine is the
  one written into the SDP the far end gets, and it never moves: every later
  offer carries `port-latching`, so the far end is never re-INVITEd.
- `RAPPEL_TAG`, Rappel's side. Rappel describes it with an SDP of its own
  making, which says where rtpengine sends the far end's audio: a discard
  address while the leg is parked, a listener's socket, or the Rappel-side
  port of another leg while the two are joined.

Joining a customer to an agent points each leg's Rappel side at the other's
(two re-offers, no answer needed): the customer's audio enters rtpengine on the
customer leg, leaves it towards the agent leg's Rappel-side port, and goes out
to the agent's phone; the agent's audio takes the reverse path. Un-joining
points both back at the discard address; the agent's phone stays connected for
the next customer. Prompts are rtpengine's `play media` towards the far end.

Ports are read back with `query`, so any worker can join, park or delete a leg
that another worker opened. One thing is remembered in memory: who is joined
to whom. rtpengine forwards whatever reaches a leg's Rappel-side port, so
parking only one leg of a joined pair would still let it hear the other, and
a deleted leg's freed port could be reused by a new leg while its partner still
sends there. So `unjoin` and `close_leg` park the partner too; a worker that
did not make the join passes the customer leg to `unjoin` explicitly.

Limits: every leg offers the same codecs (default PCMU) so joined legs never
need transcoding; files named for `play` are read by rtpengine itself, so the
path must be absolute and valid where rtpengine runs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from rappel.domain.errors import ValidationFailed
from rappel.telephony.rtpengine import RtpEngine, RtpEngineError, RtpEngineTimeout

#: rtpengine's tag for the far end of a leg (phone or trunk).
FAR_TAG = "far"
#: rtpengine's tag for Rappel's own side of a leg.
RAPPEL_TAG = "rappel"
#: Keeps the far-end port stable across re-offers, so the far end is never re-INVITEd.
_FLAGS = ("port-latching",)
#: Where a parked leg's audio goes: the discard port on rtpengine's own host.
DISCARD = ("127.0.0.1", 9)
#: Static RTP payload types of the codecs a leg may offer.
_PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8, "G722": 9}
_DTMF_PT = 101


@dataclass(frozen=True, slots=True)
class RtpAddress:
    """Where a leg's Rappel side receives RTP on rtpengine."""

    host: str
    port: int


class MediaAnchor:
    """The media of every leg of one driver, anchored on one rtpengine."""

    def __init__(
        self,
        address: str = "127.0.0.1:22222",
        timeout_s: float = 1.0,
        retries: int = 3,
        codecs: Sequence[str] = ("PCMU",),
    ) -> None:
        unknown = [codec for codec in codecs if codec.upper() not in _PAYLOAD_TYPES]
        if not codecs or unknown:
            known = ", ".join(_PAYLOAD_TYPES)
            raise ValidationFailed("codecs", f"codecs must be some of {known}, got {unknown}")
        self.engine = RtpEngine(address, timeout_s, retries)
        self.codecs = tuple(codec.upper() for codec in codecs)
        self._partners: dict[str, str] = {}

    async def close(self) -> None:
        await self.engine.close()

    async def ping(self) -> bool:
        """Whether rtpengine answers."""
        return await self.engine.ping()

    async def open_leg(self, leg_id: str) -> bytes:
        """Start a parked leg; return the SDP offer to send to its far end."""
        return await self.engine.offer(
            leg_id,
            RAPPEL_TAG,
            self._rappel_sdp(*DISCARD),
            flags=_FLAGS,
            replace=["origin", "session-connection"],
        )

    async def leg_answered(self, leg_id: str, far_sdp: bytes) -> None:
        """Give rtpengine the far end's SDP answer (again for a later, final one)."""
        await self.engine.answer(leg_id, RAPPEL_TAG, FAR_TAG, far_sdp, flags=_FLAGS)

    async def play(self, leg_id: str, wav_path: str, repeat: int = 1) -> float:
        """Play a WAV file to the leg's far end; return how many seconds one play lasts."""
        if not PurePosixPath(wav_path).is_absolute():
            raise ValidationFailed("wav_path", f"{wav_path!r} must be an absolute path")
        result = await self.engine.play_media(leg_id, FAR_TAG, wav_path, repeat_times=repeat)
        return result.duration_s

    async def stop_play(self, leg_id: str) -> None:
        """Stop a prompt or hold audio; nothing playing is fine."""
        await self.engine.stop_media(leg_id, FAR_TAG)

    async def join(self, customer_leg: str, agent_leg: str) -> bytes | None:
        """Let the two legs hear each other; stops what played to either.

        A leg joined to a third one before is parted from it first. Returns the
        SDP to re-INVITE the agent's phone with, when one is needed; with this
        recipe it never is, so the result is always None.
        """
        customer = await self.rappel_side(customer_leg)
        agent = await self.rappel_side(agent_leg)
        for leg in (customer_leg, agent_leg):
            former = self._partners.pop(leg, None)
            if former is not None and former not in (customer_leg, agent_leg):
                self._partners.pop(former, None)
                await self._park_if_open(former)
        await self.stop_play(customer_leg)
        await self.stop_play(agent_leg)
        await self._point(customer_leg, agent.host, agent.port)
        await self._point(agent_leg, customer.host, customer.port)
        self._partners[customer_leg] = agent_leg
        self._partners[agent_leg] = customer_leg
        return None

    async def unjoin(self, agent_leg: str, customer_leg: str | None = None) -> bytes | None:
        """Park the agent's leg again, and the leg it was joined to if that still exists.

        Like `join`, it never needs the agent re-INVITEd and returns None.
        """
        partner = self._partners.pop(agent_leg, None) or customer_leg
        await self.park(agent_leg)
        if partner is not None:
            self._partners.pop(partner, None)
            await self._park_if_open(partner)
        return None

    async def park(self, leg_id: str) -> None:
        """Send the leg's audio nowhere; a prompt can still play to it."""
        await self._point(leg_id, *DISCARD)

    async def listen(self, leg_id: str, host: str, port: int) -> None:
        """Send the far end's audio to a socket of Rappel's (e.g. machine detection)."""
        await self._point(leg_id, host, port)

    async def exists(self, leg_id: str) -> bool:
        """Whether rtpengine still carries the leg (it ends silent legs by itself)."""
        return await self.engine.query(leg_id) is not None

    async def close_leg(self, leg_id: str) -> None:
        """End the leg's media at once (parking its partner); a leg that is gone is fine."""
        partner = self._partners.pop(leg_id, None)
        await self.engine.delete(leg_id)
        if partner is not None:
            self._partners.pop(partner, None)
            await self._park_if_open(partner)

    async def rappel_side(self, leg_id: str) -> RtpAddress:
        """The port on rtpengine where audio for the leg's far end is to be sent."""
        state = await self.engine.query(leg_id)
        if state is None:
            raise RtpEngineError(f"rtpengine does not know the leg {leg_id}")
        address = _rappel_stream_address(state)
        if address is None:
            raise RtpEngineError(f"the leg {leg_id} has no answered media yet")
        return address

    async def _park_if_open(self, leg_id: str) -> None:
        # An offer for a call rtpengine no longer has would open a new one-sided call.
        if await self.exists(leg_id):
            await self.park(leg_id)

    async def _point(self, leg_id: str, host: str, port: int) -> None:
        await self.engine.offer(leg_id, RAPPEL_TAG, self._rappel_sdp(host, port), flags=_FLAGS)

    def _rappel_sdp(self, host: str, port: int) -> bytes:
        family = "IP6" if ":" in host else "IP4"
        types = [_PAYLOAD_TYPES[codec] for codec in self.codecs]
        version = time.time_ns() // 1_000_000
        lines = [
            "v=0",
            f"o=rappel 1 {version} IN {family} {host}",
            "s=rappel",
            f"c=IN {family} {host}",
            "t=0 0",
            f"m=audio {port} RTP/AVP {' '.join(map(str, [*types, _DTMF_PT]))}",
            *(f"a=rtpmap:{pt} {codec}/8000" for pt, codec in zip(types, self.codecs, strict=True)),
            f"a=rtpmap:{_DTMF_PT} telephone-event/8000",
            f"a=fmtp:{_DTMF_PT} 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ]
        return ("\r\n".join(lines) + "\r\n").encode()


def _rappel_stream_address(state: dict[str, Any]) -> RtpAddress | None:
    """Read the Rappel side's first RTP stream from a `query` reply."""
    try:
        stream = state["tags"][RAPPEL_TAG]["medias"][0]["streams"][0]
        host, port = stream["local address"], stream["local port"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(host, str) or not isinstance(port, int) or port == 0:
        return None
    return RtpAddress(host, port)


_SDP_PORT = re.compile(rb"^m=audio (\d+) ", re.MULTILINE)


def audio_port(sdp: bytes) -> int | None:
    """The port of the first audio stream of an SDP, if it has one."""
    match = _SDP_PORT.search(sdp)
    return int(match.group(1)) if match else None


__all__ = [
    "FAR_TAG",
    "RAPPEL_TAG",
    "MediaAnchor",
    "RtpAddress",
    "RtpEngineError",
    "RtpEngineTimeout",
    "audio_port",
]
