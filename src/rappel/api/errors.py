"""One place that maps Rappel's errors to HTTP.

The native API answers RFC 9457 problem+json. A compatibility surface that has its
own convention registers a renderer for its path prefix, so a domain error raised
under `/RI/obi` comes out the OBI way and never as a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from rappel.domain.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RappelError,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

log = logging.getLogger("rappel.api")

ErrorRenderer = Callable[[Request, int, str, RappelError | None], Response]

STATUS: dict[type[RappelError], int] = {
    ValidationFailed: 422,
    NotFound: 404,
    InvalidTransition: 409,
    Conflict: 409,
    Unauthenticated: 401,
    PermissionDenied: 403,
    RateLimited: 429,
    ServiceUnavailable: 503,
}

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def answers(*statuses: int) -> dict[int | str, dict[str, object]]:
    """`responses=` for a route: error statuses it answers beyond those its inputs imply.

    `rappel.api.openapi` gives each one its problem+json body in the document.
    """
    return {status: {"description": TITLES.get(status, "Error")} for status in statuses}


def status_for(error: RappelError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def problem(status: int, detail: str, **extra: object) -> JSONResponse:
    body: dict[str, object] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="rappel"'} if status == 401 else None
    return JSONResponse(
        body, status_code=status, media_type="application/problem+json", headers=headers
    )


def problem_renderer(
    request: Request, status: int, detail: str, error: RappelError | None
) -> Response:
    extra: dict[str, object] = {}
    if isinstance(error, ValidationFailed):
        extra["field"] = error.field
    return problem(status, detail, **extra)


class ErrorRenderers:
    """Renderers by path prefix; the longest matching prefix wins."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, ErrorRenderer] = {}

    def register(self, prefix: str, renderer: ErrorRenderer) -> None:
        self._by_prefix[prefix] = renderer

    def for_path(self, path: str) -> ErrorRenderer:
        best = ""
        for prefix in self._by_prefix:
            if path.startswith(prefix) and len(prefix) > len(best):
                best = prefix
        return self._by_prefix.get(best, problem_renderer)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path.

    Starlette names only the first route whose path matches, but a path is often served
    by several routes (GET and POST declared apart), and `Allow` must list them all.
    """
    found: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(request.url.path):
            found.update(route.methods)
    return sorted(found)


def field_path(location: list[str | int]) -> str:
    """`keys[0].field`: list positions written as the services write them."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def install_error_handlers(app: FastAPI, renderers: ErrorRenderers) -> None:
    async def on_rappel_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RappelError)
        status = status_for(exc)
        response = renderers.for_path(request.url.path)(request, status, exc.message, exc)
        if isinstance(exc, RateLimited) and exc.retry_after_s > 0:
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        where = field_path([p for p in first.get("loc", ()) if p != "body"])
        detail = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        error = ValidationFailed(where or "body", detail)
        return renderers.for_path(request.url.path)(request, 422, detail, error)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = str(exc.detail) if exc.detail else TITLES.get(exc.status_code, "Error")
        answer = renderers.for_path(request.url.path)(request, exc.status_code, detail, None)
        for name, value in (exc.headers or {}).items():
            answer.headers.setdefault(name, value)
        if exc.status_code == 405:
            answer.headers["Allow"] = ", ".join(allowed_methods(request))
        return answer

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return renderers.for_path(request.url.path)(request, 500, "internal error", None)

    app.add_exception_handler(RappelError, on_rappel_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
