"""Recovery of attempts left open by a gone worker: the driver's word, and how it closes them."""

from __future__ import annotations

import asyncio

import pytest

from rappel.clock import VirtualClock
from rappel.domain.codes import CallResult
from rappel.domain.results import CustomerResult
from rappel.domain.retry import AttemptOutcome, Redial, RetryPolicy, next_step
from rappel.engine.recovery import closing_for
from rappel.telephony.port import CallState
from rappel.telephony.sim import SimRates, SimTelephony
from tests.unit.test_sim_telephony import FIXED_RING, FIXED_TALK, drain, place


def state(telephony: SimTelephony, call_id: str) -> CallState:
    return asyncio.run(telephony.call_state(call_id))


def test_sim_tells_the_state_of_its_own_answered_call_through_to_its_end() -> None:
    clock = VirtualClock()
    rates = SimRates(answer=1.0, busy=0, no_answer=0)
    telephony = SimTelephony(clock, rates=rates, ring=FIXED_RING, talk=FIXED_TALK)
    place(telephony, "I1-1", "+15550001")
    assert state(telephony, "I1-1") is CallState.RINGING
    drain(clock, telephony, 6)
    assert state(telephony, "I1-1") is CallState.LIVE
    drain(clock, telephony, 600)
    assert state(telephony, "I1-1") is CallState.ENDED_ANSWERED


def test_sim_tells_an_unanswered_call_and_cannot_tell_another_process_call() -> None:
    clock = VirtualClock()
    telephony = SimTelephony(clock, rates=SimRates(answer=0, busy=1.0, no_answer=0))
    place(telephony, "I1-1", "+15550001")
    drain(clock, telephony, 600)
    assert state(telephony, "I1-1") is CallState.ENDED_UNANSWERED
    # A sim started after a crash never saw the dead process's calls.
    assert state(SimTelephony(clock), "I1-1") is CallState.UNKNOWN


def test_a_call_hung_up_while_ringing_ended_unanswered() -> None:
    clock = VirtualClock()
    rates = SimRates(answer=1.0, busy=0, no_answer=0)
    telephony = SimTelephony(clock, rates=rates, ring=FIXED_RING)
    place(telephony, "I1-1", "+15550001")
    asyncio.run(telephony.hangup("I1-1"))
    drain(clock, telephony, 600)
    assert state(telephony, "I1-1") is CallState.ENDED_UNANSWERED


@pytest.mark.parametrize("up", [CallState.RINGING, CallState.LIVE])
def test_a_call_still_up_is_not_closed(up: CallState) -> None:
    assert closing_for(up) is None


@pytest.mark.parametrize("maybe_answered", [CallState.UNKNOWN, CallState.ENDED_ANSWERED])
def test_an_attempt_that_may_have_been_answered_waits_the_abandoned_delay(
    maybe_answered: CallState,
) -> None:
    closing = closing_for(maybe_answered)
    assert closing is not None
    assert closing.dialed
    assert closing.customer_result is CustomerResult.ABANDONED
    policy = RetryPolicy()
    clock = VirtualClock()
    now = clock.now()
    step = next_step(policy, [AttemptOutcome(0, closing.customer_result, now)], ["+1555"], now)
    assert isinstance(step, Redial)
    assert (step.at - now).total_seconds() == policy.abandoned_delay_s > 0


def test_unknown_is_closed_as_stale_and_a_call_never_placed_does_not_count() -> None:
    unknown = closing_for(CallState.UNKNOWN)
    assert unknown is not None
    assert unknown.call_result is CallResult.STALE
    never = closing_for(CallState.NOT_PLACED)
    assert never is not None
    assert not never.dialed
    unanswered = closing_for(CallState.ENDED_UNANSWERED)
    assert unanswered is not None
    assert unanswered.customer_result is CustomerResult.NOANSWER
