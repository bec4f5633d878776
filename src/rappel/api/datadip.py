"""The data-dip provider surface (seed 004): `POST /datadip` and `POST /v1/datadip`.

Authentication is `Authorization: Bearer <data-dip token>` (tokens of kind
`datadip`; API tokens are refused here and data-dip tokens everywhere else).
Errors are problem+json: 401 no or wrong token, 400 not UTF-8 or not a JSON
object (or an unpaired surrogate escape), 413 over 16 KiB, 422 a non-string,
too long or NUL-holding value or an unknown key, 404 no configuration.

The plugin also mounts the native configuration routes, starts the CRM
dipper with the app (so dips started from worker threads have a loop to run
on), and exposes the dipper's counters and circuit states as metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from rappel.api.auth import app_container
from rappel.api.errors import ErrorRenderers, answers, problem_renderer
from rappel.api.native import datadip_config
from rappel.api.signin import token_attempt
from rappel.bootstrap import Container
from rappel.domain.crm_dip import DipStage
from rappel.domain.datadip import MAX_REQUEST_BYTES
from rappel.domain.errors import Unauthenticated
from rappel.domain.tenancy import TokenKind
from rappel.integrations.circuit import CircuitState
from rappel.services import crm_dip, datadip
from rappel.services.tenancy import authenticate_token_on

router = APIRouter(tags=["data dip"], responses=answers(404, 413))

_EXAMPLE_REQUEST = {"account-num": "76541643", "phone-num": "8015551234"}
_OPENAPI: dict[str, Any] = {
    "security": [{"datadipToken": []}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}},
                "example": _EXAMPLE_REQUEST,
            }
        },
    },
}


async def _answer(request: Request) -> JSONResponse:
    c = app_container(request)
    scheme, _, token = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <data-dip token>")
    with token_attempt(request, c):
        body = await _body(request)
        result = await run_in_threadpool(_dip, c, token.strip(), body)
    return JSONResponse(result)


def _dip(c: Container, token: str, body: bytes) -> dict[str, Any]:
    # Token check and lookup share one pooled connection: one checkout, one ping.
    with c.db.read() as conn:
        who = authenticate_token_on(conn, token, TokenKind.DATADIP, c.tenancy)
        return datadip.answer_dip_on(conn, who.tenant_id, body)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise HTTPException(413, f"the body is larger than {MAX_REQUEST_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise HTTPException(413, f"the body is larger than {MAX_REQUEST_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/datadip", openapi_extra=_OPENAPI)
async def data_dip(request: Request) -> JSONResponse:
    """Answer a data dip: `{"parameters": {name: {value, displayToAgent, saveToDatabase}}}`."""
    return await _answer(request)


@router.post("/v1/datadip", openapi_extra=_OPENAPI)
async def data_dip_v1(request: Request) -> JSONResponse:
    """The same data dip under the native prefix."""
    return await _answer(request)


_STATE_VALUE = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


class DipMetrics(Collector):
    """CRM dip outcomes and circuit breaker states, read from the dipper at scrape time."""

    def __init__(self, c: Container) -> None:
        self._container = c

    def collect(self) -> Iterable[Metric]:
        dipper = self._container.parts.get(crm_dip.PART)
        dips = CounterMetricFamily(
            "rappel_crm_dips", "CRM data dips by outcome", labels=["outcome"]
        )
        states = GaugeMetricFamily(
            "rappel_crm_dip_circuit_state",
            "CRM circuit breaker: 0 closed, 1 half-open, 2 open",
            labels=["crm"],
        )
        open_now = GaugeMetricFamily(
            "rappel_crm_dip_circuits_open", "CRMs whose circuit is open or half-open"
        )
        opened = CounterMetricFamily("rappel_crm_dip_circuit_opened", "Times a CRM circuit opened")
        rejected = CounterMetricFamily(
            "rappel_crm_dip_circuit_rejected", "Dips refused at once because the circuit was open"
        )
        if isinstance(dipper, crm_dip.CrmDipper):
            for outcome in ("ok", "failed"):
                dips.add_metric([outcome], dipper.outcomes[outcome])
            for url in sorted(dipper.urls):
                states.add_metric([_crm_label(url)], _STATE_VALUE[dipper.breaker.state(url)])
            open_now.add_metric([], dipper.breaker.open_count)
            opened.add_metric([], dipper.breaker.opened_total)
            rejected.add_metric([], dipper.breaker.rejected_total)
        else:
            open_now.add_metric([], 0)
        return [dips, states, open_now, opened, rejected]


def _crm_label(url: str) -> str:
    # Query strings can carry credentials; the label keeps scheme, host, port and path.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _dipper_lifespan(c: Container) -> Any:
    @asynccontextmanager
    async def running() -> AsyncIterator[None]:
        dipper = crm_dip.dipper_for(c)
        dipper.loop = asyncio.get_running_loop()

        async def dip_at_intake(tenant_id: str, interaction_id: str) -> None:
            await crm_dip.dip_for_interaction(c, tenant_id, interaction_id, DipStage.INTAKE)

        c.after_intake.append(dip_at_intake)
        try:
            yield
        finally:
            c.after_intake.remove(dip_at_intake)
            await dipper.aclose()
            dipper.loop = None

    return running()


def plugin(app: FastAPI, c: Container, renderers: ErrorRenderers) -> None:
    app.include_router(router)
    app.include_router(datadip_config.router)
    # A longer prefix than any other surface's ("/data" is Nixxis ContextData's).
    renderers.register("/datadip", problem_renderer)
    app.state.registry.register(DipMetrics(c))
    app.state.startup_hooks.append(_dipper_lifespan)
