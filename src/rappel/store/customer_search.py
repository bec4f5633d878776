"""OBI customer search: a page of a campaign's customers in externalId order.

Field patterns come from `rappel.store.customers` (field_condition); this module
adds the attribute search and chooses how the database should run it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, exists, func, select

from rappel.store.customers import C, has_wildcards, like_pattern
from rappel.store.tables import customer_attributes, customers


@dataclass(frozen=True)
class AttributeFilter:
    """Customers with attribute `name` (case-insensitive), of `value` (an OBI pattern) if given."""

    name: str
    value: str | None = None


#: Matching attribute rows (tenant-wide) below which a SQLite search starts from them:
#: about where walking the campaign and sorting the matches cost the same.
FEW_MATCHES = 5_000


def _attribute_terms(
    attribute: AttributeFilter, *, sqlite: bool, indexed: bool = True
) -> list[ColumnElement[bool]]:
    """The attribute row conditions; `indexed=False` keeps SQLite off the lookup index."""
    A = customer_attributes.c
    # In SQLite `x || ''` is the same text, but no index serves the comparison.
    name_ci, value_ci = (A.name_ci, A.value_ci) if indexed else (A.name_ci + "", A.value_ci + "")
    terms = [name_ci == attribute.name.lower()]
    if attribute.value is None:
        return terms
    lowered = attribute.value.lower()[:500]
    if not has_wildcards(lowered):
        return [*terms, value_ci == lowered]
    prefix = re.split(r"[*?]", lowered, maxsplit=1)[0]
    if prefix and sqlite and indexed:
        # SQLite's LIKE ignores case, so it never range-scans a BINARY index by itself;
        # the values are lower case already, so the byte range of the prefix is exact.
        terms += [value_ci >= prefix, value_ci < prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    return [*terms, value_ci.like(like_pattern(lowered), escape="\\")]


def list_customers(
    conn: Connection,
    tenant_id: str,
    campaign_id: str,
    conditions: Sequence[ColumnElement[bool]],
    offset: int,
    limit: int,
    attribute: AttributeFilter | None = None,
) -> list[RowMapping]:
    """A page of a campaign's customers in externalId order.

    An attribute search can go two ways: walk the campaign's customers in
    externalId order and look each one's attributes up by primary key (cheap
    when the value is common), or start from the matching attribute rows and
    sort their customers (cheap when it is rare). PostgreSQL chooses from its
    statistics. SQLite has none and, left alone, first collects every match:
    seconds for `classification=gold` over a million customers. So on SQLite a
    capped count of the matches chooses, and the other way's indexes are kept
    out of the query (`x || ''` hides a column from the planner).
    """
    sqlite = conn.dialect.name == "sqlite"
    campaign: ColumnElement[Any] = C.campaign_id
    order: ColumnElement[Any] = C.external_id
    scope = list(conditions)
    if attribute is not None:
        A = customer_attributes.c
        found = select(A.customer_id).where(
            A.tenant_id == tenant_id, *_attribute_terms(attribute, sqlite=sqlite)
        )
        if sqlite and _fewer_than(conn, found, FEW_MATCHES):
            campaign, order = C.campaign_id + "", C.external_id + ""
            scope.append(C.id.in_(found))
        else:
            terms = _attribute_terms(attribute, sqlite=sqlite, indexed=not sqlite)
            scope.append(exists().where(A.tenant_id == C.tenant_id, A.customer_id == C.id, *terms))
        if not sqlite:
            # Worker processes take longer to start (tens of ms) than a page of
            # 100 takes to find; the planner counts their start-up far too cheaply.
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    query = (
        select(customers)
        .where(C.tenant_id == tenant_id, campaign == campaign_id, *scope)
        .order_by(order)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def _fewer_than(conn: Connection, rows: Select[Any], cap: int) -> bool:
    counted = select(func.count()).select_from(rows.limit(cap).subquery())
    return int(conn.execute(counted).scalar_one()) < cap
