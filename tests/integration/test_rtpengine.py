"""The media recipe of `rappel.telephony.media` against a real rtpengine.

The far ends are plain UDP sockets speaking PCMU RTP (tests.support.rtp), each
sending its own tone: customer 440 Hz, second customer 800 Hz, agent 1000 Hz;
prompts are 600 Hz. What each one hears proves where rtpengine sent audio.

Measured here (2-core machine shared with other test runs, loopback): `join` is
six ng round trips (two queries, two stop media, two re-offers) and took 1.6 to
2.1 ms over four runs (`pytest -s` prints it); the lab measured 22 ms from a
customer's 200 OK to joined audio, SIP included.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

import rappel.telephony
from rappel.domain.errors import ValidationFailed
from rappel.telephony.media import MediaAnchor, RtpEngineError, audio_port
from tests.support.rtp import RtpPhone, audio_address
from tests.support.rtpengine import RtpEngineProcess
from tests.support.tones import sine, write_wav

CUSTOMER, CUSTOMER_2, PROMPT, AGENT = 440, 800, 600, 1000


@pytest.fixture(scope="module")
def rtpengine() -> Iterator[RtpEngineProcess]:
    with RtpEngineProcess() as process:
        yield process


@pytest.fixture(scope="module")
def prompt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompt.wav"
    write_wav(path, sine(PROMPT, 1.0))
    return path


Scenario = Callable[[MediaAnchor], Awaitable[None]]


def run(rtpengine: RtpEngineProcess, scenario: Scenario) -> None:
    async def main() -> None:
        anchor = MediaAnchor(rtpengine.address)
        try:
            await scenario(anchor)
        finally:
            await anchor.close()

    asyncio.run(main())


async def answered_leg(anchor: MediaAnchor, leg_id: str, tone: int) -> tuple[RtpPhone, int]:
    """Open a leg, let a phone with `tone` answer it; return the phone and its rtpengine port."""
    offer = await anchor.open_leg(leg_id)
    phone = await RtpPhone(tone).start()
    phone.send_to(audio_address(offer))
    await anchor.leg_answered(leg_id, phone.sdp())
    return phone, audio_address(offer)[1]


def test_a_leg_gets_an_anchored_offer_and_hears_a_prompt(
    rtpengine: RtpEngineProcess, prompt: Path
) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        assert await anchor.ping() is True
        offer = await anchor.open_leg("leg-prompt")
        host, port = audio_address(offer)
        assert host == "127.0.0.1"
        assert rtpengine.port_min <= port <= rtpengine.port_max
        assert b"RTP/AVP 0 101" in offer
        phone = await RtpPhone(CUSTOMER).start()
        phone.send_to((host, port))
        await anchor.leg_answered("leg-prompt", phone.sdp())
        duration = await anchor.play("leg-prompt", str(prompt))
        assert duration == pytest.approx(1.0, abs=0.05)
        await phone.until_hearing(PROMPT)
        assert phone.sources() == {port}
        await phone.until_hearing(None)  # the prompt ended; the parked leg hears nothing
        await phone.close()
        await anchor.close_leg("leg-prompt")

    run(rtpengine, scenario)


def test_joined_legs_hear_each_other_and_the_customer_port_never_moves(
    rtpengine: RtpEngineProcess, prompt: Path
) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, customer_port = await answered_leg(anchor, "join-c", CUSTOMER)
        agent, agent_port = await answered_leg(anchor, "join-a", AGENT)
        await anchor.play("join-a", str(prompt), repeat=100)  # the agent waits on hold audio
        await agent.until_hearing(PROMPT)
        started = time.perf_counter()
        assert await anchor.join("join-c", "join-a") is None
        joined_ms = (time.perf_counter() - started) * 1000
        await customer.until_hearing(AGENT)
        await agent.until_hearing(CUSTOMER)
        assert customer.sources() == {customer_port}
        assert agent.sources() == {agent_port}
        print(f"join took {joined_ms:.1f} ms")  # noqa: T201 - shown with -s, kept for the docstring
        for phone in (customer, agent):
            await phone.close()
        for leg in ("join-c", "join-a"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


def test_an_unjoined_agent_stays_connected_for_the_next_customer(
    rtpengine: RtpEngineProcess, prompt: Path
) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        agent, agent_port = await answered_leg(anchor, "nail-a", AGENT)
        first, _ = await answered_leg(anchor, "nail-c1", CUSTOMER)
        await anchor.join("nail-c1", "nail-a")
        await agent.until_hearing(CUSTOMER)

        await first.close()  # the first customer hangs up
        await anchor.close_leg("nail-c1")
        await anchor.unjoin("nail-a", "nail-c1")
        await agent.until_hearing(None)
        await anchor.play("nail-a", str(prompt), repeat=100)
        await agent.until_hearing(PROMPT)

        second, second_port = await answered_leg(anchor, "nail-c2", CUSTOMER_2)
        await anchor.join("nail-c2", "nail-a")
        await agent.until_hearing(CUSTOMER_2)
        await second.until_hearing(AGENT)
        assert agent.sources() == {agent_port}
        assert second.sources() == {second_port}

        await anchor.unjoin("nail-a", "nail-c2")  # both parked: neither hears the other
        await agent.until_hearing(None)
        await second.until_hearing(None)
        for phone in (agent, second):
            await phone.close()
        for leg in ("nail-a", "nail-c2"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


def test_closing_a_leg_ends_it_once_and_again_does_nothing(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        phone, _ = await answered_leg(anchor, "close-c", CUSTOMER)
        assert await anchor.exists("close-c") is True
        await anchor.close_leg("close-c")
        assert await anchor.exists("close-c") is False
        await anchor.close_leg("close-c")
        assert await anchor.exists("never-opened") is False
        await phone.close()

    run(rtpengine, scenario)


def test_a_worker_that_did_not_open_the_legs_can_join_them(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, _ = await answered_leg(anchor, "takeover-c", CUSTOMER)
        agent, _ = await answered_leg(anchor, "takeover-a", AGENT)
        other_worker = MediaAnchor(rtpengine.address)
        try:
            await other_worker.join("takeover-c", "takeover-a")
        finally:
            await other_worker.close()
        await customer.until_hearing(AGENT)
        await agent.until_hearing(CUSTOMER)
        for phone in (customer, agent):
            await phone.close()
        for leg in ("takeover-c", "takeover-a"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


def test_bad_requests_are_refused_with_one_error_type(
    rtpengine: RtpEngineProcess, prompt: Path
) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        with pytest.raises(RtpEngineError, match="does not know the leg"):
            await anchor.join("no-such-leg", "nor-this")
        await anchor.open_leg("bad-answer")
        with pytest.raises(RtpEngineError, match="refused answer"):
            await anchor.leg_answered("bad-answer", b"not an sdp")
        with pytest.raises(RtpEngineError, match="refused play media"):
            await anchor.play("bad-answer", "/no/such/prompt.wav")
        with pytest.raises(ValidationFailed, match="absolute"):
            await anchor.play("bad-answer", "prompt.wav")
        await anchor.stop_play("bad-answer")  # nothing playing is fine
        await anchor.close_leg("bad-answer")

    run(rtpengine, scenario)


def test_the_offer_names_only_the_configured_codecs(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        offer = await anchor.open_leg("codecs")
        assert b"RTP/AVP 8 0 101" in offer
        assert audio_port(offer) == audio_address(offer)[1]
        await anchor.close_leg("codecs")

    async def with_codecs() -> None:
        anchor = MediaAnchor(rtpengine.address, codecs=["pcma", "PCMU"])
        try:
            await scenario(anchor)
        finally:
            await anchor.close()

    asyncio.run(with_codecs())
    with pytest.raises(ValidationFailed, match="codecs"):
        MediaAnchor(rtpengine.address, codecs=["opus"])


def test_the_shipped_prompt_plays_for_its_length_until_stopped(
    rtpengine: RtpEngineProcess,
) -> None:
    path = Path(rappel.telephony.__file__).parent / "prompts" / "welcome-callback.wav"
    with wave.open(str(path), "rb") as wav:
        seconds = wav.getnframes() / wav.getframerate()

    async def scenario(anchor: MediaAnchor) -> None:
        phone, _ = await answered_leg(anchor, "shipped-prompt", CUSTOMER)
        assert await anchor.play("shipped-prompt", str(path)) == pytest.approx(seconds, abs=0.05)
        async with asyncio.timeout(5):
            while len(phone.heard) < 25:  # half a second of its 20 ms packets
                await asyncio.sleep(0.02)
        await anchor.stop_play("shipped-prompt")
        await phone.until_hearing(None)
        assert len(phone.heard) < seconds * 50  # stopped before its end
        await phone.close()
        await anchor.close_leg("shipped-prompt")

    run(rtpengine, scenario)


def test_a_listener_hears_the_far_end_and_parking_stops_it(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, _ = await answered_leg(anchor, "listen-c", CUSTOMER)
        listener = await RtpPhone(AGENT).start()  # it only listens: it has no peer to send to
        rappel_side = await anchor.rappel_side("listen-c")
        await anchor.listen("listen-c", "127.0.0.1", listener.port)
        await listener.until_hearing(CUSTOMER)
        assert listener.sources() == {rappel_side.port}
        await anchor.park("listen-c")
        await listener.until_hearing(None)
        for phone in (customer, listener):
            await phone.close()
        await anchor.close_leg("listen-c")

    run(rtpengine, scenario)


def test_rtpengine_ends_a_leg_whose_media_stopped_by_itself() -> None:
    """What bounds a call left behind by a crashed worker that never deleted it."""
    with RtpEngineProcess(timeout_s=1) as short_lived:

        async def scenario(anchor: MediaAnchor) -> None:
            phone, _ = await answered_leg(anchor, "orphan", CUSTOMER)
            await phone.close()  # the far end goes silent; nobody calls close_leg
            async with asyncio.timeout(30):
                while await anchor.exists("orphan"):
                    await asyncio.sleep(0.2)

        run(short_lived, scenario)


def test_unjoining_the_agent_alone_parts_both_legs(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, _ = await answered_leg(anchor, "part-c", CUSTOMER)
        agent, _ = await answered_leg(anchor, "part-a", AGENT)
        await anchor.join("part-c", "part-a")
        await agent.until_hearing(CUSTOMER)
        await anchor.unjoin("part-a")
        await agent.until_hearing(None)
        await customer.until_hearing(None)
        for phone in (customer, agent):
            await phone.close()
        for leg in ("part-c", "part-a"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


def test_another_worker_unjoins_when_told_the_customer_leg(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, _ = await answered_leg(anchor, "told-c", CUSTOMER)
        agent, _ = await answered_leg(anchor, "told-a", AGENT)
        await anchor.join("told-c", "told-a")
        await agent.until_hearing(CUSTOMER)
        other_worker = MediaAnchor(rtpengine.address)
        try:
            await other_worker.unjoin("told-a", "told-c")
        finally:
            await other_worker.close()
        await agent.until_hearing(None)
        await customer.until_hearing(None)
        for phone in (customer, agent):
            await phone.close()
        for leg in ("told-c", "told-a"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


def test_closing_a_joined_leg_parks_its_partner(rtpengine: RtpEngineProcess) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        customer, _ = await answered_leg(anchor, "gone-c", CUSTOMER)
        agent, _ = await answered_leg(anchor, "gone-a", AGENT)
        await anchor.join("gone-c", "gone-a")
        await agent.until_hearing(CUSTOMER)
        await anchor.close_leg("gone-c")
        # The agent's audio no longer goes to the freed port another leg could get.
        assert await rappel_side_sends_to(anchor, "gone-a") == 9
        await anchor.close_leg("gone-a")
        for phone in (customer, agent):
            await phone.close()

    run(rtpengine, scenario)


def test_joining_the_agent_to_a_new_customer_parks_the_former_one(
    rtpengine: RtpEngineProcess,
) -> None:
    async def scenario(anchor: MediaAnchor) -> None:
        first, _ = await answered_leg(anchor, "move-c1", CUSTOMER)
        second, _ = await answered_leg(anchor, "move-c2", CUSTOMER_2)
        agent, _ = await answered_leg(anchor, "move-a", AGENT)
        await anchor.join("move-c1", "move-a")
        await first.until_hearing(AGENT)
        await anchor.join("move-c2", "move-a")
        await agent.until_hearing(CUSTOMER_2)
        await second.until_hearing(AGENT)
        await first.until_hearing(None)
        for phone in (first, second, agent):
            await phone.close()
        for leg in ("move-c1", "move-c2", "move-a"):
            await anchor.close_leg(leg)

    run(rtpengine, scenario)


async def rappel_side_sends_to(anchor: MediaAnchor, leg_id: str) -> int:
    """The port rtpengine sends the leg's far-end audio to (from `query`)."""
    state = await anchor.engine.query(leg_id)
    assert state is not None
    stream = state["tags"]["rappel"]["medias"][0]["streams"][0]
    return int(stream["endpoint"]["port"])
