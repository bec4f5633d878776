from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.domain.errors import ValidationFailed
from rappel.domain.userdata import (
    format_pairs,
    has_balanced_brackets,
    parse_pairs,
    split_system_data,
)

SEED_EXAMPLE = (
    "[ctl_callbackUrl|https://mywebporter.com/callback.php]"
    "[Transactionid__c|$interaction_guid$][CallAnswerTime|$call_answered_time$]\n"
    "[foreign_key|1234456677]"
)


def test_seed_example_parses_into_ordered_pairs() -> None:
    assert parse_pairs(SEED_EXAMPLE) == [
        ("ctl_callbackUrl", "https://mywebporter.com/callback.php"),
        ("Transactionid__c", "$interaction_guid$"),
        ("CallAnswerTime", "$call_answered_time$"),
        ("foreign_key", "1234456677"),
    ]


def test_empty_text_is_no_pairs() -> None:
    assert parse_pairs("") == []


def test_value_keeps_every_bar_after_the_first() -> None:
    assert parse_pairs("[url|a|b||c]") == [("url", "a|b||c")]


def test_value_may_hold_balanced_brackets() -> None:
    assert parse_pairs("[note|see [1] and [2[3]]][x|y]") == [
        ("note", "see [1] and [2[3]]"),
        ("x", "y"),
    ]


def test_empty_value_is_allowed() -> None:
    assert parse_pairs("[a|]") == [("a", "")]


def test_repeated_names_are_kept_in_order() -> None:
    assert parse_pairs("[a|1][a|2]") == [("a", "1"), ("a", "2")]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[a|1", "not closed"),
        ("[a|[1]", "unbalanced"),
        ("[a1]", "no '|'"),
        ("[|1]", "empty name"),
        ("a|1", "expected '['"),
        ("[a|1]x", "expected '['"),
        ("[a|1]]", "expected '['"),
        ("[a[b|1]", "no '|'"),
    ],
)
def test_malformed_text_is_refused_with_the_field_named(text: str, complaint: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_pairs(text, field="extTransactionData")
    assert caught.value.field == "extTransactionData"
    assert complaint in caught.value.message


def test_system_data_is_split_from_user_data() -> None:
    system, user = split_system_data(parse_pairs(SEED_EXAMPLE + "[ctl_other|x]"))
    assert system == {
        "ctl_callbackUrl": "https://mywebporter.com/callback.php",
        "ctl_other": "x",
    }
    assert [name for name, _ in user] == ["Transactionid__c", "CallAnswerTime", "foreign_key"]


def test_prefix_of_system_data_is_case_sensitive() -> None:
    system, user = split_system_data([("CTL_x", "1")])
    assert system == {}
    assert user == [("CTL_x", "1")]


def test_format_refuses_values_it_could_not_read_back() -> None:
    with pytest.raises(ValidationFailed):
        format_pairs([("a", "x]")])
    with pytest.raises(ValidationFailed):
        format_pairs([("a|b", "x")])


names = st.text(min_size=1, max_size=20).filter(lambda n: not set(n) & set("|[]"))
values = st.text(max_size=40).filter(has_balanced_brackets)
pair_lists = st.lists(st.tuples(names, values), max_size=8)


@given(pair_lists)
def test_formatted_pairs_parse_back_to_the_same_pairs(pairs: list[tuple[str, str]]) -> None:
    assert parse_pairs(format_pairs(pairs)) == pairs


@given(st.text(alphabet="[]|ab \n", max_size=30))
def test_any_text_parses_or_is_refused_cleanly(text: str) -> None:
    try:
        pairs = parse_pairs(text)
    except ValidationFailed:
        return
    assert parse_pairs(format_pairs(pairs)) == pairs
