"""Which dial plan reads a tenant's raw numbers, on a real SQLite database.

Every surface (8x8 intake, the widget, OBI and native customers, data dips) asks
`services.tenancy.dial_plan`, so a tenant's numbers read the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rappel.clock import VirtualClock
from rappel.domain.codes import CallbackFlow
from rappel.domain.errors import NotFound
from rappel.domain.phone import DialPlan, PrefixRule
from rappel.services import callbacks, customers, provisioning, tenancy, widget
from rappel.store.db import Database
from rappel.store.migrate import upgrade

START = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'plans.db'}")
    upgrade(database)
    yield database
    database.dispose()


def _tenant(db: Database, time_zone: str) -> str:
    clock = VirtualClock(START)
    made = tenancy.create_tenant(db, clock, {"name": "Plans", "time_zone": time_zone})
    provisioning.create_queue(db, clock, made.id, {"short_id": 7, "name": "Q"})
    return made.id


def _plan(db: Database, tenant_id: str, plan_id: int | None = None) -> DialPlan:
    tenant = tenancy.get_tenant(db, tenant_id)
    with db.read() as conn:
        return tenancy.dial_plan(conn, tenant, plan_id)


def _intake(db: Database, tenant_id: str, raw: str) -> str:
    request = callbacks.CallbackRequest(phone=raw, flow=CallbackFlow.ASAP, source="t", queue="7")
    made = callbacks.request_callback(db, VirtualClock(START), tenant_id, request)
    return str(made.interaction["customer_number"])


def test_without_a_default_plan_the_time_zone_names_the_country(db: Database) -> None:
    tenant_id = _tenant(db, "Europe/Helsinki")
    assert _plan(db, tenant_id) == DialPlan(0, "FI")
    # The same national number reads as Finnish on every surface.
    assert _intake(db, tenant_id, "040 123 4567") == "+358401234567"
    assert widget.normalize_phone(db, tenancy.get_tenant(db, tenant_id), "040 123 4567") == (
        "+358401234567"
    )
    with db.read() as conn:
        assert customers.dial_plan(conn, tenant_id) == DialPlan(0, "FI")


def test_a_time_zone_of_no_country_falls_back_to_the_us(db: Database) -> None:
    tenant_id = _tenant(db, "UTC")
    assert _plan(db, tenant_id) == DialPlan(0, "US")
    assert _intake(db, tenant_id, "650 555 1212") == "+16505551212"


def test_the_default_plan_and_its_rules_apply(db: Database) -> None:
    tenant_id = _tenant(db, "Europe/Helsinki")
    rules = [{"match": "011", "replace": "+"}]
    provisioning.put_dial_plan(
        db, tenant_id, {"plan_id": 3, "default_region": "SE", "prefix_rules": rules}
    )
    tenancy.update_tenant(db, tenant_id, {"default_dial_plan_id": 3})
    assert _plan(db, tenant_id) == DialPlan(3, "SE", [PrefixRule("011", "+")])
    assert _intake(db, tenant_id, "011 358 40 123 4567") == "+358401234567"
    assert _intake(db, tenant_id, "070 123 45 67") == "+46701234567"


def test_a_named_plan_overrides_the_default_and_an_unknown_one_is_not_found(
    db: Database,
) -> None:
    tenant_id = _tenant(db, "Europe/Helsinki")
    provisioning.put_dial_plan(db, tenant_id, {"plan_id": 4, "default_region": "SE"})
    assert _plan(db, tenant_id, 4) == DialPlan(4, "SE")
    with pytest.raises(NotFound):
        _plan(db, tenant_id, 77)
    request = callbacks.CallbackRequest(
        phone="040 123 4567", flow=CallbackFlow.ASAP, source="t", queue="7", dial_plan_id=77
    )
    with pytest.raises(callbacks.IntakeRefused) as refused:
        callbacks.request_callback(db, VirtualClock(START), tenant_id, request)
    assert refused.value.problem is callbacks.IntakeProblem.DIAL_PLAN_UNKNOWN


def test_a_deleted_default_plan_falls_back_instead_of_refusing(db: Database) -> None:
    tenant_id = _tenant(db, "Europe/Helsinki")
    provisioning.put_dial_plan(db, tenant_id, {"plan_id": 5, "default_region": "SE"})
    tenancy.update_tenant(db, tenant_id, {"default_dial_plan_id": 5})
    provisioning.delete_dial_plan(db, tenant_id, 5)
    assert _plan(db, tenant_id) == DialPlan(0, "FI")
    assert _intake(db, tenant_id, "040 123 4567") == "+358401234567"
