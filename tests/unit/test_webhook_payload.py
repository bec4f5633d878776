"""The webhook payload: user data with tokens substituted, then the ctl_ system fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from rappel.domain.results import CustomerResult, Disposition, TransactionCode
from rappel.services.webhooks import (
    disposition_to_json,
    encode_payload,
    payload_pairs,
    transaction_codes_of,
    user_data_pairs,
)

NOW = datetime(2026, 1, 5, 17, 30, 5, tzinfo=UTC)
ANSWERED = datetime(2026, 1, 5, 17, 0, 0, tzinfo=UTC)
ENDED = datetime(2026, 1, 5, 17, 3, 25, tzinfo=UTC)
TENANT = {"time_zone": "America/Los_Angeles", "default_caller_id": "18006664444"}


def _interaction(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": "0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "udata": {
            "Transactionid__c": "$interaction_guid$",
            "CallAnswerTime": "$call_answered_time$",
            "foreign_key": "1234456677",
        },
        "caller_id": "18006664444",
        "customer_number": "+16505551212",
        "callback_type": 1,
        "callback_status": 9,
        "status": 3,
        "call_result": 0,
        "attempts": 1,
        "external_id": None,
        "disposition": disposition_to_json(
            Disposition(
                CustomerResult.SUCCESS,
                classifier="Sale",
                notes="wants the $caller_id$ brochure",
                amount=99.5,
                transaction_codes=(
                    TransactionCode("Sales", "S1", "Interested"),
                    TransactionCode("Sales", "S7", "Bought"),
                ),
            )
        ),
    }
    values.update(changes)
    return values


ATTEMPT = {"call_id": "CALL-42", "answered_at": ANSWERED, "ended_at": ENDED}


def _fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pairs)


def test_seed_example_2_user_data_comes_first_with_tokens_substituted() -> None:
    pairs = payload_pairs("W1", _interaction(), ATTEMPT, TENANT, NOW)
    assert pairs[:3] == [
        ("Transactionid__c", "0A1B2C3D4E5F60718293A4B5C6D7E8F9"),
        ("CallAnswerTime", str(int(ANSWERED.timestamp()))),
        ("foreign_key", "1234456677"),
    ]
    assert all(name.startswith("ctl_") for name, _ in pairs[3:])


def test_system_fields_describe_the_attempt_and_the_disposition() -> None:
    fields = _fields(payload_pairs("W1", _interaction(), ATTEMPT, TENANT, NOW))
    assert fields["ctl_webhook_id"] == "W1"
    assert fields["ctl_event"] == "callback.processed"
    assert fields["ctl_transaction_id"] == "CALL-42"
    assert fields["ctl_caller_id"] == "18006664444"
    assert fields["ctl_call_hangup_time"] == str(int(ENDED.timestamp()))
    assert fields["ctl_callAnsweredTenantTT"] == "2026/01/05 09:00:00 -0800"
    assert fields["ctl_callDuration"] == "00:03:25"
    assert fields["ctl_transaction_codes"] == "Sales:S1,Sales:S7"
    assert fields["ctl_lastTclCodeShort"] == "S7"
    assert fields["ctl_lastTclCodeDesc"] == "Bought"
    assert fields["ctl_lastTclListName"] == "Sales"
    # Notes are agent text: a token inside them is not expanded again.
    assert fields["ctl_notes"] == "wants the $caller_id$ brochure"
    assert fields["ctl_result"] == "SUCCESS"
    assert fields["ctl_classifier"] == "Sale"
    assert fields["ctl_callback_status"] == "9"
    assert fields["ctl_tenant_time_zone"] == "America/Los_Angeles"


def test_unanswered_call_gives_zero_times_and_empty_codes() -> None:
    interaction = _interaction(disposition=None, udata={"hangup": "$call_hangup_time$"})
    fields = _fields(payload_pairs("W1", interaction, None, TENANT, NOW))
    assert fields["hangup"] == "0"
    assert fields["ctl_call_answered_time"] == "0"
    assert fields["ctl_callDuration"] == "00:00:00"
    assert fields["ctl_transaction_id"] == ""
    assert fields["ctl_transaction_codes"] == ""
    assert fields["ctl_result"] == ""


def test_result_without_a_wrap_up_is_the_engine_stop_reason() -> None:
    interaction = _interaction(disposition=None, stopped_reason="EXPIRED", callback_status=14)
    fields = _fields(payload_pairs("W1", interaction, None, TENANT, NOW))
    assert fields["ctl_result"] == "EXPIRED"
    assert fields["ctl_callback_status"] == "14"


def test_clock_tokens_use_the_tenant_zone_at_processing_time() -> None:
    udata = {"stamp": "$year$-$month$-$date$ $hours$:$minutes$:$seconds$", "eq": "a$equal$b"}
    fields = _fields(payload_pairs("W1", _interaction(udata=udata), ATTEMPT, TENANT, NOW))
    assert fields["stamp"] == "2026-01-05 09:30:05"
    assert fields["eq"] == "a=b"


def test_system_data_in_udata_is_never_sent_as_user_data() -> None:
    udata = [["ctl_callbackUrl", "https://example.com/hook"], ["keep", "1"], ["keep", "2"]]
    assert user_data_pairs(udata) == [("keep", "1"), ("keep", "2")]


def test_caller_id_falls_back_to_the_tenant_default() -> None:
    interaction = _interaction(caller_id=None, udata={"cid": "$caller_id$"})
    fields = _fields(payload_pairs("W1", interaction, ATTEMPT, TENANT, NOW))
    assert fields["cid"] == "18006664444"


def test_form_encoding_round_trips_values_with_reserved_characters() -> None:
    pairs = [("note", "a&b=c d+e"), ("ünïcode", "çà")]
    assert parse_qsl(encode_payload(pairs)) == pairs


def test_transaction_codes_are_read_in_either_spelling() -> None:
    codes = transaction_codes_of(
        {"transaction_codes": [{"list_name": "L", "short_code": "X", "description": "D"}]}
    )
    assert [(c.list_name, c.short_code, c.description) for c in codes] == [("L", "X", "D")]
