"""Campaign customer use cases: add (one or in bulk), read, search, delete; do-not-call lists.

Numbers: up to three, `;`-separated in priority order (one trailing `;` is
allowed, as in the seed). `numbers` keeps the client's text; number1..3 hold
E.164 for the dialer and data dips, normalised with the tenant's default dial
plan and, when the customer has a time zone, that zone's country as region.
Placeholder numbers like the seed's `+52145200` are accepted (WELL_FORMED).
When numbers are given, attributes Phone1..Phone3 are replaced by them; when
not, attribute Phone1 (and Phone2, Phone3) supply the numbers.

Bulk adds validate every item before opening the write transaction (validation
reads no table, so SQLite's single write lock is not held for it), then write
the valid ones in one transaction with one statement per table (a prepared
INSERT the SQLite driver runs over all rows, COPY on PostgreSQL; see
store.bulk) and set-based checks per batch. An
externalId already in the campaign, or given to more than one item of the same
request, fails every item that carries it.
A customer whose numbers are all on a do-not-call list is stored FILTERED.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, or_, select
from sqlalchemy.exc import IntegrityError

from rappel.clock import Clock
from rappel.domain import phone
from rappel.domain.codes import DialingMode
from rappel.domain.errors import Conflict, NotFound, ValidationFailed
from rappel.domain.ids import new_ordered_id
from rappel.domain.results import NEVER_DUE, CustomerResult
from rappel.services import tenancy
from rappel.store import campaigns as campaign_store
from rappel.store import customer_import, customer_search
from rappel.store import customers as store
from rappel.store import tenancy as tenancy_store
from rappel.store.db import Database
from rappel.store.tables import users

#: Most customers one OBI customers/list request may carry (the seed recommends 100).
MAX_BULK = 1000
#: Most customers one native bulk request may carry.
MAX_NATIVE_BULK = 10000
MAX_ATTRIBUTES = 100
#: Tries of a bulk add's write when a concurrent add took one of its externalIds.
WRITE_ATTEMPTS = 3
MAX_VALUE = 4000
PHONE_ATTRIBUTES = ("phone1", "phone2", "phone3")


class TooManyCustomers(ValidationFailed):
    """A bulk request over the maximum (OBI answers 413)."""


@dataclass(frozen=True)
class NewCustomer:
    """One customer to add, already typed by the surface."""

    external_id: str | None = None
    numbers: str | None = None
    date: datetime | None = None
    agent_id: str | None = None
    dialing_mode: DialingMode | None = None
    preview_time: int | None = None
    priority: int | None = None
    time_zone: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


class Outcome(StrEnum):
    """What became of one item of a bulk add."""

    CREATED = "created"  #: validated and stored (OBI 201)
    VALID = "valid"  #: validated, not stored because another item failed (OBI 200)
    INVALID = "invalid"  #: refused (OBI 400 with the error text)


@dataclass(frozen=True)
class ItemResult:
    outcome: Outcome
    id: str | None = None
    error: ValidationFailed | None = None


@dataclass
class _Prepared:
    row: dict[str, Any]
    attributes: list[dict[str, Any]] = field(default_factory=list)


def dial_plan(conn: Connection, tenant_id: str) -> phone.DialPlan:
    tenant = tenancy_store.get_tenant(conn, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenancy.dial_plan(conn, tenant)


def _campaign_dial_plan(conn: Connection, tenant_id: str, campaign_id: str) -> phone.DialPlan:
    """The tenant's dial plan, or NotFound for the campaign (one query for a bulk add)."""
    row = customer_import.campaign_dial_plan(conn, tenant_id, campaign_id)
    if row is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    if row["plan_id"] is None:
        return phone.fallback_plan(row["time_zone"])
    return phone.stored_plan(row["plan_id"], row["default_region"], row["prefix_rules"] or [])


def _invalid(field_name: str, value: object, reason: str) -> ValidationFailed:
    return ValidationFailed(field_name, f"Invalid {field_name}: {value} : {reason}")


