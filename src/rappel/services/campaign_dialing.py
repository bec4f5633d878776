"""Campaign dialing use cases: what to do with a claimed customer, settling it, and preview.

`plan` decides, for a customer the dialer has just claimed, from its attempts
so far (the retry policy), the do-not-call list and the calling hours:

* `Dial` a number (numbers in priority order; a blocked number is passed over);
* `Defer` to the first instant the customer's local calling hours allow;
* `Close` with a result: FILTERED when every usable number is blocked, or the
  policy's final result (MAXCALLS, NOT_DIALED, or a final disposition found
  on a taken-over customer).

`settle` folds a finished attempt into the customer row (result, callResult,
classifier, amount, script answers, callCount, lastBNumber, next call date),
so OBI reads right; it releases the customer and its interaction.

Preview: the record is on the agent's desk (agent PREVIEW on the customer's
interaction, whose id is the customer's id). `preview_dial` is the agent's
"dial" (the dialer sees the agent move to DIALING and places the call);
`preview_skip` records an undialled SKIP attempt and frees the agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection

from rappel.clock import Clock
from rappel.domain.agent import Agent, AgentState
from rappel.domain.calling_hours import CallingHours, customer_zone, may_dial, next_allowed
from rappel.domain.codes import CallResult
from rappel.domain.errors import Conflict, NotFound
from rappel.domain.results import CustomerResult, customer_result_for_call, is_final
from rappel.domain.retry import AttemptOutcome, Final, RetryPolicy, call_count, next_step
from rappel.services import agents as agent_service
from rappel.store import agents as agent_store
from rappel.store import campaign_dialing as store
from rappel.store.customers import blocked_numbers
from rappel.store.db import Database

R = CustomerResult
A = AgentState
#: Seconds before a skipped, rejected or cut-off record comes back (not straight to the desk).
REQUEUE_DELAY_S = 300


@dataclass(frozen=True)
class Dial:
    """Dial `number` (the customer's `index`-th, 0-based) now."""

    number: str
    index: int


@dataclass(frozen=True)
class Defer:
    """Not now: the customer becomes due again at `at`."""

    at: datetime


@dataclass(frozen=True)
class Close:
    """No more dials: the customer ends with `result`."""

    result: CustomerResult


def policy_of(campaign: Mapping[str, Any]) -> RetryPolicy:
    return RetryPolicy(
        retry_count=int(campaign["retry_count"]),
        busy_delay_s=int(campaign["busy_retry_delay_s"]),
        no_answer_delay_s=int(campaign["no_answer_retry_delay_s"]),
        requeue_delay_s=REQUEUE_DELAY_S,
    )


def numbers_of(customer: Mapping[str, Any]) -> list[str]:
    return [n for n in (customer["number1"], customer["number2"], customer["number3"]) if n]


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _hours(campaign: Mapping[str, Any]) -> tuple[CallingHours, CallingHours]:
    own = CallingHours.parse_limits(campaign["hours_start"], campaign["hours_end"])
    hard = CallingHours.parse_limits(campaign["hard_hours_start"], campaign["hard_hours_end"])
    return own, hard


def _result_of_row(row: Mapping[str, Any]) -> CustomerResult:
    if row["customer_result"]:
        return CustomerResult(row["customer_result"])
    code = row["call_result"]
    if code is None:
        return R.FAILED
    return customer_result_for_call(CallResult(code)) or R.HANGUP


def outcomes_of(
    rows: Sequence[Mapping[str, Any]], disposition: Mapping[str, Any] | None
) -> list[AttemptOutcome]:
    """The retry policy's view of the finished attempts; the disposition's callback time last."""
    out = []
    for r in rows:
        if r["ended_at"] is None:
            continue
        out.append(AttemptOutcome(r["number_index"], _result_of_row(r), r["ended_at"], r["dialed"]))
    callback_at = (disposition or {}).get("callback_at")
    if out and out[-1].result is R.CALLBACK and callback_at:
        last = out[-1]
        at = datetime.fromisoformat(str(callback_at))
        out[-1] = AttemptOutcome(last.number_index, last.result, last.ended_at, last.dialed, at)
    return out


def plan(
    conn: Connection, campaign: Mapping[str, Any], customer: Mapping[str, Any], now: datetime
) -> Dial | Defer | Close:
    """What to do with a claimed customer now (see the module doc)."""
    numbers = numbers_of(customer)
    if not numbers:
        return Close(R.NOT_DIALED)
    rows = store.attempts_of(conn, customer["tenant_id"], customer["id"])
    step = next_step(policy_of(campaign), outcomes_of(rows, None), numbers, now)
    if isinstance(step, Final):
        return Close(step.result)
    if step.at > now + timedelta(seconds=1):
        return Defer(step.at)
    blocked = blocked_numbers(conn, customer["tenant_id"], customer["campaign_id"], numbers)
    refused = {r["number_index"] for r in rows if r["customer_result"] == R.NOT_DIALED.value}
    usable = [i for i in range(len(numbers)) if i not in refused and numbers[i] not in blocked]
    if not usable:
        return Close(R.FILTERED)
    index = step.number_index
    if index not in usable:
        index = next((i for i in usable if i > index), usable[0])
    number = numbers[index]
    default = _zone(campaign["time_zone"]) or _zone(campaign["tenant_time_zone"])
    zone = customer_zone(customer["time_zone"], number, default)
    own, hard = _hours(campaign)
    if not may_dial(now, zone, own, hard):
        return Defer(next_allowed(now, zone, own, hard))
    return Dial(number, index)


def close(
    conn: Connection, customer: Mapping[str, Any], owner: str, result: CustomerResult, now: datetime
) -> None:
    """End a customer that is not dialled (FILTERED, or a policy end found at claim time)."""
    values: dict[str, Any] = {"result": result.value, "next_call_at": None}
    if result is not R.FILTERED:
        rows = store.attempts_of(conn, customer["tenant_id"], customer["id"])
        values["call_count"] = call_count(outcomes_of(rows, None))
    store.release_customer(conn, customer["tenant_id"], customer["id"], owner, now, **values)
    interaction = store.load_interaction(conn, customer["tenant_id"], customer["id"])
    if interaction is not None:
        store.close_interaction(conn, interaction, True, interaction["call_result"], now)


def defer(
    conn: Connection, customer: Mapping[str, Any], owner: str, at: datetime, now: datetime
) -> None:
    store.release_customer(conn, customer["tenant_id"], customer["id"], owner, now, next_call_at=at)


def settle(
    conn: Connection,
    campaign: Mapping[str, Any],
    customer: Mapping[str, Any],
    interaction: Mapping[str, Any],
    owner: str,
    now: datetime,
) -> CustomerResult:
    """Fold the last attempt (and the agent's disposition) into the customer; release it."""
    tenant_id = customer["tenant_id"]
    fresh = store.load_interaction(conn, tenant_id, interaction["id"]) or dict(interaction)
    disposition = fresh.get("disposition")
    rows = store.attempts_of(conn, tenant_id, interaction["id"])
    if rows and rows[-1]["ended_at"] is None:
        store.set_attempt(conn, tenant_id, interaction["id"], rows[-1]["attempt_no"], ended_at=now)
        rows[-1] = {**rows[-1], "ended_at": now}
    if rows and not rows[-1]["customer_result"]:
        derived = _result_of_row(rows[-1])
        store.set_attempt(
            conn,
            tenant_id,
            interaction["id"],
            rows[-1]["attempt_no"],
            customer_result=derived.value,
        )
        rows[-1] = {**rows[-1], "customer_result": derived.value}
    outcomes = outcomes_of(rows, disposition)
    step = next_step(policy_of(campaign), outcomes, numbers_of(customer), now)
    last = outcomes[-1] if outcomes else None
    if isinstance(step, Final):
        result, next_call = step.result, None
    else:
        open_result = last.result if last is not None and not is_final(last.result) else R.DIALING
        result, next_call = open_result, step.at
    values: dict[str, Any] = {
        "result": result.value,
        "call_result": last.result.value if last is not None else None,
        "call_count": call_count(outcomes),
        "last_b_number": last.number_index if last is not None else 0,
        "next_call_at": next_call,
    }
    if disposition:
        values["classifier"] = disposition.get("classifier")
        values["amount"] = disposition.get("amount")
        answers = disposition.get("answers") or []
        if answers:
            values["script"] = {"name": disposition.get("script_name") or "", "answers": answers}
    elif last is not None:
        values["classifier"] = None
    store.release_customer(conn, tenant_id, customer["id"], owner, now, **values)
    code = rows[-1]["call_result"] if rows else None
    store.close_interaction(conn, fresh, isinstance(step, Final), code, now)
    return result


# -- preview, for the logged-in agent ---------------------------------------------------


def _on_desk(conn: Connection, tenant_id: str, agent_id: str, customer_id: str) -> Agent:
    line = agent_store.last_line(conn, tenant_id, agent_id)
    change = line.change if line is not None else None
    if change is None or change.state is not A.PREVIEW or change.interaction_id != customer_id:
        raise Conflict(f"customer {customer_id} is not on this agent's desk (any more)")
    return Agent(agent_id, change.state, change.reason, change.at, customer_id, change.campaign_id)


def preview_on_desk(db: Database, tenant_id: str, agent_id: str) -> dict[str, Any]:
    """The customer record the agent is previewing."""
    with db.read() as conn:
        line = agent_store.last_line(conn, tenant_id, agent_id)
        if line is None or line.change.state is not A.PREVIEW or not line.change.campaign_id:
            raise NotFound("no campaign record on this agent's desk")
        customer = store.load_customer(conn, tenant_id, line.change.interaction_id or "")
    if customer is None:
        raise NotFound("no campaign record on this agent's desk")
    customer["preview_since"] = line.change.at
    return customer


def preview_dial(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, customer_id: str
) -> agent_service.AgentView:
    """The agent dials the previewed record (the dialer places the call)."""
    with db.read() as conn:
        _on_desk(conn, tenant_id, agent_id, customer_id)
    return agent_service.accept(db, clock, tenant_id, agent_id, customer_id)


def preview_skip(
    db: Database, clock: Clock, tenant_id: str, agent_id: str, customer_id: str
) -> agent_service.AgentView:
    """The agent skips the previewed record: an undialled SKIP attempt; the agent is READY."""
    now = clock.now()
    with db.begin() as conn:
        agent = _on_desk(conn, tenant_id, agent_id, customer_id)
        line = agent_store.last_line(conn, tenant_id, agent_id)
        interaction = store.load_interaction(conn, tenant_id, customer_id)
        customer = store.load_customer(conn, tenant_id, customer_id)
        if interaction is None or customer is None or line is None:
            raise NotFound(f"no customer {customer_id}")
        number = interaction["customer_number"]
        numbers = numbers_of(customer)
        index = numbers.index(number) if number in numbers else 0
        agent.ready(max(now, agent.since or now))
        agent_store.append(conn, tenant_id, line.seq, agent.changes)
        if (
            store.insert_undialled_attempt(conn, interaction, number, index, agent_id, R.SKIP, now)
            is None
        ):
            raise Conflict(f"customer {customer_id} moved meanwhile; try again")
        queues = agent_store.queues_of_agent(conn, tenant_id, agent_id)
        agent_store.wake_waiting(conn, tenant_id, queues, agent_id, now)
    agent_service.notify(tenant_id, agent_id)
    return agent_service.state_of(db, tenant_id, agent_id)
