"""The real-peer harness proves itself: baresip phones, rtpengine, recordings, tones.

The last test is the media half of a customer-first callback on real phones:
a customer phone and an agent phone are each called with an SDP offer anchored
on rtpengine, the customer hears the prompt and then the agent, the agent hears
the customer, and the recordings show it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from rappel.telephony.media import MediaAnchor
from tests.support.phones import BaresipPhone
from tests.support.rtpengine import RtpEngineProcess
from tests.support.sip_uac import MiniUac
from tests.support.tones import sine, tone_sequence, write_wav

CUSTOMER, PROMPT, AGENT = 440, 600, 1000
FREQS = [CUSTOMER, PROMPT, AGENT]
T = TypeVar("T")


@pytest.fixture
def rtpengine() -> Iterator[RtpEngineProcess]:
    with RtpEngineProcess() as process:
        yield process


def media(rtpengine: RtpEngineProcess, step: Callable[[MediaAnchor], Awaitable[T]]) -> T:
    """Run one media step; a fresh anchor each time works because legs live in rtpengine."""

    async def main() -> T:
        anchor = MediaAnchor(rtpengine.address)
        try:
            return await step(anchor)
        finally:
            await anchor.close()

    return asyncio.run(main())


def test_two_phones_hear_each_others_tone(tmp_path: Path) -> None:
    with (
        BaresipPhone("alice", CUSTOMER, tmp_path) as alice,
        BaresipPhone("bob", AGENT, tmp_path) as bob,
    ):
        alice.dial(bob.uri)
        bob.wait_for("CALL_ESTABLISHED")
        alice.wait_for("CALL_ESTABLISHED")
        time.sleep(1.0)  # let a second of audio flow into the recordings
        alice.hangup()
        bob.wait_for("CALL_CLOSED")
        alice.wait_for("CALL_CLOSED")
    assert tone_sequence(bob.heard(), FREQS) == [CUSTOMER]
    assert tone_sequence(alice.heard(), FREQS) == [AGENT]
    assert tone_sequence(alice.sent(), FREQS) == [CUSTOMER]


def test_a_phone_that_refuses_reports_the_reason_to_the_caller(tmp_path: Path) -> None:
    with (
        BaresipPhone("caller", CUSTOMER, tmp_path) as caller,
        BaresipPhone("callee", AGENT, tmp_path, answer_mode="manual") as callee,
    ):
        caller.dial(callee.uri)
        callee.wait_for("CALL_INCOMING")
        caller.wait_for("CALL_RINGING")
        callee.hangup()
        closed = caller.wait_for("CALL_CLOSED")
    assert "486" in closed["param"]
    assert "CALL_ESTABLISHED" not in caller.event_types()


def test_through_rtpengine_the_customer_hears_the_prompt_then_the_agent(
    tmp_path: Path, rtpengine: RtpEngineProcess
) -> None:
    prompt = tmp_path / "prompt.wav"
    write_wav(prompt, sine(PROMPT, 1.0))
    with (
        BaresipPhone("customer", CUSTOMER, tmp_path) as customer,
        BaresipPhone("agent", AGENT, tmp_path) as agent,
        MiniUac() as uac,
    ):
        agent_call = uac.invite(agent.uri, media(rtpengine, lambda m: m.open_leg("agent")))
        media(rtpengine, lambda m: m.leg_answered("agent", agent_call.answer_sdp))
        customer_call = uac.invite(customer.uri, media(rtpengine, lambda m: m.open_leg("cust")))
        media(rtpengine, lambda m: m.leg_answered("cust", customer_call.answer_sdp))
        customer.wait_for("CALL_ESTABLISHED")

        seconds = media(rtpengine, lambda m: m.play("cust", str(prompt)))
        time.sleep(seconds + 0.3)  # the prompt plays to its end before the join
        assert media(rtpengine, lambda m: m.join("cust", "agent")) is None
        time.sleep(1.0)  # a second of joined audio

        uac.bye(customer_call)
        uac.bye(agent_call)
        customer.wait_for("CALL_CLOSED")
        agent.wait_for("CALL_CLOSED")
        for leg in ("cust", "agent"):
            media(rtpengine, lambda m, leg=leg: m.close_leg(leg))
    assert tone_sequence(customer.heard(), FREQS) == [PROMPT, AGENT]
    assert tone_sequence(agent.heard(), FREQS) == [CUSTOMER]


def test_each_call_of_a_phone_has_its_own_recording(tmp_path: Path) -> None:
    with (
        BaresipPhone("caller", CUSTOMER, tmp_path) as caller,
        BaresipPhone("callee", AGENT, tmp_path) as callee,
    ):
        for call in range(2):
            mark = len(callee.events)
            caller.dial(callee.uri)
            callee.wait_for("CALL_ESTABLISHED", after=mark)
            time.sleep(1.1)  # a second of audio, and the next call starts in another second
            caller.hangup()
            callee.wait_for("CALL_CLOSED", after=mark)
            assert len(callee.all_heard()) == call + 1
    assert [tone_sequence(path, FREQS) for path in callee.all_heard()] == [[CUSTOMER]] * 2
