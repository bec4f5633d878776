"""Operations: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import APIRouter, Depends, FastAPI, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class MetricsMiddleware:
    """Counts and times every HTTP request.

    Plain ASGI rather than `@app.middleware("http")`: that wrapper streams each
    response through a task group and memory channel, which costs more than many
    of the requests it measures.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router records the matched route in the shared scope.
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, metrics: HttpMetrics) -> None:
    app.add_middleware(MetricsMiddleware, metrics=metrics)


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(c: Container = Depends(container)) -> Response:
    """The database answers, so requests can be served; the SIP trunk's health when it has one.

    A trunk that stopped answering OPTIONS does not make the node unready (it
    still takes and stores callbacks), but `status` says `degraded`.
    """
    body: dict[str, object] = {"status": "ready", "database": c.db.dialect}
    health = c.parts.get("trunk_health")
    if health is not None:
        body["telephony"] = {"driver": c.settings.telephony, **health.as_dict()}
        if health.alive is False:
            body["status"] = "degraded"
    if c.db.ping():
        return JSONResponse(body)
    return JSONResponse({**body, "status": "unavailable"}, status_code=503)


class TrunkCollector:
    """The SIP trunk's health as Prometheus gauges, read at each scrape."""

    def __init__(self, c: Container) -> None:
        self._container = c

    def collect(self) -> Iterator[GaugeMetricFamily]:
        health = self._container.parts.get("trunk_health")
        if health is None:
            return
        up = GaugeMetricFamily(
            "rappel_sip_trunk_up", "1 when the trunk answered the last OPTIONS probe"
        )
        up.add_metric([], 1.0 if health.alive else 0.0)
        yield up
        calls = GaugeMetricFamily("rappel_sip_trunk_calls", "calls through the trunk now")
        calls.add_metric([], float(health.active_calls))
        yield calls


def install_trunk_metrics(registry: CollectorRegistry, c: Container) -> None:
    registry.register(TrunkCollector(c))


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    registry = request.app.state.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