def split_numbers(raw: str) -> list[str]:
    """The numbers of an OBI `numbers` value, or ValidationFailed with the seed's text."""
    parts = raw.split(";")
    if len(parts) > 1 and not parts[-1].strip():
        parts = parts[:-1]
    if not parts or any(not p.strip() for p in parts):
        raise ValidationFailed("numbers", f"Invalid numbers: '{raw}'")
    if len(parts) > 3:
        raise ValidationFailed("numbers", f"Invalid numbers: '{raw}' : At most 3 numbers")
    return [p.strip() for p in parts]


def normalise_numbers(
    raw: str, plan: phone.DialPlan, region: str | None, parts: list[str] | None = None
) -> list[str]:
    """E.164 of each of `raw`'s numbers (`parts`: `split_numbers(raw)` when already made)."""
    out = []
    for part in split_numbers(raw) if parts is None else parts:
        try:
            out.append(
                phone.normalize(part, plan, region=region, accept=phone.Acceptance.WELL_FORMED)
            )
        except ValidationFailed as exc:
            raise ValidationFailed("numbers", f"Invalid numbers: '{raw}'") from exc
    return out


def _prepare(
    item: NewCustomer, tenant_id: str, campaign_id: str, plan: phone.DialPlan, now: datetime
) -> _Prepared:
    attributes = list(item.attributes)
    if len(attributes) > MAX_ATTRIBUTES:
        raise _invalid("attributes", len(attributes), f"At most {MAX_ATTRIBUTES} attributes")
    for name, value in attributes:
        if not name.strip() or len(name) > 200:
            raise _invalid("attributes", name, "Attribute name must be 1 to 200 characters")
        if len(value) > MAX_VALUE:
            raise _invalid("attributes", name, f"Attribute value over {MAX_VALUE} characters")
    parts: list[str] | None = None
    if item.numbers is not None and item.numbers.strip():
        raw = item.numbers
        attributes = [a for a in attributes if a[0].lower() not in PHONE_ATTRIBUTES]
        parts = split_numbers(raw)
        attributes += [(f"Phone{i}", number) for i, number in enumerate(parts, 1)]
    else:
        given = {name.lower(): value for name, value in attributes}
        if not given.get("phone1", "").strip():
            raise ValidationFailed(
                "numbers", "Invalid numbers: '' : Give numbers or attribute Phone1"
            )
        raw = ";".join(given[p] for p in PHONE_ATTRIBUTES if given.get(p, "").strip())
    if item.time_zone is not None:
        from rappel.services.campaigns import check_time_zone

        check_time_zone(item.time_zone)
    region = phone.region_for_time_zone(item.time_zone) if item.time_zone else None
    numbers = normalise_numbers(raw, plan, region, parts)
    if item.external_id is not None and len(item.external_id) > 200:
        raise _invalid("externalId", item.external_id[:40], "At most 200 characters")
    if item.preview_time is not None and not 0 <= item.preview_time <= 3600:
        raise _invalid("previewTime", item.preview_time, "Must be from 0 to 3600")
    if item.priority is not None and not -(10**6) <= item.priority <= 10**6:
        raise _invalid("priority", item.priority, "Must be from -1000000 to 1000000")
    # Time-ordered: a bulk import appends to the primary keys instead of scattering.
    customer_id = new_ordered_id(now)
    external_id = item.external_id or customer_id
    row = {
        "tenant_id": tenant_id,
        "id": customer_id,
        "campaign_id": campaign_id,
        "activity_id": None,
        "external_id": external_id,
        "numbers": raw,
        "number1": numbers[0],
        "number2": numbers[1] if len(numbers) > 1 else None,
        "number3": numbers[2] if len(numbers) > 2 else None,
        "attributes": [{"name": n, "value": v} for n, v in attributes],
        "result": CustomerResult.DIALING.value,
        "call_result": None,
        "classifier": None,
        "call_count": 0,
        "last_b_number": 0,
        "next_call_at": item.date or now,
        "agent_id": item.agent_id,
        "dialing_mode": item.dialing_mode.value if item.dialing_mode else None,
        "preview_time": item.preview_time,
        "priority": item.priority or 0,
        "time_zone": item.time_zone,
        "state": 0,
        "import_tag": None,
        "amount": None,
        "script": None,
        "lease_owner": None,
        "lease_until": None,
        "created_at": now,
        "modified_at": now,
    }
    own = store.attribute_rows(
        tenant_id, customer_id, attributes, campaign_id=campaign_id, external_id=external_id
    )
    return _Prepared(row, own)


