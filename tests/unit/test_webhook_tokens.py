from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.domain.webhook_tokens import (
    TOKEN_NAMES,
    TokenContext,
    TransactionCode,
    substitute,
    substitute_pairs,
)

ANSWERED = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)
HANGUP = datetime(2026, 1, 5, 9, 2, 3, tzinfo=UTC)

CTX = TokenContext(
    caller_id="18006664444",
    transaction_id="T-77",
    interaction_guid="0F3C5A2B9D8E4F7A8B1C2D3E4F5A6B7C",
    tenant_time_zone="Europe/Paris",
    now=datetime(2026, 7, 1, 22, 30, 5, tzinfo=UTC),
    answered_at=ANSWERED,
    hangup_at=HANGUP,
    transaction_codes=(
        TransactionCode("Sales", "S1", "Sold"),
        TransactionCode("Support", "P2", "Follow-up needed"),
    ),
    notes="call again $caller_id$",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$caller_id$", "18006664444"),
        ("$transaction_id$", "T-77"),
        ("$interaction_guid$", "0F3C5A2B9D8E4F7A8B1C2D3E4F5A6B7C"),
        ("$call_answered_time$", str(int(ANSWERED.timestamp()))),
        ("$call_hangup_time$", str(int(HANGUP.timestamp()))),
        ("$callAnsweredTenantTT$", "2026/01/05 09:00:00 +0100"),
        ("$callHangupTenantTT$", "2026/01/05 10:02:03 +0100"),
        ("$callDuration$", "01:02:03"),
        ("a$equal$b", "a=b"),
        ("$year$-$month$-$date$ $hours$:$minutes$:$seconds$", "2026-07-02 00:30:05"),
        ("$transaction_codes$", "Sales:S1,Support:P2"),
        ("$lastTclListName$|$lastTclCodeDesc$|$lastTclCodeShort$", "Support|Follow-up needed|P2"),
    ],
)
def test_each_documented_token_is_replaced(text: str, expected: str) -> None:
    assert substitute(text, CTX) == expected


def test_every_documented_token_has_a_substitution() -> None:
    for name in TOKEN_NAMES:
        assert f"${name}$" not in substitute(f"${name}$", CTX)


def test_text_produced_by_a_token_is_not_expanded_again() -> None:
    assert substitute("$notes$", CTX) == "call again $caller_id$"


def test_unknown_words_between_dollars_are_left_alone() -> None:
    assert substitute("$price$ $Caller_ID$ $", CTX) == "$price$ $Caller_ID$ $"


def test_token_right_after_an_unknown_one_is_still_found() -> None:
    assert substitute("$a$equal$", CTX) == "$a="


def test_call_not_established_gives_zero_times_and_empty_stamps() -> None:
    ctx = replace(CTX, answered_at=None, hangup_at=None)
    assert substitute("$call_answered_time$/$call_hangup_time$", ctx) == "0/0"
    assert substitute("[$callAnsweredTenantTT$][$callHangupTenantTT$]", ctx) == "[][]"
    assert substitute("$callDuration$", ctx) == "00:00:00"


def test_no_transaction_code_gives_empty_code_tokens() -> None:
    ctx = replace(CTX, transaction_codes=())
    assert substitute("$transaction_codes$$lastTclCodeShort$$lastTclListName$", ctx) == ""


def test_only_values_of_pairs_are_substituted() -> None:
    pairs = [("$caller_id$", "$caller_id$"), ("when", "$year$")]
    assert substitute_pairs(pairs, CTX) == [("$caller_id$", "18006664444"), ("when", "2026")]


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        replace(CTX, tenant_time_zone="Mars/Olympus")
    assert caught.value.field == "tenant_time_zone"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        replace(CTX, now=datetime(2026, 1, 1))
