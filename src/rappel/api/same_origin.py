"""A state change authenticated by the session cookie must come from Rappel's own pages.

A browser attaches the session cookie to requests that other pages make it
send. SameSite=Strict stops other sites, but not a sibling origin of the same
site (another port or subdomain of the host). Browsers say where a request
comes from: `Sec-Fetch-Site` (current browsers), else `Origin`. A cookie-
authenticated request other than GET, HEAD or OPTIONS is refused unless it
comes from the same origin; one with neither header was not sent by a page
(browsers send `Origin` with every cross-origin POST) and passes. Calls
authenticated by a token carry it in a header no other page can set, and are
not checked.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from rappel.domain.errors import PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: `Sec-Fetch-Site` values of requests from the page's own origin or typed by the user.
_OWN = frozenset({"same-origin", "none"})


def check_same_origin(request: Request, public_url: str = "") -> None:
    """Refuse (403) a state change that another origin's page made the browser send."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site.strip().lower() not in _OWN:
            raise PermissionDenied(f"a {site[:20]} request cannot use the session cookie")
        return
    origin = request.headers.get("origin")
    if origin is not None and origin.strip().lower() not in own_origins(request, public_url):
        raise PermissionDenied("a request from another origin cannot use the session cookie")


def own_origins(request: Request, public_url: str) -> set[str]:
    """This server's origin as the request reached it, and as `RAPPEL_PUBLIC_URL` names it."""
    own = {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    if public_url:
        parts = urlsplit(public_url)
        own.add(f"{parts.scheme}://{parts.netloc}".lower())
    return own
