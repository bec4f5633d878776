"""OBI bulk import: customers/list in batches of 100 (HTTP), the native bulk service
path, and a raw multi-row INSERT into the same database in the same run; then
search latency. Writes docs/benchmarks/obi.md.

OBI_BENCH_N (default 20000) customers per path; OBI_BENCH_PG=postgresql://... adds
a PostgreSQL run. Not a test: it reports, it does not assert.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.servers import running_server

from benchmarks.obi_search import measure
from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.config import Settings
from rappel.domain.ids import new_id
from rappel.services import customers as svc
from rappel.services.demo import (
    API_TOKEN,
    PREVIEW_CAMPAIGN_ID,
    TEST_CAMPAIGN_ID,
    WEB_CAMPAIGN_ID,
    provision_demo,
)
from rappel.store import customers as store
from rappel.store.db import Database
from rappel.store.migrate import upgrade

AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "application/json"}


def _item(i: int, prefix: str) -> dict[str, object]:
    return {
        "externalId": f"{prefix}{i}",
        "numbers": f"+1415{i % 10_000_000:07d};",
        "attributes": {
            "attribute": [
                {"name": "City", "value": f"c{i % 1000}"},
                {"name": "Classification", "value": ("gold", "silver", "bronze")[i % 3]},
            ]
        },
    }


def _raw(db: Database, tenant_id: str, n: int) -> float:
    now = WallClock().now()
    start = time.perf_counter()
    with db.begin() as conn:
        for first in range(0, n, 1000):
            rows, attributes = [], []
            for i in range(first, min(n, first + 1000)):
                cid = new_id()
                rows.append(
                    {
                        "tenant_id": tenant_id,
                        "id": cid,
                        "campaign_id": WEB_CAMPAIGN_ID,
                        "activity_id": None,
                        "external_id": f"r{i}",
                        "numbers": f"+1415{i:07d};",
                        "number1": f"+1415{i:07d}",
                        "number2": None,
                        "number3": None,
                        "attributes": [],
                        "result": "DIALING",
                        "call_result": None,
                        "classifier": None,
                        "call_count": 0,
                        "last_b_number": 0,
                        "next_call_at": now,
                        "agent_id": None,
                        "dialing_mode": None,
                        "preview_time": None,
                        "priority": 0,
                        "time_zone": None,
                        "state": 0,
                        "import_tag": None,
                        "amount": None,
                        "script": None,
                        "lease_owner": None,
                        "lease_until": None,
                        "created_at": now,
                        "modified_at": now,
                    }
                )
                attributes += [
                    {
                        "tenant_id": tenant_id,
                        "customer_id": cid,
                        "position": p,
                        "name": k,
                        "name_ci": k.lower(),
                        "value": v,
                        "value_ci": v.lower(),
                    }
                    for p, (k, v) in enumerate(
                        (("City", f"c{i % 1000}"), ("Phone1", f"+1415{i:07d}"))
                    )
                ]
            store.insert_customers(conn, rows, attributes)
    return n / (time.perf_counter() - start)


def _service(db: Database, tenant_id: str, n: int) -> float:
    clock = WallClock()
    start = time.perf_counter()
    for first in range(0, n, 10_000):
        items = []
        for i in range(first, min(n, first + 10_000)):
            raw = _item(i, "s")
            items.append(
                svc.NewCustomer(
                    external_id=str(raw["externalId"]),
                    numbers=str(raw["numbers"]),
                    attributes=(("City", f"c{i % 1000}"), ("Classification", "gold")),
                )
            )
        svc.add_customers(db, clock, tenant_id, PREVIEW_CAMPAIGN_ID, items, max_items=10_000)
    return n / (time.perf_counter() - start)


def _http(client: httpx.Client, n: int) -> float:
    start = time.perf_counter()
    path = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers/list"
    for first in range(0, n, 100):
        body = [_item(i, "") for i in range(first, min(n, first + 100))]
        client.post(path, json=body, headers=AUTH).raise_for_status()
    return n / (time.perf_counter() - start)


def run(url: str, n: int, search_only: bool = False) -> dict[str, object]:
    db = Database(url)
    upgrade(db)
    tenant_id = provision_demo(db, WallClock()).tenant_id
    settings = Settings(database_url=url, secret_key="bench", run_engine=False)
    app = create_app(Container(settings, db, WallClock(), "bench"))
    out: dict[str, object] = {"backend": db.dialect, "n": n}
    with running_server(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        if not search_only:
            out["raw"] = _raw(db, tenant_id, n)
            out["service"] = _service(db, tenant_id, n)
            out["obi_http"] = _http(client, n)
        else:
            _http(client, n)
        if db.is_postgres:
            # What autovacuum does after a bulk load; without statistics the planner
            # may pick a nested loop for the attribute subquery.
            with db.begin() as conn:
                conn.exec_driver_sql("ANALYZE customers")
                conn.exec_driver_sql("ANALYZE customer_attributes")
        out["search"] = measure(client, f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers", AUTH)
    db.dispose()
    return out


def _report(results: list[dict[str, object]]) -> str:
    lines = [
        "# OBI bulk import and search",
        "",
        "Measured by `benchmarks/obi_bulk.py` on this machine (2 cores), one process",
        "(client and uvicorn server in the same process, so HTTP figures include the client).",
        "",
        "| backend | customers per path | raw multi-row INSERT rows/s | native bulk service rows/s "
        "(% of raw) | OBI customers/list x100 over HTTP rows/s (% of raw) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if "raw" not in r:
            continue
        raw, service, obi = float(r["raw"]), float(r["service"]), float(r["obi_http"])  # type: ignore[arg-type]
        lines.append(
            f"| {r['backend']} | {r['n']} | {raw:,.0f} "
            f"| {service:,.0f} ({100 * service / raw:.0f} %) "
            f"| {obi:,.0f} ({100 * obi / raw:.0f} %) |"
        )
    lines += [
        "",
        "Search latency, p50 of 50 requests over HTTP (limit 100), campaign of the "
        "OBI-imported customers:",
        "",
        "| backend | query | p50 ms |",
        "|---|---|---|",
    ]
    for r in results:
        for name, p50 in r["search"].items():  # type: ignore[attr-defined]
            lines.append(f"| {r['backend']} | `{name}` | {p50:.1f} |")
    return "\n".join(lines) + "\n"


def main(search_only: bool = False) -> None:
    n = int(os.environ.get("OBI_BENCH_N", "20000"))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run(f"sqlite:///{tmp}/obi-bench.db", n, search_only))
    pg = os.environ.get("OBI_BENCH_PG")
    if pg:
        results.append(run(pg, n, search_only))
    text = _report(results)
    print(text)
    if not search_only:
        Path("docs/benchmarks").mkdir(parents=True, exist_ok=True)
        Path("docs/benchmarks/obi.md").write_text(text)


if __name__ == "__main__":
    main()
