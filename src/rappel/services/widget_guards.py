"""What stands between the public widget and the intake: rate limits and a CAPTCHA check.

The limits are in-process sliding windows: each API node counts on its own, so
with N nodes behind a load balancer a visitor may get up to N times the limit.
The intake's own per-number and per-tenant limits (stored in the database)
still hold across nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from rappel.clock import Clock
from rappel.services.rate_limits import SlidingWindowLimiter


class CaptchaVerifier(Protocol):
    """Checks the token a CAPTCHA widget gave the visitor; True when it is a human."""

    def verify(self, token: str, remote_ip: str) -> bool: ...


class NoCaptcha:
    """The default: no CAPTCHA is asked for, every request passes."""

    enabled = False

    def verify(self, token: str, remote_ip: str) -> bool:
        return True


class HttpCaptcha:
    """A siteverify-style service (reCAPTCHA, hCaptcha, Turnstile all speak it).

    POSTs form fields `secret`, `response` and `remoteip` to the verify URL and
    reads `success` from the JSON answer. An unreachable service fails closed.
    """

    enabled = True

    def __init__(self, verify_url: str, secret: str, timeout_s: float = 5.0) -> None:
        self.verify_url = verify_url
        self._secret = secret
        self._timeout_s = timeout_s

    def verify(self, token: str, remote_ip: str) -> bool:
        if not token:
            return False
        form = {"secret": self._secret, "response": token, "remoteip": remote_ip}
        try:
            with httpx.Client(timeout=self._timeout_s, follow_redirects=False) as client:
                answer = client.post(self.verify_url, data=form)
            return answer.status_code == 200 and answer.json().get("success") is True
        except (httpx.HTTPError, ValueError, AttributeError):
            return False


@dataclass
class WidgetGuards:
    """The limiters and the CAPTCHA verifier of one API node."""

    per_ip: SlidingWindowLimiter
    per_phone: SlidingWindowLimiter
    captcha: CaptchaVerifier

    @classmethod
    def build(
        cls,
        clock: Clock,
        ip_per_hour: int,
        phone_per_hour: int,
        captcha_verify_url: str = "",
        captcha_secret: str = "",
    ) -> WidgetGuards:
        captcha: CaptchaVerifier = (
            HttpCaptcha(captcha_verify_url, captcha_secret) if captcha_verify_url else NoCaptcha()
        )
        return cls(
            per_ip=SlidingWindowLimiter(ip_per_hour, 3600, clock),
            per_phone=SlidingWindowLimiter(phone_per_hour, 3600, clock),
            captcha=captcha,
        )
