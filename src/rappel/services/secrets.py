"""Secrets handling: token generation and hashing, password hashing."""

from __future__ import annotations

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


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