def add_customers(
    db: Database,
    clock: Clock,
    tenant_id: str,
    campaign_id: str,
    items: Sequence[NewCustomer | ValidationFailed],
    *,
    stop_if_invalid: bool = False,
    max_items: int = MAX_BULK,
) -> list[ItemResult]:
    """Validate every item, then store the valid ones in one transaction (batched INSERTs).

    Items the surface could not even parse arrive as their ValidationFailed.
    With `stop_if_invalid`, one invalid item means nothing is stored.
    """
    if len(items) > max_items:
        raise TooManyCustomers(
            "body", f"Too many customers: {len(items)} given, at most {max_items} per request"
        )
    now = clock.now()
    with db.read() as conn:
        plan = _campaign_dial_plan(conn, tenant_id, campaign_id)
    # Validation reads no table: it runs before the write transaction, so a large
    # import holds SQLite's write lock only for its checks and INSERTs. (Campaigns
    # are never deleted, so the one found here is still there when they run.)
    prepared: list[_Prepared | ValidationFailed] = []
    for item in items:
        if isinstance(item, ValidationFailed):
            prepared.append(item)
            continue
        try:
            prepared.append(_prepare(item, tenant_id, campaign_id, plan, now))
        except ValidationFailed as exc:
            prepared.append(exc)
    given = _given_external_ids(items)
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with db.begin() as conn:
                return _write(conn, tenant_id, campaign_id, prepared, given, stop_if_invalid)
        except IntegrityError as exc:
            # PostgreSQL runs writers side by side: another request stored one of these
            # externalIds after this one checked. Checked again, that item fails alone.
            if attempt == WRITE_ATTEMPTS:
                raise Conflict("customers changed during the import; send it again") from exc
    raise AssertionError("unreachable")


def _write(
    conn: Connection,
    tenant_id: str,
    campaign_id: str,
    prepared: list[_Prepared | ValidationFailed],
    given: list[str | None],
    stop_if_invalid: bool,
) -> list[ItemResult]:
    """Check what needs the tables (externalIds, agents, do-not-call), then insert."""
    wanted = {g for g in given if g is not None}
    numbers = {n for p in prepared if isinstance(p, _Prepared) for n in _numbers(p)}
    taken, blocked = store.taken_and_blocked(conn, tenant_id, campaign_id, wanted, numbers)
    _check_unique(given, taken, prepared)
    _check_agents(conn, tenant_id, prepared)
    valid = [p for p in prepared if isinstance(p, _Prepared)]
    if stop_if_invalid and len(valid) < len(prepared):
        return [
            ItemResult(Outcome.INVALID, error=p)
            if isinstance(p, ValidationFailed)
            else ItemResult(Outcome.VALID)
            for p in prepared
        ]
    _apply_dnc(blocked, valid)
    customer_import.insert_customers(
        conn, [p.row for p in valid], [a for p in valid for a in p.attributes]
    )
    return [
        ItemResult(Outcome.INVALID, error=p)
        if isinstance(p, ValidationFailed)
        else ItemResult(Outcome.CREATED, id=p.row["id"])
        for p in prepared
    ]


def _given_external_ids(items: Sequence[NewCustomer | ValidationFailed]) -> list[str | None]:
    return [
        item.external_id if isinstance(item, NewCustomer) and item.external_id else None
        for item in items
    ]


def _check_unique(
    given: list[str | None], taken: set[str], prepared: list[_Prepared | ValidationFailed]
) -> None:
    """Fail items whose externalId is in the campaign already or repeated in the request."""
    seen = Counter(g for g in given if g is not None)
    for index, external_id in enumerate(given):
        if external_id is not None and (seen[external_id] > 1 or external_id in taken):
            if isinstance(prepared[index], _Prepared):
                prepared[index] = _invalid("externalId", external_id, "Value is not unique")


