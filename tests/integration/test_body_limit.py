"""Bodies over RAPPEL_MAX_BODY_BYTES are refused before any route reads or parses them."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from rappel.config import Settings
from rappel.services.demo import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
LIMIT = Settings().max_body_bytes


def _array(size: int) -> bytes:
    """A JSON array of exactly `size` bytes."""
    return b"[" + b"1," * ((size - 3) // 2) + b"1" * (1 + (size - 3) % 2) + b"]"


def _chunks(body: bytes) -> Iterator[bytes]:
    # An iterator has no length: httpx sends it chunked, without Content-Length.
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


def test_a_native_body_over_the_limit_is_a_413_problem(http: httpx.Client, demo: str) -> None:
    body = _array(LIMIT + 1)
    assert len(body) == LIMIT + 1
    for content in (body, _chunks(body)):
        answer = http.post("/v1/callbacks", content=content, headers=AUTH)
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["detail"] == f"the request body is larger than {LIMIT} bytes"


def test_a_native_body_at_the_limit_reaches_the_route(http: httpx.Client, demo: str) -> None:
    answer = http.post("/v1/callbacks", content=_array(LIMIT), headers=AUTH)
    assert answer.status_code == 422  # the route read it: a list is not a callback


def test_a_web_callback_form_over_the_limit_is_a_413_with_a_ctl_error(
    http: httpx.Client, demo: str
) -> None:
    fields = {"tenant": "Acme", "token": API_TOKEN, "note": "x" * LIMIT}
    answer = http.post("/SC/webcallback.php", files={"f": (None, b"")}, data=fields)
    assert answer.status_code == 413
    assert answer.json()["ctl_error"] == 19
