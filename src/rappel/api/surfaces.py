"""The list of surfaces and background services mounted by `create_app`.

Each entry is a plugin: `plugin(app, container, renderers)`. Add a surface by
appending its plugin here.
"""

from __future__ import annotations

from rappel.api import contextdata, web, webcallback, widget
from rappel.api.app import Plugin
from rappel.api.datadip import plugin as datadip_plugin
from rappel.api.native import agent as native_agent
from rappel.api.native import callbacks as native_callbacks
from rappel.api.native import dashboard
from rappel.api.native import interactions as native_interactions
from rappel.api.native import preview as native_preview
from rappel.api.native.webhooks import webhooks_plugin
from rappel.api.obi import plugin as obi_plugin
from rappel.engine.worker import engine_plugin

PLUGINS: list[Plugin] = [
    webcallback.plugin,
    contextdata.plugin,
    native_interactions.plugin,
    native_callbacks.plugin,
    webhooks_plugin,
    datadip_plugin,
    widget.plugin,
    web.plugin,
    dashboard.plugin,
    obi_plugin,
    native_agent.plugin,
    native_preview.plugin,
    engine_plugin,
]
