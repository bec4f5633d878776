"""Schemathesis holds a real running server to its own /openapi.json.

Every standard check runs (status codes, media types, response schemas and headers,
schema-valid requests accepted, schema-violating ones refused, undeclared methods
answered 405 with `Allow`, ...), authenticated with the demo tenant's token, with a
fixed seed and one worker (schemathesis.toml beside this file). Zero failures is the
gate. The server runs on a fresh SQLite database, since the run creates and deletes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services.demo import API_TOKEN, provision_demo
from tests.conftest import make_settings
from tests.support.databases import migrated
from tests.support.servers import running_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Far above a run's ~1-2 minutes; only a hung run meets it.
RUN_LIMIT_S = 600


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[str]:
    with migrated("sqlite", tmp_path) as db:
        provision_demo(db, WallClock())
        container = Container(
            settings=make_settings(db), db=db, clock=WallClock(), secret="conformance-secret"
        )
        with running_server(create_app(container)) as url:
            yield url


def test_the_api_conforms_to_its_openapi_document(served_demo: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{served_demo}/openapi.json",
        "--header",
        f"Authorization: Bearer {API_TOKEN}",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    # In tmp_path: schemathesis keeps a cache directory where it runs.
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False, cwd=tmp_path
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY") :] if "SUMMARY" in run.stdout else ""
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Tested:" in summary, run.stdout[-5000:]
