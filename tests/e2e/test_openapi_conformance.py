"""Schemathesis holds a real running server to its own /openapi.json.

Every standard check runs (status codes, media types, response schemas and headers,
schema-valid requests accepted, schema-violating ones refused, undeclared methods
answered 405 with `Allow`, ...), authenticated with the demo tenant's token, with a
fixed seed and one worker (schemathesis.toml beside this file). Zero failures is the
gate. The server runs on a fresh SQLite database, since the run creates and deletes.
"""

from __future__ import annotations

import re
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


#: Calls that can lock the run's own token out (revoke it, disable its tenant): run last,
#: so that they do not turn every later call into a 401 that tests nothing.
LOCKOUTS = ("DELETE /v1/tokens/{token_id}", "PATCH /v1/tenant")


def schemathesis(url: str, workdir: Path, *selection: str) -> str:
    """Run `st` on the document at `url`; its report, which the test fails with."""
    command = [
        str(Path(sys.executable).with_name("st")),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {API_TOKEN}",
        *selection,
    ]
    # In workdir: schemathesis keeps a cache directory where it runs.
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False, cwd=workdir
    )
    report = run.stdout[-20000:] + run.stderr[-5000:]
    assert run.returncode == 0, report
    return run.stdout


#: Operations the tenant's API token may not call: the operator's and the data dip's.
OTHER_TOKENS = {"GET /v1/tenants", "POST /v1/tenants", "POST /datadip", "POST /v1/datadip"}


def only_401(report: str) -> set[str]:
    """The operations schemathesis saw answer nothing but 401."""
    block = re.search(r"401 Unauthorized \(\d+ operations?\):\n((?:  - .*\n)+)", report)
    return {line.strip()[2:] for line in block.group(1).splitlines()} if block else set()


def operations_tested(report: str) -> int:
    found = re.search(r"Tested: (\d+)", report)
    assert found is not None, report[-5000:]
    return int(found.group(1))


@pytest.mark.timeout(2 * RUN_LIMIT_S)
def test_the_api_conforms_to_its_openapi_document(served_demo: str, tmp_path: Path) -> None:
    keep_token = [arg for name in LOCKOUTS for arg in ("--exclude-name", name)]
    main = schemathesis(served_demo, tmp_path, *keep_token)
    assert operations_tested(main) >= 80
    # The token held: only the calls for another kind of token met nothing but 401s.
    assert only_401(main) <= OTHER_TOKENS, main[-5000:]
    lockouts = [arg for name in LOCKOUTS for arg in ("--include-name", name)]
    assert operations_tested(schemathesis(served_demo, tmp_path, *lockouts)) == len(LOCKOUTS)
