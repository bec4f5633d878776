"""Refuse request bodies over a size before any route reads them.

Without it a route that takes JSON reads the whole body into memory and parses
it on the event loop: a 50 MB array posted to `/v1/callbacks` held up every
other request for 4.5 s. Surfaces that bound their own bodies, in their own
terms and at their own size, are left to do so (`EXEMPT`); every other path,
the 8x8 form included, is refused past `limit` bytes with a 413 in the
surface's own error convention (`ErrorRenderers`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rappel.api.errors import ErrorRenderers

#: OBI (5 MiB), ContextData (RAPPEL_MAX_XML_BYTES) and the data-dip provider check their own.
EXEMPT = ("/RI/obi/", "/data", "/v1/datadip")


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is a 413."""

    def __init__(self, app: ASGIApp, renderers: ErrorRenderers, limit: int) -> None:
        self.app = app
        self.renderers = renderers
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.limit:
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        pending = iter(messages)

        async def replay() -> Message:
            return next(pending, None) or await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is larger than {self.limit} bytes"
        answer = self.renderers.for_path(scope["path"])(Request(scope), 413, detail, None)
        await answer(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
