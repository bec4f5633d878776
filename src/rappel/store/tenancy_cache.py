"""Tenancy reads (tenants, tokens, queues, channels, dial plans, CRM dip configurations),
cached per process.

Intake, and the authentication of every token-bearing request, read the same few
configuration rows on every request. Database triggers bump the one row of
`tenancy_version` on any change to those tables, whoever makes it (migration 0002).
The cache reads that number once per transaction and serves only entries loaded
under the same number, so a revoked token or a disabled queue is refused by the
next transaction on every node.

Misses are never cached (unknown names and tokens cannot grow the cache), and the
number of entries is bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, RowMapping, select

from rappel.domain.tenancy import Channel, Queue, Tenant
from rappel.store import datadip as datadip_store
from rappel.store import tenancy as store
from rappel.store.tables import tenancy_version

T = TypeVar("T")
_VERSION = select(tenancy_version.c.version).where(tenancy_version.c.id == 1)
_CHECKED = "rappel_tenancy_version"


class TenancyReader(Protocol):
    """The configuration lookups intake makes; the store functions, cached or not."""

    def tenant_by_name(self, conn: Connection, name: str) -> Tenant | None: ...
    def tenant(self, conn: Connection, tenant_id: str) -> Tenant | None: ...
    def token(self, conn: Connection, token_hash: str) -> RowMapping | None: ...
    def queue(self, conn: Connection, tenant_id: str, queue_id: str) -> Queue | None: ...
    def queue_by_short_id(self, conn: Connection, tenant_id: str, short: int) -> Queue | None: ...
    def channel(self, conn: Connection, tenant_id: str, number: str) -> Channel | None: ...
    def dial_plan(self, conn: Connection, tenant_id: str, plan_id: int) -> RowMapping | None: ...


class DirectTenancy:
    """Every lookup goes to the database."""

    def tenant_by_name(self, conn: Connection, name: str) -> Tenant | None:
        return store.get_tenant_by_name(conn, name)

    def tenant(self, conn: Connection, tenant_id: str) -> Tenant | None:
        return store.get_tenant(conn, tenant_id)

    def token(self, conn: Connection, token_hash: str) -> RowMapping | None:
        return store.find_token(conn, token_hash)

    def queue(self, conn: Connection, tenant_id: str, queue_id: str) -> Queue | None:
        return store.get_queue(conn, tenant_id, queue_id)

    def queue_by_short_id(self, conn: Connection, tenant_id: str, short: int) -> Queue | None:
        return store.get_queue_by_short_id(conn, tenant_id, short)

    def channel(self, conn: Connection, tenant_id: str, number: str) -> Channel | None:
        return store.get_channel(conn, tenant_id, number)

    def dial_plan(self, conn: Connection, tenant_id: str, plan_id: int) -> RowMapping | None:
        return store.get_dial_plan(conn, tenant_id, plan_id)


#: The uncached reader, for callers without a container's cache.
DIRECT = DirectTenancy()


class TenancyCache:
    """The same lookups, answered from memory while `tenancy_version` stands still."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._version: int | None = None
        self._entries: dict[tuple[Any, ...], tuple[int, Any]] = {}

    def tenant_by_name(self, conn: Connection, name: str) -> Tenant | None:
        return self._lookup(store.get_tenant_by_name, conn, name)

    def tenant(self, conn: Connection, tenant_id: str) -> Tenant | None:
        return self._lookup(store.get_tenant, conn, tenant_id)

    def token(self, conn: Connection, token_hash: str) -> RowMapping | None:
        return self._lookup(store.find_token, conn, token_hash)

    def queue(self, conn: Connection, tenant_id: str, queue_id: str) -> Queue | None:
        return self._lookup(store.get_queue, conn, tenant_id, queue_id)

    def queue_by_short_id(self, conn: Connection, tenant_id: str, short: int) -> Queue | None:
        return self._lookup(store.get_queue_by_short_id, conn, tenant_id, short)

    def channel(self, conn: Connection, tenant_id: str, number: str) -> Channel | None:
        return self._lookup(store.get_channel, conn, tenant_id, number)

    def dial_plan(self, conn: Connection, tenant_id: str, plan_id: int) -> RowMapping | None:
        return self._lookup(store.get_dial_plan, conn, tenant_id, plan_id)

    def crm_dip_configs(self, conn: Connection, tenant_id: str) -> tuple[RowMapping, ...]:
        """Every CRM data-dip configuration of a tenant (tenant, queue and campaign scopes)."""
        found = self._lookup(datadip_store.tenant_crm_configs, conn, tenant_id)
        return found if found is not None else ()

    def known_crm_dip_configs(self, tenant_id: str) -> tuple[RowMapping, ...] | None:
        """The configurations as of the last version seen, without a query; None when unknown."""
        hit = self._entries.get((datadip_store.tenant_crm_configs, tenant_id))
        return hit[1] if hit is not None and hit[0] == self._version else None

    def _lookup(self, load: Callable[..., T | None], conn: Connection, *args: Any) -> T | None:
        version = self._version_of(conn)
        if version is None:  # no version row (a database wiped by hand): no caching
            return load(conn, *args)
        key = (load, *args)
        hit = self._entries.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]  # type: ignore[no-any-return]
        value = load(conn, *args)
        if value is not None:
            with self._lock:
                if self._version == version and len(self._entries) < self.max_entries:
                    self._entries[key] = (version, value)
        return value

    def _version_of(self, conn: Connection) -> int | None:
        """The version this transaction sees, read once per transaction."""
        transaction = conn.get_transaction()
        checked = conn.info.get(_CHECKED)
        if transaction is not None and checked is not None and checked[0] is transaction:
            return checked[1]  # type: ignore[no-any-return]
        found = conn.execute(_VERSION).scalar()
        transaction = conn.get_transaction()  # the query above may have begun it
        version = None if found is None else int(found)
        if version is not None:
            with self._lock:
                if version != self._version:
                    self._entries.clear()
                    self._version = version
        if transaction is not None:
            conn.info[_CHECKED] = (transaction, version)
        return version
