"""The writes and reads of a bulk customer add that no other use case shares.

Customers and their attribute rows go in with `rappel.store.bulk` (one prepared
INSERT on SQLite, COPY on PostgreSQL); on PostgreSQL the tenant's statistics are
refreshed first when they would turn the attribute foreign-key checks quadratic.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, select, text

from rappel.store import bulk
from rappel.store.customers import CAMPAIGN_PARAM, TENANT_PARAM, of_campaign
from rappel.store.tables import customer_attributes, customers, dial_plans, tenants

#: A tenant's customers past which a foreign-key check on the wrong index costs more
#: than refreshing PostgreSQL's statistics (see refresh_stale_statistics).
STALE_STATISTICS_ROWS = 1000


def insert_customers(
    conn: Connection, rows: Sequence[dict[str, Any]], attributes: Sequence[dict[str, Any]]
) -> None:
    """Customers then their attribute rows, in the caller's transaction, in bulk.

    See `rappel.store.bulk`: one prepared INSERT run by the driver on SQLite,
    COPY on PostgreSQL. Every row carries every column.
    """
    bulk.insert_rows(conn, customers, rows)
    if rows and attributes and conn.dialect.name == "postgresql":
        refresh_stale_statistics(conn, rows[0]["tenant_id"])
    bulk.insert_rows(conn, customer_attributes, attributes)


#: Tenants whose statistics this process found fine, and when (time.monotonic()).
_statistics_fine: dict[str, float] = {}
#: Seconds a tenant found fine is not checked again. Only an ANALYZE changes the
#: estimate, and one that leaves a tenant of thousands of customers looking empty
#: is rare; the price of missing it for this long is a slow import, not a wrong one.
STATISTICS_FINE_S = 60.0


def refresh_stale_statistics(conn: Connection, tenant_id: str) -> bool:
    """PostgreSQL: ANALYZE customers when the planner believes this tenant has next to none.

    The foreign key checks every customer_attributes row against customers
    (tenant_id, id) with a plan cached per connection. When the statistics say the
    tenant has about one customer (a table never analyzed, or a tenant new since
    the last ANALYZE), every index that starts with tenant_id looks as cheap as the
    primary key and the planner takes the smallest one: each check then scans all
    of the tenant's customers and a bulk load turns quadratic (10,000 customers took
    over 20 s). Autovacuum would analyze in time; a running import cannot wait for
    it. ANALYZE counts this transaction's own rows and invalidates the cached
    checks. At most once a minute, so a tenant the sample keeps missing cannot make
    every request pay for it. A tenant found fine is not checked again for
    STATISTICS_FINE_S (the check is a round trip per request). True when it analyzed.
    """
    checked = _statistics_fine.get(tenant_id)
    if checked is not None and time.monotonic() - checked < STATISTICS_FINE_S:
        return False
    plan = conn.execute(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM customers WHERE tenant_id = :tenant"),
        {"tenant": tenant_id},
    ).scalar_one()
    if plan[0]["Plan"]["Plan Rows"] * 10 >= STALE_STATISTICS_ROWS:
        _statistics_fine[tenant_id] = time.monotonic()
        return False
    present, recent = conn.execute(
        text(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM customers WHERE tenant_id = :tenant"
            " LIMIT :enough) AS found),"
            " coalesce(greatest(pg_stat_get_last_analyze_time('customers'::regclass),"
            " pg_stat_get_last_autoanalyze_time('customers'::regclass))"
            " > clock_timestamp() - interval '1 minute', false)"
        ),
        {"tenant": tenant_id, "enough": STALE_STATISTICS_ROWS},
    ).one()
    if present < STALE_STATISTICS_ROWS or recent:
        return False
    conn.exec_driver_sql("ANALYZE customers")
    return True


def _campaign_dial_plan_query() -> Any:
    T, P = tenants.c, dial_plans.c
    tenant = TENANT_PARAM
    wanted = select(T.time_zone, P.plan_id, P.default_region, P.prefix_rules)
    return (
        of_campaign(wanted, tenant, CAMPAIGN_PARAM)
        .join(tenants, T.id == tenant)
        .outerjoin(dial_plans, and_(P.tenant_id == tenant, P.plan_id == T.default_dial_plan_id))
    )


_CAMPAIGN_DIAL_PLAN = _campaign_dial_plan_query()


def campaign_dial_plan(conn: Connection, tenant_id: str, campaign_id: str) -> RowMapping | None:
    """What a bulk add needs before validating, in one query; None when no such campaign.

    The campaign as `campaign_exists` finds it, its tenant's time zone and the
    tenant's default dial plan (`plan_id` None when the tenant has none or it is gone).
    """
    given = {"tenant": tenant_id, "campaign": campaign_id}
    return conn.execute(_CAMPAIGN_DIAL_PLAN, given).mappings().first()
