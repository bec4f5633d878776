"""Crash safety: `kill -9` in the middle of dialing loses no callback and dials no attempt twice.

Real processes, real HTTP: N callbacks are acknowledged through `POST
/v1/callbacks`, the engine process is killed with SIGKILL while calls are in
progress, started again, and then every acknowledged callback must reach its
final state (or a scheduled retry), with every call id dialled at most once
over both runs (the engine logs "dial placed <call id>" right after each
originate), and no customer answered twice: the calls in flight at the kill
are resolved from the driver (which cannot tell: UNKNOWN) and re-dialled only
after the abandoned-call delay. PostgreSQL runs two workers and kills one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text, update

from rappel.domain.codes import CallbackStatus
from rappel.store.tables import attempts, interactions, tenants
from tests.support.databases import postgres_database
from tests.support.servers import free_port

RAPPEL = [sys.executable, "-m", "rappel.cli"]
TOKEN = {"Authorization": "Bearer fb65d0515b9631c6db72e7e66fe6df49"}
N = 16
PHONES = [f"1650555{2000 + i}" for i in range(N)]


def environment(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPEL_")}
    env.update(
        RAPPEL_DATABASE_URL=url,
        RAPPEL_SECRET_KEY="crash-test-secret",
        RAPPEL_LOG_FORMAT="json",
        RAPPEL_SIM_AGENTS="4",
        RAPPEL_SIM_RING_S="0.2",
        RAPPEL_SIM_TALK_S="3",
        RAPPEL_SIM_WRAP_S="0.3",
        RAPPEL_LEASE_S="2",
        RAPPEL_OFFER_TIMEOUT_S="5",
        RAPPEL_SIM_OUTCOMES=";".join(f"{p}=answer" for p in PHONES),
    )
    return env


class Proc:
    """A rappel process whose stderr (the JSON log) goes to a file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.log = log
        self.handle = open(log, "a")
        self.popen = subprocess.Popen(
            [*RAPPEL, *args], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=self.handle
        )

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=10)
        self.handle.close()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        self.handle.close()


def wait_ready(base: str, proc: Proc) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.popen.poll() is None, proc.log.read_text()[-3000:]
        assert time.monotonic() < deadline, "server did not become ready"
        time.sleep(0.1)


