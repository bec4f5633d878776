"""Every documented vendor code is present with its number or spelling."""

from __future__ import annotations

import inspect
import re
from enum import Enum

import pytest

from rappel.domain import codes
from rappel.domain.codes import (
    CallbackFlow,
    CallbackStatus,
    CallbackType,
    CallResult,
    CampaignStatus,
    DesiredResponseType,
    DialerStatus,
    DialerType,
    DialingMode,
    EntityType,
    InteractionStatus,
    callback_type_of,
)
from rappel.domain.errors import ValidationFailed
from rappel.domain.results import (
    CustomerResult,
    Disposition,
    call_result_for,
    call_result_for_sip_status,
    customer_result_for_call,
    is_connected,
    is_final,
    is_handled,
    result_of_call,
)

GENESYS_CALLBACK_STATUS = """0-UNKNOWN 1-RECEIVED 2-TIMER 3-QUEUED 4-DISTRIBUTED
5-SUBMITTED_TO_AGT 6-REJECTED_BY_AGT 7-CANCELED_BY_AGT 8-PROCESSED_BY_AGT 9-FINAL
10-NOT_QUEUED 11-ERROR 12-REPLACED 13-AGT_TRANSFER 14-ENDTIME_EXPIRED"""

GENESYS_CALL_RESULT = """0-OK 1-TRANSFERRED 2-CONFERENCED 3-GENERAL_ERROR 4-SYSTEM_ERROR
5-REMOTE_RELEASE 6-BUSY 7-NO_ANSWER 8-SIT_DETECTED 9-ANSWERING_MACHINE 10-ALL_TRUNKS_BUSY
11-SIT_INVALID_NUM 12-SIT_VACANT 13-SIT_OPER_INTERCEPT 14-SIT_UNKNOWN 15-SIT_NO_CIRCUIT
16-SIT_REORDER 17-SIT_FAX_DETECTED 18-QUEUE_FULL 19-CLEARED 20-OVERFLOWED 21-ABANDONED
22-REDIRECTED 23-FORWARDED 24-CONSULT 25-PICKEDUP 26-DROPPED 27-DROPPED_NO_ANSWER
28-UNKNOWN 29-COVERED 30-CONVERSE_ON 31-BRIDGED 32-SILENCE 33-ANSWER 34-NU_TONE
35-NO_DIAL_TONE 36-NO_PROGRESS 37-NO_RING_BACK 38-NO_ESTABLISHED 39-PAGER_DETECTED
40-WRONG_PARTY 41-DIAL_ERROR 42-CALL_DROPPED_ERROR 43-SWITCH_ERROR 44-NO_FREE_PORT_ERROR
45-TRANSFER_ERROR 46-STALE 47-AGT_CALLBACK_ERROR 48-GRP_CALLBACK_ERROR 49-DEAFENED
50-HELD 51-DO_NOT_CALL 52-CANCEL_RECORD 53-WRONG_NUMBER"""


def _pairs(text: str) -> dict[str, int]:
    return {name: int(number) for number, name in (p.split("-", 1) for p in text.split())}


def test_callback_status_has_every_genesys_code() -> None:
    expected = _pairs(GENESYS_CALLBACK_STATUS)
    assert {s.name: s.value for s in CallbackStatus} == expected


def test_call_result_has_all_54_genesys_codes() -> None:
    expected = _pairs(GENESYS_CALL_RESULT)
    assert len(expected) == 54
    assert {r.name: r.value for r in CallResult} == expected


@pytest.mark.parametrize(
    ("enum", "expected"),
    [
        (InteractionStatus, {"NEW": 0, "PENDING": 1, "IN_PROCESS": 2, "STOPPED": 3}),
        (CallbackType, {"UNKNOWN": 0, "ASAP": 1, "SCHEDULED": 2}),
        (
            EntityType,
            {
                "EMAIL_IN": 0,
                "EMAIL_OUT": 1,
                "CHAT": 2,
                "PHONE_CALL": 3,
                "CALLBACK": 5,
                "COBROWSE": 6,
                "INTERACTION": 7,
            },
        ),
    ],
)
def test_integer_codes_match_genesys(enum: type[Enum], expected: dict[str, int]) -> None:
    assert {m.name: m.value for m in enum} == expected


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (DesiredResponseType, ["Voice", "VoIP", "Email"]),
        (DialingMode, ["PREVIEW", "PROGRESSIVE", "PREDICTIVE"]),
        (
            CampaignStatus,
            ["Passive", "Active", "Handled", "Expired", "Invalid", "Deleted", "Quota"],
        ),
        (
            DialerStatus,
            [
                "OPEN",
                "CLOSING",
                "CLOSING2",
                "CLOSED",
                "PASSIVE",
                "COMPLETED",
                "SUSPEND",
                "EXPIRED",
                "SHUTDOWN",
                "QUOTA",
            ],
        ),
        (DialerType, ["QueueDialer", "CampaignDialer"]),
    ],
)
def test_string_codes_match_the_seed_spelling(enum: type[Enum], values: list[str]) -> None:
    assert [m.value for m in enum] == values


