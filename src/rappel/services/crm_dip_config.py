"""Use cases for the CRM (consumer) data-dip configuration of a tenant, queue or campaign.

The bearer token is encrypted at rest with Fernet under a key derived (HKDF)
from the application secret; it is never returned, and only decrypted in
memory at the moment of a dip. The CRM URL must pass the SSRF guard (with the
operator's `RAPPEL_OUTBOUND_ALLOW`) when it is saved, and again at every dip.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, RowMapping, select

from rappel.bootstrap import Container
from rappel.domain.crm_dip import (
    PRECEDENCE,
    CrmMapping,
    DipAt,
    Scope,
    check_retries,
    check_timeout,
    parse_mappings,
)
from rappel.domain.errors import NotFound, ValidationFailed
from rappel.domain.ids import parse_id
from rappel.integrations.ssrf import OutboundAllowlist, check_url, system_resolver
from rappel.store import datadip as store
from rappel.store import tenancy as tenancy_store
from rappel.store.tables import campaigns

DEFAULT_TIMEOUT_S = 2.0
DEFAULT_RETRIES = 1
MAX_TOKEN_LENGTH = 1000
_FIELDS = {"url", "token", "mappings", "timeout_s", "retries", "dip_at"}


@dataclass(frozen=True)
class CrmDipConfig:
    """Where and how to dip for one scope; the token is not part of it."""

    scope: Scope
    scope_id: str
    url: str
    mappings: tuple[CrmMapping, ...]
    timeout_s: float
    retries: int
    dip_at: DipAt
    modified_at: datetime

    def to_public(self) -> dict[str, Any]:
        return {
            "scope": self.scope.value,
            "scope_id": self.scope_id,
            "url": self.url,
            "token_set": True,
            "mappings": [m.to_json() for m in self.mappings],
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "dip_at": self.dip_at.value,
            "modified_at": self.modified_at,
        }


def token_cipher(secret: str) -> Fernet:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"rappel crm-dip token v1").derive(
        secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def decrypt_token(secret: str, encrypted: str) -> str | None:
    """The token, or None when it was encrypted under another secret."""
    try:
        return token_cipher(secret).decrypt(encrypted.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return None


def _config(row: RowMapping) -> CrmDipConfig:
    return CrmDipConfig(
        scope=Scope(row["scope"]),
        scope_id=row["scope_id"],
        url=row["url"],
        mappings=parse_mappings(row["mappings"]),
        timeout_s=float(row["timeout_s"]),
        retries=int(row["retries"]),
        dip_at=DipAt(row["dip_at"]),
        modified_at=row["modified_at"],
    )


def _scope(scope: str, scope_id: str) -> tuple[Scope, str]:
    try:
        kind = Scope(scope)
    except ValueError as exc:
        raise ValidationFailed("scope", "scope must be tenant, queue or campaign") from exc
    if kind is Scope.TENANT:
        return kind, ""
    return kind, parse_id(scope_id, f"{kind.value}_id")


def _check_scope_exists(conn: Connection, tenant_id: str, scope: Scope, scope_id: str) -> None:
    if scope is Scope.QUEUE and tenancy_store.get_queue(conn, tenant_id, scope_id) is None:
        raise NotFound("no such queue")
    if scope is Scope.CAMPAIGN:
        found = conn.execute(
            select(campaigns.c.id).where(
                campaigns.c.tenant_id == tenant_id, campaigns.c.id == scope_id
            )
        ).first()
        if found is None:
            raise NotFound("no such campaign")


def check_crm_url(container: Container, url: Any) -> str:
    if not isinstance(url, str):
        raise ValidationFailed("url", "url must be a string")
    allowlist = OutboundAllowlist.parse(container.settings.outbound_allow)
    check_url(url, allowlist, system_resolver)
    return url


def _check_token(token: Any) -> str:
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise ValidationFailed("token", f"token must be a string of 1 to {MAX_TOKEN_LENGTH} chars")
    # It travels as an HTTP header value: visible ASCII only, or every dip would fail.
    if not all(33 <= ord(char) <= 126 for char in token):
        raise ValidationFailed(
            "token", "token must be visible ASCII characters (no spaces, controls or accents)"
        )
    return token


def put_crm_config(
    container: Container, tenant_id: str, scope: str, scope_id: str, values: dict[str, Any]
) -> CrmDipConfig:
    """Create or replace one scope's config; `token` may be left out to keep the stored one."""
    kind, key = _scope(scope, scope_id)
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], f"unknown member {sorted(unknown)[0]!r}")
    url = check_crm_url(container, values.get("url"))
    mappings = parse_mappings(values.get("mappings"))
    timeout_s = check_timeout(float(values.get("timeout_s", DEFAULT_TIMEOUT_S)))
    retries = check_retries(int(values.get("retries", DEFAULT_RETRIES)))
    try:
        dip_at = DipAt(values.get("dip_at", DipAt.INTAKE.value))
    except ValueError as exc:
        raise ValidationFailed("dip_at", "dip_at must be intake, offer or both") from exc
    token = values.get("token")
    if token is not None:
        token = _check_token(token)
    with container.db.begin() as conn:
        _check_scope_exists(conn, tenant_id, kind, key)
        existing = store.get_crm_config(conn, tenant_id, kind.value, key)
        if token is None and existing is None:
            raise ValidationFailed("token", "a new CRM configuration needs the bearer token")
        encrypted = (
            token_cipher(container.secret).encrypt(token.encode()).decode()
            if token is not None
            else str(existing["token_encrypted"])
            if existing is not None
            else ""
        )
        store.put_crm_config(
            conn,
            {
                "tenant_id": tenant_id,
                "scope": kind.value,
                "scope_id": key,
                "url": url,
                "token_encrypted": encrypted,
                "mappings": [m.to_json() for m in mappings],
                "timeout_s": timeout_s,
                "retries": retries,
                "dip_at": dip_at.value,
                "modified_at": container.clock.now(),
            },
        )
        row = store.get_crm_config(conn, tenant_id, kind.value, key)
    assert row is not None
    return _config(row)


def get_crm_config(container: Container, tenant_id: str, scope: str, scope_id: str) -> CrmDipConfig:
    kind, key = _scope(scope, scope_id)
    with container.db.read() as conn:
        row = store.get_crm_config(conn, tenant_id, kind.value, key)
    if row is None:
        raise NotFound(f"no CRM data-dip configuration for this {kind.value}")
    return _config(row)


def list_crm_configs(container: Container, tenant_id: str) -> list[CrmDipConfig]:
    with container.db.read() as conn:
        return [_config(row) for row in store.list_crm_configs(conn, tenant_id)]


def delete_crm_config(container: Container, tenant_id: str, scope: str, scope_id: str) -> None:
    kind, key = _scope(scope, scope_id)
    with container.db.begin() as conn:
        if not store.delete_crm_config(conn, tenant_id, kind.value, key):
            raise NotFound(f"no CRM data-dip configuration for this {kind.value}")


def applicable_config(
    configs: Iterable[RowMapping], campaign_id: str | None, queue_id: str | None
) -> tuple[CrmDipConfig, str] | None:
    """The most specific of a tenant's configs for an interaction, with its encrypted token."""
    wanted = {"tenant": "", "campaign": campaign_id, "queue": queue_id}
    rows = {row["scope"]: row for row in configs if wanted.get(row["scope"]) == row["scope_id"]}
    for scope in PRECEDENCE:
        row = rows.get(scope.value)
        if row is not None:
            return _config(row), str(row["token_encrypted"])
    return None
