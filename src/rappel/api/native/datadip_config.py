"""Native API: the tenant's data-dip provider configuration and its CRM dip configurations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from rappel.api.auth import admin, container
from rappel.api.errors import answers
from rappel.bootstrap import Container
from rappel.domain.datadip import RECORD_SOURCES
from rappel.domain.ids import ID_PATTERN
from rappel.services import crm_dip_config, datadip
from rappel.services.crm_dip_config import CrmDipConfig
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["data dip"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class KeyIn(_Strict):
    key: str = Field(min_length=1, max_length=200, examples=["phone-num"])
    field: str = Field(
        max_length=200,
        json_schema_extra={"pattern": r"^(phone|externalId|attribute:[\s\S]+)$"},
        description="phone, externalId or attribute:<Name>",
        examples=["phone"],
    )


class ReturnIn(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["name"])
    source: str = Field(
        max_length=200,
        json_schema_extra={
            "pattern": f"^({'|'.join(sorted(RECORD_SOURCES))}|attribute:[\\s\\S]+)$"
        },
        description="externalId, number1..3, campaignId, result, classifier or attribute:<Name>",
        examples=["attribute:Name"],
    )
    displayToAgent: StrictBool  # the seed's name
    saveToDatabase: StrictBool  # the seed's name


class ProviderConfigBody(_Strict):
    keys: list[KeyIn] = Field(min_length=1, description="request keys in priority order")
    returns: list[ReturnIn]
    campaigns: list[Annotated[str, Field(json_schema_extra={"pattern": ID_PATTERN})]] = Field(
        default=[], description="search only these campaigns ([]: all)"
    )


class MappingIn(_Strict):
    key: str = Field(min_length=1, max_length=200, examples=["phone-num"])
    source: str = Field(
        description="customer_number, customer_number_national, udata:<n>, ext:<n>, attribute:<n>",
        examples=["customer_number_national"],
    )


class CrmDipIn(_Strict):
    url: str = Field(examples=["https://crm.example.com/datadip"])
    token: str | None = Field(
        default=None, description="bearer token; leave out to keep the stored one"
    )
    mappings: list[MappingIn]
    timeout_s: float = 2.0
    retries: int = 1
    dip_at: Literal["intake", "offer", "both"] = "intake"


class CrmDipOut(BaseModel):
    scope: str
    scope_id: str
    url: str
    token_set: bool
    mappings: list[MappingIn]
    timeout_s: float
    retries: int
    dip_at: str
    modified_at: datetime


def _out(config: CrmDipConfig) -> CrmDipOut:
    return CrmDipOut(**config.to_public())


@router.get("/datadip/provider-config", response_model=ProviderConfigBody, responses=answers(404))
def read_provider_config(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> ProviderConfigBody:
    """How this tenant answers data dips (keys, priority, returned fields and flags)."""
    config = datadip.get_provider_config(c.db, who.tenant_id)
    return ProviderConfigBody.model_validate(config.to_json())


@router.put("/datadip/provider-config", response_model=ProviderConfigBody)
def write_provider_config(
    body: ProviderConfigBody, who: Principal = Depends(admin), c: Container = Depends(container)
) -> ProviderConfigBody:
    """Set how this tenant answers data dips."""
    config = datadip.put_provider_config(c.db, c.clock, who.tenant_id, body.model_dump())
    return ProviderConfigBody.model_validate(config.to_json())


@router.get("/crm-dips", response_model=list[CrmDipOut])
def list_crm_dips(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> list[CrmDipOut]:
    """Every CRM data-dip configuration of the tenant (tokens are never shown)."""
    return [_out(cfg) for cfg in crm_dip_config.list_crm_configs(c, who.tenant_id)]


@router.get("/crm-dips/tenant", response_model=CrmDipOut, responses=answers(404))
def read_tenant_crm_dip(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> CrmDipOut:
    """The tenant's default CRM data-dip configuration."""
    return _out(crm_dip_config.get_crm_config(c, who.tenant_id, "tenant", ""))


@router.put("/crm-dips/tenant", response_model=CrmDipOut)
def write_tenant_crm_dip(
    body: CrmDipIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> CrmDipOut:
    """Set the tenant's default CRM data-dip configuration."""
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    return _out(crm_dip_config.put_crm_config(c, who.tenant_id, "tenant", "", values))


@router.delete("/crm-dips/tenant", status_code=204, responses=answers(404))
def delete_tenant_crm_dip(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Stop dipping by default (queue and campaign overrides stay)."""
    crm_dip_config.delete_crm_config(c, who.tenant_id, "tenant", "")
    return Response(status_code=204)


@router.get("/crm-dips/{scope}/{scope_id}", response_model=CrmDipOut)
def read_crm_dip(
    scope: Literal["queue", "campaign"],
    scope_id: str,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> CrmDipOut:
    """A queue's or campaign's CRM data-dip override."""
    return _out(crm_dip_config.get_crm_config(c, who.tenant_id, scope, scope_id))


@router.put("/crm-dips/{scope}/{scope_id}", response_model=CrmDipOut)
def write_crm_dip(
    scope: Literal["queue", "campaign"],
    scope_id: str,
    body: CrmDipIn,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> CrmDipOut:
    """Override the CRM data dip for one queue or campaign."""
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    return _out(crm_dip_config.put_crm_config(c, who.tenant_id, scope, scope_id, values))


@router.delete("/crm-dips/{scope}/{scope_id}", status_code=204)
def delete_crm_dip(
    scope: Literal["queue", "campaign"],
    scope_id: str,
    who: Principal = Depends(admin),
    c: Container = Depends(container),
) -> Response:
    """Remove a queue's or campaign's override (the tenant default applies again)."""
    crm_dip_config.delete_crm_config(c, who.tenant_id, scope, scope_id)
    return Response(status_code=204)
