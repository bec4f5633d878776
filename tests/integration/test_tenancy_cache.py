"""The tenancy cache against the triggers that version its rows, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select, text

from rappel.clock import WallClock
from rappel.services import provisioning, tenancy
from rappel.services.demo import CALLBACK_QUEUE_ID, provision_demo
from rappel.store.db import Database
from rappel.store.tables import tenancy_version
from rappel.store.tenancy_cache import TenancyCache


def version(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(tenancy_version.c.version)).scalar_one())


def test_every_change_to_a_watched_table_moves_the_version(db: Database) -> None:
    before = version(db)
    tenant_id = provision_demo(db, WallClock()).tenant_id
    after_demo = version(db)
    assert after_demo > before
    changes = [
        "UPDATE tenants SET time_zone = 'Europe/Paris' WHERE id = :t",
        "UPDATE api_tokens SET label = 'renamed' WHERE tenant_id = :t",
        "UPDATE channels SET enabled = false WHERE tenant_id = :t",
        "UPDATE queues SET name = 'renamed' WHERE tenant_id = :t",
        "UPDATE dial_plans SET default_region = 'FR' WHERE tenant_id = :t",
        "DELETE FROM dial_plans WHERE tenant_id = :t",
    ]
    seen = after_demo
    for change in changes:
        with db.begin() as conn:
            conn.execute(text(change), {"t": tenant_id})
        assert version(db) > seen, change
        seen = version(db)


def test_unchanged_rows_are_served_from_memory_and_changes_are_seen(db: Database) -> None:
    tenant_id = provision_demo(db, WallClock()).tenant_id
    cache = TenancyCache()
    with db.begin() as conn:
        first = cache.tenant_by_name(conn, "Acme")
        queue = cache.queue_by_short_id(conn, tenant_id, 103)
    with db.begin() as conn:
        assert cache.tenant_by_name(conn, "Acme") is first
        assert cache.queue_by_short_id(conn, tenant_id, 103) is queue
    assert first is not None
    assert queue is not None
    assert queue.enabled
    tenancy.update_tenant(db, tenant_id, {"time_zone": "Europe/Paris"})
    provisioning.update_queue(db, tenant_id, CALLBACK_QUEUE_ID, {"enabled": False})
    with db.begin() as conn:
        again = cache.tenant_by_name(conn, "Acme")
        changed_queue = cache.queue_by_short_id(conn, tenant_id, 103)
    assert again is not None
    assert again.time_zone == "Europe/Paris"
    assert changed_queue is not None
    assert not changed_queue.enabled


def test_misses_are_not_cached(db: Database) -> None:
    cache = TenancyCache()
    with db.begin() as conn:
        assert cache.tenant_by_name(conn, "Acme") is None
    provision_demo(db, WallClock())
    with db.begin() as conn:
        assert cache.tenant_by_name(conn, "Acme") is not None
        for n in range(50):
            assert cache.token(conn, f"{n:064x}") is None
    assert len(cache._entries) == 1
