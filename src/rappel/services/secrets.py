"""Secrets handling: token generation and hashing, password hashing."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def new_token() -> str:
    """A 128-bit random token as 32 lower-case hex characters (the shape 8x8 tokens have)."""
    return secrets.token_hex(16)


def token_hash(token: str) -> str:
    # Tokens carry 128 random bits, so a fast unsalted hash is safe and allows indexed lookup.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_hint(token: str) -> str:
    return token[-4:]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; None (no such account) costs the same and is False."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # A hash nobody knows the password of, made with the same parameters as real ones,
    # so a sign-in for an unknown tenant or user takes as long as a wrong password.
    return _hasher.hash(secrets.token_hex(16))
