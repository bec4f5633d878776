"""Leases: concurrent workers claim disjoint interactions, and an expired lease is taken over."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import insert

from rappel.clock import VirtualClock
from rappel.domain.ids import new_id
from rappel.engine.leases import Leases
from rappel.store.db import Database
from rappel.store.tables import customers, interactions


def _pending(db: Database, tenant_id: str, clock: VirtualClock, count: int) -> None:
    now = clock.now()
    cust, inter = [], []
    for _ in range(count):
        cid, iid = new_id(), new_id()
        cust.append(
            {"tenant_id": tenant_id, "id": cid, "external_id": iid, "numbers": "16505551212",
             "attributes": [], "created_at": now, "modified_at": now}
        )  # fmt: skip
        inter.append(
            {"tenant_id": tenant_id, "id": iid, "customer_id": cid, "flow": "AGENT_FIRST",
             "callback_type": 1, "callback_status": 3, "status": 1, "start_time": now,
             "customer_number": "16505551212", "start_date": now, "source": "native",
             "udata": {}, "ext_transaction_data": [], "due_at": now - timedelta(seconds=1),
             "updated_at": now}
        )  # fmt: skip
    with db.begin() as conn:
        conn.execute(insert(customers), cust)
        conn.execute(insert(interactions), inter)


def test_two_workers_never_claim_the_same_interaction(db: Database, demo: str) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite runs one worker; SKIP LOCKED concurrency is a PostgreSQL matter")
    clock = VirtualClock()
    _pending(db, demo, clock, 600)
    claimed: dict[str, list[str]] = {"a": [], "b": []}

    def work(name: str) -> None:
        leases = Leases(db, clock, f"worker-{name}", lease_s=30)
        while batch := leases.claim(25):
            claimed[name] += [r["id"] for r in batch]

    threads = [threading.Thread(target=work, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = claimed["a"] + claimed["b"]
    assert len(both) == 600
    assert len(set(both)) == 600
    assert claimed["a"]
    assert claimed["b"]


def test_a_claimed_interaction_is_not_due_until_its_lease_expires(db: Database, demo: str) -> None:
    clock = VirtualClock()
    _pending(db, demo, clock, 3)
    first = Leases(db, clock, "first", lease_s=30)
    second = Leases(db, clock, "second", lease_s=30)
    assert len(first.claim(10)) == 3
    assert second.claim(10) == []
    clock.set(clock.now() + timedelta(seconds=31))
    taken = second.claim(10)
    assert {r["lease_owner"] for r in taken} == {"second"}
    assert len(first.renew([(r["tenant_id"], r["id"]) for r in taken])) == 3
