"""Queries for the data dip: provider configuration and lookups, CRM dip configs, the dip log,
and saved session parameters. Every query names its tenant and runs on an index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    union,
)
from sqlalchemy.exc import SQLAlchemyError

from rappel.store.db import upsert_into
from rappel.store.tables import (
    crm_dip_configs,
    customer_attributes,
    customers,
    datadip_log,
    datadip_provider_config,
    interactions,
    session_parameters,
)

_RECORD_COLUMNS = (
    customers.c.id,
    customers.c.campaign_id,
    customers.c.external_id,
    customers.c.number1,
    customers.c.number2,
    customers.c.number3,
    customers.c.attributes,
    customers.c.result,
    customers.c.classifier,
    customers.c.modified_at,
)

# -- provider ---------------------------------------------------------------


def get_provider_config(conn: Connection, tenant_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(datadip_provider_config.c.config).where(
            datadip_provider_config.c.tenant_id == tenant_id
        )
    ).first()
    return dict(row[0]) if row else None


def put_provider_config(
    conn: Connection, tenant_id: str, config: Mapping[str, Any], now: datetime
) -> None:
    # One statement, so that two admins saving at once both succeed (the last one wins).
    values = {"config": dict(config), "modified_at": now}
    statement = upsert_into(conn, datadip_provider_config).values(tenant_id=tenant_id, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=["tenant_id"], set_=values))


def _newest(query: Select[Any], campaigns: Sequence[str]) -> Select[Any]:
    if campaigns:
        query = query.where(customers.c.campaign_id.in_(campaigns))
    # Several matches: the most recently modified record wins (ties: the larger id).
    return query.order_by(customers.c.modified_at.desc(), customers.c.id.desc()).limit(1)


def find_by_phone(
    conn: Connection, tenant_id: str, number: str, campaigns: Sequence[str] = ()
) -> RowMapping | None:
    """The newest record holding `number` (E.164) in any of its three number columns."""
    # A UNION of three single-index probes: with a plain OR, SQLite scans the table.
    holders = union(
        *(
            select(customers.c.id).where(
                customers.c.tenant_id == tenant_id, _selective(conn, column == number)
            )
            for column in (customers.c.number1, customers.c.number2, customers.c.number3)
        )
    )
    query = select(*_RECORD_COLUMNS).where(
        customers.c.tenant_id == tenant_id, customers.c.id.in_(holders)
    )
    return conn.execute(_newest(query, campaigns)).mappings().first()


def _selective(conn: Connection, clause: ColumnElement[bool]) -> ColumnElement[bool]:
    # After ANALYZE, SQLite thinks an index on a mostly empty column (number3) matches
    # every row and scans the table instead; likelihood() tells it the match is rare.
    if conn.dialect.name == "sqlite":
        return func.likelihood(clause, literal_column("0.000001"))
    return clause


def find_by_external_id(
    conn: Connection, tenant_id: str, external_id: str, campaigns: Sequence[str] = ()
) -> RowMapping | None:
    query = select(*_RECORD_COLUMNS).where(
        customers.c.tenant_id == tenant_id, customers.c.external_id == external_id
    )
    return conn.execute(_newest(query, campaigns)).mappings().first()


def find_by_attribute(
    conn: Connection, tenant_id: str, name: str, value: str, campaigns: Sequence[str] = ()
) -> RowMapping | None:
    attrs = customer_attributes
    query = (
        select(*_RECORD_COLUMNS)
        .join(
            attrs,
            and_(attrs.c.tenant_id == customers.c.tenant_id, attrs.c.customer_id == customers.c.id),
        )
        .where(
            attrs.c.tenant_id == tenant_id,
            attrs.c.name_ci == name.lower(),
            attrs.c.value_ci == value.lower()[:500],
        )
    )
    return conn.execute(_newest(query, campaigns)).mappings().first()


# -- consumer configuration -------------------------------------------------


def put_crm_config(conn: Connection, values: Mapping[str, Any]) -> None:
    key = ("tenant_id", "scope", "scope_id")
    statement = upsert_into(conn, crm_dip_configs).values(**values)
    changed = {name: value for name, value in values.items() if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changed))


def get_crm_config(
    conn: Connection, tenant_id: str, scope: str, scope_id: str
) -> RowMapping | None:
    table = crm_dip_configs
    return (
        conn.execute(
            select(table).where(
                table.c.tenant_id == tenant_id,
                table.c.scope == scope,
                table.c.scope_id == scope_id,
            )
        )
        .mappings()
        .first()
    )


def list_crm_configs(conn: Connection, tenant_id: str) -> list[RowMapping]:
    table = crm_dip_configs
    query = (
        select(table)
        .where(table.c.tenant_id == tenant_id)
        .order_by(table.c.scope, table.c.scope_id)
    )
    return list(conn.execute(query).mappings())


def delete_crm_config(conn: Connection, tenant_id: str, scope: str, scope_id: str) -> bool:
    table = crm_dip_configs
    result = conn.execute(
        delete(table).where(
            table.c.tenant_id == tenant_id, table.c.scope == scope, table.c.scope_id == scope_id
        )
    )
    return bool(result.rowcount)


def tenant_crm_configs(conn: Connection, tenant_id: str) -> tuple[RowMapping, ...]:
    """Every CRM dip configuration of a tenant, whatever its scope."""
    query = select(crm_dip_configs).where(crm_dip_configs.c.tenant_id == tenant_id)
    return tuple(conn.execute(query).mappings())


def interaction_for_dip(conn: Connection, tenant_id: str, interaction_id: str) -> RowMapping | None:
    """What a CRM request is built from: the interaction and its customer's attributes."""
    query = (
        select(
            interactions.c.id,
            interactions.c.campaign_id,
            interactions.c.queue_id,
            interactions.c.customer_number,
            interactions.c.udata,
            interactions.c.ext_transaction_data,
            customers.c.attributes,
        )
        .join(
            customers,
            and_(
                customers.c.tenant_id == interactions.c.tenant_id,
                customers.c.id == interactions.c.customer_id,
            ),
        )
        .where(interactions.c.tenant_id == tenant_id, interactions.c.id == interaction_id)
    )
    return conn.execute(query).mappings().first()


