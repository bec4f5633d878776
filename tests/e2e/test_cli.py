"""The command line, run as a real process, as an operator would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.databases import postgres_database
from tests.support.servers import free_port

RAPPEL = [sys.executable, "-m", "rappel.cli"]


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAPPEL, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def environment(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPEL_")}
    env.update(
        RAPPEL_DATABASE_URL=url,
        RAPPEL_SECRET_FILE=str(tmp_path / "secret"),
        RAPPEL_LOG_FORMAT="json",
    )
    return env


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        with postgres_database() as url:
            yield url


def test_migrate_demo_and_token_administration(database_url: str, tmp_path: Path) -> None:
    env = environment(database_url, tmp_path)
    migrated = run(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    first = run(["demo"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "tenant Acme" in first.stdout
    again = run(["demo"], env, tmp_path)
    assert again.stdout.strip() == "demo data already present"

    created = run(["tenant", "create", "Globex", "--time-zone", "Europe/Paris"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    assert re.search(r"token [0-9a-f]{32} ", created.stdout)
    duplicate = run(["tenant", "create", "Globex"], env, tmp_path)
    assert duplicate.returncode == 1
    assert "exists already" in duplicate.stderr

    issued = run(["token", "create", "Globex", "--label", "crm"], env, tmp_path)
    match = re.search(r"token ([0-9a-f]{32}) \(id ([0-9A-F]{32})", issued.stdout)
    assert match, issued.stdout
    secret, token_id = match.groups()
    revoked = run(["token", "revoke", "Globex", token_id], env, tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert run(["token", "revoke", "Globex", token_id], env, tmp_path).returncode == 1
    assert secret not in (migrated.stderr + first.stderr + issued.stderr + revoked.stderr)


def test_unknown_tenant_and_bad_configuration_exit_non_zero(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    run(["migrate"], env, tmp_path)
    assert run(["token", "create", "Nobody"], env, tmp_path).returncode == 2
    bad = run(["migrate"], {**env, "RAPPEL_PORT": "eighty"}, tmp_path)
    assert bad.returncode == 2
    assert "RAPPEL_PORT" in bad.stderr


def test_serve_answers_with_the_demo_data(tmp_path: Path) -> None:
    env = environment(f"sqlite:///{tmp_path / 'serve.db'}", tmp_path)
    env["RAPPEL_RUN_ENGINE"] = "false"
    assert run(["migrate"], env, tmp_path).returncode == 0
    assert run(["demo"], env, tmp_path).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [*RAPPEL, "serve", "--port", str(port), "--print-demo"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
        tenant = httpx.get(
            base + "/v1/tenant",
            headers={"Authorization": "Bearer fb65d0515b9631c6db72e7e66fe6df49"},
        )
        assert tenant.json()["name"] == "Acme"
    finally:
        server.terminate()
        out, err = server.communicate(timeout=20)
    assert "fb65d0515b9631c6db72e7e66fe6df49" in out  # printed credentials, on stdout only
    assert "fb65d0515b9631c6db72e7e66fe6df49" not in err  # never in the logs
