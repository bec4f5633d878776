"""Times that clients send, checked once for every surface.

ISO 8601 lets a client write `9999-12-31T23:59:59-14:00` or
`0001-01-01T00:00:00+14:00`; both parse, but in UTC they fall in year 10000 or
year 0, which neither `datetime` nor the databases can hold. Rappel stores and
compares UTC, so a time is converted on the way in and refused there, as bad
input, when UTC cannot hold it: later code (storage, the scheduler) can then
trust every time it is given.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

NAIVE = "must carry a time zone (Z or an offset)"
OUT_OF_RANGE = "is out of range: in UTC it falls outside years 1 to 9999"


class BadTime(ValueError):
    """A time Rappel cannot take; the message is the reason, without the field's name."""


def in_utc(moment: datetime, *, naive_is_utc: bool = False) -> datetime:
    """`moment` in UTC; BadTime when it is naive (unless `naive_is_utc`) or UTC cannot hold it."""
    if moment.tzinfo is None:
        if not naive_is_utc:
            raise BadTime(NAIVE)
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise BadTime(OUT_OF_RANGE) from exc


def _checked(moment: datetime) -> datetime:
    try:
        return in_utc(moment)
    except BadTime as exc:
        # A pydantic error, so the native API answers it like any other bad field (422).
        raise PydanticCustomError("utc_datetime", "{reason}", {"reason": str(exc)}) from exc


#: A request field's date-time: it must carry a time zone and arrives converted to UTC.
UtcInstant = Annotated[datetime, AfterValidator(_checked)]
