"""Engine benchmarks: dispatch lag under a large backlog, and claims per second on PostgreSQL.

1. Dispatch lag (SQLite file, wall clock, sim driver): `BENCH_PENDING` callbacks
   are inserted with start times a day ahead (the backlog), then the engine
   starts, and `BENCH_DUE` customer-first callbacks become due one by one,
   20 ms apart. Lag = the attempt's `placed_at` (committed just before the
   dial) minus the callback's due time; p50/p99 reported with the process's
   peak resident memory.
2. Claims per second (PostgreSQL): `BENCH_CLAIMS` due rows, two worker threads
   each claiming batches of 100 with `FOR UPDATE SKIP LOCKED` until none is
   left.

Writes docs/benchmarks/engine.md. Usage: `.venv/bin/python benchmarks/engine.py`.
"""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from rappel.bootstrap import Container  # noqa: E402
from rappel.clock import WallClock  # noqa: E402
from rappel.config import Settings  # noqa: E402
from rappel.domain.ids import new_id  # noqa: E402
from rappel.engine.leases import Leases  # noqa: E402
from rappel.engine.worker import run_engine  # noqa: E402
from rappel.services.demo import IVR_CHANNEL, provision_demo  # noqa: E402
from rappel.store.db import Database  # noqa: E402
from rappel.store.migrate import upgrade  # noqa: E402
from rappel.store.tables import attempts, customers, interactions, tenants  # noqa: E402

REPORT = ROOT / "docs" / "benchmarks" / "engine.md"
PENDING = int(os.environ.get("BENCH_PENDING", "1000000"))
DUE = int(os.environ.get("BENCH_DUE", "300"))
CLAIMS = int(os.environ.get("BENCH_CLAIMS", "100000"))


def rows(tenant_id: str, count: int, start: datetime, step: timedelta, flow: str) -> Any:
    now = datetime.now(UTC)
    cust, inter = [], []
    for i in range(count):
        cid, iid = new_id(), new_id()
        due = start + step * i
        cust.append(
            {"tenant_id": tenant_id, "id": cid, "external_id": iid, "numbers": "16505551212",
             "number1": "16505551212", "attributes": [], "created_at": now, "modified_at": now}
        )  # fmt: skip
        inter.append(
            {"tenant_id": tenant_id, "id": iid, "customer_id": cid, "flow": flow,
             "callback_type": 1, "callback_status": 2, "status": 1, "start_time": due,
             "customer_number": "16505551212", "start_date": now, "source": "native",
             "channel_number": IVR_CHANNEL, "udata": {}, "ext_transaction_data": [],
             "due_at": due, "updated_at": now}
        )  # fmt: skip
    return cust, inter


def insert_rows(db: Database, tenant_id: str, count: int, start: datetime, step: timedelta,
                flow: str) -> None:  # fmt: skip
    for offset in range(0, count, 20_000):
        n = min(20_000, count - offset)
        cust, inter = rows(tenant_id, n, start + step * offset, step, flow)
        with db.begin() as conn:
            conn.execute(insert(customers), cust)
            conn.execute(insert(interactions), inter)


def dispatch_lag(tmp: Path) -> dict[str, Any]:
    db = Database(f"sqlite:///{tmp / 'engine.db'}")
    upgrade(db)
    clock = WallClock()
    tenant_id = provision_demo(db, clock).tenant_id
    with db.begin() as conn:
        conn.execute(tenants.update().values(hard_hours_start="00:00", hard_hours_end="00:00"))
    started = time.perf_counter()
    insert_rows(db, tenant_id, PENDING, clock.now() + timedelta(days=1), timedelta(0), "ASAP")
    insert_seconds = time.perf_counter() - started
    first_due = clock.now() + timedelta(seconds=3)
    step = timedelta(milliseconds=20)
    insert_rows(db, tenant_id, DUE, first_due, step, "CUSTOMER_FIRST")
    settings = Settings(database_url=db.url, secret_key="bench", sim_outcomes="16505551212=busy",
                        run_engine=True)  # fmt: skip
    container = Container(settings, db, clock, "bench")

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_engine(container, stop))
        end = first_due + step * DUE + timedelta(seconds=2)
        while datetime.now(UTC) < end:
            await asyncio.sleep(0.2)
        stop.set()
        await task

    asyncio.run(main())
    with db.read() as conn:
        found = conn.execute(
            select(attempts.c.placed_at, interactions.c.start_time)
            .join(interactions, interactions.c.id == attempts.c.interaction_id)
            .where(attempts.c.attempt_no == 1)
        ).all()
    lags = sorted((placed - due).total_seconds() * 1000 for placed, due in found)
    db.dispose()
    return {
        "pending": PENDING,
        "due": DUE,
        "dialled": len(lags),
        "insert_s": insert_seconds,
        "p50": statistics.median(lags) if lags else float("nan"),
        "p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan"),
        "max": lags[-1] if lags else float("nan"),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def claims_per_second() -> dict[str, Any] | None:
    from tests.support.databases import postgres_database

    try:
        context = postgres_database()
        url = context.__enter__()
    except BaseException as exc:  # pytest.skip raises a BaseException
        print(f"PostgreSQL not available: {exc}")
        return None
    try:
        db = Database(url)
        upgrade(db)
        clock = WallClock()
        tenant_id = provision_demo(db, clock).tenant_id
        insert_rows(db, tenant_id, CLAIMS, clock.now() - timedelta(hours=1), timedelta(0), "ASAP")
        counts = [0, 0]

        def work(i: int) -> None:
            leases = Leases(db, clock, f"bench-{i}", lease_s=60)
            while batch := leases.claim(100):
                counts[i] += len(batch)

        threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        db.dispose()
        return {"claims": sum(counts), "split": counts, "seconds": seconds,
                "rate": sum(counts) / seconds}  # fmt: skip
    finally:
        context.__exit__(None, None, None)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lag = dispatch_lag(Path(tmp))
    claims = claims_per_second()
    lines = [
        "# Engine benchmarks",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs. Produced by `benchmarks/engine.py`.",
        "",
        "## Dispatch lag (SQLite file, wall clock, sim driver)",
        "",
        f"- backlog: {lag['pending']:,} pending scheduled callbacks due tomorrow "
        f"(inserted in {lag['insert_s']:.0f} s)",
        f"- {lag['due']} callbacks falling due 20 ms apart; {lag['dialled']} dialled",
        f"- lag from due time to the committed first attempt: p50 {lag['p50']:.1f} ms, "
        f"p99 {lag['p99']:.1f} ms, max {lag['max']:.1f} ms",
        f"- peak resident memory of the process (engine, database driver, backlog "
        f"insertion included): {lag['rss_mb']:.0f} MB",
        "",
        "## Claims per second (PostgreSQL, two workers)",
        "",
    ]
    if claims is None:
        lines.append("PostgreSQL was not available.")
    else:
        lines.append(
            f"- {claims['claims']:,} due rows claimed in batches of 100 by two threads "
            f"({claims['split'][0]:,} / {claims['split'][1]:,}) in {claims['seconds']:.2f} s: "
            f"**{claims['rate']:,.0f} claims/s**"
        )
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
