"""The list of surfaces and background services mounted by `create_app`.

Each entry is a plugin: `plugin(app, container, renderers)`. Add a surface by
appending its plugin here.
"""

from __future__ import annotations

from rappel.api.app import Plugin
from rappel.api.datadip import plugin as datadip_plugin
from rappel.api.native.webhooks import webhooks_plugin

PLUGINS: list[Plugin] = [
    webhooks_plugin,
    datadip_plugin,
]
