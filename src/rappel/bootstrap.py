"""The composition root: builds Rappel's parts from settings and wires them together.

Nothing connects at import time; `build_container` is called by the CLI and by tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rappel.clock import Clock, WallClock
from rappel.config import Settings, ensure_secret
from rappel.store.db import Database
from rappel.store.tenancy_cache import TenancyCache


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


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    return Container(
        settings=settings,
        db=Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous),
        clock=clock or WallClock(),
        secret=ensure_secret(settings),
    )
