"""The data dip (seed 004) without I/O: provider configuration, request reading, answers.

Provider configuration, per tenant::

    {"keys": [{"key": "account-num", "field": "externalId"},
              {"key": "phone-num", "field": "phone"}],          # priority order
     "returns": [{"name": "name", "source": "attribute:Name",
                  "displayToAgent": true, "saveToDatabase": true}, ...],
     "campaigns": []}                                            # [] = every record

A key's `field` is `phone` (any of number1..3, compared in E.164),
`externalId`, or `attribute:<Name>` (case-insensitive). A return's `source` is
`externalId`, `number1`..`number3`, `campaignId`, `result`, `classifier` or
`attribute:<Name>`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from rappel.domain.errors import RappelError, ValidationFailed
from rappel.domain.ids import parse_id
from rappel.domain.text import is_unicode

MAX_REQUEST_BYTES = 16 * 1024
MAX_NAME_LENGTH = 200
MAX_VALUE_LENGTH = 500
ATTRIBUTE_PREFIX = "attribute:"
RECORD_SOURCES = frozenset(
    {"externalId", "number1", "number2", "number3", "campaignId", "result", "classifier"}
)


class MalformedDipRequest(RappelError):
    """The request body is not a JSON object of strings (answered 400)."""


class KeyField(StrEnum):
    PHONE = "phone"  #: any of the record's three numbers, compared in E.164
    EXTERNAL_ID = "externalId"  #: the record's external id (OBI externalId, Nixxis Id)
    ATTRIBUTE = "attribute"  #: a named record attribute, compared case-insensitively


@dataclass(frozen=True)
class KeyMapping:
    """A request key and the record field it is looked up in."""

    key: str
    field: KeyField
    attribute: str = ""

    def to_json(self) -> dict[str, str]:
        field = f"{ATTRIBUTE_PREFIX}{self.attribute}" if self.attribute else self.field.value
        return {"key": self.key, "field": field}


@dataclass(frozen=True)
class ReturnedField:
    """A record field or attribute returned as a session parameter, with its flags."""

    name: str
    source: str
    display_to_agent: bool
    save_to_database: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "displayToAgent": self.display_to_agent,
            "saveToDatabase": self.save_to_database,
        }


@dataclass(frozen=True)
class ProviderConfig:
    """How one tenant answers data dips."""

    keys: tuple[KeyMapping, ...]
    returns: tuple[ReturnedField, ...]
    campaigns: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "keys": [k.to_json() for k in self.keys],
            "returns": [r.to_json() for r in self.returns],
            "campaigns": list(self.campaigns),
        }


@dataclass(frozen=True)
class Record:
    """What the provider reads from one customer record."""

    fields: Mapping[str, str | None]
    attributes: Mapping[str, str]


def _name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_NAME_LENGTH:
        raise ValidationFailed(field, f"{field} must be a string of 1 to {MAX_NAME_LENGTH} chars")
    return value


def _flag(entry: Mapping[str, Any], name: str, where: str) -> bool:
    value = entry.get(name)
    if not isinstance(value, bool):
        raise ValidationFailed(f"{where}.{name}", f"{name} must be true or false")
    return value


def parse_key(entry: Any, where: str) -> KeyMapping:
    if not isinstance(entry, Mapping) or set(entry) != {"key", "field"}:
        raise ValidationFailed(where, "each key needs exactly `key` and `field`")
    key = _name(entry["key"], f"{where}.key")
    field = _name(entry["field"], f"{where}.field")
    if field.startswith(ATTRIBUTE_PREFIX):
        attribute = _name(field[len(ATTRIBUTE_PREFIX) :], f"{where}.field")
        return KeyMapping(key, KeyField.ATTRIBUTE, attribute)
    if field not in (KeyField.PHONE.value, KeyField.EXTERNAL_ID.value):
        raise ValidationFailed(
            f"{where}.field", "field must be phone, externalId or attribute:<Name>"
        )
    return KeyMapping(key, KeyField(field))


def parse_returned(entry: Any, where: str) -> ReturnedField:
    wanted = {"name", "source", "displayToAgent", "saveToDatabase"}
    if not isinstance(entry, Mapping) or set(entry) != wanted:
        raise ValidationFailed(
            where, "each return needs name, source, displayToAgent, saveToDatabase"
        )
    source = _name(entry["source"], f"{where}.source")
    if source not in RECORD_SOURCES and not (
        source.startswith(ATTRIBUTE_PREFIX) and len(source) > len(ATTRIBUTE_PREFIX)
    ):
        known = ", ".join(sorted(RECORD_SOURCES))
        raise ValidationFailed(
            f"{where}.source", f"source must be one of {known} or attribute:<Name>"
        )
    return ReturnedField(
        _name(entry["name"], f"{where}.name"),
        source,
        _flag(entry, "displayToAgent", where),
        _flag(entry, "saveToDatabase", where),
    )


def parse_provider_config(document: Mapping[str, Any]) -> ProviderConfig:
    """Check a configuration document; raise ValidationFailed naming the part at fault."""
    unknown = set(document) - {"keys", "returns", "campaigns"}
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], f"unknown member {sorted(unknown)[0]!r}")
    raw_keys, raw_returns = document.get("keys"), document.get("returns")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise ValidationFailed("keys", "keys must be a non-empty list, in priority order")
    if not isinstance(raw_returns, list):
        raise ValidationFailed("returns", "returns must be a list")
    keys = tuple(parse_key(e, f"keys[{i}]") for i, e in enumerate(raw_keys))
    returns = tuple(parse_returned(e, f"returns[{i}]") for i, e in enumerate(raw_returns))
    _unique([k.key for k in keys], "keys")
    _unique([r.name for r in returns], "returns")
    campaigns = document.get("campaigns", [])
    if not isinstance(campaigns, list) or not all(isinstance(c, str) for c in campaigns):
        raise ValidationFailed("campaigns", "campaigns must be a list of campaign ids")
    ids = tuple(parse_id(c, f"campaigns[{i}]") for i, c in enumerate(campaigns))
    return ProviderConfig(keys, returns, tuple(dict.fromkeys(ids)))


def _unique(names: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValidationFailed(field, f"{name!r} appears twice in {field}")
        seen.add(name)


def read_dip_request(body: bytes, config: ProviderConfig) -> list[tuple[KeyMapping, str]]:
    """The keys given, in the tenant's priority order, with their values.

    Raises MalformedDipRequest (not UTF-8, not a JSON object of strings, an
    unpaired surrogate) or ValidationFailed (a value that is not a string, too
    long or holding NUL; a key the tenant has not configured, or no key at all).
    Empty values count as not given: an IVR sends what it did not collect as "".
    """
    if len(body) > MAX_REQUEST_BYTES:
        raise MalformedDipRequest(f"the body is larger than {MAX_REQUEST_BYTES} bytes")
    document = _json_object(body)
    for key, value in document.items():
        if not isinstance(value, str):
            raise ValidationFailed(
                key[:MAX_NAME_LENGTH], f"the value of {key[:40]!r} must be a string"
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise ValidationFailed(key[:MAX_NAME_LENGTH], f"the value of {key[:40]!r} is too long")
        if "\x00" in value:
            # No record holds NUL (PostgreSQL text cannot): refused before any lookup.
            raise ValidationFailed(
                key[:MAX_NAME_LENGTH], f"the value of {key[:40]!r} holds a NUL character"
            )
    configured = {k.key for k in config.keys}
    unknown = [key for key in document if key not in configured]
    if unknown:
        raise ValidationFailed(
            unknown[0][:MAX_NAME_LENGTH],
            f"unknown key {unknown[0][:40]!r}; configured keys: {', '.join(sorted(configured))}",
        )
    if not document:
        raise ValidationFailed("body", "the request must hold at least one key")
    return [(k, document[k.key]) for k in config.keys if document.get(k.key)]


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        # Strictly UTF-8 (RFC 8259), a BOM aside: json.loads on bytes would guess UTF-16/32.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedDipRequest("the body is not valid JSON (not UTF-8 text)") from exc
    try:
        document = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        detail = str(exc) if isinstance(exc, _Duplicate) else "the body is not valid JSON"
        raise MalformedDipRequest(detail) from exc
    if not isinstance(document, dict):
        raise MalformedDipRequest("the body must be a JSON object of key names and values")
    texts = [*document, *(value for value in document.values() if isinstance(value, str))]
    if not all(is_unicode(text) for text in texts):
        # "\ud800" escapes no character: such a key cannot even be named in an answer.
        raise MalformedDipRequest("the body is not valid JSON text (an unpaired surrogate)")
    return document


class _Duplicate(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _Duplicate(f"key {key[:40]!r} appears twice")
        document[key] = value
    return document


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def answer(record: Record | None, config: ProviderConfig) -> dict[str, Any]:
    """The seed's answer shape; a field the record lacks is left out (never sent as null)."""
    parameters: dict[str, dict[str, Any]] = {}
    if record is not None:
        for returned in config.returns:
            value = _value(record, returned.source)
            if value is not None:
                parameters[returned.name] = {
                    "value": value,
                    "displayToAgent": returned.display_to_agent,
                    "saveToDatabase": returned.save_to_database,
                }
    return {"parameters": parameters}


def _value(record: Record, source: str) -> str | None:
    if source.startswith(ATTRIBUTE_PREFIX):
        return record.attributes.get(source[len(ATTRIBUTE_PREFIX) :].lower())
    return record.fields.get(source)


def attribute_map(raw: Any) -> dict[str, str]:
    """A record's attributes by lower-cased name, from the list or object shapes in use."""
    pairs: list[tuple[Any, Any]] = []
    if isinstance(raw, Mapping):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [(a.get("name"), a.get("value")) for a in raw if isinstance(a, Mapping)]
    return {
        str(name).lower(): _text(value)
        for name, value in pairs
        if isinstance(name, str) and value is not None
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