def prepare(url: str, env: dict[str, str], cwd: Path) -> None:
    for verb in ("migrate", "demo"):
        done = subprocess.run([*RAPPEL, verb], env=env, cwd=cwd, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
    engine = create_engine(url)
    with engine.begin() as conn:
        # Equal hard hours mean "no limit": the test must not depend on the time of day.
        conn.execute(update(tenants).values(hard_hours_start="00:00", hard_hours_end="00:00"))
    engine.dispose()


def submit(base: str) -> list[str]:
    ids = []
    with httpx.Client(base_url=base, headers=TOKEN, timeout=10) as client:
        for phone in PHONES:
            answer = client.post(
                "/v1/callbacks", json={"phone": phone, "when": "agent_available", "queue_id": "103"}
            )
            assert answer.status_code in (200, 201), answer.text
            ids.append(answer.json()["interaction_id"])
    return ids


def progress(url: str, ids: list[str]) -> tuple[int, int]:
    """(attempts placed, callbacks settled: FINAL, or waiting for a scheduled retry)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        placed = conn.execute(select(text("count(*)")).select_from(attempts)).scalar_one()
        final = conn.execute(
            select(text("count(*)"))
            .select_from(interactions)
            .where(interactions.c.id.in_(ids), _settled())
        ).scalar_one()
    engine.dispose()
    return int(placed), int(final)


def _settled() -> Any:
    final = interactions.c.callback_status == int(CallbackStatus.FINAL)
    retry = (interactions.c.callback_status == int(CallbackStatus.TIMER)) & (
        interactions.c.due_at.is_not(None)
    )
    return final | retry


def wait_for(url: str, ids: list[str], placed: int = 0, final: int = 0, limit: float = 40) -> None:
    deadline = time.monotonic() + limit
    while True:
        now_placed, now_final = progress(url, ids)
        if now_placed >= placed and now_final >= final:
            return
        assert time.monotonic() < deadline, f"stuck at {now_placed} attempts, {now_final} final"
        time.sleep(0.1)


def wait_for_talking(url: str, count: int, limit: float = 40) -> set[int]:
    """Until `count` customers are answered and still on the line; the pids holding them."""
    engine = create_engine(url)
    deadline = time.monotonic() + limit
    try:
        while True:
            with engine.connect() as conn:
                owners = [
                    r[0]
                    for r in conn.execute(
                        select(interactions.c.lease_owner)
                        .join(attempts, attempts.c.interaction_id == interactions.c.id)
                        .where(attempts.c.answered_at.is_not(None), attempts.c.ended_at.is_(None))
                    )
                ]
            if len(owners) >= count:
                # Worker names are host:pid:n.
                return {int(o.split(":")[1]) for o in owners if o and o.count(":") == 2}
            assert time.monotonic() < deadline, f"only {len(owners)} customer(s) on the line"
            time.sleep(0.05)
    finally:
        engine.dispose()


def dialled_call_ids(logs: list[Path]) -> Counter[str]:
    seen: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("msg", ""))
            if message.startswith("dial placed "):
                seen[message.removeprefix("dial placed ")] += 1
    return seen


def check_nothing_lost(url: str, ids: list[str], logs: list[Path]) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(interactions.c.id, interactions.c.callback_status).where(
                interactions.c.id.in_(ids), _settled()
            )
        ).all()
        unfinished = conn.execute(
            select(text("count(*)")).select_from(attempts).where(attempts.c.ended_at.is_(None))
        ).scalar_one()
        call_ids = [r[0] for r in conn.execute(select(attempts.c.call_id))]
        answered_twice = answered_more_than_once(conn)
    engine.dispose()
    assert len(rows) == N  # every acknowledged callback is done or has its retry scheduled
    assert unfinished == 0  # every attempt placed has its outcome
    dialled = dialled_call_ids(logs)
    assert dialled, "no dial was logged"
    assert [c for c, n in dialled.items() if n > 1] == []
    assert set(dialled) <= {c for c in call_ids} | {f"{c}-agent" for c in call_ids}
    # A person whose call may have been answered when the worker died is not called straight
    # back: the re-dial waits for the abandoned-call delay (an hour), far past this test.
    assert answered_twice == []


def answered_more_than_once(conn: Any) -> list[str]:
    """Customers (interactions) with more than one answered attempt."""
    rows = conn.execute(
        select(attempts.c.interaction_id)
        .where(attempts.c.answered_at.is_not(None))
        .group_by(attempts.c.interaction_id)
        .having(text("count(*) > 1"))
    )
    return [r[0] for r in rows]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kill_9_mid_dialing_loses_no_callback_and_dials_no_attempt_twice(
    database_url: str, tmp_path: Path
) -> None:
    env = environment(database_url, tmp_path)
    prepare(database_url, env, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = [tmp_path / "run1.log", tmp_path / "run2.log", tmp_path / "run3.log"]
    procs: list[Proc] = []
    try:
        if database_url.startswith("sqlite"):
            first = Proc(["serve", "--port", str(port)], env, tmp_path, logs[0])
            procs.append(first)
            wait_ready(base, first)
            ids = submit(base)
            wait_for_talking(database_url, 2)
            first.kill()
            second = Proc(["serve", "--port", str(port)], env, tmp_path, logs[1])
            procs.append(second)
            wait_ready(base, second)
        else:
            api_env = {**env, "RAPPEL_RUN_ENGINE": "false"}
            api = Proc(["serve", "--port", str(port)], api_env, tmp_path, tmp_path / "api.log")
            procs.append(api)
            wait_ready(base, api)
            workers = [Proc(["worker"], env, tmp_path, logs[i]) for i in (0, 1)]
            procs += workers
            ids = submit(base)
            holders = wait_for_talking(database_url, 2)
            victim = next((w for w in workers if w.popen.pid in holders), workers[0])
            victim.kill()
            procs.append(Proc(["worker"], env, tmp_path, logs[2]))
        wait_for(database_url, ids, final=N, limit=60)
    finally:
        for proc in procs:
            if not proc.handle.closed:
                proc.stop()
    check_nothing_lost(database_url, ids, [log for log in logs if log.exists()])
