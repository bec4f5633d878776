"""Customer results: the OBI `result` / `callResult` vocabulary and how calls map to it.

A customer record's `result` says where the customer stands; each attempt also
has a result in the same vocabulary (OBI `callResult`). Results fall in three
groups:

* **handled** — the customer is done and counts as handled:
  SUCCESS, REFUSAL, HANGUP, NOT_DIALED (no dialable number left), EXPIRED, CANCELED.
* **closed, not handled** — no more dials, but the customer can be reopened:
  MAXCALLS (raising RetryCount reopens it) and FILTERED (a filter or the
  do-not-call list keeps it out; removing the filter reopens it).
* **open** — the customer will be called again: DIALING (initial), BUSY,
  NOANSWER, MACHINE, ABANDONED, FAILED (technical), SKIP, AGENT_REJECTED,
  OPER_LOGOUT, CALLBACK (the agent set a new call time).

`is_final` is handled or closed; the retry policy never dials a final customer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from rappel.domain.codes import CallResult
from rappel.domain.errors import ValidationFailed


class CustomerResult(StrEnum):
    """OBI customer `result` and `callResult` values."""

    DIALING = "DIALING"  #: open: not called yet or between attempts
    SUCCESS = "SUCCESS"  #: handled: the agent reached the customer with a positive outcome
    REFUSAL = "REFUSAL"  #: handled: reached, the customer declined
    CALLBACK = "CALLBACK"  #: open: reached, the agent set a new call time
    SKIP = "SKIP"  #: open: the agent skipped the record in preview
    AGENT_REJECTED = "AGENT_REJECTED"  #: open: the agent rejected the offered record
    HANGUP = "HANGUP"  #: handled: connected, ended without an agent disposition
    ABANDONED = "ABANDONED"  #: open: connected but no agent took it in time
    BUSY = "BUSY"  #: open: busy, retried after the busy delay
    NOANSWER = "NOANSWER"  #: open: no answer, retried after the no-answer delay
    MACHINE = "MACHINE"  #: open: answering machine or pager detected
    FAILED = "FAILED"  #: open: technical failure of the network or the platform
    OPER_LOGOUT = "OPER_LOGOUT"  #: open: the agent logged out in preview/connected/wrap-up
    NOT_DIALED = "NOT_DIALED"  #: handled: the number is unusable (invalid, vacant, fax, wrong)
    MAXCALLS = "MAXCALLS"  #: closed: RetryCount + 1 attempts used up
    FILTERED = "FILTERED"  #: closed: kept out by a filter or the do-not-call list
    EXPIRED = "EXPIRED"  #: handled: the campaign or callback window ended first
    CANCELED = "CANCELED"  #: handled: cancelled through an API


HANDLED_RESULTS: frozenset[CustomerResult] = frozenset(
    {
        CustomerResult.SUCCESS,
        CustomerResult.REFUSAL,
        CustomerResult.HANGUP,
        CustomerResult.NOT_DIALED,
        CustomerResult.EXPIRED,
        CustomerResult.CANCELED,
    }
)
CLOSED_RESULTS: frozenset[CustomerResult] = frozenset(
    {CustomerResult.MAXCALLS, CustomerResult.FILTERED}
)


def is_handled(result: CustomerResult) -> bool:
    return result in HANDLED_RESULTS


def is_final(result: CustomerResult) -> bool:
    return result in HANDLED_RESULTS or result in CLOSED_RESULTS


#: The `date` (next call) OBI shows for a final customer, which has none: the seed's
#: 9999-12-31T23:59:59Z, so that `date` searches find it as they would that value.
NEVER_DUE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


_CONNECTED: frozenset[CallResult] = frozenset(
    {
        CallResult.OK,
        CallResult.TRANSFERRED,
        CallResult.CONFERENCED,
        CallResult.REDIRECTED,
        CallResult.FORWARDED,
        CallResult.CONSULT,
        CallResult.PICKEDUP,
        CallResult.COVERED,
        CallResult.CONVERSE_ON,
        CallResult.BRIDGED,
        CallResult.ANSWER,
        CallResult.DEAFENED,
        CallResult.HELD,
    }
)

# Connected calls are absent: for them the agent's disposition decides.
_BY_CALL_RESULT: dict[CallResult, CustomerResult] = {
    CallResult.GENERAL_ERROR: CustomerResult.FAILED,
    CallResult.SYSTEM_ERROR: CustomerResult.FAILED,
    CallResult.REMOTE_RELEASE: CustomerResult.HANGUP,
    CallResult.BUSY: CustomerResult.BUSY,
    CallResult.NO_ANSWER: CustomerResult.NOANSWER,
    # An unclassified or congestion SIT may be transient: retry rather than drop the number.
    CallResult.SIT_DETECTED: CustomerResult.FAILED,
    CallResult.ANSWERING_MACHINE: CustomerResult.MACHINE,
    CallResult.ALL_TRUNKS_BUSY: CustomerResult.FAILED,
    CallResult.SIT_INVALID_NUM: CustomerResult.NOT_DIALED,
    CallResult.SIT_VACANT: CustomerResult.NOT_DIALED,
    CallResult.SIT_OPER_INTERCEPT: CustomerResult.NOT_DIALED,
    CallResult.SIT_UNKNOWN: CustomerResult.FAILED,
    CallResult.SIT_NO_CIRCUIT: CustomerResult.FAILED,
    CallResult.SIT_REORDER: CustomerResult.FAILED,
    CallResult.SIT_FAX_DETECTED: CustomerResult.NOT_DIALED,
    CallResult.QUEUE_FULL: CustomerResult.ABANDONED,
    CallResult.CLEARED: CustomerResult.HANGUP,
    CallResult.OVERFLOWED: CustomerResult.ABANDONED,
    CallResult.ABANDONED: CustomerResult.ABANDONED,
    CallResult.DROPPED: CustomerResult.HANGUP,
    CallResult.DROPPED_NO_ANSWER: CustomerResult.NOANSWER,
    CallResult.UNKNOWN: CustomerResult.FAILED,
    CallResult.SILENCE: CustomerResult.NOANSWER,
    CallResult.NU_TONE: CustomerResult.NOT_DIALED,
    CallResult.NO_DIAL_TONE: CustomerResult.FAILED,
    CallResult.NO_PROGRESS: CustomerResult.FAILED,
    CallResult.NO_RING_BACK: CustomerResult.FAILED,
    CallResult.NO_ESTABLISHED: CustomerResult.FAILED,
    CallResult.PAGER_DETECTED: CustomerResult.MACHINE,
    CallResult.WRONG_PARTY: CustomerResult.NOT_DIALED,
    CallResult.DIAL_ERROR: CustomerResult.FAILED,
    CallResult.CALL_DROPPED_ERROR: CustomerResult.FAILED,
    CallResult.SWITCH_ERROR: CustomerResult.FAILED,
    CallResult.NO_FREE_PORT_ERROR: CustomerResult.FAILED,
    # The customer was connected but never reached an agent.
    CallResult.TRANSFER_ERROR: CustomerResult.ABANDONED,
    CallResult.STALE: CustomerResult.FAILED,
    CallResult.AGT_CALLBACK_ERROR: CustomerResult.FAILED,
    CallResult.GRP_CALLBACK_ERROR: CustomerResult.FAILED,
    CallResult.DO_NOT_CALL: CustomerResult.FILTERED,
    CallResult.CANCEL_RECORD: CustomerResult.CANCELED,
    CallResult.WRONG_NUMBER: CustomerResult.NOT_DIALED,
}


def is_connected(call_result: CallResult) -> bool:
    """True when the call reached a person, so an agent disposition decides the result."""
    return call_result in _CONNECTED


def customer_result_for_call(call_result: CallResult) -> CustomerResult | None:
    """The customer result a dial outcome implies; None for a connected call."""
    return _BY_CALL_RESULT.get(call_result)


# The Genesys call_result shown for a customer result (the reverse direction).
_CALL_RESULT_FOR: dict[CustomerResult, CallResult | None] = {
    CustomerResult.DIALING: None,
    CustomerResult.SUCCESS: CallResult.OK,
    CustomerResult.REFUSAL: CallResult.OK,
    CustomerResult.CALLBACK: CallResult.OK,
    CustomerResult.SKIP: None,
    CustomerResult.AGENT_REJECTED: None,
    CustomerResult.HANGUP: CallResult.REMOTE_RELEASE,
    CustomerResult.ABANDONED: CallResult.ABANDONED,
    CustomerResult.BUSY: CallResult.BUSY,
    CustomerResult.NOANSWER: CallResult.NO_ANSWER,
    CustomerResult.MACHINE: CallResult.ANSWERING_MACHINE,
    CustomerResult.FAILED: CallResult.GENERAL_ERROR,
    CustomerResult.OPER_LOGOUT: CallResult.DROPPED,
    CustomerResult.NOT_DIALED: CallResult.WRONG_NUMBER,
    CustomerResult.MAXCALLS: CallResult.NO_ANSWER,
    CustomerResult.FILTERED: CallResult.DO_NOT_CALL,
    CustomerResult.EXPIRED: None,
    CustomerResult.CANCELED: CallResult.CANCEL_RECORD,
}


def call_result_for(result: CustomerResult) -> CallResult | None:
    """The Genesys call_result to show for a customer result, None when no call was made."""
    return _CALL_RESULT_FOR[result]


@dataclass(frozen=True)
class TransactionCode:
    """An 8x8-style transaction code the agent picked: list, short code, description."""

    list_name: str
    code_short: str
    code_desc: str


@dataclass(frozen=True)
class ScriptAnswer:
    """One answer of the campaign script (OBI `script.answers`)."""

    question: str
    answer: str


#: What an agent may record as the outcome of a call or a preview.
DISPOSITION_RESULTS: frozenset[CustomerResult] = frozenset(
    {
        CustomerResult.SUCCESS,
        CustomerResult.REFUSAL,
        CustomerResult.CALLBACK,
        CustomerResult.SKIP,
        CustomerResult.AGENT_REJECTED,
        CustomerResult.HANGUP,
        CustomerResult.BUSY,
        CustomerResult.NOANSWER,
        CustomerResult.MACHINE,
        CustomerResult.NOT_DIALED,
    }
)


@dataclass(frozen=True)
class Disposition:
    """The agent's wrap-up of one call (OBI result/classifier/amount/script, 8x8 codes)."""

    result: CustomerResult
    classifier: str | None = None
    notes: str | None = None
    amount: float | None = None
    transaction_codes: tuple[TransactionCode, ...] = field(default=())
    script_name: str | None = None
    answers: tuple[ScriptAnswer, ...] = field(default=())
    #: when the customer wants to be called again (CALLBACK only)
    callback_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.result not in DISPOSITION_RESULTS:
            raise ValidationFailed("result", f"an agent cannot record {self.result.value}")
        if self.amount is not None:
            if self.result is not CustomerResult.SUCCESS:
                raise ValidationFailed("amount", "an amount is recorded with SUCCESS only")
            if self.amount < 0:
                raise ValidationFailed("amount", "amount must not be negative")
        if (self.result is CustomerResult.CALLBACK) != (self.callback_at is not None):
            raise ValidationFailed("callback_at", "callback_at goes with CALLBACK and only then")
        if self.callback_at is not None and self.callback_at.tzinfo is None:
            raise ValidationFailed("callback_at", "callback_at must carry a time zone")


