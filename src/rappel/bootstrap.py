"""The composition root: builds Rappel's parts from settings and wires them together.

Nothing connects at import time; `build_container` is called by the CLI and by tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rappel.clock import Clock, WallClock
from rappel.config import Settings, ensure_secret
from rappel.store.db import Database
from rappel.store.tenancy_cache import TenancyCache

#: Called (not awaited by the request) after a new callback is committed, with
#: (tenant_id, interaction_id): the data dip at intake registers one.
IntakeHook = Callable[[str, str], Awaitable[None] | None]


@dataclass
class Container:
    """Everything a surface or a worker needs, built once per process."""

    settings: Settings
    db: Database
    clock: Clock
    secret: str
    #: Tenancy rows read on hot paths (intake), checked against `tenancy_version`.
    tenancy: TenancyCache = field(default_factory=TenancyCache)
    #: Optional parts registered by later layers (engine, telephony, integrations).
    parts: dict[str, Any] = field(default_factory=dict)
    #: Started after each new callback's commit (see services.callbacks.after_intake).
    after_intake: list[IntakeHook] = field(default_factory=list)


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    return Container(
        settings=settings,
        db=Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous),
        clock=clock or WallClock(),
        secret=ensure_secret(settings),
    )
