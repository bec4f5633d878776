"""What every OBI route shares: bodies, answers, query parsing and the error renderer.

Errors under /RI/obi are an HTTP status with a plain message, in the
negotiated format: JSON `{"statusCode": 400, "error": "..."}`, XML
`<response><statusCode>400</statusCode><error>...</error></response>`, or the
bare message as text/plain when the client accepts only text (as POST
clients do with `Accept: text/html`). Validation errors are 400, an unknown
or other tenant's id 404, a body over 5 MiB or a list over 1000 customers
413, an unsupported Content-Type 415.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rappel.api.obi import codec
from rappel.api.times import BadTime, in_utc
from rappel.domain.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RappelError,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)
from rappel.domain.ids import is_id, parse_id
from rappel.services.customers import TooManyCustomers

PREFIX = "/RI/obi"
T = TypeVar("T")


class BodyTooLarge(ValidationFailed):
    """The request body is over codec.MAX_BODY_BYTES (413)."""


_STATUS: list[tuple[type[RappelError], int]] = [
    (codec.UnsupportedMediaType, 415),
    (BodyTooLarge, 413),
    (TooManyCustomers, 413),
    (ValidationFailed, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (Conflict, 409),
    (RateLimited, 429),
    (ServiceUnavailable, 503),
]


def status_of(error: RappelError | None, fallback: int) -> int:
    if error is None:
        return 400 if fallback == 422 else fallback
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 400


def render_error(request: Request, status: int, detail: str, error: RappelError | None) -> Response:
    """The OBI error convention (registered for the /RI/obi prefix)."""
    code = status_of(error, status)
    message = error.message if error is not None else detail
    headers = {"WWW-Authenticate": 'Basic realm="rappel"'} if code == 401 else None
    accept = request.headers.get("accept", "")
    ranges = [m.split(";")[0].strip().lower() for m in accept.split(",") if m.strip()]
    if ranges and all(m.startswith("text/") and m not in ("text/xml",) for m in ranges):
        return Response(message, status_code=code, media_type="text/plain", headers=headers)
    fmt = codec.response_format(accept)
    out = codec.encode({"statusCode": code, "error": message}, fmt, "response")
    return Response(out.body, status_code=code, media_type=out.media_type, headers=headers)


async def read_body(request: Request) -> bytes:
    """The body, refused past codec.MAX_BODY_BYTES without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > codec.MAX_BODY_BYTES:
        raise BodyTooLarge("body", f"Request body over {codec.MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > codec.MAX_BODY_BYTES:
            raise BodyTooLarge("body", f"Request body over {codec.MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_document(
    request: Request, parse: Callable[[Any], T], list_items: Iterable[str] = ()
) -> T:
    """The body decoded and handed to `parse`, both in a worker thread.

    Decoding is linear but not free (a 5 MiB XML body takes a second or two): on
    the event loop it would hold up every other request, and the dialer with them.
    """
    fmt = codec.request_format(request.headers.get("content-type"))
    body = await read_body(request)
    return await run_in_threadpool(_parsed_document, body, fmt, tuple(list_items), parse)


def _parsed_document(
    body: bytes, fmt: codec.Format, list_items: tuple[str, ...], parse: Callable[[Any], T]
) -> T:
    return parse(codec.decode(body, fmt, list_items=list_items))


def answer(
    request: Request,
    value: Any,
    root: str,
    item: str | None = None,
    body_format: codec.Format | None = None,
) -> Response:
    fmt = codec.response_format(request.headers.get("accept"), body_format)
    out = codec.encode(value, fmt, root, item)
    return Response(out.body, media_type=out.media_type)


def created(request: Request, new_id: str) -> Response:
    """201 with the id as a text/html body and a Location naming it."""
    location = f"{str(request.url).split('?')[0].rstrip('/')}/{new_id}"
    return Response(new_id, status_code=201, media_type="text/html", headers={"Location": location})


def no_content() -> Response:
    return Response(status_code=204)


# -- values -------------------------------------------------------------------


def format_time(value: datetime | None) -> str | None:
    """`2020-09-25T07:07:50.243Z` (milliseconds only when there are some)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    # isoformat, not strftime: glibc writes year 1 as "1", not "0001".
    text = value.replace(tzinfo=None).isoformat(timespec="seconds")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def parse_time(field: str, value: Any) -> datetime:
    """An ISO 8601 time; without an offset it is UTC."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(field, f"Invalid {field}: {value} : Not a date and time")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return in_utc(datetime.fromisoformat(text), naive_is_utc=True)
    except BadTime as exc:
        # E.g. 9999-12-31T23:59:59-14:00: valid ISO 8601, but year 10000 in UTC.
        raise ValidationFailed(field, f"Invalid {field}: {value} : Date and time {exc}") from exc
    except ValueError as exc:
        raise ValidationFailed(field, f"Invalid {field}: {value} : Not a date and time") from exc


def parse_day(field: str, value: str) -> datetime:
    """A whole UTC day: the time must be midnight."""
    parsed = parse_time(field, value)
    if parsed.time() != time(0):
        raise ValidationFailed(
            field, f"Invalid {field}: {value} : Hours, minutes and seconds must be 0 (UTC days)"
        )
    return parsed


def parse_bool(field: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise ValidationFailed(field, f"Invalid {field}: {value} : Use true or false")
    return lowered == "true"


def parse_int(field: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ValidationFailed(field, f"Invalid {field}: {value} : Value is not an integer")
    try:
        number = int(value.strip()) if isinstance(value, str) else int(value)
    except (TypeError, ValueError, OverflowError) as exc:  # int(inf) overflows
        raise ValidationFailed(
            field, f"Invalid {field}: {value} : Value is not an integer"
        ) from exc
    if isinstance(value, float) and value != number:
        raise ValidationFailed(field, f"Invalid {field}: {value} : Value is not an integer")
    if not low <= number <= high:
        raise ValidationFailed(field, f"Invalid {field}: {value} : Must be from {low} to {high}")
    return number


def parse_float(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValidationFailed(field, f"Invalid {field}: {value} : Value is not a number")
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError, OverflowError) as exc:  # float(10**400) overflows
        raise ValidationFailed(field, f"Invalid {field}: {value} : Value is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ValidationFailed(field, f"Invalid {field}: {value} : Value is not a number")
    return number


def parse_ids(field: str, value: str) -> tuple[str, ...]:
    """Comma-separated id32/id36 values."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise ValidationFailed(field, f"Invalid {field}: {value} : Not an id32 or id36 value")
    for part in parts:
        if not is_id(part):
            raise ValidationFailed(field, f"Invalid {field}: {part} : Not an id32 or id36 value")
    return tuple(parse_id(p, field) for p in parts)


def path_id(field: str, value: str) -> str:
    if not is_id(value):
        raise ValidationFailed(field, f"Invalid {field}: {value[:64]} : Not an id32 or id36 value")
    return parse_id(value, field)


def query_params(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """Query parameters, each at most once, none outside `allowed`."""
    known = set(allowed)
    out: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key not in known:
            raise ValidationFailed(key, f"Unknown query parameter: {key[:64]}")
        if key in out:
            raise ValidationFailed(key, f"Query parameter {key} given more than once")
        out[key] = value
    return out
