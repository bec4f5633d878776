"""The Sinch Outbound Campaign Interface (OBI, seed 003) at /RI/obi.

Mounted as a plugin together with the native campaign administration
(`/v1/campaigns`, `/v1/dnc`). Errors under /RI/obi use OBI's own convention
(see `rappel.api.obi.http`).
"""

from __future__ import annotations

from fastapi import FastAPI

from rappel.api.errors import ErrorRenderers
from rappel.bootstrap import Container


def plugin(app: FastAPI, _container: Container, renderers: ErrorRenderers) -> None:
    from rappel.api.native import campaign_admin
    from rappel.api.obi import campaigns, customers, http, statistics

    # OBI reads its own query parameters and JSON or XML bodies and is described in
    # docs/obi.md; the OpenAPI document holds the native API only, so all it says is true.
    for router in (campaigns.router, customers.router, statistics.router):
        app.include_router(router, include_in_schema=False)
    app.include_router(campaign_admin.router)
    renderers.register(http.PREFIX, http.render_error)
