"""OBI customer search: a page of a campaign's customers in externalId order.

Field patterns come from `rappel.store.customers` (field_condition); this module
adds the attribute search and chooses how the database should run it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, and_, func, select

from rappel.store.customers import C, has_wildcards, like_pattern
from rappel.store.tables import customer_attributes, customers


@dataclass(frozen=True)
class AttributeFilter:
    """Customers with attribute `name` (case-insensitive), of `value` (an OBI pattern) if given."""

    name: str
    value: str | None = None

    @property
    def exact(self) -> bool:
        return self.value is not None and not has_wildcards(self.value)


#: Matching attribute rows in the campaign below which a value pattern starts from them
#: and sorts their externalIds (10,000 sort in about 3 ms on SQLite); from there on,
#: walking the attribute's rows in externalId order finds a page sooner.
FEW_MATCHES = 10_000

A = customer_attributes.c


def _value_terms(
    attribute: AttributeFilter, *, sqlite: bool, indexed: bool = True
) -> list[ColumnElement[bool]]:
    """The value conditions; `indexed=False` keeps SQLite off (campaign, name, value)."""
    if attribute.value is None:
        return []
    lowered = attribute.value.lower()[:500]
    if not has_wildcards(lowered):
        return [A.value_ci == lowered]
    value = A.value_ci if indexed else A.value_ci + ""
    prefix = re.split(r"[*?]", lowered, maxsplit=1)[0]
    terms = []
    if prefix and sqlite and indexed:
        # SQLite's LIKE ignores case, so it never range-scans a BINARY index by itself;
        # the values are lower case already, so the byte range of the prefix is exact.
        # (PostgreSQL turns LIKE 'c12%' into the range itself: varchar_pattern_ops.)
        terms += [A.value_ci >= prefix, A.value_ci < prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        if lowered == prefix + "*":
            return terms  # the range is the whole pattern: no LIKE to test on every entry
    return [*terms, value.like(like_pattern(lowered), escape="\\")]


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

    An attribute search finds the page's externalIds in customer_attributes
    alone, through its two indexes scoped by campaign, then reads only those
    customers. An exact value walks (campaign, name, value, externalId) in
    order and stops after the page. A value pattern either range-scans that
    index and sorts the matches' externalIds (when a capped count finds fewer
    than FEW_MATCHES) or walks (campaign, name, externalId, value) in order,
    testing each value inside the index (many match, so a page is near).
    PostgreSQL chooses between them from its statistics; SQLite has none, so
    the count chooses and the other index is kept out of the query (`x || ''`
    hides a column from its planner).
    """
    if attribute is None:
        query = (
            select(customers)
            .where(C.tenant_id == tenant_id, C.campaign_id == campaign_id, *conditions)
            .order_by(C.external_id)
            .offset(offset)
            .limit(limit)
        )
        return list(conn.execute(query).mappings())
    sqlite = conn.dialect.name == "sqlite"
    scope = [A.tenant_id == tenant_id, A.campaign_id == campaign_id]
    scope.append(A.name_ci == attribute.name.lower()[:200])
    values = _value_terms(attribute, sqlite=sqlite)
    key: ColumnElement[Any] = A.external_id
    if sqlite and not attribute.exact:
        if attribute.value is not None and _fewer_than(conn, [*scope, *values]):
            key = A.external_id + ""  # sort the few matches, not walk every row
        else:
            values = _value_terms(attribute, sqlite=True, indexed=False)
    page = select(A.external_id).where(*scope, *values)
    if conditions:
        page = page.join(customers, _same_customer()).where(*conditions)
    page = page.group_by(key).order_by(key).offset(offset).limit(limit)
    if not sqlite:
        # Worker processes take longer to start (tens of ms) than a page of
        # 100 takes to find; the planner counts their start-up far too cheaply.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    found = page.subquery("page")
    query = (
        select(customers)
        .select_from(found)
        .join(
            customers,
            and_(
                C.tenant_id == tenant_id,
                C.campaign_id == campaign_id,
                C.external_id == found.c.external_id,
            ),
        )
        .order_by(found.c.external_id)
    )
    return list(conn.execute(query).mappings())


def _same_customer() -> ColumnElement[bool]:
    return and_(
        C.tenant_id == A.tenant_id, C.campaign_id == A.campaign_id, C.external_id == A.external_id
    )


def _fewer_than(conn: Connection, terms: list[ColumnElement[bool]]) -> bool:
    """Whether fewer than FEW_MATCHES attribute rows match (counting stops there)."""
    rows: Select[Any] = select(A.external_id).where(*terms).limit(FEW_MATCHES)
    counted = select(func.count()).select_from(rows.subquery())
    return int(conn.execute(counted).scalar_one()) < FEW_MATCHES
