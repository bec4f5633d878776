"""Phone numbers: raw input to E.164 through a tenant's dial plan.

A dial plan has a default region (ISO 3166 alpha-2, `US`, `FI`) and ordered
prefix rules. A rule is written `[N:]MATCH>REPLACEMENT`:

- `MATCH` is `+` and/or digits (may be empty: matches every number);
- `REPLACEMENT` is `+` and/or digits (may be empty: the prefix is removed);
- the optional `N:` limits the rule to numbers of exactly N digits.

Examples: `9>` strips an outside-line 9; `00>+` and `011>+` turn an
international access code into `+`; `10:>+1` makes ten-digit numbers North
American. Rules run in order, each at most once, each on the result of the
ones before; a rule applies when the number (after separators are removed)
starts with MATCH and, if given, has N digits.

Then the number is read by `phonenumbers`:

1. with a leading `+`: as an international number;
2. digits only: first as a national number of the region, and when that is
   not a valid number, as E.164 written without its `+` (the 8x8 document
   recommends `16505551212` for +1 650 555 1212).

What is accepted depends on `Acceptance` (default `POSSIBLE`): `VALID` wants a
number in an allocated range (`is_valid_number`); `POSSIBLE` also takes a
number whose length is possible for its country (`is_possible_number`), since
allocation data lags reality and refusing a real customer costs more than one
failed dial; `WELL_FORMED` also takes any `+` number with a known country
code and 8 to 15 digits, for vendor bulk imports whose examples hold
placeholder numbers such as OBI's `+52145200` (the carrier then decides).
Numbers that fit none of these raise ValidationFailed("phone", ...).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import phonenumbers

from rappel.domain.errors import ValidationFailed

# Keep phonenumbers' compiled metadata patterns instead of looking each one up in
# the re module's bounded cache on every match; the metadata never changes, and a
# bulk import validates thousands of numbers against the same few hundred patterns.
if hasattr(phonenumbers, "enable_pattern_cache"):
    phonenumbers.enable_pattern_cache()

MAX_RAW_LENGTH = 40
_SEPARATORS = re.compile(r"[\s\-./()]")
_DIALABLE = re.compile(r"^\+?[0-9]+$")
_RULE = re.compile(r"^(?:(?P<length>[0-9]{1,2}):)?(?P<match>\+?[0-9]*)>(?P<repl>\+?[0-9]*)$")


class Acceptance(StrEnum):
    VALID = "valid"  #: only numbers in allocated ranges
    POSSIBLE = "possible"  #: also numbers of a possible length for their country
    WELL_FORMED = "well_formed"  #: also any +<known country code> number of 8-15 digits


@dataclass(frozen=True)
class PrefixRule:
    """Rewrite a leading prefix; see the module docstring for the syntax."""

    match: str
    replacement: str
    length: int | None = None

    @classmethod
    def parse(cls, text: str) -> PrefixRule:
        found = _RULE.match(text.strip())
        if found is None:
            raise ValidationFailed(
                "prefix_rules", f"prefix rule {text!r} is not of the form [N:]MATCH>REPLACEMENT"
            )
        length = found.group("length")
        return cls(found.group("match"), found.group("repl"), int(length) if length else None)

    def applies_to(self, number: str) -> bool:
        if self.length is not None and len(number.lstrip("+")) != self.length:
            return False
        return number.startswith(self.match)

    def apply(self, number: str) -> str:
        return self.replacement + number[len(self.match) :] if self.applies_to(number) else number

    def __str__(self) -> str:
        prefix = f"{self.length}:" if self.length is not None else ""
        return f"{prefix}{self.match}>{self.replacement}"


@dataclass(frozen=True)
class DialPlan:
    """How one tenant's raw numbers become E.164 (8x8 `dialplan_id`)."""

    plan_id: int
    default_region: str
    prefix_rules: list[PrefixRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationFailed(
                "default_region", f"unknown region {self.default_region!r} (ISO 3166 alpha-2)"
            )

    def rewrite(self, number: str) -> str:
        for rule in self.prefix_rules:
            number = rule.apply(number)
        return number


def stored_plan(plan_id: int, default_region: str, rules: Iterable[Mapping[str, str]]) -> DialPlan:
    """A dial plan as provisioning stores it: prefix rules as {"match", "replace"}."""
    return DialPlan(
        plan_id, default_region, [PrefixRule(r["match"], r.get("replace", "")) for r in rules]
    )


def fallback_plan(time_zone: str | None) -> DialPlan:
    """The plan of a tenant with no default dial plan: its time zone's country, else the US."""
    return DialPlan(0, (region_for_time_zone(time_zone) if time_zone else None) or "US")


def clean(raw: str) -> str:
    """Drop separators; refuse anything that is not `+` and digits."""
    if len(raw) > MAX_RAW_LENGTH:
        raise ValidationFailed("phone", f"phone number is longer than {MAX_RAW_LENGTH} characters")
    number = _SEPARATORS.sub("", raw)
    if not number:
        raise ValidationFailed("phone", "phone number is empty")
    if not _DIALABLE.match(number):
        raise ValidationFailed(
            "phone", f"phone number {raw!r} may hold only digits and a leading +"
        )
    return number


def normalize(
    raw: str,
    plan: DialPlan,
    *,
    region: str | None = None,
    accept: Acceptance = Acceptance.POSSIBLE,
) -> str:
    """E.164 with `+`; `region` overrides the plan's default (e.g. from a record's time zone)."""
    number = plan.rewrite(clean(raw))
    if not _DIALABLE.match(number):
        raise ValidationFailed("phone", f"dial plan {plan.plan_id} turned {raw!r} into {number!r}")
    # The readings in order, each parsed only when the ones before are not valid:
    # the first valid reading wins, else the first possible one.
    readings = _reading_texts(number, region or plan.default_region)
    # With one reading, valid and merely possible give the same answer when both are
    # accepted: the length check goes first, as matching the number ranges costs more.
    possible_first = len(readings) == 1 and accept is not Acceptance.VALID
    candidates: list[phonenumbers.PhoneNumber] = []
    for text, text_region in readings:
        candidate = _parse(text, text_region)
        if candidate is None:
            continue
        if possible_first and phonenumbers.is_possible_number(candidate):
            return _e164(candidate)
        if phonenumbers.is_valid_number(candidate):
            return _e164(candidate)
        candidates.append(candidate)
    for candidate in candidates:
        if accept is not Acceptance.VALID and phonenumbers.is_possible_number(candidate):
            return _e164(candidate)
    if accept is Acceptance.WELL_FORMED and _well_formed(number):
        return number
    wanted = accept.value.replace("_", "-")
    raise ValidationFailed("phone", f"{raw!r} is not a {wanted} phone number")


def _reading_texts(number: str, region: str) -> list[tuple[str, str | None]]:
    if number.startswith("+"):
        return [(number, None)]
    return [(number, region), ("+" + number, None)]


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    if region is None:
        plain = _plain_international(text)
        if plain is not None:
            return plain
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _plain_international(text: str) -> phonenumbers.PhoneNumber | None:
    """`+` and digits read as `phonenumbers.parse(text, None)` reads them, or None.

    parse() handles letters, extensions, national prefixes and leading zeros, and
    costs about 60 % of a bulk import's validation; for a number it would take apart
    into country code and national number with none of those steps applying, the
    result is that split alone. None (parse() decides) for anything else: too
    short or long, an unknown country code, a national number starting with 0 or
    matching the country's national prefix.
    """
    digits = text[1:]
    if not (text.startswith("+") and digits.isascii() and digits.isdigit()):
        return None
    if len(digits) <= _MIN_NSN or digits.startswith("0"):
        return None
    for size in range(1, min(len(digits), 3) + 1):
        country_code = int(digits[:size])
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    prefix = _national_prefix(country_code)
    if prefix is _NO_METADATA or not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    if national.startswith("0") or (prefix is not None and prefix.match(national)):
        return None
    return phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))


_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds on a national significant number
_NO_METADATA = re.compile("")


@cache
def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    """The country's national-prefix pattern; None when it has none; _NO_METADATA."""
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is None:
        return _NO_METADATA
    pattern = metadata.national_prefix_for_parsing
    return re.compile(pattern) if pattern else None


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _well_formed(number: str) -> bool:
    digits = number[1:]
    if not number.startswith("+") or not 8 <= len(digits) <= 15 or digits.startswith("0"):
        return False
    return any(int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for size in (1, 2, 3))


def region_for_time_zone(time_zone: str) -> str | None:
    """The country of an IANA zone (`Europe/Helsinki` -> `FI`), or None (`UTC`, unknown).

    Read from the time-zone database's `zone.tab` (the same database ZoneInfo
    uses); None when the database carries no such table.
    """
    return _zone_countries().get(time_zone)


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    for text in _zone_tables():
        countries = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                columns = line.split("\t")
                if len(columns) >= 3 and columns[0] in phonenumbers.SUPPORTED_REGIONS:
                    countries[columns[2]] = columns[0]
        if countries:
            return countries
    return {}


def _zone_tables() -> Iterator[str]:
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.is_file():
            yield path.read_text(encoding="utf-8")
    try:
        yield resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return
