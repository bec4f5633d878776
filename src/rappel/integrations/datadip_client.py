"""The consumer side of the Xima data dip (seed 004): ask a tenant's CRM for session parameters.

Request: `POST <url>`, `Authorization: Bearer <token>`, a flat JSON object of
key names to values (`{"phone-num": "8015551234"}`).

Answer, read strictly: a JSON object whose only member is `parameters`, an
object of name -> `{"value": string, "displayToAgent": bool,
"saveToDatabase": bool}` with exactly those three members. Anything else
(a timeout, a non-2xx status, a refused token, bad JSON, another shape,
duplicate keys, more than 256 KiB) is a failed dip: the call goes on without
parameters. `dip` never raises.

The bearer token goes only to the URL's origin (scheme, host, port): a
redirect elsewhere is followed without it, and what that hop answers is the
result (a 401 or 403 there is a failed dip that says so); a redirect from
https to http is not followed (`target refused`).

Secrets stay out of sight: the bearer token never appears in a reason, and
a `SessionParameter` whose `save_to_database` is false hides its value from
`repr`, so that it cannot reach a log line by accident.

A failing CRM trips the injected circuit breaker (keyed by URL), after which
dips to it fail at once with `circuit open` until the breaker lets a trial
through. Retries are immediate: a caller waits in an IVR, there is no time
for backoff.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rappel.clock import Clock
from rappel.integrations.circuit import CircuitBreaker
from rappel.integrations.http import FailureKind, GuardedHttpClient, HttpOutcome

MAX_ANSWER_BYTES = 256 * 1024
MAX_NAME_LENGTH = 255
_PARAMETER_KEYS = {"value", "displayToAgent", "saveToDatabase"}


@dataclass(frozen=True, repr=False)
class SessionParameter:
    """One value a data dip returned, with what may be done with it."""

    value: str
    display_to_agent: bool
    save_to_database: bool

    def __repr__(self) -> str:
        shown = repr(self.value) if self.save_to_database else "'<not saved: hidden>'"
        return (
            f"SessionParameter(value={shown}, display_to_agent={self.display_to_agent}, "
            f"save_to_database={self.save_to_database})"
        )


@dataclass(frozen=True)
class DipResult:
    """Parameters from a successful dip, or why there are none."""

    parameters: dict[str, SessionParameter] | None
    reason: str = ""
    #: seconds spent on the dip, all attempts together (on the injected Clock)
    elapsed_s: float = 0.0

    @classmethod
    def ok(cls, parameters: dict[str, SessionParameter]) -> DipResult:
        return cls(parameters)

    @classmethod
    def failed(cls, reason: str) -> DipResult:
        return cls(None, reason)

    @property
    def succeeded(self) -> bool:
        return self.parameters is not None


class AnswerInvalid(ValueError):
    """The CRM's answer does not have the data-dip shape."""


class DataDipClient:
    """Calls tenants' data-dip web services through the SSRF guard and a breaker."""

    def __init__(self, http: GuardedHttpClient, breaker: CircuitBreaker, clock: Clock) -> None:
        self._http = http
        self._breaker = breaker
        self._clock = clock

    async def dip(
        self,
        url: str,
        bearer_token: str,
        request: Mapping[str, str],
        timeout_s: float = 2.0,
        retries: int = 1,
    ) -> DipResult:
        started = self._clock.monotonic()
        result = await self._attempts(url, bearer_token, request, timeout_s, retries)
        return replace(result, elapsed_s=self._clock.monotonic() - started)

    async def _attempts(
        self,
        url: str,
        bearer_token: str,
        request: Mapping[str, str],
        timeout_s: float,
        retries: int,
    ) -> DipResult:
        problem = _request_problem(bearer_token, request)
        if problem:
            return DipResult.failed(problem)
        headers = {"authorization": f"Bearer {bearer_token}", "accept": "application/json"}
        result = DipResult.failed("no attempt made")
        for _ in range(1 + max(0, retries)):
            if not self._breaker.allow(url):
                return DipResult.failed("circuit open: the data-dip service failed repeatedly")
            outcome = await self._http.post_json(
                url, dict(request), headers, timeout_s, MAX_ANSWER_BYTES
            )
            result = self._judge(url, outcome)
            if result.succeeded or not outcome.retriable:
                return result
        return result

    def _judge(self, url: str, outcome: HttpOutcome) -> DipResult:
        result = _result_of(outcome)
        if result.succeeded:
            self._breaker.record_success(url)
        else:
            self._breaker.record_failure(url)
        return result


