from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rappel.clock import VirtualClock
from rappel.integrations.circuit import CircuitBreaker, CircuitState
from rappel.integrations.datadip_client import (
    AnswerInvalid,
    DataDipClient,
    DipResult,
    SessionParameter,
    parse_answer,
)
from rappel.integrations.http import GuardedHttpClient
from rappel.integrations.ssrf import OutboundAllowlist, system_resolver
from tests.support.loopback import LoopbackServer, Reply

TOKEN = "s3cr3t-dip-token-0123456789"
REQUEST = {"account-num": "76541643", "phone-num": "8015551234"}

# The seed's multi-value example answer (one value shortened).
SEED_ANSWER: dict[str, Any] = {
    "parameters": {
        "account-manager": {
            "value": "Sam Whitecar(112)",
            "displayToAgent": True,
            "saveToDatabase": False,
        },
        "account-num": {"value": "76541643", "displayToAgent": True, "saveToDatabase": True},
        "language": {"value": "English", "displayToAgent": False, "saveToDatabase": False},
        "ssn-last-four": {"value": "3456", "displayToAgent": True, "saveToDatabase": False},
    }
}


class Harness:
    """A DataDipClient wired to real HTTP, a virtual clock and a small breaker."""

    def __init__(self, allow: str = "127.0.0.1/32") -> None:
        self.clock = VirtualClock()
        self.breaker = CircuitBreaker(self.clock, failure_threshold=3, reset_after_s=30)
        self.allowlist = OutboundAllowlist.parse(allow)

    def dip(self, url: str, **kwargs: Any) -> DipResult:
        async def main() -> DipResult:
            async with httpx.AsyncClient(trust_env=False) as client:
                http = GuardedHttpClient(client, self.allowlist, system_resolver, self.clock)
                dipper = DataDipClient(http, self.breaker, self.clock)
                return await dipper.dip(url, kwargs.pop("token", TOKEN), REQUEST, **kwargs)

        return asyncio.run(main())


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


@pytest.fixture
def harness() -> Harness:
    return Harness()


def assert_no_secret(result: DipResult) -> None:
    assert TOKEN not in result.reason
    assert TOKEN not in repr(result)


def test_seed_answer_becomes_session_parameters(server: LoopbackServer, harness: Harness) -> None:
    server.reply("/dip", Reply.json(SEED_ANSWER))
    result = harness.dip(server.url("/dip"))
    assert result.succeeded
    assert result.parameters == {
        "account-manager": SessionParameter("Sam Whitecar(112)", True, False),
        "account-num": SessionParameter("76541643", True, True),
        "language": SessionParameter("English", False, False),
        "ssn-last-four": SessionParameter("3456", True, False),
    }


def test_request_is_a_bearer_authenticated_flat_json_post(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply.json({"parameters": {}}))
    assert harness.dip(server.url("/dip")).parameters == {}
    [request] = server.requests_to("/dip")
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == REQUEST


def test_slow_service_is_a_failed_dip_after_the_timeout(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply.json(SEED_ANSWER, delay_s=10))
    result = harness.dip(server.url("/dip"), timeout_s=0.3, retries=0)
    assert not result.succeeded
    assert "timeout" in result.reason
    assert_no_secret(result)


def test_server_error_is_retried_once_then_fails(server: LoopbackServer, harness: Harness) -> None:
    server.reply("/dip", Reply(status=500))
    result = harness.dip(server.url("/dip"))
    assert not result.succeeded
    assert "500" in result.reason
    assert len(server.requests_to("/dip")) == 2


def test_retry_after_a_server_error_can_succeed(server: LoopbackServer, harness: Harness) -> None:
    server.reply_once("/dip", Reply(status=503))
    server.reply("/dip", Reply.json(SEED_ANSWER))
    assert harness.dip(server.url("/dip")).succeeded
    assert harness.breaker.state(server.url("/dip")) is CircuitState.CLOSED


