"""Outbound POSTs to client-given URLs, through the SSRF guard, with explicit limits.

`GuardedHttpClient` wraps an injected `httpx.AsyncClient` (which must not
follow redirects nor read proxy settings from the environment: both would
bypass the guard). Each hop is checked by `check_url` and sent to the checked
address with the original Host header and, for https, the original name for
SNI and certificate checks.

Redirects are followed by hand, at most `max_redirects`, each target checked
again: 307 and 308 as the standard says (same method and body); 301 and 302
also re-post the body, because the payload is the point of the call and
dropping it would turn a delivery into a silent no-op; 303 is not followed and
is returned as it is. Credentials are for the origin they were configured
for: `Authorization`, `Proxy-Authorization` and `Cookie` are sent only to the
scheme, host and port of the URL given, and a hop to any other origin goes
without them (`HttpOutcome.credentials_withheld` then tells so, and the answer
of that hop, typically a 401, is the outcome). A redirect from https to http
is not followed at all (a refused target): it would put the payload, and on
the same origin the credentials, on the wire in clear.

Nothing raises: every result is an `HttpOutcome` that tells success, a
retriable failure (network trouble, timeouts, 408, 425, 429, 5xx) and a
permanent one (refused target, a request that cannot be sent, other 4xx, too
many redirects, oversize answer). The whole exchange, DNS and redirects
included, must finish within `timeout_s`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from rappel.clock import Clock
from rappel.domain.errors import ValidationFailed
from rappel.integrations.ssrf import (
    CheckedTarget,
    OutboundAllowlist,
    ResolutionFailed,
    Resolver,
    TargetRefused,
    check_url,
)

DEFAULT_MAX_BODY = 1024 * 1024
_FOLLOWED = {301, 302, 307, 308}
_RETRIABLE_STATUS = {408, 425, 429}
#: Headers that prove who the caller is: never sent to an origin other than the configured one.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class FailureKind(StrEnum):
    INVALID_URL = "invalid_url"  #: the URL is malformed or not http(s); permanent
    REFUSED_TARGET = "refused_target"  #: the SSRF guard or an https->http redirect; permanent
    INVALID_REQUEST = "invalid_request"  #: a header or the payload cannot be sent; permanent
    DNS = "dns"  #: the host did not resolve; retriable
    CONNECT = "connect"  #: no connection could be made; retriable
    TIMEOUT = "timeout"  #: the exchange did not finish in time; retriable
    PROTOCOL = "protocol"  #: the server broke HTTP or the TLS handshake failed; retriable
    TOO_MANY_REDIRECTS = "too_many_redirects"  #: redirect chain too long; permanent
    TOO_LARGE = "too_large"  #: the answer exceeded the size limit; permanent
    HTTP_STATUS = "http_status"  #: a non-2xx answer; retriable for 408/425/429/5xx


_RETRIABLE_KINDS = {FailureKind.DNS, FailureKind.CONNECT, FailureKind.TIMEOUT, FailureKind.PROTOCOL}


@dataclass(frozen=True)
class HttpOutcome:
    """What one guarded exchange came to."""

    status: int | None
    body: bytes
    elapsed_s: float
    failure: FailureKind | None
    detail: str = ""
    #: the answer came from another origin than the URL's, which got no credential headers
    credentials_withheld: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def retriable(self) -> bool:
        if self.failure is FailureKind.HTTP_STATUS:
            status = self.status or 0
            return status >= 500 or status in _RETRIABLE_STATUS
        return self.failure in _RETRIABLE_KINDS


class GuardedHttpClient:
    """POSTs that only reach addresses the SSRF guard allows."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        allowlist: OutboundAllowlist,
        resolver: Resolver,
        clock: Clock,
        max_redirects: int = 3,
    ) -> None:
        if client.follow_redirects:
            raise ValueError("the httpx client must not follow redirects (the guard does)")
        if client.trust_env:
            raise ValueError("the httpx client must be built with trust_env=False")
        self._client = client
        self._allowlist = allowlist
        self._resolver = resolver
        self._clock = clock
        self.max_redirects = max_redirects

    async def post_json(
        self,
        url: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str],
        timeout_s: float,
        max_body_bytes: int = DEFAULT_MAX_BODY,
    ) -> HttpOutcome:
        try:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            detail = "the payload holds an unpaired surrogate, which is not text"
            return HttpOutcome(None, b"", 0.0, FailureKind.INVALID_REQUEST, detail)
        return await self.post(url, body, headers, timeout_s, max_body_bytes)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout_s: float,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        content_type: str = "application/json",
    ) -> HttpOutcome:
        """POST `body` exactly as given (so that a signature over it stays true)."""
        started = self._clock.monotonic()
        sent = {"content-type": content_type, **{k.lower(): v for k, v in headers.items()}}
        sent.pop("host", None)
        try:
            async with asyncio.timeout(timeout_s):
                hop = await self._exchange(url, body, sent, timeout_s, max_body_bytes)
        except TimeoutError:
            hop = _Hop(None, b"", FailureKind.TIMEOUT, f"no complete answer in {timeout_s}s")
        elapsed = self._clock.monotonic() - started
        return HttpOutcome(
            hop.status, hop.body, elapsed, hop.failure, hop.detail, hop.credentials_withheld
        )

    async def _exchange(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float, max_body: int
    ) -> _Hop:
        origin: tuple[str, str, int] | None = None
        for _ in range(self.max_redirects + 1):
            try:
                target = await asyncio.to_thread(check_url, url, self._allowlist, self._resolver)
            except TargetRefused as exc:
                return _Hop(None, b"", FailureKind.REFUSED_TARGET, exc.message)
            except ResolutionFailed as exc:
                return _Hop(None, b"", FailureKind.DNS, exc.message)
            except ValidationFailed as exc:
                return _Hop(None, b"", FailureKind.INVALID_URL, exc.message)
            origin = origin or target.origin
            sent = headers if target.origin == origin else _without_credentials(headers)
            hop = await self._send(target, body, sent, timeout_s, max_body)
            if hop.location is None:
                return hop if sent == headers else _marked(hop)
            following = _redirect(target, url, hop.location)
            if isinstance(following, _Hop):
                return following
            url = following
        return _Hop(None, b"", FailureKind.TOO_MANY_REDIRECTS, "too many redirects")

    async def _send(
        self,
        target: CheckedTarget,
        body: bytes,
        headers: dict[str, str],
        timeout_s: float,
        max_body_bytes: int,
    ) -> _Hop:
        try:
            request = self._client.build_request(
                "POST",
                target.connect_url,
                content=body,
                headers={**headers, "host": target.host_header, **_no_reuse(target)},
                timeout=httpx.Timeout(timeout_s),
                extensions={"sni_hostname": target.host} if target.scheme == "https" else None,
            )
        except (ValueError, httpx.InvalidURL) as exc:
            # E.g. a header value that is not ASCII (UnicodeEncodeError). The name of the
            # error only: its message can quote the value, which may be a token.
            detail = f"the request to {target.host} cannot be built: {type(exc).__name__}"
            return _Hop(None, b"", FailureKind.INVALID_REQUEST, detail)
        try:
            response = await self._client.send(request, stream=True)
            try:
                data = await _read_limited(response, max_body_bytes)
            finally:
                await response.aclose()
        except _TooLarge:
            return _Hop(None, b"", FailureKind.TOO_LARGE, f"answer over {max_body_bytes} bytes")
        except httpx.TimeoutException:
            return _Hop(None, b"", FailureKind.TIMEOUT, f"no answer from {target.host} in time")
        except httpx.ConnectError:
            return _Hop(None, b"", FailureKind.CONNECT, f"cannot connect to {target.host}")
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            return _Hop(None, b"", FailureKind.PROTOCOL, f"{target.host}: {type(exc).__name__}")
        status = response.status_code
        if 200 <= status < 300:
            return _Hop(status, data, None, "")
        location = response.headers.get("location")
        if status in _FOLLOWED and location:
            return _Hop(status, data, None, "", location)
        return _Hop(status, data, FailureKind.HTTP_STATUS, f"answered HTTP {status}")


