"""Entity identifiers: 32 upper-case hex characters (OBI "id32")."""

from __future__ import annotations

import re
import uuid

from rappel.domain.errors import ValidationFailed

_ID32 = re.compile(r"^[0-9A-Fa-f]{32}$")
_ID36 = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def new_id() -> str:
    return uuid.uuid4().hex.upper()


def is_id(value: str) -> bool:
    return bool(_ID32.match(value) or _ID36.match(value))


def parse_id(value: str, field: str = "id") -> str:
    """Accept the id32 form or the dashed GUID form, any case; return id32 upper case."""
    value = value.strip()
    if not is_id(value):
        raise ValidationFailed(field, f"{field} must be a 32-character hex id or a GUID")
    return value.replace("-", "").upper()
