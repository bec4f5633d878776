"""Answers to digest challenges (RFC 3261 section 22, RFC 7616): aiosipua computes the hash.

A 401 carries WWW-Authenticate and is answered with Authorization; a 407 carries
Proxy-Authenticate and is answered with Proxy-Authorization. MD5 and SHA-256 with
qop=auth or without qop are supported; anything else is an unanswerable challenge.
"""

from __future__ import annotations

from aiosipua.auth import SipDigestAuth
from aiosipua.auth import answer_challenge as _answer

from rappel.telephony.sip.messages import SipResponse

__all__ = ["credentials_for"]


def credentials_for(
    response: SipResponse, method: str, uri: str, username: str, password: str
) -> tuple[str, str] | None:
    """The (header, value) answering the 401/407 `response`, or None when it cannot be answered."""
    if response.status_code not in (401, 407) or not username:
        return None
    try:
        return _answer(
            SipDigestAuth(username, password), response, response.status_code, method, uri
        )
    except (ValueError, IndexError, KeyError):
        return None
