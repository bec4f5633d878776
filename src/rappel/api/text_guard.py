"""Refuse JSON request bodies holding text that no database stores.

JSON can carry a NUL (`\\u0000`) and an unpaired surrogate (`\\ud800`), and
Python reads both into a `str`. PostgreSQL's text refuses NUL, no UTF-8 holds a
lone surrogate, and a surrogate echoed in an error message cannot even be
written in the answer: each surface met them as a 500 at a different place, some
after a write had committed. Here they are refused before any route runs, in
the surface's own error convention (`ErrorRenderers`), and nothing is stored.

Only bodies that may hold such text are parsed a second time: the raw bytes are
searched first for the escapes, or the bytes, that produce them.
"""

from __future__ import annotations

import json
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rappel.api.errors import ErrorRenderers
from rappel.api.json_size import too_many_values
from rappel.domain.errors import ValidationFailed
from rappel.domain.text import unstorable

#: `\u0000`, a surrogate escape, or a surrogate encoded as UTF-8 bytes (json.loads of
#: bytes decodes those too). An escaped backslash before `u` is a false alarm that
#: the parse below clears.
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})|\xed[\xa0-\xbf]")
#: Bodies larger than this are passed on unread: every surface refuses them sooner.
MAX_CHECKED_BYTES = 32 * 1024 * 1024
#: Surfaces that check their own body text and answer in their own terms.
_OWN_CHECK = ("/datadip", "/v1/datadip")


def _may_be_json(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS") or scope["path"] in _OWN_CHECK:
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":
            return b"json" in value.lower()
    return True  # FastAPI reads a body without a content type as JSON


class TextGuard:
    """ASGI middleware: a JSON body with NUL or an unpaired surrogate is refused."""

    def __init__(self, app: ASGIApp, renderers: ErrorRenderers) -> None:
        self.app = app
        self.renderers = renderers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = bytearray()
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body") or len(body) > MAX_CHECKED_BYTES:
                break
        reason = await _reason(bytes(body)) if len(body) <= MAX_CHECKED_BYTES else None
        if reason is not None:
            detail = f"the body holds {reason}, which is not storable text"
            error = ValidationFailed("body", detail)
            request = Request(scope)
            answer = self.renderers.for_path(scope["path"])(request, 422, detail, error)
            await answer(scope, receive, send)
            return
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)


async def _reason(body: bytes) -> str | None:
    if not _SUSPECT.search(body) or too_many_values(body):
        return None  # too many values: the route refuses the body in its own words
    # A suspect body is parsed in a worker thread: 5 MiB of small JSON values (OBI's
    # limit) took the event loop 0.8 s.
    return await run_in_threadpool(_parsed_reason, body)


def _parsed_reason(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route says so in its own words
    return unstorable(parsed)