def _request_problem(bearer_token: str, request: Mapping[str, str]) -> str | None:
    # An HTTP header value: visible ASCII only (a token stored before that was checked
    # at configuration time must fail here, not in the HTTP library).
    if not bearer_token or not all(33 <= ord(char) <= 126 for char in bearer_token):
        return "bearer token is empty or holds characters other than visible ASCII"
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in request.items()):
        return "request keys and values must be strings"
    return None


def _result_of(outcome: HttpOutcome) -> DipResult:
    if outcome.failure is FailureKind.HTTP_STATUS and outcome.status in (401, 403):
        if outcome.credentials_withheld:
            return DipResult.failed(
                f"the service redirected to another origin, which answered HTTP {outcome.status}"
                " (the bearer token is sent to the configured origin only)"
            )
        return DipResult.failed(f"the service refused the bearer token (HTTP {outcome.status})")
    if outcome.failure in (FailureKind.REFUSED_TARGET, FailureKind.INVALID_URL):
        return DipResult.failed(f"target refused: {outcome.detail}")
    if outcome.failure is FailureKind.TOO_LARGE:
        return DipResult.failed(f"answer larger than {MAX_ANSWER_BYTES} bytes")
    if outcome.failure is not None:
        return DipResult.failed(f"{outcome.failure.value}: {outcome.detail}")
    try:
        return DipResult.ok(parse_answer(outcome.body))
    except AnswerInvalid as exc:
        return DipResult.failed(f"malformed answer: {exc}")


def parse_answer(body: bytes) -> dict[str, SessionParameter]:
    """Read a data-dip answer strictly; raise AnswerInvalid on any deviation."""
    if len(body) > MAX_ANSWER_BYTES:
        raise AnswerInvalid(f"larger than {MAX_ANSWER_BYTES} bytes")
    try:
        text = body.decode("utf-8")  # RFC 8259: JSON between systems is UTF-8
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise AnswerInvalid(_json_problem(exc)) from exc
    if not isinstance(document, dict):
        raise AnswerInvalid("top level is not a JSON object")
    if set(document) != {"parameters"}:
        raise AnswerInvalid("top level must hold exactly one member, parameters")
    parameters = document["parameters"]
    if not isinstance(parameters, dict):
        raise AnswerInvalid("parameters is not an object")
    return {name: _parameter(name, entry) for name, entry in parameters.items()}


def _parameter(name: str, entry: Any) -> SessionParameter:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise AnswerInvalid(f"parameter names must have 1 to {MAX_NAME_LENGTH} characters")
    label = repr(name[:40])
    if not isinstance(entry, dict):
        raise AnswerInvalid(f"parameter {label} is not an object")
    if set(entry) != _PARAMETER_KEYS:
        raise AnswerInvalid(
            f"parameter {label} must hold exactly value, displayToAgent, saveToDatabase"
        )
    value, display, save = entry["value"], entry["displayToAgent"], entry["saveToDatabase"]
    if not isinstance(value, str):
        raise AnswerInvalid(f"value of parameter {label} is not a string")
    if not isinstance(display, bool) or not isinstance(save, bool):
        raise AnswerInvalid(f"displayToAgent and saveToDatabase of {label} must be true or false")
    return SessionParameter(value, display, save)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(f"duplicate member {key[:40]!r}")
        document[key] = value
    return document


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, _DuplicateKey):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return "not valid JSON"
