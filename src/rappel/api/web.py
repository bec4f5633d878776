"""Serves the web pages: the widget script, the agent desktop, the supervisor dashboard, the demo.

Files come from `rappel/web/` as they are: plain ES modules and CSS, no build
step. Pages get a strict Content-Security-Policy (scripts and styles from this
origin only, no inline code); assets are revalidated by ETag so a new release
is picked up at once, except vendored libraries, which are cached for a day.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import FileResponse, RedirectResponse, Response

from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container

WEB_ROOT = Path(str(resources.files("rappel") / "web"))

#: The pages' policy: nothing from elsewhere, no inline script or style, no framing.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
#: The demo page embeds the widget the way a tenant's site would, through its script tag.
DEMO_CSP = PAGE_CSP

TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
}

PAGES = {
    "/agent": "agent/index.html",
    "/supervisor": "supervisor/index.html",
    "/demo": "demo/index.html",
}
#: Page-specific modules served beside their page.
PAGE_ASSETS = {
    "/agent/agent.js": "agent/agent.js",
    "/supervisor/supervisor.js": "supervisor/supervisor.js",
    "/demo/acme.css": "demo/acme.css",
}

router = APIRouter(include_in_schema=False)


def _etag(path: Path) -> str:
    stat = path.stat()
    return (
        '"' + hashlib.sha256(f"{stat.st_mtime_ns}-{stat.st_size}".encode()).hexdigest()[:20] + '"'
    )


def serve_file(
    request: Request, path: Path, cache: str, extra: dict[str, str] | None = None
) -> Response:
    """The file with its content type and caching headers; 304 when the ETag still matches."""
    if not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    etag = _etag(path)
    headers = {
        "Cache-Control": cache,
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if etag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=304, headers=headers)
    media = TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers=headers)


def _page_headers(csp: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


@router.get("/widget.js")
def widget_script(request: Request) -> Response:
    # Loaded by tenants' pages on other origins: cross-origin readable, short cache.
    return serve_file(
        request,
        WEB_ROOT / "widget.js",
        "public, max-age=300",
        {"Cross-Origin-Resource-Policy": "cross-origin", "Access-Control-Allow-Origin": "*"},
    )


@router.get("/")
def home() -> Response:
    return RedirectResponse("/demo", status_code=302)


def _page_route(url: str, file: str, csp: str) -> None:
    async def page(request: Request) -> Response:
        return serve_file(request, WEB_ROOT / file, "no-cache", _page_headers(csp))

    router.add_api_route(url, page, methods=["GET"], include_in_schema=False)


def _asset_route(url: str, file: str) -> None:
    async def asset(request: Request) -> Response:
        return serve_file(request, WEB_ROOT / file, "no-cache")

    router.add_api_route(url, asset, methods=["GET"], include_in_schema=False)


for _url, _file in PAGES.items():
    _page_route(_url, _file, DEMO_CSP if _url == "/demo" else PAGE_CSP)
for _url, _file in PAGE_ASSETS.items():
    _asset_route(_url, _file)


@router.get("/static/{path:path}")
def static(request: Request, path: str) -> Response:
    base = (WEB_ROOT / "static").resolve()
    if "\x00" in path:  # no file is named so, and the file system refuses to look
        return Response("not found", status_code=404, media_type="text/plain")
    target = (base / path).resolve()
    if base not in target.parents or target.suffix not in TYPES:
        return Response("not found", status_code=404, media_type="text/plain")
    vendored = "vendor" in target.relative_to(base).parts
    cache = "public, max-age=86400" if vendored else "no-cache"
    headers = {"Cross-Origin-Resource-Policy": "cross-origin"} if path == "widget.css" else {}
    if headers:
        headers["Access-Control-Allow-Origin"] = "*"
    return serve_file(request, target, cache, headers)


def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
    app.include_router(router)
