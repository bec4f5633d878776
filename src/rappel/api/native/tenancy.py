"""Native API: the caller's tenant, its tokens, and operator-level tenant creation."""

from __future__ import annotations

import hmac
from dataclasses import asdict

from fastapi import APIRouter, Depends, Request, Response

from rappel.api.auth import admin, container, credential_from_header
from rappel.api.native.schemas import (
    TenantIn,
    TenantOut,
    TenantPatch,
    TokenIn,
    TokenIssued,
    TokenOut,
)
from rappel.api.signin import token_attempt
from rappel.bootstrap import Container
from rappel.domain.errors import Unauthenticated
from rappel.domain.tenancy import Tenant, TokenKind
from rappel.services import tenancy
from rappel.services.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["tenancy"])


def _out(tenant: Tenant) -> TenantOut:
    data = asdict(tenant)
    data.pop("created_at", None)
    return TenantOut(**data)


def operator(request: Request, c: Container = Depends(container)) -> None:
    token = credential_from_header(request.headers.get("authorization"))
    expected = c.settings.operator_token
    if not expected or not token:
        raise Unauthenticated("the operator token is required (RAPPEL_OPERATOR_TOKEN)")
    with token_attempt(request, c):
        # compare_digest refuses str with non-ASCII characters (a raw UTF-8 header arrives as
        # Latin-1 text), so both sides are compared as bytes: such a token is simply wrong.
        if not hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
        ):
            raise Unauthenticated("the operator token is required (RAPPEL_OPERATOR_TOKEN)")


@router.get("/tenant", response_model=TenantOut)
def read_own_tenant(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> TenantOut:
    """The caller's tenant."""
    return _out(tenancy.get_tenant(c.db, who.tenant_id))


@router.patch("/tenant", response_model=TenantOut)
def update_own_tenant(
    body: TenantPatch, who: Principal = Depends(admin), c: Container = Depends(container)
) -> TenantOut:
    """Change the caller's tenant settings."""
    changes = body.model_dump(exclude_unset=True)
    return _out(tenancy.update_tenant(c.db, who.tenant_id, changes))


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    who: Principal = Depends(admin), c: Container = Depends(container)
) -> list[TokenOut]:
    """The tenant's tokens, without their secrets."""
    return [TokenOut(**t) for t in tenancy.list_tokens(c.db, who.tenant_id)]


@router.post("/tokens", response_model=TokenIssued, status_code=201)
def create_token(
    body: TokenIn, who: Principal = Depends(admin), c: Container = Depends(container)
) -> TokenIssued:
    """Issue a token; the secret is in this answer only."""
    issued = tenancy.create_token(c.db, c.clock, who.tenant_id, body.label, TokenKind(body.kind))
    return TokenIssued(id=issued.id, label=issued.label, kind=issued.kind.value, token=issued.token)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: str, who: Principal = Depends(admin), c: Container = Depends(container)
) -> Response:
    """Revoke a token; it stops working at once."""
    tenancy.revoke_token(c.db, c.clock, who.tenant_id, token_id.upper())
    return Response(status_code=204)


@router.get("/tenants", response_model=list[TenantOut], dependencies=[Depends(operator)])
def list_tenants(c: Container = Depends(container)) -> list[TenantOut]:
    """Every tenant (operator token only)."""
    return [_out(t) for t in tenancy.list_tenants(c.db)]


@router.post(
    "/tenants", response_model=TenantOut, status_code=201, dependencies=[Depends(operator)]
)
def create_tenant(body: TenantIn, c: Container = Depends(container)) -> TenantOut:
    """Create a tenant (operator token only)."""
    return _out(tenancy.create_tenant(c.db, c.clock, body.model_dump()))
