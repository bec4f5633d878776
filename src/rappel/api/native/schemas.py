"""Request and response bodies of the native API (kept apart from domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    web_callback_enabled: bool = True
    time_zone: str = "UTC"
    default_caller_id: str | None = None
    default_dial_plan_id: int | None = None
    back_domains: list[str] = []
    widget_origins: list[str] = []
    hard_hours_start: str = "08:00"
    hard_hours_end: str = "21:00"
    max_callbacks_per_number_hour: int = 5
    max_callbacks_per_tenant_hour: int = 10000


class TenantPatch(Strict):
    name: str | None = None
    enabled: bool | None = None
    web_callback_enabled: bool | None = None
    time_zone: str | None = None
    default_caller_id: str | None = None
    default_dial_plan_id: int | None = None
    back_domains: list[str] | None = None
    widget_origins: list[str] | None = None
    hard_hours_start: str | None = None
    hard_hours_end: str | None = None
    max_callbacks_per_number_hour: int | None = None
    max_callbacks_per_tenant_hour: int | None = None


class TenantOut(BaseModel):
    id: str
    name: str
    enabled: bool
    web_callback_enabled: bool
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
    enabled: bool = True
    usable_as_caller_id: bool = True


class ChannelPatch(Strict):
    name: str | None = None
    ivr_script: str | None = None
    enabled: bool | None = None
    usable_as_caller_id: bool | None = None


class ChannelOut(BaseModel):
    number: str
    name: str
    ivr_script: str | None
    enabled: bool
    usable_as_caller_id: bool


class QueueIn(Strict):
    id: str | None = None
    short_id: int | None = None
    name: str
    direction: Literal["inbound", "outbound"] = "outbound"
    enabled: bool = True


class QueuePatch(Strict):
    name: str | None = None
    direction: Literal["inbound", "outbound"] | None = None
    enabled: bool | None = None


class QueueOut(BaseModel):
    id: str
    short_id: int
    name: str
    direction: str
    enabled: bool


class PrefixRule(Strict):
    match: str = Field(json_schema_extra={"pattern": r"^\+?[0-9]{1,8}$"})
    replace: str = Field(default="", json_schema_extra={"pattern": r"^\+?[0-9]{0,8}$"})


class DialPlanIn(Strict):
    plan_id: StrictInt
    name: str = ""
    default_region: str
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
    id: str | None = None
    username: str
    password: str
    display_name: str | None = None
    role: Literal["admin", "supervisor", "agent"] = "agent"
    enabled: bool = True
    default_caller_id: str | None = None
    queue_ids: list[str] = []
    phone: str | None = Field(default=None, max_length=255, description=PHONE_DOC)


class UserPatch(Strict):
    password: str | None = None
    display_name: str | None = None
    role: Literal["admin", "supervisor", "agent"] | None = None
    enabled: bool | None = None
    default_caller_id: str | None = None
    queue_ids: list[str] | None = None
    phone: str | None = Field(default=None, max_length=255, description=PHONE_DOC)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    role: str
    enabled: bool
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
