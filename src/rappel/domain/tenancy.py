"""Tenants and what they provision: tokens, channels, queues, dial plans, users."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rappel.domain.errors import ValidationFailed


class QueueDirection(StrEnum):
    INBOUND = "inbound"  #: customers call in; not usable for web callbacks
    OUTBOUND = "outbound"  #: Rappel calls out; web callbacks and campaigns


class Role(StrEnum):
    ADMIN = "admin"  #: manages the tenant's provisioning
    SUPERVISOR = "supervisor"  #: watches queues, agents and campaigns; starts and stops campaigns
    AGENT = "agent"  #: takes calls


class TokenKind(StrEnum):
    API = "api"  #: opens every tenant surface (native, 8x8, Nixxis, OBI)
    DATADIP = "datadip"  #: opens only the data-dip provider endpoint


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    enabled: bool
    web_callback_enabled: bool
    time_zone: str
    default_caller_id: str | None
    default_dial_plan_id: int | None
    back_domains: list[str] = field(default_factory=list)
    widget_origins: list[str] = field(default_factory=list)
    hard_hours_start: str = "08:00"
    hard_hours_end: str = "21:00"
    max_callbacks_per_number_hour: int = 5
    max_callbacks_per_tenant_hour: int = 10000
    created_at: datetime | None = None

    def allows_back_url_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.back_domains)


@dataclass(frozen=True)
class Channel:
    number: str
    name: str
    ivr_script: str | None
    enabled: bool
    usable_as_caller_id: bool


@dataclass(frozen=True)
class Queue:
    id: str
    short_id: int
    name: str
    direction: QueueDirection
    enabled: bool


@dataclass(frozen=True)
class User:
    id: str
    username: str
    display_name: str
    role: Role
    enabled: bool
    default_caller_id: str | None
    queue_ids: tuple[str, ...] = ()
    #: Where the agent takes calls: a SIP URI or a number sent through the trunk.
    phone: str | None = None


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_DIGITS = re.compile(r"^\+?[0-9]{3,20}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def check_tenant_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationFailed("name", "tenant name must be 1-100 letters, digits, space . _ -")
    return name


def check_time_zone(zone: str, field_name: str = "time_zone") -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(field_name, f"unknown time zone {zone!r}") from exc
    return zone


def check_number(number: str, field_name: str) -> str:
    if not _DIGITS.match(number):
        raise ValidationFailed(field_name, f"{field_name} must be 3-20 digits")
    return number.lstrip("+")


# A SIP or SIPS URI of an agent's phone: user@host[:port] with optional ;params. Only
# characters that are safe to put in a Request-URI and a To header without quoting.
_SIP_PHONE = re.compile(
    r"^sips?:(?:[A-Za-z0-9._~!$&'()*+,;=?/-]|%[0-9A-Fa-f]{2}){1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?:;[A-Za-z0-9_.!~*'-]{1,32}(?:=[A-Za-z0-9_.!~*'-]{1,64})?){0,8}$"
)


def check_agent_phone(phone: str, field_name: str = "phone") -> str:
    """An agent's phone: `sip:agent1@10.0.0.5:5060` (sips: too) or a number for the trunk."""
    phone = phone.strip()
    if phone.lower().startswith(("sip:", "sips:")):
        found = _SIP_PHONE.match(phone)
        port = found.group("port") if found else None
        if found is None or len(phone) > 255 or (port is not None and not 0 < int(port) < 65536):
            raise ValidationFailed(
                field_name, "phone must be a SIP URI like sip:agent1@10.0.0.5:5060 or 3-20 digits"
            )
        return phone
    if not _DIGITS.match(phone):
        raise ValidationFailed(
            field_name, "phone must be a SIP URI like sip:agent1@10.0.0.5:5060 or 3-20 digits"
        )
    return phone.lstrip("+")


def check_domains(domains: list[str]) -> list[str]:
    cleaned = [d.strip().lower().rstrip(".") for d in domains]
    for d in cleaned:
        if not _DOMAIN.match(d):
            raise ValidationFailed("back_domains", f"not a domain name: {d!r}")
    return cleaned


def check_origins(origins: list[str]) -> list[str]:
    cleaned = [o.strip().lower().rstrip("/") for o in origins]
    for o in cleaned:
        if not _ORIGIN.match(o):
            raise ValidationFailed("widget_origins", f"not an origin (scheme://host[:port]): {o!r}")
    return cleaned


def check_hhmm(value: str, field_name: str) -> time:
    if not _HHMM.match(value):
        raise ValidationFailed(field_name, f"{field_name} must be HH:MM")
    return time.fromisoformat(value)


def check_username(username: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$", username):
        raise ValidationFailed("username", "username must be 1-100 letters, digits, . _ @ -")
    return username


def check_password(password: str) -> str:
    if len(password) < 8 or len(password) > 200:
        raise ValidationFailed("password", "password must be 8-200 characters")
    return password
