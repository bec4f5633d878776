"""Migration 0003 on a database that already holds customers: attribute rows get their scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select

from rappel.store import customer_search
from rappel.store.db import Database
from rappel.store.migrate import alembic_config, upgrade
from rappel.store.tables import customer_attributes, customers, metadata, tenants
from tests.support.databases import postgres_database

TENANT = "A" * 32
CAMPAIGN = "C" * 32
NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


@pytest.fixture
def fresh(backend: str, tmp_path: Path) -> Iterator[Database]:
    """An empty database of `backend`, not migrated."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield db
        db.dispose()
        return
    with postgres_database() as url:
        db = Database(url)
        yield db
        db.dispose()


def _customer(customer_id: str, campaign_id: str | None, external_id: str) -> dict[str, object]:
    return {
        "tenant_id": TENANT,
        "id": customer_id,
        "campaign_id": campaign_id,
        "external_id": external_id,
        "numbers": "+14155550100",
        "number1": "+14155550100",
        "attributes": [],
        "created_at": NOW,
        "modified_at": NOW,
    }


def _attribute(customer_id: str, position: int, name: str, value: str) -> dict[str, object]:
    # Only the columns revision 0002 has.
    return {
        "tenant_id": TENANT,
        "customer_id": customer_id,
        "position": position,
        "name": name,
        "name_ci": name.lower(),
        "value": value,
        "value_ci": value.lower(),
    }


def test_upgrade_fills_campaign_and_external_id_of_existing_attribute_rows(
    fresh: Database,
) -> None:
    upgrade(fresh, "0002")
    with fresh.begin() as conn:
        conn.execute(insert(tenants).values(id=TENANT, name="old", created_at=NOW))
        conn.execute(
            insert(customers),
            [_customer("1" * 32, CAMPAIGN, "e2"), _customer("2" * 32, None, "callback")],
        )
        conn.execute(
            insert(customer_attributes),
            [
                _attribute("1" * 32, 0, "City", "Paris"),
                _attribute("1" * 32, 1, "Tier", "Gold"),
                _attribute("2" * 32, 0, "City", "Paris"),
            ],
        )
    upgrade(fresh)
    A = customer_attributes.c
    with fresh.read() as conn:
        rows = conn.execute(
            select(A.customer_id, A.position, A.campaign_id, A.external_id).order_by(
                A.customer_id, A.position
            )
        ).all()
        assert [tuple(r) for r in rows] == [
            ("1" * 32, 0, CAMPAIGN, "e2"),
            ("1" * 32, 1, CAMPAIGN, "e2"),
            ("2" * 32, 0, None, "callback"),
        ]
        for value in ("paris", "par*"):
            found = customer_search.list_customers(
                conn, TENANT, CAMPAIGN, [], 0, 100, customer_search.AttributeFilter("CITY", value)
            )
            assert [r["external_id"] for r in found] == ["e2"]


def test_migrated_schema_matches_the_table_definitions(fresh: Database) -> None:
    upgrade(fresh)
    with fresh.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in differences if "customer_attributes" in repr(d)] == []


def test_upgrade_keeps_a_schema_that_already_has_the_scope(fresh: Database) -> None:
    # What scripts/regen-migration makes: 0001 built from tables.py, later revisions kept.
    metadata.create_all(fresh.engine)
    config = alembic_config(fresh)
    with fresh.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.stamp(config, "0002")
        conn.commit()
    upgrade(fresh)
    with fresh.engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in differences if "customer_attributes" in repr(d)] == []
