"""Entity identifiers: 32 upper-case hex characters (OBI "id32")."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime

from rappel.domain.errors import ValidationFailed

_ID32 = re.compile(r"^[0-9A-Fa-f]{32}$")
_ID36 = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")
#: Both forms in one pattern, for request schemas.
ID_PATTERN = f"^({_ID32.pattern[1:-1]}|{_ID36.pattern[1:-1]})$"


def new_id() -> str:
    return uuid.uuid4().hex.upper()


def new_ordered_id(at: datetime) -> str:
    """An id that sorts by creation time: a UUID version 7 (RFC 9562) of `at`, in id32 form.

    Rows written together land side by side in a primary-key index instead of on
    pages scattered over it, which matters for bulk imports into large tables.
    74 random bits keep ids of the same millisecond apart.
    """
    value = int(at.timestamp() * 1000) << 80 | secrets.randbits(80)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return f"{value:032X}"


def is_id(value: str) -> bool:
    return bool(_ID32.match(value) or _ID36.match(value))


def parse_id(value: str, field: str = "id") -> str:
    """Accept the id32 form or the dashed GUID form, any case; return id32 upper case."""
    value = value.strip()
    if not is_id(value):
        raise ValidationFailed(field, f"{field} must be a 32-character hex id or a GUID")
    return value.replace("-", "").upper()