def result_of_call(call_result: CallResult, disposition: Disposition | None) -> CustomerResult:
    """The customer result of one finished attempt.

    The agent's disposition wins when there is one; otherwise the dial outcome
    decides, and a connected call nobody dispositioned counts as HANGUP.
    """
    if disposition is not None:
        return disposition.result
    return customer_result_for_call(call_result) or CustomerResult.HANGUP


# SIP final answers to an INVITE (RFC 3261 section 21) and the seed's call_result they mean.
_SIP_FINALS: dict[int, CallResult] = {
    486: CallResult.BUSY,
    600: CallResult.BUSY,
    408: CallResult.NO_ANSWER,
    480: CallResult.NO_ANSWER,
    487: CallResult.NO_ANSWER,
    404: CallResult.SIT_INVALID_NUM,
    484: CallResult.SIT_INVALID_NUM,
    604: CallResult.SIT_INVALID_NUM,
    410: CallResult.SIT_VACANT,
    503: CallResult.ALL_TRUNKS_BUSY,
}


def call_result_for_sip_status(status: int) -> CallResult:
    """The call_result of an INVITE that ended with SIP `status` (>= 300).

    Statuses without their own row: a 5xx is a failure on our side of the
    network (SYSTEM_ERROR), anything else a GENERAL_ERROR; the attempt keeps the
    status itself in `network_cause`.
    """
    found = _SIP_FINALS.get(status)
    if found is not None:
        return found
    return CallResult.SYSTEM_ERROR if 500 <= status < 600 else CallResult.GENERAL_ERROR
