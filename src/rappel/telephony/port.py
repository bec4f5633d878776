"""The Telephony port: what the engine asks of a carrier or a PBX.

A driver places legs, joins them, plays IVR scripts, hangs up, and reports what
happened as a stream of `CallEvent`s. Call ids are chosen by the engine and are
deterministic (`f"{interaction_id}-{attempt_no}"`), so that a retried or
duplicated request can never place the same attempt twice: a driver refuses a
call id it has already seen with `DuplicateCall`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rappel.domain.errors import Conflict, ValidationFailed


class CallEventKind(StrEnum):
    """What a driver reports about a leg."""

    #: The far end is ringing.
    RINGING = "RINGING"
    #: A person answered (or a machine, when detection was off).
    ANSWERED = "ANSWERED"
    #: The far end was busy.
    BUSY = "BUSY"
    #: Nobody answered before the originate timeout.
    NO_ANSWER = "NO_ANSWER"
    #: The network could not place the call; `cause` says why.
    FAILED = "FAILED"
    #: Answering-machine detection heard a machine.
    MACHINE = "MACHINE"
    #: An answered leg ended; `cause` says who hung up.
    HUNGUP = "HUNGUP"
    #: A prompt started by `play_ivr` finished playing (the leg is still up).
    PROMPT_DONE = "PROMPT_DONE"


#: Kinds after which a leg is over.
FINAL_KINDS = frozenset(
    {
        CallEventKind.BUSY,
        CallEventKind.NO_ANSWER,
        CallEventKind.FAILED,
        CallEventKind.MACHINE,
        CallEventKind.HUNGUP,
    }
)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One thing that happened to one leg, at one instant."""

    call_id: str
    kind: CallEventKind
    at: datetime
    cause: str = ""
    #: The SIP status of the final answer that ended an unanswered leg (486, 404, ...).
    status: int | None = None


class CallState(StrEnum):
    """What a driver can tell about one of its call ids (`Telephony.call_state`).

    The engine asks this of an attempt whose outcome it never wrote (its
    worker died or lost its lease) before it dials that customer again.
    """

    #: The driver cannot tell: not a call it knows (another process placed it, or the
    #: driver restarted since). The customer may have answered.
    UNKNOWN = "UNKNOWN"
    #: The driver knows the call id was never placed (nothing reached the network).
    NOT_PLACED = "NOT_PLACED"
    #: Placed, not answered yet.
    RINGING = "RINGING"
    #: Answered and still up: somebody is on the line.
    LIVE = "LIVE"
    #: Over without ever being answered (busy, no answer, failed, machine detected).
    ENDED_UNANSWERED = "ENDED_UNANSWERED"
    #: Answered, and over now.
    ENDED_ANSWERED = "ENDED_ANSWERED"


class DuplicateCall(Conflict):
    """The call id was already used: this attempt has been placed before."""


class TrunkBusy(Conflict):
    """The trunk is at its call or call-rate limit: nothing was dialled, try again shortly."""


class Telephony(Protocol):
    """A carrier or PBX, seen by the engine."""

    async def originate(
        self,
        call_id: str,
        number: str,
        caller_id: str,
        timeout_s: float,
        detect_machine: bool,
    ) -> None:
        """Start dialing `number`; raise `DuplicateCall` when `call_id` was used."""
        ...

    async def bridge(self, call_id_a: str, call_id_b: str) -> None:
        """Join two answered legs: `call_id_a` is the agent's, `call_id_b` the customer's."""
        ...

    async def park(self, call_id: str) -> None:
        """Part an answered leg from whatever it was joined to; it stays up, on its own."""
        ...

    async def play_ivr(self, call_id: str, script: str) -> None:
        """Play an IVR script on an answered leg; PROMPT_DONE follows when it has played."""
        ...

    async def hangup(self, call_id: str) -> None:
        """End a leg; ending a leg that is already over does nothing."""
        ...

    def events(self) -> AsyncIterator[CallEvent]:
        """Every event of every leg, in the order they happen."""
        ...

    async def call_state(self, call_id: str) -> CallState:
        """Where the call `call_id` stands; UNKNOWN when this driver cannot tell."""
        ...


class DialOutcome(StrEnum):
    """How a simulated dial ends, as named in `RAPPEL_SIM_OUTCOMES`."""

    #: A person answers (after ringing).
    ANSWER = "answer"
    #: The line is busy.
    BUSY = "busy"
    #: It rings until the originate timeout.
    NO_ANSWER = "no_answer"
    #: The network fails the call.
    FAILED = "failed"
    #: An answering machine picks up.
    MACHINE = "machine"


_NON_DIGITS = re.compile(r"\D")


def number_digits(number: str) -> str:
    """The digits of an E.164 number: `+1 (650) 555-1212` -> `16505551212`."""
    return _NON_DIGITS.sub("", number)


def parse_sim_outcomes(text: str) -> dict[str, DialOutcome]:
    """Parse `16505551212=answer;16505550000=busy` into digits -> outcome.

    Empty text and empty items (a trailing `;`) are allowed; anything else that
    is not `number=outcome` is refused with a message naming the bad item.
    """
    field = "RAPPEL_SIM_OUTCOMES"
    outcomes: dict[str, DialOutcome] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        number, sep, name = item.partition("=")
        if not sep:
            raise ValidationFailed(field, f"{item!r} is not of the form number=outcome")
        digits = number_digits(number)
        if not digits or not re.fullmatch(r"\s*\+?[\d\s().-]+\s*", number):
            raise ValidationFailed(field, f"{number.strip()!r} is not a phone number")
        try:
            outcome = DialOutcome(name.strip().lower())
        except ValueError:
            allowed = ", ".join(o.value for o in DialOutcome)
            raise ValidationFailed(
                field, f"{name.strip()!r} is not an outcome (one of {allowed})"
            ) from None
        if digits in outcomes and outcomes[digits] is not outcome:
            raise ValidationFailed(field, f"{digits} is given two different outcomes")
        outcomes[digits] = outcome
    return outcomes