@dataclass(frozen=True)
class _Hop:
    status: int | None
    body: bytes
    failure: FailureKind | None
    detail: str
    location: str | None = None
    credentials_withheld: bool = False


def _redirect(target: CheckedTarget, url: str, location: str) -> str | _Hop:
    """The URL a redirect leads to, or the refusal to follow it."""
    try:
        following = urljoin(url, location)
        scheme = urlsplit(following).scheme.lower()
    except ValueError:  # httpx refuses most such locations first; urllib is checked anyway
        detail = f"{target.host} redirected to a malformed location"
        return _Hop(None, b"", FailureKind.INVALID_URL, detail)
    if target.scheme == "https" and scheme == "http":
        # The payload, and on the same origin the credentials, would go out in clear.
        detail = f"{target.host} redirected from https to http; not followed"
        return _Hop(None, b"", FailureKind.REFUSED_TARGET, detail)
    return following


def _without_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: v for name, v in headers.items() if name.lower() not in CREDENTIAL_HEADERS}


def _marked(hop: _Hop) -> _Hop:
    # The answer of a hop that got no credentials says nothing about the credentials.
    detail = f"{hop.detail} (from another origin, sent without credentials)" if hop.detail else ""
    return replace(hop, detail=detail, credentials_withheld=True)


def _no_reuse(target: CheckedTarget) -> dict[str, str]:
    # Pooled connections are keyed by address, so a TLS session verified for one
    # name could carry a request for another name on the same address: do not reuse.
    return {"connection": "close"} if target.scheme == "https" else {}


class _TooLarge(Exception):
    pass


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)
