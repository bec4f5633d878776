"""Request and response bodies of the native API (kept apart from domain objects)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Literal

import phonenumbers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, StrictBool
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from rappel.domain.ids import ID_PATTERN


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: The tenant checks of `domain.tenancy`, stated for the document.
_TENANT_NAME: JsonDict = {"pattern": r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$"}
_ZONE: JsonDict = {"enum": list[JsonValue](sorted(zoneinfo.available_timezones()))}
_DIGITS: JsonDict = {"pattern": r"^\+?[0-9]{3,20}$"}
_PLAN_ID: JsonDict = {"minimum": 1, "maximum": 10**9 - 1}
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN: JsonDict = {"pattern": rf"^(?=.{{1,253}}$)({_LABEL}\.)*[A-Za-z0-9-]{{1,63}}\.?$"}
_ORIGIN: JsonDict = {"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$"}
_HHMM: JsonDict = {"pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_CAP: JsonDict = {"minimum": 1, "maximum": 1_000_000}


class TenantIn(Strict):
    name: str = Field(min_length=1, max_length=100, json_schema_extra=_TENANT_NAME)
    enabled: StrictBool = True
    web_callback_enabled: StrictBool = True
    time_zone: str = Field(default="UTC", json_schema_extra=_ZONE)
    default_caller_id: str | None = Field(default=None, json_schema_extra=_DIGITS)
    default_dial_plan_id: int | None = Field(default=None, json_schema_extra=_PLAN_ID)
    back_domains: list[Annotated[str, Field(json_schema_extra=_DOMAIN)]] = []
    widget_origins: list[Annotated[str, Field(json_schema_extra=_ORIGIN)]] = []
    hard_hours_start: str = Field(default="08:00", json_schema_extra=_HHMM)
    hard_hours_end: str = Field(default="21:00", json_schema_extra=_HHMM)
    max_callbacks_per_number_hour: int = Field(default=5, json_schema_extra=_CAP)
    max_callbacks_per_tenant_hour: int = Field(default=10000, json_schema_extra=_CAP)


class TenantPatch(Strict):
    """Only the fields given change; only the two defaults may be set to null."""

    name: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_TENANT_NAME)
    enabled: StrictBool | SkipJsonSchema[None] = None
    web_callback_enabled: StrictBool | SkipJsonSchema[None] = None
    time_zone: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_ZONE)
    default_caller_id: str | None = Field(default=None, json_schema_extra=_DIGITS)
    default_dial_plan_id: int | None = Field(default=None, json_schema_extra=_PLAN_ID)
    back_domains: list[Annotated[str, Field(json_schema_extra=_DOMAIN)]] | SkipJsonSchema[None] = (
        None
    )
    widget_origins: (
        list[Annotated[str, Field(json_schema_extra=_ORIGIN)]] | SkipJsonSchema[None]
    ) = None
    hard_hours_start: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_HHMM)
    hard_hours_end: str | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_HHMM)
    max_callbacks_per_number_hour: int | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_CAP
    )
    max_callbacks_per_tenant_hour: int | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_CAP
    )


class TenantOut(BaseModel):
    id: str
    name: str
    enabled: StrictBool
    web_callback_enabled: StrictBool
    time_zone: str
    default_caller_id: str | None
    default_dial_plan_id: int | None
    back_domains: list[str]
    widget_origins: list[str]
    hard_hours_start: str
    hard_hours_end: str
    max_callbacks_per_number_hour: int
    max_callbacks_per_tenant_hour: int


class TokenIn(Strict):
    label: str = Field(default="", max_length=200)
    kind: Literal["api", "datadip"] = "api"


class TokenIssued(BaseModel):
    id: str
    label: str
    kind: str
    token: str = Field(description="The secret; shown once, only its hash is kept.")


class TokenOut(BaseModel):
    id: str
    label: str
    kind: str
    hint: str
    created_at: datetime
    revoked_at: datetime | None


class ChannelIn(Strict):
    number: str
    name: str = ""
    ivr_script: str | None = None
    enabled: StrictBool = True
    usable_as_caller_id: StrictBool = True


class ChannelPatch(Strict):
    name: str | None = None
    ivr_script: str | None = None
    enabled: StrictBool | None = None
    usable_as_caller_id: StrictBool | None = None


class ChannelOut(BaseModel):
    number: str
    name: str
    ivr_script: str | None
    enabled: StrictBool
    usable_as_caller_id: StrictBool


class QueueIn(Strict):
    id: str | None = Field(default=None, json_schema_extra={"pattern": ID_PATTERN})
    short_id: int | None = Field(default=None, json_schema_extra={"minimum": 1})
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": r"\S"})
    direction: Literal["inbound", "outbound"] = "outbound"
    enabled: StrictBool = True


class QueuePatch(Strict):
    # Absent leaves a field as it is; none of these can be set to null.
    name: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"minLength": 1, "maxLength": 200, "pattern": r"\S"}
    )
    direction: Literal["inbound", "outbound"] | SkipJsonSchema[None] = None
    enabled: StrictBool | SkipJsonSchema[None] = None


class QueueOut(BaseModel):
    id: str
    short_id: int
    name: str
    direction: str
    enabled: StrictBool


class PrefixRule(Strict):
    match: str = Field(json_schema_extra={"pattern": r"^\+?[0-9]{1,8}$"})
    replace: str = Field(default="", json_schema_extra={"pattern": r"^\+?[0-9]{0,8}$"})


def _no_bool(value: object) -> object:
    # JSON true is no integer (lax pydantic reads it as 1), though 1.0 is one.
    if isinstance(value, bool):
        raise ValueError("an integer is required, not a boolean")
    return value


class DialPlanIn(Strict):
    plan_id: Annotated[int, BeforeValidator(_no_bool)]
    name: str = ""
    default_region: str = Field(
        json_schema_extra={"enum": list[JsonValue](sorted(phonenumbers.SUPPORTED_REGIONS))}
    )
    prefix_rules: list[PrefixRule] = []


class DialPlanOut(BaseModel):
    plan_id: int
    name: str
    default_region: str
    prefix_rules: list[PrefixRule]


PHONE_DOC = (
    "Where an agent takes calls: a SIP URI (sip:agent1@10.0.0.5:5060) or a number sent "
    "through the trunk; null removes it. Needed to go READY on a SIP node."
)


class UserIn(Strict):
    id: str | None = Field(default=None, json_schema_extra={"pattern": ID_PATTERN})
    username: str
    password: str = Field(json_schema_extra={"minLength": 8, "maxLength": 200})
    display_name: str | None = None
    role: Literal["admin", "supervisor", "agent"] = "agent"
    enabled: StrictBool = True
    default_caller_id: str | None = None
    queue_ids: list[str] = []
    phone: str | None = Field(default=None, max_length=255, description=PHONE_DOC)


class UserPatch(Strict):
    password: str | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"minLength": 8, "maxLength": 200}
    )
    display_name: str | None = None
    role: Literal["admin", "supervisor", "agent"] | SkipJsonSchema[None] = None
    enabled: StrictBool | SkipJsonSchema[None] = None
    default_caller_id: str | None = None
    queue_ids: list[str] | SkipJsonSchema[None] = None
    phone: str | None = Field(default=None, max_length=255, description=PHONE_DOC)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    enabled: StrictBool
    default_caller_id: str | None
    queue_ids: list[str]
    phone: str | None = None


class LoginIn(Strict):
    tenant: str
    username: str
    password: str


class Me(BaseModel):
    tenant_id: str
    tenant_name: str
    role: str
    user_id: str | None