def _check_agents(
    conn: Connection, tenant_id: str, prepared: list[_Prepared | ValidationFailed]
) -> None:
    wanted = {p.row["agent_id"] for p in prepared if isinstance(p, _Prepared) and p.row["agent_id"]}
    if not wanted:
        return
    known = set(
        conn.execute(
            select(users.c.id).where(users.c.tenant_id == tenant_id, users.c.id.in_(sorted(wanted)))
        ).scalars()
    )
    for index, p in enumerate(prepared):
        if isinstance(p, _Prepared) and p.row["agent_id"] and p.row["agent_id"] not in known:
            prepared[index] = _invalid("agentId", p.row["agent_id"], "Unknown agent")


def _numbers(p: _Prepared) -> list[str]:
    return [p.row[k] for k in ("number1", "number2", "number3") if p.row[k]]


def _apply_dnc(blocked: set[str], valid: list[_Prepared]) -> None:
    """Customers whose every number is blocked are stored FILTERED."""
    for p in valid:
        filtered = bool(blocked) and all(n in blocked for n in _numbers(p))
        p.row["result"] = (CustomerResult.FILTERED if filtered else CustomerResult.DIALING).value


def add_customer(
    db: Database, clock: Clock, tenant_id: str, campaign_id: str, item: NewCustomer
) -> str:
    """Add one customer; its id, or the ValidationFailed of the bulk path."""
    (result,) = add_customers(db, clock, tenant_id, campaign_id, [item])
    if result.error is not None:
        raise result.error
    assert result.id is not None
    return result.id


def get_customer(db: Database, tenant_id: str, campaign_id: str, customer_id: str) -> RowMapping:
    with db.read() as conn:
        row = store.get_customer(conn, tenant_id, campaign_id, customer_id)
    if row is None:
        raise NotFound(f"Customer {customer_id} not found")
    return row


def delete_customer(db: Database, tenant_id: str, campaign_id: str, customer_id: str) -> None:
    with db.begin() as conn:
        if not store.delete_customer(conn, tenant_id, campaign_id, customer_id):
            raise NotFound(f"Customer {customer_id} not found")


@dataclass(frozen=True)
class CustomerQuery:
    """OBI customer search: field patterns, agents, date ranges, attribute, paging."""

    patterns: tuple[tuple[str, str], ...] = ()
    agent_ids: tuple[str, ...] | None = None
    date_after: datetime | None = None
    date_before: datetime | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None
    attribute_name: str | None = None
    attribute_value: str | None = None
    offset: int = 0
    limit: int = 100


def _due_between(after: datetime | None, before: datetime | None) -> list[ColumnElement[bool]]:
    """`date` / `dateEnd` on the date OBI shows: a final customer's is NEVER_DUE."""
    C = store.C
    never = and_(C.next_call_at.is_(None), C.result.in_(store.FINAL_VALUES))
    out: list[ColumnElement[bool]] = []
    if after is not None:
        out.append(or_(C.next_call_at >= after, never))  # no time is after NEVER_DUE
    if before is not None:
        until = C.next_call_at <= before
        out.append(or_(until, never) if before >= NEVER_DUE else until)
    return out


def list_customers(
    db: Database, tenant_id: str, campaign_id: str, query: CustomerQuery
) -> list[RowMapping]:
    C = store.C
    conditions: list[ColumnElement[bool]] = []
    for name, pattern in query.patterns:
        if name in store.INT_FIELDS and not store.has_wildcards(pattern):
            try:
                int(pattern)
            except ValueError as exc:
                raise _invalid(name, pattern, "Value is not an integer") from exc
        conditions.append(store.field_condition(name, pattern, sqlite=not db.is_postgres))
    if query.agent_ids is not None:
        conditions.append(C.agent_id.in_(list(query.agent_ids)))
    conditions += _due_between(query.date_after, query.date_before)
    if query.modified_after is not None:
        conditions.append(C.modified_at >= query.modified_after)
    if query.modified_before is not None:
        conditions.append(C.modified_at <= query.modified_before)
    if query.attribute_value is not None and not query.attribute_name:
        raise ValidationFailed("attributeName", "attributeName is required with attributeValue")
    attribute = (
        customer_search.AttributeFilter(query.attribute_name, query.attribute_value)
        if query.attribute_name
        else None
    )
    with db.read() as conn:
        if not store.campaign_exists(conn, tenant_id, campaign_id):
            raise NotFound(f"Campaign {campaign_id} not found")
        return customer_search.list_customers(
            conn, tenant_id, campaign_id, conditions, query.offset, query.limit, attribute
        )


