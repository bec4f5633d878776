"""Fixtures shared by every layer of tests.

Integration tests run once on SQLite and once on PostgreSQL through the `backend`
parameter. In CI (CI=true) an unreachable PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rappel.api import signin
from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.config import Settings
from rappel.services.demo import provision_demo
from rappel.store.db import Database
from tests.support.databases import migrated, wipe
from tests.support.servers import running_server


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def session_db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated(backend, tmp_path_factory.mktemp(backend)) as db:
        yield db


@pytest.fixture
def db(session_db: Database) -> Database:
    wipe(session_db)
    return session_db


def make_settings(db: Database, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db.url,
        "secret_key": "test-secret-key-not-for-production",
        "run_engine": False,
        "outbound_allow": "127.0.0.1/32,localhost",
        "operator_token": "operator-test-token-0123456789",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def server_container(session_db: Database) -> Container:
    return Container(
        settings=make_settings(session_db),
        db=session_db,
        clock=WallClock(),
        secret="test-secret-key-not-for-production",
    )


@pytest.fixture(scope="session")
def server_url(server_container: Container) -> Iterator[str]:
    with running_server(create_app(server_container)) as url:
        yield url


@pytest.fixture
def http(db: Database, server_url: str, server_container: Container) -> Iterator[httpx.Client]:
    """An HTTP client against a real server on loopback, on an empty database.

    The server's sign-in throttle starts empty too: every test signs in from 127.0.0.1.
    """
    server_container.parts.pop(signin.GUARD, None)
    with httpx.Client(base_url=server_url, timeout=10) as client:
        client.app_db = db  # type: ignore[attr-defined]
        yield client


@pytest.fixture
def demo(db: Database) -> str:
    """The demo data; returns the Acme tenant id."""
    return provision_demo(db, WallClock()).tenant_id


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
