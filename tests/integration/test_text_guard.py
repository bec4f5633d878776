"""JSON bodies with text no database stores (NUL, unpaired surrogates) are refused up front."""

from __future__ import annotations

import httpx
import pytest

from rappel.domain.text import unstorable
from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID

ACME = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}
OBI = {**ACME, "Accept": "application/json"}
CALLBACK = '{"phone": "+14155550161", "when": "now", "queue_id": "103", "udata": {"a": "%s"}}'


def _interactions(http: httpx.Client) -> list[dict[str, object]]:
    answer = http.get("/v1/interactions", headers=ACME)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["interactions"]
    return found


@pytest.mark.parametrize(
    "text",
    [
        "\\ud800",  # a high surrogate alone
        "x\\udc00",  # a low one
        "\\ud800\\u0041",  # a high one followed by no low one
        "a\\u0000b",  # NUL
    ],
)
def test_native_body_is_refused_in_problem_json_and_nothing_is_stored(
    http: httpx.Client, demo: str, text: str
) -> None:
    answer = http.post("/v1/callbacks", content=CALLBACK % text, headers=ACME)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "body"
    assert _interactions(http) == []


def test_surrogate_bytes_in_a_body_are_refused_too(http: httpx.Client, demo: str) -> None:
    body = (CALLBACK % "-").encode().replace(b'"-"', b'"\xed\xa0\x80"')
    answer = http.post("/v1/callbacks", content=body, headers=ACME)
    assert answer.status_code == 422, answer.text
    assert _interactions(http) == []


def test_paired_surrogates_and_an_escaped_backslash_are_text(http: httpx.Client, demo: str) -> None:
    for text, stored in (("\\ud83d\\ude00", "\U0001f600"), ("\\\\ud800", "\\ud800")):
        body = CALLBACK % text
        answer = http.post("/v1/callbacks", content=body.replace("0161", "0162"), headers=ACME)
        assert answer.status_code == 201, answer.text
        assert answer.json()["udata"] == {"a": stored}
        cancel = f"/v1/interactions/{answer.json()['interaction_id']}/cancel"
        assert http.post(cancel, json={}, headers=ACME).status_code == 200


def test_obi_answers_in_its_own_convention(http: httpx.Client, demo: str) -> None:
    path = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers/list"
    body = '[{"numbers": "+14155550163", "attributes": [{"name": "City", "value": "\\ud800"}]}]'
    answer = http.post(path, content=body, headers=OBI)
    assert answer.status_code == 400, answer.text
    assert answer.json()["statusCode"] == 400
    assert "not storable" in answer.json()["error"]
    found = http.get(
        f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers",
        params={"numbers": "+14155550163"},
        headers=OBI,
    )
    assert found.json() == []


def test_unstorable_looks_into_keys_values_and_lists() -> None:
    assert unstorable({"a": ["ok", {"b": 1}]}) is None
    assert unstorable({"a": ["ok", {"\ud800": 1}]}) == "an unpaired surrogate"
    assert unstorable([1, None, "a\x00"]) == "a NUL character"


def test_a_static_path_with_nul_is_not_found(http: httpx.Client) -> None:
    for path in ("/static/%00", "/static/a%00b.js"):
        answer = http.get(path)
        assert answer.status_code == 404, path
