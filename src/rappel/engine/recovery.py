"""Recovery: the attempts a worker left without an outcome, closed from what the driver tells.

A worker that dies (kill -9, a lost database) or loses its lease leaves its
calls in flight with open attempt rows. Whoever takes the interaction (or the
campaign customer) over asks the telephony driver about each open attempt's
call id (`Telephony.call_state`) before anything is dialled again, and closes
the attempt accordingly (rule 3 of `engine.dialing`):

| the driver says    | the attempt is closed as           | the customer is dialled again  |
|--------------------|------------------------------------|--------------------------------|
| `RINGING`, `LIVE`  | not yet: the call is going on      | once it is over (`RECHECK_S`)  |
| `NOT_PLACED`       | STALE, not dialled (not counted)   | after the failed-call delay    |
| `ENDED_UNANSWERED` | NO_ANSWER                          | after the no-answer delay      |
| `ENDED_ANSWERED`   | ABANDONED (answered, then dropped) | after the abandoned delay      |
| `UNKNOWN`          | STALE, counted as ABANDONED        | after the abandoned delay      |

`UNKNOWN` is what a driver says about a call another process placed (the sim
knows only its own calls; a SIP driver asks rtpengine and its dialogs): the
customer may have answered and may even still be talking, so the attempt is
treated as an answered call that dropped. A crash therefore never re-dials a
person at once: an attempt that may have been answered waits for the retry
delay of an answered-and-dropped call (the campaign's, else `RetryPolicy`'s).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from rappel.domain.codes import CallResult
from rappel.domain.errors import RappelError
from rappel.domain.results import CustomerResult
from rappel.engine.dialing import agent_call_id_of
from rappel.store.tables import attempts
from rappel.telephony.port import CallState, Telephony

log = logging.getLogger(__name__)

#: Seconds before an interaction whose call is still up is looked at again.
RECHECK_S = 5.0

#: Driver states of a call that is going on: its attempt stays open.
STILL_UP = frozenset({CallState.RINGING, CallState.LIVE})


@dataclass(frozen=True)
class Closing:
    """How an open attempt is closed."""

    call_result: CallResult
    customer_result: CustomerResult
    dialed: bool = True


_CLOSINGS: dict[CallState, Closing] = {
    CallState.NOT_PLACED: Closing(CallResult.STALE, CustomerResult.FAILED, dialed=False),
    CallState.ENDED_UNANSWERED: Closing(CallResult.NO_ANSWER, CustomerResult.NOANSWER),
    CallState.ENDED_ANSWERED: Closing(CallResult.ABANDONED, CustomerResult.ABANDONED),
    CallState.UNKNOWN: Closing(CallResult.STALE, CustomerResult.ABANDONED),
}


def closing_for(state: CallState) -> Closing | None:
    """The closing of an attempt whose call is in `state`; None while the call is up."""
    return None if state in STILL_UP else _CLOSINGS[state]


def open_attempts(conn: Connection, tenant_id: str, interaction_id: str) -> list[dict[str, Any]]:
    """The interaction's attempts without an outcome, oldest first."""
    rows = conn.execute(
        select(
            attempts.c.attempt_no,
            attempts.c.call_id,
            attempts.c.interaction_id,
            attempts.c.agent_id,
        )
        .where(
            attempts.c.tenant_id == tenant_id,
            attempts.c.interaction_id == interaction_id,
            attempts.c.ended_at.is_(None),
        )
        .order_by(attempts.c.attempt_no)
    ).mappings()
    return [dict(r) for r in rows]


async def ask(telephony: Telephony, rows: Sequence[Mapping[str, Any]]) -> dict[int, CallState]:
    """The driver's word on each open attempt's call, by attempt number."""
    states: dict[int, CallState] = {}
    for r in rows:
        try:
            states[int(r["attempt_no"])] = await telephony.call_state(r["call_id"])
            if r.get("agent_id"):
                # Asked too so that a driver ends what a dead worker left of the agent's leg
                # (the SIP driver deletes its media); the customer's leg decides the outcome.
                await telephony.call_state(agent_call_id_of(r["interaction_id"], r["attempt_no"]))
        except (RappelError, OSError) as exc:
            # A driver that cannot answer knows no more than one that does not know the call.
            log.warning("call state of %s unavailable (%s); treated as UNKNOWN", r["call_id"], exc)
            states[int(r["attempt_no"])] = CallState.UNKNOWN
    return states


def still_up(states: Mapping[int, CallState]) -> bool:
    return any(state in STILL_UP for state in states.values())


def close(
    conn: Connection,
    tenant_id: str,
    interaction_id: str,
    states: Mapping[int, CallState],
    now: datetime,
) -> int:
    """Close the open attempts asked about as `closing_for` says; how many were closed.

    Call only when no call is `still_up`. An attempt that got its outcome since
    it was asked about keeps it.
    """
    closed = 0
    for attempt_no, state in states.items():
        closing = closing_for(state)
        if closing is None:
            raise ValueError(f"attempt {attempt_no} of {interaction_id} is still up")
        result = conn.execute(
            update(attempts)
            .where(
                attempts.c.tenant_id == tenant_id,
                attempts.c.interaction_id == interaction_id,
                attempts.c.attempt_no == attempt_no,
                attempts.c.ended_at.is_(None),
            )
            .values(
                call_result=int(closing.call_result),
                customer_result=closing.customer_result.value,
                dialed=closing.dialed,
                ended_at=now,
            )
        )
        closed += int(result.rowcount or 0)
    return closed