# -- dip log and saved parameters -------------------------------------------


def _length(column: Column[Any]) -> int:
    kind = column.type
    if not isinstance(kind, String) or kind.length is None:
        raise TypeError(f"{column.name} is not a string column of bounded length")
    return kind.length


#: The longest parameter name `session_parameters.name` holds (characters).
SAVED_NAME_MAX_CHARS = _length(session_parameters.c.name)
#: The longest value saved, in UTF-8 bytes. PostgreSQL's btree entries hold at most
#: ~2,700 bytes and ix_session_parameters_search covers (tenant_id, name, value), where
#: a name alone may take 800 bytes; SQLite has no such limit but keeps the same rule.
SAVED_VALUE_MAX_BYTES = 1024


def insert_dip_log(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(datadip_log).values(**values))


def dip_log(conn: Connection, tenant_id: str, interaction_id: str) -> list[RowMapping]:
    query = (
        select(datadip_log)
        .where(datadip_log.c.tenant_id == tenant_id, datadip_log.c.interaction_id == interaction_id)
        .order_by(datadip_log.c.at, datadip_log.c.id)
    )
    return list(conn.execute(query).mappings())


def save_parameters(
    conn: Connection, tenant_id: str, interaction_id: str, values: Mapping[str, tuple[str, bool]]
) -> dict[str, str]:
    """Store name -> (value, display_to_agent); a later dip's value replaces an earlier one.

    A value the database refuses costs only itself: each is retried in its own
    savepoint when the batch fails. Returns the refused names with the error's type
    (never its message, which can quote the value).
    """
    if not values:
        return {}
    try:
        with conn.begin_nested():
            _replace_parameters(conn, tenant_id, interaction_id, values)
        return {}
    except (SQLAlchemyError, UnicodeError):  # drivers raise encoding errors unwrapped
        pass
    refused: dict[str, str] = {}
    for name, pair in values.items():
        try:
            with conn.begin_nested():
                _replace_parameters(conn, tenant_id, interaction_id, {name: pair})
        except (SQLAlchemyError, UnicodeError) as exc:
            refused[name] = type(exc).__name__
    return refused


def _replace_parameters(
    conn: Connection, tenant_id: str, interaction_id: str, values: Mapping[str, tuple[str, bool]]
) -> None:
    table = session_parameters
    conn.execute(
        delete(table).where(
            table.c.tenant_id == tenant_id,
            table.c.interaction_id == interaction_id,
            table.c.name.in_(list(values)),
        )
    )
    conn.execute(
        insert(table),
        [
            {
                "tenant_id": tenant_id,
                "interaction_id": interaction_id,
                "name": name,
                "value": value,
                "display_to_agent": display,
            }
            for name, (value, display) in values.items()
        ],
    )


def saved_parameters(conn: Connection, tenant_id: str, interaction_id: str) -> dict[str, str]:
    """The saveToDatabase=true values of one interaction, by name."""
    table = session_parameters
    rows = conn.execute(
        select(table.c.name, table.c.value)
        .where(table.c.tenant_id == tenant_id, table.c.interaction_id == interaction_id)
        .order_by(table.c.name)
    )
    return {name: value for name, value in rows}


def has_parameter(tenant_id: str, name: str, value: str) -> ColumnElement[bool]:
    """A WHERE clause on `interactions` for `?param.<name>=<value>` searches (indexed)."""
    table = session_parameters
    return exists().where(
        table.c.tenant_id == tenant_id,
        table.c.name == name,
        table.c.value == value,
        table.c.interaction_id == interactions.c.id,
    )
