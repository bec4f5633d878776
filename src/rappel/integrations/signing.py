"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A webhook carries three headers:

- `webhook-id`: the message id, the same on every retry of one delivery;
- `webhook-timestamp`: integer Unix seconds of this attempt;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`,
  possibly several space-separated entries while a secret is being rotated.

The secret is `whsec_` followed by base64 of the key bytes, so receivers can
verify with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from rappel.domain.errors import ValidationFailed

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class SignatureInvalid(ValidationFailed):
    """A webhook's signature headers are missing, stale or do not match."""

    def __init__(self, message: str) -> None:
        super().__init__("webhook-signature", message)


def new_secret(size: int = 24) -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The key bytes of a `whsec_...` secret; ValidationFailed when it is not base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("secret", "webhook secret is not base64 after whsec_") from exc
    if not key:
        raise ValidationFailed("secret", "webhook secret is empty")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature entry."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(secrets_: Sequence[str] | str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers for one attempt; several secrets sign during a rotation."""
    keys = [secrets_] if isinstance(secrets_, str) else list(secrets_)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(key, msg_id, timestamp, body) for key in keys),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> str:
    """Check the headers against `body`; return the message id or raise SignatureInvalid."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    given = lowered.get("webhook-signature")
    if not msg_id or not stamp or not given:
        raise SignatureInvalid("webhook-id, webhook-timestamp and webhook-signature are required")
    if not stamp.isascii() or not stamp.isdigit():
        raise SignatureInvalid("webhook-timestamp is not integer seconds")
    timestamp = int(stamp)
    if abs(now.timestamp() - timestamp) > tolerance_s:
        raise SignatureInvalid("webhook-timestamp is outside the tolerance")
    expected = signature(secret, msg_id, timestamp, body).encode()
    for entry in given.split():
        if entry.startswith("v1,") and hmac.compare_digest(entry.encode(), expected):
            return msg_id
    raise SignatureInvalid("no v1 signature matches")
