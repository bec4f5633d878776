"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.responses import JSONResponse, Response

from rappel.api.auth import container
from rappel.bootstrap import Container

router = APIRouter(tags=["operations"])


class HttpMetrics:
    """Request counts and latencies by route template (never by raw path: ids would explode it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "rappel_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "rappel_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )


def install_metrics(app: FastAPI, metrics: HttpMetrics) -> None:
    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        metrics.latency.labels(request.method, template).observe(time.perf_counter() - started)
        return response


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(c: Container = Depends(container)) -> Response:
    """The database answers, so requests can be served."""
    if c.db.ping():
        return JSONResponse({"status": "ready", "database": c.db.dialect})
    return JSONResponse({"status": "unavailable", "database": c.db.dialect}, status_code=503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    registry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
