"""Text that every store holds: no NUL and no unpaired surrogate.

JSON can carry both (`\\u0000`, `\\ud800`) and Python reads them into a `str`,
but PostgreSQL's text refuses NUL and no UTF-8 encodes a lone surrogate.
"""

from __future__ import annotations

from typing import Any


def is_unicode(text: str) -> bool:
    """Whether `text` is Unicode text, that is, holds no unpaired surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable(value: Any) -> str | None:
    """Why `value` (a string, or parsed JSON around strings) cannot be stored, or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character"
        return None if is_unicode(value) else "an unpaired surrogate"
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        found = unstorable(item)
        if found is not None:
            return found
    return None
