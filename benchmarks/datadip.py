"""Data-dip provider lookups over 1,000,000 customer records: in-process and through HTTP.

Builds a tenant with RECORDS customer records (each with a phone number, an
external id and one attribute; one in ten with a second number shared with
another record, so some phone lookups match several records), then measures:

1. the in-process service call `answer_dip` (token check excluded);
2. `POST /datadip` through a real uvicorn server in a second process
   (token check, body reading and JSON included), one client, closed loop.

Each in four request kinds: by account number (externalId), by phone, by an
attribute, and a miss on the first key that falls back to the phone.

Writes docs/benchmarks/datadip.md. Usage:
`.venv/bin/python benchmarks/datadip.py [sqlite|postgresql ...]` (default: both;
PostgreSQL at RAPPEL_BENCH_PG_URL, default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks" / "datadip.md"
RECORDS = int(os.environ.get("BENCH_RECORDS", "1000000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "2000"))
TOKEN = "0123456789abcdef0123456789abcdef"
CAMPAIGN = "BE0C0000000000000000000000000001"
PG_ADMIN = os.environ.get("RAPPEL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
CONFIG = {
    "keys": [
        {"key": "account-num", "field": "externalId"},
        {"key": "phone-num", "field": "phone"},
        {"key": "member", "field": "attribute:MemberNo"},
    ],
    "returns": [
        {
            "name": "name",
            "source": "attribute:Name",
            "displayToAgent": True,
            "saveToDatabase": True,
        },
        {
            "name": "account-num",
            "source": "externalId",
            "displayToAgent": True,
            "saveToDatabase": True,
        },
        {
            "name": "member",
            "source": "attribute:MemberNo",
            "displayToAgent": False,
            "saveToDatabase": False,
        },
    ],
}


def number(i: int) -> str:
    return f"+1801{2000000 + i:07d}"


def populate(db_url: str) -> str:
    """Migrate, create the tenant, token, config and RECORDS records; return the tenant id."""
    from rappel.clock import WallClock
    from rappel.domain.tenancy import TokenKind
    from rappel.services import datadip, tenancy
    from rappel.store.customers import attribute_rows
    from rappel.store.db import Database
    from rappel.store.migrate import upgrade
    from rappel.store.tables import customer_attributes, customers

    db = Database(db_url)
    upgrade(db)
    clock = WallClock()
    tenant = tenancy.create_tenant(db, clock, {"name": "Bench"})
    tenancy.create_token(db, clock, tenant.id, "dip", TokenKind.DATADIP, secret=TOKEN)
    datadip.put_provider_config(db, clock, tenant.id, CONFIG)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    chunk = 20_000
    for start in range(0, RECORDS, chunk):
        rows, attrs = [], []
        for i in range(start, min(start + chunk, RECORDS)):
            cid = f"{i:032X}"
            rows.append(
                {
                    "tenant_id": tenant.id,
                    "id": cid,
                    "campaign_id": CAMPAIGN,
                    "external_id": f"A{i:08d}",
                    "numbers": number(i),
                    "number1": number(i),
                    # One in ten shares its second number with the next record's first.
                    "number2": number(i + 1) if i % 10 == 0 else None,
                    "number3": None,
                    "attributes": [
                        {"name": "Name", "value": f"Customer {i}"},
                        {"name": "MemberNo", "value": f"M{i:08d}"},
                    ],
                    "result": "SUCCESS",
                    "created_at": base,
                    "modified_at": base + timedelta(seconds=i),
                }
            )
            # Only MemberNo is looked up; it keeps its position (1) in the document.
            pairs = [("Name", f"Customer {i}"), ("MemberNo", f"M{i:08d}")]
            row = attribute_rows(
                tenant.id, cid, pairs, campaign_id=CAMPAIGN, external_id=f"A{i:08d}"
            )
            attrs.append(row[1])
        with db.begin() as conn:
            conn.execute(insert(customers), rows)
            conn.execute(insert(customer_attributes), attrs)
    with db.begin() as conn:
        conn.execute(text("ANALYZE"))
    db.dispose()
    return tenant.id


def requests(seed: int) -> dict[str, list[bytes]]:
    rng = random.Random(seed)
    picks = [rng.randrange(RECORDS - 1) for _ in range(LOOKUPS)]
    return {
        "externalId": [json.dumps({"account-num": f"A{i:08d}"}).encode() for i in picks],
        "phone": [json.dumps({"phone-num": number(i)[2:]}).encode() for i in picks],
        "attribute": [json.dumps({"member": f"M{i:08d}"}).encode() for i in picks],
        "miss, then phone": [
            json.dumps({"account-num": "nope", "phone-num": number(i)[2:]}).encode() for i in picks
        ],
    }


def in_process(db_url: str, tenant_id: str) -> dict[str, list[float]]:
    from rappel.services.datadip import answer_dip
    from rappel.store.db import Database

    db = Database(db_url)
    found: dict[str, list[float]] = {}
    for kind, bodies in requests(1).items():
        answer_dip(db, tenant_id, bodies[0])  # warm the pool
        times = []
        for body in bodies:
            started = time.perf_counter()
            result = answer_dip(db, tenant_id, body)
            times.append((time.perf_counter() - started) * 1000)
            if not result["parameters"]:
                raise RuntimeError(f"no match for {kind}: {body!r}")
        found[kind] = times
    db.dispose()
    return found


def serve(db_url: str, port: int, ready: Any) -> None:
    import uvicorn

    from rappel.api.app import create_app
    from rappel.bootstrap import Container
    from rappel.clock import WallClock
    from rappel.config import Settings
    from rappel.store.db import Database

    settings = Settings(database_url=db_url, secret_key="bench", run_engine=False)
    app = create_app(Container(settings, Database(db_url), WallClock(), "bench"))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    ready.set()
    uvicorn.Server(config).run()


def over_http(db_url: str) -> dict[str, list[float]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    ready = mp.get_context("spawn").Event()
    server = mp.get_context("spawn").Process(target=serve, args=(db_url, port, ready), daemon=True)
    server.start()
    ready.wait(60)
    found: dict[str, list[float]] = {}
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(300):
                try:
                    client.get("/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for kind, bodies in requests(2).items():
                client.post("/datadip", content=bodies[0], headers=headers)
                times = []
                for body in bodies:
                    started = time.perf_counter()
                    answer = client.post("/datadip", content=body, headers=headers)
                    times.append((time.perf_counter() - started) * 1000)
                    if answer.status_code != 200 or not answer.json()["parameters"]:
                        raise RuntimeError(f"unexpected answer: {answer.text}")
                found[kind] = times
    finally:
        server.terminate()
        server.join(10)
    return found


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(backend: str) -> list[str]:
    if backend == "sqlite":
        workdir = tempfile.mkdtemp(prefix="rappel-bench-dip-")
        url = f"sqlite:///{workdir}/bench.db"
        return measure(backend, url)
    name = f"rappel_bench_dip_{os.getpid()}"
    admin = create_engine(f"{PG_ADMIN}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return measure(backend, f"{PG_ADMIN}/{name}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(backend: str, url: str) -> list[str]:
    started = time.perf_counter()
    tenant_id = populate(url)
    loaded = time.perf_counter() - started
    print(f"{backend}: {RECORDS} records loaded in {loaded:.0f} s", file=sys.stderr)
    rows = []
    for where, figures in (("in-process", in_process(url, tenant_id)), ("HTTP", over_http(url))):
        for kind, times in figures.items():
            p99 = pct(times, 0.99)
            rows.append(
                f"| {backend} | {where} | {kind} | {len(times)} | {statistics.median(times):.2f} "
                f"| {p99:.2f} | {'yes' if p99 < 10 else '**no**'} |"
            )
    return rows


def main() -> None:
    backends = sys.argv[1:] or ["sqlite", "postgresql"]
    rows = [row for backend in backends for row in run(backend)]
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        f"""## Data-dip provider lookups

`benchmarks/datadip.py`, {datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()},
{cpus} CPUs. {RECORDS:,} customer records of one tenant (each with a number, an
external id and a `MemberNo` attribute; one in ten shares a number with another
record, so those phone lookups pick the newest of two). {LOOKUPS} random lookups
per row, one after the other. "in-process" is the service call `answer_dip`
(configuration read, request check, indexed lookup, answer); "HTTP" is
`POST /datadip` to a uvicorn server in another process on loopback (token
check and JSON included), one client. Target: p99 < 10 ms.

| database | path | key used | lookups | p50 ms | p99 ms | p99 < 10 ms |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Every lookup runs on an index: `ix_customers_external` (tenant, external_id),
`ix_customers_number1..3` (tenant, numberN; three probes in a UNION),
`ix_customer_attributes_lookup` (tenant, name_ci, value_ci),
then the newest match by `modified_at` among the few rows found. Load average
when the run ended: {load:.1f} on {cpus} CPUs; figures taken while other work
runs on the machine are upper bounds. Rerun: `.venv/bin/python benchmarks/datadip.py`.
"""
    )
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
