"""The consumer side of the data dip without I/O: what to send a tenant's CRM, and when.

A mapping names the request key and where its value comes from:

- `customer_number`: the interaction's number in E.164 (`+18015551234`);
- `customer_number_national`: the same number's national digits (`8015551234`);
- `udata:<name>`: an item of the interaction's user data (`ctl_userdata`, ContextData);
- `ext:<name>`: an item of the interaction's extTransactionData (Genesys);
- `attribute:<name>`: an attribute of the interaction's customer record (case-insensitive).

A value that is missing or empty is not sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers

from rappel.domain.datadip import attribute_map
from rappel.domain.errors import ValidationFailed

MAX_TIMEOUT_S = 30.0
MAX_RETRIES = 5
_PREFIXES = ("udata:", "ext:", "attribute:")
_WHOLE = ("customer_number", "customer_number_national")


class DipStage(StrEnum):
    INTAKE = "intake"  #: the callback has just been stored
    OFFER = "offer"  #: the interaction is about to be offered to an agent


class DipAt(StrEnum):
    INTAKE = "intake"  #: dip once, when the callback is stored
    OFFER = "offer"  #: dip once, before the offer to an agent (the freshest data)
    BOTH = "both"  #: dip at both moments; the later answer replaces values of the same name

    def includes(self, stage: DipStage) -> bool:
        return self is DipAt.BOTH or self.value == stage.value


class Scope(StrEnum):
    TENANT = "tenant"  #: the tenant's default
    QUEUE = "queue"  #: overrides the default for interactions of one queue
    CAMPAIGN = "campaign"  #: overrides queue and default for one campaign's interactions


#: The more specific scope wins.
PRECEDENCE = (Scope.CAMPAIGN, Scope.QUEUE, Scope.TENANT)


@dataclass(frozen=True)
class CrmMapping:
    """One key of the CRM request and the interaction value sent under it."""

    key: str
    source: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "source": self.source}


def parse_mappings(raw: Any) -> tuple[CrmMapping, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("mappings", "mappings must be a non-empty list")
    mappings = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"mappings[{index}]"
        if not isinstance(entry, Mapping) or set(entry) != {"key", "source"}:
            raise ValidationFailed(where, "each mapping needs exactly `key` and `source`")
        key, source = entry["key"], entry["source"]
        if not isinstance(key, str) or not 0 < len(key) <= 200:
            raise ValidationFailed(f"{where}.key", "key must be a string of 1 to 200 characters")
        if key in seen:
            raise ValidationFailed(f"{where}.key", f"key {key!r} appears twice")
        seen.add(key)
        if not isinstance(source, str) or not _known_source(source):
            raise ValidationFailed(
                f"{where}.source",
                "source must be customer_number, customer_number_national, "
                "udata:<name>, ext:<name> or attribute:<name>",
            )
        mappings.append(CrmMapping(key, source))
    return tuple(mappings)


def _known_source(source: str) -> bool:
    if source in _WHOLE:
        return True
    return any(source.startswith(p) and len(source) > len(p) for p in _PREFIXES)


def check_timeout(timeout_s: float) -> float:
    if not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise ValidationFailed(
            "timeout_s", f"timeout_s must be above 0 and at most {MAX_TIMEOUT_S}"
        )
    return timeout_s


def check_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise ValidationFailed("retries", f"retries must be between 0 and {MAX_RETRIES}")
    return retries


@dataclass(frozen=True)
class InteractionValues:
    """The values of one interaction a CRM request may carry."""

    customer_number: str
    udata: Mapping[str, str]
    ext_transaction_data: Mapping[str, str]
    attributes: Mapping[str, str]

    @classmethod
    def from_stored(
        cls, customer_number: str, udata: Any, ext_transaction_data: Any, attributes: Any
    ) -> InteractionValues:
        return cls(
            customer_number or "",
            _pairs(udata),
            _pairs(ext_transaction_data),
            attribute_map(attributes),
        )


def _pairs(raw: Any) -> dict[str, str]:
    """Name -> value from an object, or a list of {name|key, value} objects or [name, value]."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items() if v is not None}
    found: dict[str, str] = {}
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, Mapping):
            name = item.get("name", item.get("key"))
            value = item.get("value")
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            name, value = item[0], item[1]
        else:
            continue
        if isinstance(name, str) and value is not None:
            found[name] = str(value)
    return found


def build_request(mappings: Sequence[CrmMapping], values: InteractionValues) -> dict[str, str]:
    """The flat JSON object of the seed's request; missing or empty values are left out."""
    request: dict[str, str] = {}
    for mapping in mappings:
        value = _value(mapping.source, values)
        if value:
            request[mapping.key] = value
    return request


def _value(source: str, values: InteractionValues) -> str | None:
    if source == "customer_number":
        return values.customer_number
    if source == "customer_number_national":
        return national_digits(values.customer_number)
    kind, _, name = source.partition(":")
    if kind == "udata":
        return values.udata.get(name)
    if kind == "ext":
        return values.ext_transaction_data.get(name)
    return values.attributes.get(name.lower())


def national_digits(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number.lstrip("+")
    return str(phonenumbers.national_significant_number(parsed))