def test_every_enum_member_is_documented() -> None:
    lines = inspect.getsource(codes).splitlines()
    members = [i for i, ln in enumerate(lines) if re.match(r"^    [A-Z][A-Z0-9_]* = ", ln)]
    assert len(members) > 100
    for i in members:
        assert "#:" in lines[i] or lines[i - 1].strip().startswith("#:"), lines[i]


def test_only_the_scheduled_flow_is_shown_as_scheduled() -> None:
    assert callback_type_of(CallbackFlow.SCHEDULED) is CallbackType.SCHEDULED
    for flow in (CallbackFlow.ASAP, CallbackFlow.CUSTOMER_FIRST, CallbackFlow.AGENT_FIRST):
        assert callback_type_of(flow) is CallbackType.ASAP


@pytest.mark.parametrize(
    ("call_result", "expected"),
    [
        (CallResult.BUSY, CustomerResult.BUSY),
        (CallResult.NO_ANSWER, CustomerResult.NOANSWER),
        (CallResult.ANSWERING_MACHINE, CustomerResult.MACHINE),
        (CallResult.ABANDONED, CustomerResult.ABANDONED),
        (CallResult.SIT_INVALID_NUM, CustomerResult.NOT_DIALED),
        (CallResult.SIT_VACANT, CustomerResult.NOT_DIALED),
        (CallResult.SIT_REORDER, CustomerResult.FAILED),
        (CallResult.DO_NOT_CALL, CustomerResult.FILTERED),
        (CallResult.CANCEL_RECORD, CustomerResult.CANCELED),
        (CallResult.REMOTE_RELEASE, CustomerResult.HANGUP),
        (CallResult.WRONG_NUMBER, CustomerResult.NOT_DIALED),
    ],
)
def test_engine_call_results_map_to_customer_results(
    call_result: CallResult, expected: CustomerResult
) -> None:
    assert customer_result_for_call(call_result) is expected


def test_every_call_result_is_either_connected_or_mapped() -> None:
    for code in CallResult:
        assert is_connected(code) != (customer_result_for_call(code) is not None), code


def test_every_customer_result_has_a_genesys_call_result_entry() -> None:
    for result in CustomerResult:
        call_result_for(result)  # raises KeyError when one is missing
    assert call_result_for(CustomerResult.BUSY) is CallResult.BUSY


def test_handled_and_closed_results_are_final_and_open_ones_are_not() -> None:
    assert is_handled(CustomerResult.SUCCESS)
    assert is_final(CustomerResult.MAXCALLS)
    assert not is_handled(CustomerResult.MAXCALLS)
    assert not is_final(CustomerResult.BUSY)
    assert not is_final(CustomerResult.DIALING)


def test_agent_disposition_decides_a_connected_call() -> None:
    disposition = Disposition(CustomerResult.SUCCESS, classifier="Offer accepted", amount=12.5)
    assert result_of_call(CallResult.ANSWER, disposition) is CustomerResult.SUCCESS
    assert result_of_call(CallResult.ANSWER, None) is CustomerResult.HANGUP
    assert result_of_call(CallResult.BUSY, None) is CustomerResult.BUSY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"result": CustomerResult.MAXCALLS},
        {"result": CustomerResult.REFUSAL, "amount": 5.0},
        {"result": CustomerResult.SUCCESS, "amount": -1.0},
        {"result": CustomerResult.CALLBACK},
    ],
)
def test_invalid_dispositions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        Disposition(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (486, CallResult.BUSY),
        (600, CallResult.BUSY),
        (408, CallResult.NO_ANSWER),
        (480, CallResult.NO_ANSWER),
        (487, CallResult.NO_ANSWER),
        (404, CallResult.SIT_INVALID_NUM),
        (484, CallResult.SIT_INVALID_NUM),
        (604, CallResult.SIT_INVALID_NUM),
        (410, CallResult.SIT_VACANT),
        (503, CallResult.ALL_TRUNKS_BUSY),
        (500, CallResult.SYSTEM_ERROR),
        (502, CallResult.SYSTEM_ERROR),
        (403, CallResult.GENERAL_ERROR),
        (488, CallResult.GENERAL_ERROR),
        (603, CallResult.GENERAL_ERROR),
    ],
)
def test_sip_final_answers_map_to_the_seeds_call_results(status: int, result: CallResult) -> None:
    assert call_result_for_sip_status(status) is result
