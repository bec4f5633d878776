"""OBI bulk import: customers/list in batches of 100 over HTTP, the native bulk
service path, and hand-written INSERTs of the same rows into the same database in
the same run; then search latency. Writes docs/benchmarks/obi.md.

OBI_BENCH_N (default 1,000,000) customers per path. SQLite always (a temporary
file; OBI_BENCH_SQLITE=0 skips it); OBI_BENCH_PG=postgresql://user@host/db adds
PostgreSQL in a scratch database created on that server and dropped afterwards.
Not a test: it reports, it does not assert (it does stop when an item is refused,
since a refused item is not an import).

The paths take turns, one round of 10,000 customers each (native, raw, raw
committed every 100, raw COPY on PostgreSQL, HTTP), so each writes into tables of
the same size. Only the writing is timed: the items are made before the clock
starts, the raw paths' clock covers making their rows (ids, JSON, lower-case
copies) and the writes, and the HTTP path's clock covers the POSTs of request
bodies encoded beforehand.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.servers import free_port

from benchmarks.obi_search import measure
from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.config import Settings
from rappel.domain.ids import new_ordered_id
from rappel.services import customers as svc
from rappel.services.demo import (
    API_TOKEN,
    PREVIEW_CAMPAIGN_ID,
    TEST_CAMPAIGN_ID,
    WEB_CAMPAIGN_ID,
    provision_demo,
)
from rappel.store.db import Database
from rappel.store.migrate import upgrade
from rappel.store.tables import customers

AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "application/json"}
ROUND = 10_000
HTTP_BATCH = 100
LEVELS = ("gold", "silver", "bronze")


@dataclass(frozen=True)
class Person:
    """One customer of the benchmark, as every path receives it."""

    external_id: str
    numbers: str  #: as the client writes it
    e164: str  #: what validation makes of it
    city: str
    level: str


def person(i: int, prefix: str) -> Person:
    # Valid San Francisco numbers (exchanges 200-999); one in ten written nationally.
    exchange, line = 200 + (i // 10_000) % 800, i % 10_000
    e164 = f"+1415{exchange}{line:04d}"
    given = f"(415) {exchange}-{line:04d}" if i % 10 == 9 else f"{e164};"
    # From 100 up: the demo's own customers hold externalIds 7 and 10 to 13.
    return Person(f"{prefix}{i + 100}", given, e164, f"c{i % 1000}", LEVELS[i % 3])


def _attributes(p: Person) -> list[tuple[str, str]]:
    return [("City", p.city), ("Classification", p.level), ("Phone1", p.numbers.rstrip(";"))]


# -- raw: hand-written INSERTs of the rows the service writes ----------------------

ATTRIBUTE_COLUMNS = [
    "tenant_id",
    "customer_id",
    "position",
    "name",
    "name_ci",
    "value",
    "value_ci",
    "campaign_id",
    "external_id",
]


def _raw(
    db: Database, tenant_id: str, people: list[Person], how: str = "insert", per_commit: int = ROUND
) -> float:
    """Rows made by hand and written without validation; `how`: "insert" or "copy".

    "insert" is the faster plain INSERT on each database, as measured here:
    multi-row VALUES (500 rows per statement) on SQLite; on PostgreSQL psycopg's
    pipelined executemany of a one-row INSERT, since psycopg parses a long
    multi-row statement in Python (1,000-row VALUES reached a third of its rate).
    `per_commit`: customers per transaction (the whole round, or a request's 100).
    """
    now = WallClock().now()
    pg = db.is_postgres
    stamp: Any = now if pg else now.replace(tzinfo=None).isoformat(" ", "microseconds")
    names = [c.name for c in customers.columns]
    start = time.perf_counter()
    for first in range(0, len(people), per_commit):
        rows, attributes = _raw_rows(tenant_id, people[first : first + per_commit], now, stamp)
        with db.begin() as conn:
            for table, columns, values in (
                ("customers", names, rows),
                ("customer_attributes", ATTRIBUTE_COLUMNS, attributes),
            ):
                if how == "copy":
                    _copy(conn, table, columns, values)
                elif pg:
                    marks = ", ".join("%s" for _ in columns)
                    conn.exec_driver_sql(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
                    )
                else:
                    size = 500 if table == "customers" else 2000
                    _insert_values(conn, table, columns, values, size)
    return time.perf_counter() - start


def _raw_rows(
    tenant_id: str, people: list[Person], now: datetime, stamp: Any
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The customers and customer_attributes rows of `people`, in column order."""
    campaign = WEB_CAMPAIGN_ID
    rows: list[tuple[Any, ...]] = []
    attributes: list[tuple[Any, ...]] = []
    for p in people:
        cid = new_ordered_id(now)
        pairs = _attributes(p)
        document = json.dumps([{"name": n, "value": v} for n, v in pairs])
        # fmt: off
        rows.append((  # in the column order of the customers table
            tenant_id, cid, campaign, None, p.external_id, p.numbers, p.e164, None, None,
            document, "DIALING", None, None, 0, 0, stamp, None, None, None, 0, None, 0,
            None, None, "null", None, None, stamp, stamp,
        ))
        # fmt: on
        attributes += [
            (tenant_id, cid, position, n, n.lower(), v, v.lower(), campaign, p.external_id)
            for position, (n, v) in enumerate(pairs)
        ]
    return rows, attributes


def _insert_values(
    conn: Any, table: str, names: list[str], rows: list[tuple[Any, ...]], size: int
) -> None:
    one = "(" + ", ".join("?" for _ in names) + ")"
    head = f"INSERT INTO {table} ({', '.join(names)}) VALUES "
    for first in range(0, len(rows), size):
        chunk = rows[first : first + size]
        conn.exec_driver_sql(
            head + ", ".join(one for _ in chunk), tuple(v for row in chunk for v in row)
        )


def _copy(conn: Any, table: str, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    with (
        conn.connection.driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# -- native: the bulk service, as POST /api/.../customers/bulk calls it ---------------


def _service(db: Database, tenant_id: str, people: list[Person]) -> float:
    items = [
        svc.NewCustomer(
            external_id=p.external_id,
            numbers=p.numbers,
            attributes=(("City", p.city), ("Classification", p.level)),
        )
        for p in people
    ]
    start = time.perf_counter()
    results = svc.add_customers(
        db, WallClock(), tenant_id, PREVIEW_CAMPAIGN_ID, items, max_items=svc.MAX_NATIVE_BULK
    )
    elapsed = time.perf_counter() - start
    refused = [r.error.message for r in results if r.error is not None]
    if refused:
        raise SystemExit(f"native bulk refused {len(refused)} items, first: {refused[0]}")
    return elapsed


# -- OBI: customers/list over HTTP in batches of 100 ----------------------------------


def _http(client: httpx.Client, people: list[Person]) -> float:
    path = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers/list"
    headers = {**AUTH, "Content-Type": "application/json"}
    bodies = [
        json.dumps(
            [
                {
                    "externalId": p.external_id,
                    "numbers": p.numbers,
                    "attributes": {
                        "attribute": [
                            {"name": "City", "value": p.city},
                            {"name": "Classification", "value": p.level},
                        ]
                    },
                }
                for p in people[first : first + HTTP_BATCH]
            ]
        ).encode()
        for first in range(0, len(people), HTTP_BATCH)
    ]
    elapsed = 0.0
    for body in bodies:
        start = time.perf_counter()
        answer = client.post(path, content=body, headers=headers)
        elapsed += time.perf_counter() - start
        answer.raise_for_status()
        if any(item["statusCode"] != 201 for item in answer.json()):
            raise SystemExit(f"customers/list refused items: {answer.text[:300]}")
    return elapsed


# -- one backend ------------------------------------------------------------------


PATHS: tuple[str, ...] = ("raw", "raw_per_request", "raw_copy", "service", "obi_http")


@dataclass
class Result:
    backend: str
    n: int
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PATHS, 0.0))
    first_round: dict[str, float] = field(default_factory=dict)
    search: dict[str, float] = field(default_factory=dict)

    def rate(self, path: str) -> float:
        return self.n / self.seconds[path]


def run(url: str, n: int, search_only: bool = False) -> Result:
    db = Database(url)
    upgrade(db)
    tenant_id = provision_demo(db, WallClock()).tenant_id
    result = Result(db.dialect, n)
    with server_process(url) as base, httpx.Client(base_url=base, timeout=120) as client:
        for first in range(0, n, ROUND):
            span = range(first, min(n, first + ROUND))
            seconds = {}
            if not search_only:
                seconds["service"] = _service(db, tenant_id, [person(i, "s") for i in span])
                seconds["raw"] = _raw(db, tenant_id, [person(i, "r") for i in span])
                people = [person(i, "q") for i in span]
                seconds["raw_per_request"] = _raw(db, tenant_id, people, per_commit=HTTP_BATCH)
                if db.is_postgres:
                    people = [person(i, "k") for i in span]
                    seconds["raw_copy"] = _raw(db, tenant_id, people, how="copy")
            seconds["obi_http"] = _http(client, [person(i, "") for i in span])
            for path, spent in seconds.items():
                result.seconds[path] += spent
            if first == 0:
                result.first_round = seconds
            if span.stop % (10 * ROUND) == 0 or span.stop == n:
                print(f"{db.dialect}: {span.stop:,} per path, {_rates(result, span.stop)}")
        if db.is_postgres:
            # What autovacuum does after a bulk load (insert-driven vacuum and analyze).
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE customers")
                conn.exec_driver_sql("VACUUM ANALYZE customer_attributes")
        else:
            # What the next automatic checkpoint does once the import stops: the WAL's
            # pages copied back into the database file.
            raw = db.engine.raw_connection()  # outside a transaction, as a checkpoint must be
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
        os.sync()  # the import's dirty pages written back, as on a machine that settled
        result.search = measure(client, f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers", AUTH)
    db.dispose()
    return result


def _rates(result: Result, done: int) -> str:
    return ", ".join(
        f"{path} {done / seconds:,.0f}/s" for path, seconds in result.seconds.items() if seconds
    )


def serve(url: str, port: int) -> None:
    """The OBI server of the benchmark, as `rappel serve` runs it, without the engine."""
    import uvicorn

    settings = Settings(database_url=url, secret_key="bench", run_engine=False)
    app = create_app(Container(settings, Database(url), WallClock(), "bench"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


@contextmanager
def server_process(url: str) -> Iterator[str]:
    """`serve` in a process of its own, as a client would meet it; yields its base URL."""
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "serve", url, str(port)])
    try:
        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("benchmark server did not start")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=30)


@contextmanager
def scratch_postgres(url: str) -> Iterator[str]:
    """A new database on the server of `url`, dropped afterwards."""
    admin = create_engine(Database(url).url, isolation_level="AUTOCOMMIT")
    name = f"obi_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(Database(url).url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- report -----------------------------------------------------------------------


def _report(results: list[Result], load: tuple[list[float], list[float]], when: datetime) -> str:
    before, after = (", ".join(f"{x:.2f}" for x in avg) for avg in load)
    lines = [
        "# OBI bulk import and search",
        "",
        f"Measured by `benchmarks/obi_bulk.py` on {when:%Y-%m-%d} on this machine (2 cores,",
        f"PostgreSQL 15 with its default settings), load average before {before}, after",
        f"{after}. The OBI server runs in a process of its own (uvicorn, as `rappel serve`",
        "runs it, without the engine), as a client would meet it; client and server share",
        "the two cores. SQLite runs with the product's default `synchronous=FULL` (every",
        "commit synced to disk).",
        "",
        "Each path imports the same customers (valid US numbers, one in ten written in",
        "national format; attributes City and Classification, plus Phone1 from the numbers)",
        "into its own campaign of one tenant. The paths take turns in rounds of 10,000, so",
        "each writes into tables of the same size; at the end the tables hold every path's",
        "customers (4 or 5 million). *Raw* writes exactly the rows the service writes",
        "(customers and their attribute rows, with the same time-ordered ids) with",
        "hand-written INSERTs and no validation:",
        "multi-row VALUES of 500 rows on SQLite; on PostgreSQL psycopg's pipelined",
        "executemany, which beats multi-row VALUES there (psycopg parses long statements",
        "in Python). *Native* is the bulk service (`add_customers`, 10,000 per call): it",
        "validates every item (E.164 with phonenumbers, unique externalId, agents,",
        "do-not-call) and writes one prepared INSERT per table on SQLite, COPY on",
        "PostgreSQL. *OBI* is `POST customers/list`, 100 customers per request. *Raw COPY*",
        "(PostgreSQL only) writes the raw rows with COPY, for comparison with the service.",
        "",
        "| backend | customers per path | raw INSERT rows/s | native bulk service rows/s "
        "(% of raw) | OBI customers/list x100 over HTTP rows/s (% of raw) | raw COPY rows/s |",
        "|---|---|---|---|---|---|",
    ]
    finished = [r for r in results if "service" in r.first_round]
    for r in finished:
        raw = r.rate("raw")
        copy = f"{r.rate('raw_copy'):,.0f}" if r.seconds["raw_copy"] else "-"
        lines.append(
            f"| {r.backend} | {r.n:,} | {raw:,.0f} "
            f"| {r.rate('service'):,.0f} ({100 * r.rate('service') / raw:.0f} %) "
            f"| {r.rate('obi_http'):,.0f} ({100 * r.rate('obi_http') / raw:.0f} %) | {copy} |"
        )
    lines += [
        "",
        "The same raw INSERTs committed every 100 customers, as customers/list must",
        "commit each request before it answers, against OBI over HTTP: the share of",
        "the gap above that the commit pattern explains, and what is left for HTTP,",
        "validation and the checks:",
        "",
        "| backend | raw INSERT, one transaction per 100 rows/s (% of raw) "
        "| OBI customers/list x100 (% of raw per 100) |",
        "|---|---|---|",
    ]
    for r in finished:
        per = r.rate("raw_per_request")
        lines.append(
            f"| {r.backend} | {per:,.0f} ({100 * per / r.rate('raw'):.0f} %) "
            f"| {r.rate('obi_http'):,.0f} ({100 * r.rate('obi_http') / per:.0f} %) |"
        )
    lines += [
        "",
        "First round (10,000 customers per path into empty tables), seconds; the native",
        "path runs first, so on PostgreSQL it also pays for the ANALYZE that keeps the",
        "attribute foreign-key check off a quadratic plan (`refresh_stale_statistics`):",
        "",
        "| backend | native | raw INSERT | OBI over HTTP |",
        "|---|---|---|---|",
    ]
    for r in finished:
        f = r.first_round
        lines.append(f"| {r.backend} | {f['service']:.2f} | {f['raw']:.2f} | {f['obi_http']:.2f} |")
    lines += [
        "",
        "Search latency over HTTP, p50 of 50 requests (limit 100, JSON), in the campaign of",
        "the OBI-imported customers, the tables holding every path's customers (PostgreSQL",
        "after VACUUM ANALYZE, as autovacuum would run after a bulk load; SQLite after a",
        "checkpoint; both after the import's pages were written back to disk):",
        "",
        "| backend | customers in the campaign | query | p50 ms |",
        "|---|---|---|---|",
    ]
    for r in results:
        for name, p50 in r.search.items():
            lines.append(f"| {r.backend} | {r.n:,} | `{name}` | {p50:.1f} |")
    return "\n".join(lines) + "\n"


def main(search_only: bool = False) -> None:
    n = int(os.environ.get("OBI_BENCH_N", "1000000"))
    load_before = list(os.getloadavg())
    when = datetime.now()
    results = []
    if os.environ.get("OBI_BENCH_SQLITE", "1") != "0":
        with tempfile.TemporaryDirectory() as tmp:
            results.append(run(f"sqlite:///{tmp}/obi-bench.db", n, search_only))
    pg = os.environ.get("OBI_BENCH_PG")
    if pg:
        with scratch_postgres(pg) as url:
            results.append(run(url, n, search_only))
    report = _report(results, (load_before, list(os.getloadavg())), when)
    print(report)
    if not search_only:
        Path("docs/benchmarks").mkdir(parents=True, exist_ok=True)
        Path("docs/benchmarks/obi.md").write_text(report)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        main()
