"""The FastAPI application: every surface mounted on one container."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from rappel import __version__
from rappel.api import openapi, ops
from rappel.api.body_limit import BodyLimit
from rappel.api.errors import ErrorRenderers, install_error_handlers
from rappel.api.native import provisioning, session, tenancy
from rappel.api.text_guard import TextGuard
from rappel.bootstrap import Container

#: Extra routers and start-up hooks registered by later layers (surfaces, engine).
Plugin = Callable[[FastAPI, Container, ErrorRenderers], None]
_PLUGINS: list[Plugin] = []


def register_plugin(plugin: Plugin) -> Plugin:
    _PLUGINS.append(plugin)
    return plugin


def create_app(container: Container, plugins: list[Plugin] | None = None) -> FastAPI:
    """Build the app. Background work (engine, outbox) starts in the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for hook in app.state.startup_hooks:
                await stack.enter_async_context(hook(container))
            yield

    app = FastAPI(
        title="Rappel",
        version=__version__,
        description="Contact-center web callbacks and outbound campaigns.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.registry = CollectorRegistry()
    app.state.startup_hooks = []
    renderers = ErrorRenderers()
    install_error_handlers(app, renderers)
    app.add_middleware(TextGuard, renderers=renderers)
    # Added last, so it runs first: TextGuard reads and parses a body it lets through.
    app.add_middleware(BodyLimit, renderers=renderers, limit=container.settings.max_body_bytes)
    ops.install_metrics(app, ops.HttpMetrics(app.state.registry))
    ops.install_trunk_metrics(app.state.registry, container)
    # Routes match in order: the surfaces (intake first) before the administration API.
    for plugin in plugins if plugins is not None else default_plugins():
        plugin(app, container, renderers)
    for router in (ops.router, tenancy.router, provisioning.router, session.router):
        app.include_router(router)
    openapi.install(app)
    return app


def default_plugins() -> list[Plugin]:
    """Every surface shipped with Rappel; imported lazily so a broken one names itself."""
    from rappel.api import surfaces

    return [*surfaces.PLUGINS, *_PLUGINS]


def include(router: APIRouter) -> Plugin:
    def plugin(app: FastAPI, _c: Container, _r: ErrorRenderers) -> None:
        app.include_router(router)

    return plugin
