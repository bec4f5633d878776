"""The simulated carrier and the Telephony port's helpers."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest

from rappel.clock import VirtualClock
from rappel.domain.errors import ValidationFailed
from rappel.telephony.port import (
    CallEvent,
    CallEventKind,
    DialOutcome,
    DuplicateCall,
    parse_sim_outcomes,
)
from rappel.telephony.sim import (
    Distribution,
    DistributionKind,
    SimAgentProfile,
    SimRates,
    SimTelephony,
)

FIXED_RING = Distribution(5.0, DistributionKind.FIXED)
FIXED_TALK = Distribution(60.0, DistributionKind.FIXED)


def drain(clock: VirtualClock, telephony: SimTelephony, seconds: float) -> list[CallEvent]:
    """Step the virtual clock through every event up to `seconds` from now."""
    end = clock.monotonic() + seconds
    events: list[CallEvent] = []
    while (due := telephony.next_event_at()) is not None and due <= end:
        clock.set(clock.now() + timedelta(seconds=due - clock.monotonic()))
        events += telephony.take_due()
    clock.set(clock.now() + timedelta(seconds=end - clock.monotonic()))
    return events


def place(telephony: SimTelephony, call_id: str, number: str, timeout_s: float = 30.0) -> None:
    asyncio.run(telephony.originate(call_id, number, "+15550000000", timeout_s, True))


def test_sim_outcomes_are_parsed_as_e164_digits() -> None:
    parsed = parse_sim_outcomes(" +1 (650) 555-1212 = answer ;16505550000=BUSY;")
    assert parsed == {"16505551212": DialOutcome.ANSWER, "16505550000": DialOutcome.BUSY}
    assert parse_sim_outcomes("") == {}


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("16505551212", "number=outcome"),
        ("16505551212=hello", "not an outcome"),
        ("abc=answer", "not a phone number"),
        ("1650=busy;1650=answer", "two different outcomes"),
    ],
)
def test_bad_sim_outcomes_are_refused_with_a_clear_message(text: str, fault: str) -> None:
    with pytest.raises(ValidationFailed, match=fault) as caught:
        parse_sim_outcomes(text)
    assert caught.value.field == "RAPPEL_SIM_OUTCOMES"


def test_same_seed_and_call_ids_give_the_same_calls() -> None:
    timelines = []
    for _ in range(2):
        clock = VirtualClock()
        telephony = SimTelephony(clock, seed=7, rates=SimRates(0.4, 0.2, 0.2, 0.1, 0.1))
        for n in range(50):
            place(telephony, f"I{n}-1", f"+1555000{n:04d}")
        timelines.append([(e.call_id, e.kind, e.at) for e in drain(clock, telephony, 600)])
    assert timelines[0] == timelines[1]
    assert len({kind for _, kind, _ in timelines[0]}) >= 5


def test_another_seed_gives_other_outcomes() -> None:
    outcomes = []
    for seed in (1, 2):
        telephony = SimTelephony(VirtualClock(), seed=seed, rates=SimRates(0.5, 0.5, 0.0))
        for n in range(40):
            place(telephony, f"I{n}-1", "+15550001")
        outcomes.append([telephony.outcome_of(f"I{n}-1") for n in range(40)])
    assert outcomes[0] != outcomes[1]


def test_fixed_outcome_wins_over_the_rates() -> None:
    clock = VirtualClock()
    fixed = parse_sim_outcomes("16505550000=busy")
    telephony = SimTelephony(
        clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), fixed_outcomes=fixed
    )
    place(telephony, "A-1", "+1 650-555-0000")
    place(telephony, "B-1", "+16505551111")
    kinds = {(e.call_id, e.kind) for e in drain(clock, telephony, 600)}
    assert ("A-1", CallEventKind.BUSY) in kinds
    assert ("A-1", CallEventKind.ANSWERED) not in kinds
    assert ("B-1", CallEventKind.ANSWERED) in kinds


def test_a_call_id_is_placed_only_once() -> None:
    telephony = SimTelephony(VirtualClock())
    place(telephony, "I1-1", "+15550001")
    with pytest.raises(DuplicateCall):
        place(telephony, "I1-1", "+15550001")


def test_answered_customer_hangs_up_after_the_talk_time() -> None:
    clock = VirtualClock()
    telephony = SimTelephony(
        clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), ring=FIXED_RING, talk=FIXED_TALK
    )
    start = clock.now()
    place(telephony, "I1-1", "+15550001")
    events = drain(clock, telephony, 600)
    assert [(e.kind, (e.at - start).total_seconds()) for e in events] == [
        (CallEventKind.RINGING, 0.0),
        (CallEventKind.ANSWERED, 5.0),
        (CallEventKind.HUNGUP, 65.0),
    ]
    assert events[-1].cause == "remote"


def test_ring_longer_than_the_timeout_is_no_answer() -> None:
    clock = VirtualClock()
    ring = Distribution(40.0, DistributionKind.FIXED)
    telephony = SimTelephony(clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), ring=ring)
    place(telephony, "I1-1", "+15550001", timeout_s=30.0)
    assert [e.kind for e in drain(clock, telephony, 600)][-1] is CallEventKind.NO_ANSWER


def test_hanging_up_a_ringing_call_cancels_its_answer() -> None:
    clock = VirtualClock()
    telephony = SimTelephony(
        clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), ring=FIXED_RING
    )
    place(telephony, "I1-1", "+15550001")
    telephony.take_due()
    asyncio.run(telephony.hangup("I1-1"))
    events = drain(clock, telephony, 600)
    assert [(e.kind, e.cause) for e in events] == [(CallEventKind.HUNGUP, "cancelled")]
    asyncio.run(telephony.hangup("I1-1"))
    assert drain(clock, telephony, 600) == []


def test_bridge_restarts_talk_time_and_ends_with_the_first_leg() -> None:
    clock = VirtualClock()
    telephony = SimTelephony(
        clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), ring=FIXED_RING, talk=FIXED_TALK
    )
    start = clock.now()
    place(telephony, "customer-1", "+15550001")
    place(telephony, "agent-1", "+15550002")
    drain(clock, telephony, 10)
    asyncio.run(telephony.bridge("customer-1", "agent-1"))
    asyncio.run(telephony.play_ivr("customer-1", "welcome"))
    hangups = [e for e in drain(clock, telephony, 600) if e.kind is CallEventKind.HUNGUP]
    assert {(e.call_id, (e.at - start).total_seconds()) for e in hangups} == {
        ("customer-1", 70.0),
        ("agent-1", 70.0),
    }
    assert telephony.ivr_played("customer-1") == ["welcome"]


def test_outcome_rates_converge_to_the_configured_ones() -> None:
    rates = SimRates(answer=0.3, busy=0.2, no_answer=0.3, failed=0.1, machine=0.1)
    telephony = SimTelephony(VirtualClock(), seed=3, rates=rates)
    for n in range(5000):
        place(telephony, f"I{n}-1", "+15550001")
    counts = Counter(telephony.outcome_of(f"I{n}-1") for n in range(5000))
    for outcome, expected in [
        (DialOutcome.ANSWER, 0.3),
        (DialOutcome.BUSY, 0.2),
        (DialOutcome.NO_ANSWER, 0.3),
        (DialOutcome.FAILED, 0.1),
        (DialOutcome.MACHINE, 0.1),
    ]:
        assert counts[outcome] / 5000 == pytest.approx(expected, abs=0.025)


def test_rates_that_add_up_to_more_than_one_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="add up"):
        SimRates(answer=0.8, busy=0.3, no_answer=0.0)


@pytest.mark.parametrize("kind", list(DistributionKind))
def test_distributions_have_the_configured_mean(kind: DistributionKind) -> None:
    dist = Distribution(30.0, kind, sigma=0.5)
    rng = random.Random(1)
    draws = [dist.sample(rng) for _ in range(20000)]
    assert sum(draws) / len(draws) == pytest.approx(30.0, rel=0.03)
    assert min(draws) >= 0
    assert dist.cdf(30.0) == pytest.approx(sum(d <= 30.0 for d in draws) / len(draws), abs=0.02)


def test_agent_profile_draws_are_reproducible() -> None:
    profile = SimAgentProfile(talk=Distribution(90.0), wrap=Distribution(15.0))
    first = [profile.draw_wrap(random.Random(4)) for _ in range(3)]
    assert first == [profile.draw_wrap(random.Random(4)) for _ in range(3)]
    rng = random.Random(5)
    talks = [profile.draw_talk(rng) for _ in range(5000)]
    assert sum(talks) / len(talks) == pytest.approx(90.0, rel=0.06)


def test_event_stream_follows_the_virtual_clock() -> None:
    Seen = list[tuple[CallEventKind, float]]

    async def scenario() -> tuple[Seen, Seen]:
        clock = VirtualClock()
        telephony = SimTelephony(
            clock, rates=SimRates(answer=1.0, busy=0, no_answer=0), ring=FIXED_RING, talk=FIXED_TALK
        )
        start = clock.now()
        seen: Seen = []

        async def listen() -> None:
            async for event in telephony.events():
                seen.append((event.kind, (event.at - start).total_seconds()))

        listener = asyncio.create_task(listen())
        await clock.advance(1)
        await telephony.originate("I1-1", "+15550001", "+15550000", 30.0, True)
        await clock.advance(3)
        early = list(seen)
        await clock.advance(100)
        listener.cancel()
        return early, seen

    early, seen = asyncio.run(scenario())
    assert early == [(CallEventKind.RINGING, 1.0)]
    assert seen == [
        (CallEventKind.RINGING, 1.0),
        (CallEventKind.ANSWERED, 6.0),
        (CallEventKind.HUNGUP, 66.0),
    ]
