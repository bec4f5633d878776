from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.integrations.signing import (
    SignatureInvalid,
    new_secret,
    secret_key,
    sign,
    signature,
    verify,
)

# The Standard Webhooks specification's published example.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_NOW = datetime.fromtimestamp(SPEC_TIMESTAMP, UTC)


def test_signature_reproduces_the_published_test_vector() -> None:
    assert signature(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_signature_matches_an_independent_hmac() -> None:
    secret = new_secret()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, b"m1.1700000000.{}", hashlib.sha256).digest()
    assert signature(secret, "m1", 1700000000, b"{}") == "v1," + base64.b64encode(digest).decode()


def test_sign_gives_the_three_standard_headers() -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_published_headers_verify_and_give_the_message_id() -> None:
    headers = {
        "Webhook-Id": SPEC_ID,
        "Webhook-Timestamp": str(SPEC_TIMESTAMP),
        "Webhook-Signature": f"v1,bm9wZQ== {SPEC_SIGNATURE}",
    }
    assert verify(SPEC_SECRET, headers, SPEC_BODY, SPEC_NOW) == SPEC_ID


def test_rotation_signs_with_every_secret_and_each_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = sign([old, new], "m", SPEC_TIMESTAMP, b"x")
    assert len(headers["webhook-signature"].split()) == 2
    assert verify(old, headers, b"x", SPEC_NOW) == "m"
    assert verify(new, headers, b"x", SPEC_NOW) == "m"


def test_tampered_body_is_refused() -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(SignatureInvalid):
        verify(SPEC_SECRET, headers, SPEC_BODY + b" ", SPEC_NOW)


def test_other_secret_is_refused() -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    with pytest.raises(SignatureInvalid):
        verify(new_secret(), headers, SPEC_BODY, SPEC_NOW)


def test_timestamp_outside_tolerance_is_refused_and_inside_is_accepted() -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    later = datetime.fromtimestamp(SPEC_TIMESTAMP + 301, UTC)
    with pytest.raises(SignatureInvalid, match="tolerance"):
        verify(SPEC_SECRET, headers, SPEC_BODY, later)
    assert verify(SPEC_SECRET, headers, SPEC_BODY, later, tolerance_s=400) == SPEC_ID


@pytest.mark.parametrize(
    "missing_or_bad",
    [
        {"webhook-id": ""},
        {"webhook-timestamp": "16142653.30"},
        {"webhook-signature": "v2," + SPEC_SIGNATURE[3:]},
    ],
)
def test_missing_or_malformed_headers_are_refused(missing_or_bad: dict[str, str]) -> None:
    headers = sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) | missing_or_bad
    with pytest.raises(SignatureInvalid) as caught:
        verify(SPEC_SECRET, headers, SPEC_BODY, SPEC_NOW)
    assert caught.value.field == "webhook-signature"


def test_secret_without_prefix_is_the_same_key() -> None:
    assert secret_key(SPEC_SECRET) == secret_key(SPEC_SECRET.removeprefix("whsec_"))


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_", "whsec_é"])
def test_malformed_secret_is_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        secret_key(bad)
    assert caught.value.field == "secret"


def test_new_secrets_are_prefixed_and_distinct() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert first != second
    assert len(secret_key(first)) == 24