# -- do not call ------------------------------------------------------------


def _dnc_scope(conn: Connection, tenant_id: str, campaign_id: str | None) -> str:
    if campaign_id is None:
        return store.TENANT_WIDE
    if campaign_store.get_campaign(conn, tenant_id, campaign_id) is None:
        raise NotFound(f"Campaign {campaign_id} not found")
    return campaign_id


def add_to_dnc(
    db: Database,
    clock: Clock,
    tenant_id: str,
    numbers: Sequence[str],
    campaign_id: str | None = None,
) -> list[str]:
    """Block numbers tenant-wide or for one campaign; their customers become FILTERED."""
    now = clock.now()
    with db.begin() as conn:
        scope = _dnc_scope(conn, tenant_id, campaign_id)
        plan = dial_plan(conn, tenant_id)
        e164 = sorted(
            {phone.normalize(n, plan, accept=phone.Acceptance.WELL_FORMED) for n in numbers}
        )
        store.add_dnc(conn, tenant_id, scope, e164, now)
        store.refilter(conn, tenant_id, campaign_id, e164, now)
    return e164


def remove_from_dnc(
    db: Database,
    clock: Clock,
    tenant_id: str,
    numbers: Sequence[str],
    campaign_id: str | None = None,
) -> int:
    """Unblock numbers; customers no longer fully blocked reopen as DIALING."""
    now = clock.now()
    with db.begin() as conn:
        scope = _dnc_scope(conn, tenant_id, campaign_id)
        plan = dial_plan(conn, tenant_id)
        e164 = sorted(
            {phone.normalize(n, plan, accept=phone.Acceptance.WELL_FORMED) for n in numbers}
        )
        removed = store.remove_dnc(conn, tenant_id, scope, e164)
        store.refilter(conn, tenant_id, campaign_id, e164, now)
    return removed


def list_dnc(db: Database, tenant_id: str, campaign_id: str | None = None) -> list[RowMapping]:
    with db.read() as conn:
        return store.list_dnc(conn, tenant_id, _dnc_scope(conn, tenant_id, campaign_id))


def is_blocked(conn: Connection, tenant_id: str, campaign_id: str | None, e164: str) -> bool:
    """For the dialer: whether `e164` may not be dialled for this campaign."""
    return store.is_blocked(conn, tenant_id, campaign_id, e164)


_DEMO_PEOPLE = (
    ("10", "0215428754;98521542", "Europe/Helsinki", "New York", "Gold", "Kathy"),
    ("7", "951254875;951254875", None, "New York", "Gold", "Julie"),
    ("11", "+4915112345678", "Europe/Berlin", "Berlin", "Silver", "Klaus"),
    ("12", "+14155550123", "America/Los_Angeles", "San Francisco", "Gold", "Maria"),
    ("13", "+442079460000", "Europe/London", "London", "Bronze", "John"),
)


def provision_demo_obi(db: Database, clock: Clock, tenant_id: str) -> list[str]:
    """A few customers in the seed's Test Campaign and Test Preview Campaign. Idempotent."""
    from rappel.services.demo import PREVIEW_CAMPAIGN_ID, TEST_CAMPAIGN_ID

    created = []
    for campaign_id in (TEST_CAMPAIGN_ID, PREVIEW_CAMPAIGN_ID):
        items = [
            NewCustomer(
                external_id=external_id,
                numbers=numbers,
                time_zone=zone,
                attributes=(
                    ("City", city),
                    ("Classification", level),
                    ("Address", f"StreetAddress{external_id}"),
                    ("First Name", first),
                ),
            )
            for external_id, numbers, zone, city, level, first in _DEMO_PEOPLE
        ]
        results = add_customers(db, clock, tenant_id, campaign_id, items)
        added = sum(1 for r in results if r.outcome is Outcome.CREATED)
        if added:
            created.append(f"{added} OBI demo customers in campaign {campaign_id}")
    return created
