from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.domain.errors import ValidationFailed
from rappel.domain.phone import (
    Acceptance,
    DialPlan,
    PrefixRule,
    _plain_international,
    clean,
    normalize,
    region_for_time_zone,
)

US = DialPlan(1, "US")
FI = DialPlan(2, "FI", [PrefixRule.parse("00>+")])


def test_8x8_example_digits_become_e164_in_a_us_plan() -> None:
    assert normalize("16505551212", US) == "+16505551212"


def test_digits_only_e164_is_understood_in_a_foreign_plan() -> None:
    assert normalize("16505551212", FI) == "+16505551212"


def test_national_finnish_number_uses_the_plan_region() -> None:
    assert normalize("0215428754", FI) == "+358215428754"


def test_region_from_a_record_time_zone_overrides_the_plan() -> None:
    region = region_for_time_zone("Europe/Helsinki")
    assert region == "FI"
    assert normalize("0215428754", US, region=region) == "+358215428754"


def test_separators_are_ignored() -> None:
    assert normalize("+1 (650) 555-1212", US) == "+16505551212"


def test_obi_placeholder_is_refused_by_default_but_kept_when_well_formed_is_enough() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize("+52145200", FI)
    assert caught.value.field == "phone"
    assert normalize("+52145200", FI, accept=Acceptance.WELL_FORMED) == "+52145200"


def test_possible_but_unallocated_number_depends_on_acceptance() -> None:
    be = DialPlan(3, "BE")
    assert normalize("0123456789", be) == "+32123456789"
    with pytest.raises(ValidationFailed):
        normalize("0123456789", be, accept=Acceptance.VALID)


@pytest.mark.parametrize("raw", ["", "12", "abc", "+1650555121x", "++16505551212", "1" * 41])
def test_impossible_input_is_refused(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize(raw, US, accept=Acceptance.WELL_FORMED)
    assert caught.value.field == "phone"


def test_unknown_country_code_is_not_well_formed() -> None:
    with pytest.raises(ValidationFailed):
        normalize("+999123456789", US, accept=Acceptance.WELL_FORMED)


def test_outside_line_nine_is_stripped_before_reading() -> None:
    plan = DialPlan(4, "US", [PrefixRule.parse("9>")])
    assert normalize("916505551212", plan) == "+16505551212"


def test_international_access_code_becomes_plus() -> None:
    plan = DialPlan(5, "US", [PrefixRule.parse("011>+")])
    assert normalize("011358215428754", plan) == "+358215428754"


def test_length_condition_limits_a_rule() -> None:
    rule = PrefixRule.parse("10:>+1")
    assert rule.apply("6505551212") == "+16505551212"
    assert rule.apply("16505551212") == "16505551212"


def test_rules_run_in_order_each_on_the_previous_result() -> None:
    plan = DialPlan(6, "FI", [PrefixRule.parse("9>"), PrefixRule.parse("00>+")])
    assert normalize("9001 650 555 1212", plan) == "+16505551212"


@pytest.mark.parametrize("text", ["00+", "a>b", "100:1>2", "9>>1", ""])
def test_malformed_rules_are_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        PrefixRule.parse(text)


def test_empty_rule_matches_everything_and_changes_nothing() -> None:
    assert PrefixRule.parse(">").apply("123") == "123"


def test_rule_text_round_trips() -> None:
    for text in ["9>", "00>+", "10:>+1", "+44>0"]:
        assert str(PrefixRule.parse(text)) == text


def test_unknown_region_is_refused_at_construction() -> None:
    with pytest.raises(ValidationFailed):
        DialPlan(7, "XX")


def test_zones_without_a_country_map_to_none() -> None:
    assert region_for_time_zone("UTC") is None
    assert region_for_time_zone("Nowhere/Land") is None


def test_cleaning_keeps_plus_and_digits() -> None:
    assert clean(" +358 (0)21.542-8754 ") == "+3580215428754"


@given(st.text(max_size=45))
def test_any_text_normalizes_or_is_refused_cleanly(raw: str) -> None:
    try:
        result = normalize(raw, FI, accept=Acceptance.WELL_FORMED)
    except ValidationFailed:
        return
    assert result.startswith("+")
    assert result[1:].isdigit()


def _example_numbers() -> list[str]:
    """Every region's example numbers of every type, in E.164, and their neighbours."""
    found: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):  # PhoneNumberType values
            number = phonenumbers.example_number_for_type(region, kind)
            if number is None:
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            found |= {e164, e164[:-1], e164 + "0", e164[:-2] + "99"}
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return sorted(found)


def _parsed(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None


def test_plain_international_reading_is_what_phonenumbers_parses() -> None:
    numbers = _example_numbers()
    assert len(numbers) > 3000
    shortcut = [text for text in numbers if _plain_international(text) is not None]
    assert len(shortcut) > len(numbers) // 2  # the shortcut does apply to most
    for text in numbers:
        plain = _plain_international(text)
        if plain is not None:
            assert plain == _parsed(text), text


@given(st.from_regex(r"\A\+[0-9]{0,18}\Z"))
def test_plain_international_reading_of_any_digits_is_what_phonenumbers_parses(
    text: str,
) -> None:
    plain = _plain_international(text)
    if plain is not None:
        assert plain == _parsed(text)


@pytest.mark.parametrize(
    "text",
    [
        "+",
        "+1",
        "+12",
        "+0123456789",
        "+4402012345678",
        "+390612345678",
        "+1 4155550100",
        "+1415555010a",
        "+\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10",  # full-width digits
        "+9991234567",
    ],
)
def test_plain_international_leaves_the_rest_to_phonenumbers(text: str) -> None:
    assert _plain_international(text) is None