def test_rejected_token_fails_without_retry_or_leak(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply(status=401, body=f"bad token {TOKEN}".encode()))
    result = harness.dip(server.url("/dip"))
    assert not result.succeeded
    assert "refused the bearer token" in result.reason
    assert_no_secret(result)
    assert len(server.requests_to("/dip")) == 1


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"NaN", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"parameters": {}, "extra": 1}', "exactly one member"),
        (b'{"params": {}}', "exactly one member"),
        (b'{"parameters": []}', "not an object"),
        (b'{"parameters": {"a": "x"}}', "not an object"),
        (
            b'{"parameters": {"": {"value": "x", "displayToAgent": true, "saveToDatabase": true}}}',
            "names",
        ),
        (
            b'{"parameters": {"a": {"value": 1, "displayToAgent": true, "saveToDatabase": true}}}',
            "not a string",
        ),
        (
            b'{"parameters": {"a": {"value": "1", "displayToAgent": "true",'
            b' "saveToDatabase": true}}}',
            "true or false",
        ),
        (
            b'{"parameters": {"a": {"value": "1", "displayToAgent": 1, "saveToDatabase": 0}}}',
            "true or false",
        ),
        (b'{"parameters": {"a": {"value": "1", "displayToAgent": true}}}', "exactly value"),
        (
            b'{"parameters": {"a": {"value": "1", "displayToAgent": true, "saveToDatabase": true,'
            b' "x": 1}}}',
            "exactly value",
        ),
        (b'{"parameters": {}, "parameters": {}}', "duplicate"),
        (b"[" * 100_000, "JSON"),
    ],
)
def test_answers_of_another_shape_are_failed_dips(
    server: LoopbackServer, harness: Harness, body: bytes, complaint: str
) -> None:
    server.reply("/dip", Reply(status=200, body=body))
    result = harness.dip(server.url("/dip"))
    assert not result.succeeded
    assert result.reason.startswith("malformed answer")
    assert complaint in result.reason
    assert len(server.requests_to("/dip")) == 1


def test_answer_over_256_kib_is_a_failed_dip(server: LoopbackServer, harness: Harness) -> None:
    big = {
        "parameters": {
            "x": {"value": "v" * 300_000, "displayToAgent": True, "saveToDatabase": True}
        }
    }
    server.reply("/dip", Reply.json(big))
    result = harness.dip(server.url("/dip"))
    assert not result.succeeded
    assert "larger than" in result.reason


def test_breaker_opens_after_repeated_failures_and_spares_the_service(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply(status=500))
    for _ in range(3):
        assert not harness.dip(server.url("/dip"), retries=0).succeeded
    result = harness.dip(server.url("/dip"))
    assert result.reason.startswith("circuit open")
    assert len(server.requests_to("/dip")) == 3
    assert harness.breaker.rejected_total == 1

    server.reply("/dip", Reply.json(SEED_ANSWER))
    harness.clock.set(harness.clock.now() + timedelta(seconds=31))
    assert harness.dip(server.url("/dip")).succeeded
    assert harness.breaker.state(server.url("/dip")) is CircuitState.CLOSED


def test_guard_refuses_loopback_when_not_allowed(server: LoopbackServer) -> None:
    result = Harness(allow="").dip(server.url("/dip"))
    assert not result.succeeded
    assert result.reason.startswith("target refused")
    assert server.requests == []


def test_redirect_to_a_private_address_is_a_failed_dip(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply.redirect("http://192.168.0.10/dip", status=307))
    result = harness.dip(server.url("/dip"))
    assert result.reason.startswith("target refused")


def test_token_stays_with_the_crm_when_it_redirects_to_another_origin(
    server: LoopbackServer, harness: Harness
) -> None:
    with LoopbackServer() as other:
        server.reply("/dip", Reply.redirect(other.url("/dip"), status=307))
        other.reply("/dip", Reply(status=401))
        result = harness.dip(server.url("/dip"))
        [elsewhere] = other.requests_to("/dip")
    assert server.requests_to("/dip")[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in elsewhere.headers
    assert elsewhere.json() == REQUEST
    # The unauthenticated hop's 401 decides; it is not blamed on the token, nor retried.
    assert not result.succeeded
    assert "redirected to another origin" in result.reason
    assert "HTTP 401" in result.reason
    assert len(server.requests_to("/dip")) == 1
    assert_no_secret(result)


def test_redirect_on_the_same_origin_keeps_the_token(
    server: LoopbackServer, harness: Harness
) -> None:
    server.reply("/dip", Reply.redirect("/v2/dip", status=308))
    server.reply("/v2/dip", Reply.json(SEED_ANSWER))
    assert harness.dip(server.url("/dip")).succeeded
    [moved] = server.requests_to("/v2/dip")
    assert moved.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("token", ["", "abc\r\nX-Injected: 1", "t\u00f6k\u00e9n", "a b"])
def test_unusable_token_fails_before_any_request(
    server: LoopbackServer, harness: Harness, token: str
) -> None:
    result = harness.dip(server.url("/dip"), token=token)
    assert not result.succeeded
    assert "bearer token" in result.reason
    assert server.requests == []


def test_unsaved_values_do_not_show_in_reprs() -> None:
    parameters = parse_answer(json.dumps(SEED_ANSWER).encode())
    text = repr(DipResult.ok(parameters))
    assert "76541643" in text
    for hidden in ("Sam Whitecar(112)", "English", "3456"):
        assert hidden not in text
    assert "Sam Whitecar" in parameters["account-manager"].value


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["parameters", "value", "displayToAgent", "saveToDatabase", "a", ""]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(json_like)
def test_any_json_parses_to_parameters_or_is_refused_as_invalid(document: Any) -> None:
    try:
        parameters = parse_answer(json.dumps(document).encode())
    except AnswerInvalid:
        return
    assert all(isinstance(p, SessionParameter) for p in parameters.values())
