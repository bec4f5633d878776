"""Queries for campaign customers, their indexed attributes and the do-not-call list.

Searches take OBI patterns (`*` any run, `?` one character). They become SQL
LIKE with `\\` escaping. Text fields compare case-insensitively; the
external id compares exactly (case-sensitive), so `externalId=12*` becomes an
index range scan on (tenant, campaign, external_id).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from rappel.domain.results import CLOSED_RESULTS, HANDLED_RESULTS, CustomerResult
from rappel.store.db import upsert_into
from rappel.store.tables import (
    campaigns,
    customers,
    dialers,
    do_not_call,
    queues,
)

C = customers.c
D = do_not_call.c
#: The campaign_id of a do-not-call entry that covers every campaign of its tenant.
TENANT_WIDE = ""
#: Rows per multi-row INSERT: keeps SQLite under its 32766 bound parameters.
BATCH_ROWS = 500
FINAL_VALUES = sorted(r.value for r in HANDLED_RESULTS | CLOSED_RESULTS)

#: OBI searchable customer fields and their columns; integers compare as numbers.
TEXT_FIELDS: dict[str, Any] = {
    "numbers": C.numbers,
    "result": C.result,
    "callResult": C.call_result,
    "classifier": C.classifier,
    "dialingMode": C.dialing_mode,
    "timeZone": C.time_zone,
}
INT_FIELDS: dict[str, Any] = {
    "callCount": C.call_count,
    "lastBNumber": C.last_b_number,
    "previewTime": C.preview_time,
    "priority": C.priority,
}
SEARCHABLE = ("externalId", *TEXT_FIELDS, *INT_FIELDS)


# -- patterns ---------------------------------------------------------------


def has_wildcards(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def like_pattern(pattern: str) -> str:
    """OBI `*`/`?` pattern as a LIKE pattern escaped with backslash."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """The same pattern for values computed outside SQL (case-insensitive)."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern]
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def text_match(column: Any, pattern: str) -> ColumnElement[bool]:
    """Case-insensitive pattern match on a text column."""
    if not has_wildcards(pattern):
        return func.lower(column) == pattern.lower()
    return func.lower(column).like(like_pattern(pattern.lower()), escape="\\")


def exact_match(column: Any, pattern: str, *, sqlite: bool) -> ColumnElement[bool]:
    """Case-sensitive match that an index on `column` can serve for a prefix pattern."""
    if not has_wildcards(pattern):
        return column == pattern  # type: ignore[no-any-return]
    prefix = re.split(r"[*?]", pattern, maxsplit=1)[0]
    clauses: list[ColumnElement[bool]] = []
    if prefix:
        clauses += [column >= prefix, column < prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    if pattern != prefix + "*":
        # SQLite's LIKE ignores case, its GLOB does not; PostgreSQL's LIKE does not either.
        clauses.append(
            column.op("GLOB")(_glob(pattern))
            if sqlite
            else column.like(like_pattern(pattern), escape="\\")
        )
    return and_(true(), *clauses)


def _glob(pattern: str) -> str:
    return "".join(f"[{ch}]" if ch == "[" else ch for ch in pattern)


def int_match(column: Any, pattern: str) -> ColumnElement[bool]:
    if not has_wildcards(pattern):
        return column == int(pattern)  # type: ignore[no-any-return]
    return cast(column, String).like(like_pattern(pattern), escape="\\")


# -- customers --------------------------------------------------------------


def attribute_rows(
    tenant_id: str,
    customer_id: str,
    pairs: Iterable[tuple[str, str]],
    *,
    campaign_id: str | None,
    external_id: str,
) -> list[dict[str, Any]]:
    """A customer's customer_attributes rows, in the order given.

    `campaign_id` and `external_id` are the customer's: the campaign-scoped search
    indexes carry them.
    """
    return [
        {
            "tenant_id": tenant_id,
            "customer_id": customer_id,
            "position": position,
            "name": name,
            "name_ci": name.lower()[:200],
            "value": value,
            "value_ci": value.lower()[:500],
            "campaign_id": campaign_id,
            "external_id": external_id,
        }
        for position, (name, value) in enumerate(pairs)
    ]


# Statements a bulk add runs on every request are built once, with their values as
# parameters: on SQLite, building a statement costs more than running it.
#: The `:tenant` and `:campaign` parameters of those statements.
TENANT_PARAM: BindParameter[str] = bindparam("tenant", type_=String)
CAMPAIGN_PARAM: BindParameter[str] = bindparam("campaign", type_=String)


def _member(column: Any, key: str, postgres: bool) -> ColumnElement[bool]:
    # PostgreSQL: one array parameter instead of one parameter per value.
    if postgres:
        return column == any_(bindparam(key, type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(bindparam(key, expanding=True))  # type: ignore[no-any-return]


def _taken_query(postgres: bool) -> Select[Any]:
    """Which of `:external_ids` the campaign's customers have."""
    return select(C.external_id).where(
        C.tenant_id == TENANT_PARAM,
        C.campaign_id == CAMPAIGN_PARAM,
        _member(C.external_id, "external_ids", postgres),
    )


def _blocked_query(postgres: bool) -> Select[Any]:
    """Which of `:numbers` the tenant-wide or the campaign's do-not-call list holds."""
    return select(D.number).where(
        D.tenant_id == TENANT_PARAM,
        D.campaign_id.in_([literal(TENANT_WIDE), CAMPAIGN_PARAM]),
        _member(D.number, "numbers", postgres),
    )


def of_campaign(query: Select[Any], tenant_id: Any, campaign_id: Any) -> Select[Any]:
    """`query` over the campaign as `campaigns.get_campaign` finds it: with its dialer and queue.

    `tenant_id` and `campaign_id`: values, or bound parameters of a statement built once.
    """
    K = campaigns.c
    return (
        query.select_from(campaigns)
        .join(dialers, and_(dialers.c.tenant_id == K.tenant_id, dialers.c.id == K.dialer_id))
        .join(queues, and_(queues.c.tenant_id == K.tenant_id, queues.c.id == K.queue_id))
        .where(K.tenant_id == tenant_id, K.id == campaign_id)
    )


_TAKEN = {pg: _taken_query(pg) for pg in (False, True)}
_BLOCKED = {pg: _blocked_query(pg) for pg in (False, True)}
_TAKEN_AND_BLOCKED = (
    _TAKEN[True].add_columns(literal("x")).union_all(_BLOCKED[True].add_columns(literal("n")))
)
_CAMPAIGN_EXISTS = of_campaign(select(campaigns.c.id), TENANT_PARAM, CAMPAIGN_PARAM)


def taken_and_blocked(
    conn: Connection,
    tenant_id: str,
    campaign_id: str,
    external_ids: Iterable[str],
    numbers: Iterable[str],
) -> tuple[set[str], set[str]]:
    """`existing_external_ids` and `blocked_numbers` of a bulk add, in one round trip on PostgreSQL.

    Round trips are most of what a request of 100 customers waits for on
    PostgreSQL; SQLite has none, so there the two queries stay apart.
    """
    if conn.dialect.name != "postgresql":
        return (
            existing_external_ids(conn, tenant_id, campaign_id, external_ids),
            blocked_numbers(conn, tenant_id, campaign_id, numbers),
        )
    found: dict[str, set[str]] = {"x": set(), "n": set()}
    given = {
        "tenant": tenant_id,
        "campaign": campaign_id,
        "external_ids": sorted(set(external_ids)),
        "numbers": sorted(set(numbers)),
    }
    for value, kind in conn.execute(_TAKEN_AND_BLOCKED, given):
        found[kind].add(value)
    return found["x"], found["n"]


def existing_external_ids(
    conn: Connection, tenant_id: str, campaign_id: str, external_ids: Iterable[str]
) -> set[str]:
    return _found(conn, _TAKEN, tenant_id, campaign_id, "external_ids", external_ids)


def _found(
    conn: Connection,
    queries: dict[bool, Select[Any]],
    tenant_id: str,
    campaign_id: str,
    key: str,
    values: Iterable[str],
) -> set[str]:
    """The values of `key` that `queries` (per dialect) finds, asked in chunks."""
    query = queries[conn.dialect.name == "postgresql"]
    found: set[str] = set()
    for chunk in _chunks(conn, values):
        given = {"tenant": tenant_id, "campaign": campaign_id, key: chunk}
        found.update(conn.execute(query, given).scalars())
    return found


def _chunks(conn: Connection, values: Iterable[str]) -> list[list[str]]:
    """`values` without repeats, in lists of at most BATCH_ROWS (one on PostgreSQL)."""
    wanted = sorted(set(values))
    if conn.dialect.name == "postgresql" or not wanted:
        return [wanted] if wanted else []
    return [wanted[start : start + BATCH_ROWS] for start in range(0, len(wanted), BATCH_ROWS)]


def campaign_exists(conn: Connection, tenant_id: str, campaign_id: str) -> bool:
    """What `campaigns.get_campaign(...) is not None` says, without reading the rows."""
    given = {"tenant": tenant_id, "campaign": campaign_id}
    return conn.execute(_CAMPAIGN_EXISTS, given).first() is not None


def get_customer(
    conn: Connection, tenant_id: str, campaign_id: str, customer_id: str
) -> RowMapping | None:
    return (
        conn.execute(
            select(customers).where(
                C.tenant_id == tenant_id, C.campaign_id == campaign_id, C.id == customer_id
            )
        )
        .mappings()
        .first()
    )


def delete_customer(conn: Connection, tenant_id: str, campaign_id: str, customer_id: str) -> bool:
    done = conn.execute(
        delete(customers).where(
            C.tenant_id == tenant_id, C.campaign_id == campaign_id, C.id == customer_id
        )
    )
    return done.rowcount == 1


def field_condition(field: str, pattern: str, *, sqlite: bool) -> ColumnElement[bool]:
    """One OBI field search as SQL; raises ValueError for a non-numeric integer search."""
    if field == "externalId":
        return exact_match(C.external_id, pattern, sqlite=sqlite)
    if field == "numbers" and not pattern.endswith(("*", ";")):
        # numbers keeps the client's text, and the seed's own example closes it with a
        # separator ("+52145200;"): the number alone finds it too.
        return or_(text_match(C.numbers, pattern), text_match(C.numbers, pattern + ";"))
    if field in TEXT_FIELDS:
        return text_match(TEXT_FIELDS[field], pattern)
    return int_match(INT_FIELDS[field], pattern)


def reopen_max_calls(
    conn: Connection, tenant_id: str, campaign_id: str, max_attempts: int, now: datetime
) -> int:
    """MAXCALLS customers with calls left under a raised RetryCount become DIALING again."""
    done = conn.execute(
        update(customers)
        .where(
            C.tenant_id == tenant_id,
            C.campaign_id == campaign_id,
            C.result == CustomerResult.MAXCALLS.value,
            C.call_count < max_attempts,
        )
        .values(result=CustomerResult.DIALING.value, next_call_at=now, modified_at=now)
    )
    return int(done.rowcount)


# -- do not call ------------------------------------------------------------


def blocked_numbers(
    conn: Connection, tenant_id: str, campaign_id: str, numbers: Iterable[str]
) -> set[str]:
    """Which of `numbers` the tenant-wide or the campaign's list blocks."""
    return _found(conn, _BLOCKED, tenant_id, campaign_id, "numbers", numbers)


def is_blocked(conn: Connection, tenant_id: str, campaign_id: str | None, e164: str) -> bool:
    """Whether the do-not-call list forbids dialling `e164` for this campaign (or tenant-wide)."""
    return bool(blocked_numbers(conn, tenant_id, campaign_id or TENANT_WIDE, [e164]))


def add_dnc(
    conn: Connection, tenant_id: str, campaign_id: str, numbers: Iterable[str], at: datetime
) -> list[str]:
    new = sorted(set(numbers) - _listed(conn, tenant_id, campaign_id))
    if new:
        # A number another request lists meanwhile is listed: nothing to add, no error.
        rows = [
            {"tenant_id": tenant_id, "campaign_id": campaign_id, "number": n, "created_at": at}
            for n in new
        ]
        conn.execute(upsert_into(conn, do_not_call).values(rows).on_conflict_do_nothing())
    return new


def remove_dnc(conn: Connection, tenant_id: str, campaign_id: str, numbers: Iterable[str]) -> int:
    done = conn.execute(
        delete(do_not_call).where(
            D.tenant_id == tenant_id, D.campaign_id == campaign_id, D.number.in_(list(numbers))
        )
    )
    return int(done.rowcount)


def list_dnc(conn: Connection, tenant_id: str, campaign_id: str) -> list[RowMapping]:
    return list(
        conn.execute(
            select(do_not_call)
            .where(D.tenant_id == tenant_id, D.campaign_id == campaign_id)
            .order_by(D.number)
        ).mappings()
    )


def _listed(conn: Connection, tenant_id: str, campaign_id: str) -> set[str]:
    return {r["number"] for r in list_dnc(conn, tenant_id, campaign_id)}


def _number_blocked(column: Any) -> ColumnElement[bool]:
    return or_(
        column.is_(None),
        exists().where(
            D.tenant_id == C.tenant_id,
            D.campaign_id.in_([TENANT_WIDE, C.campaign_id]),
            D.number == column,
        ),
    )


def all_numbers_blocked() -> ColumnElement[bool]:
    """A customer every one of whose numbers is on a do-not-call list that covers it."""
    return and_(
        C.number1.is_not(None),
        _number_blocked(C.number1),
        _number_blocked(C.number2),
        _number_blocked(C.number3),
    )


def refilter(
    conn: Connection, tenant_id: str, campaign_id: str | None, numbers: Sequence[str], now: datetime
) -> None:
    """Re-apply the do-not-call rule to customers holding any of `numbers`.

    Open customers whose numbers are all blocked become FILTERED; FILTERED
    customers with a number no longer blocked reopen as DIALING.
    """
    for start in range(0, len(numbers), BATCH_ROWS):
        chunk = list(numbers[start : start + BATCH_ROWS])
        holders = or_(C.number1.in_(chunk), C.number2.in_(chunk), C.number3.in_(chunk))
        scope = [C.tenant_id == tenant_id, C.campaign_id.is_not(None), holders]
        if campaign_id:
            scope.append(C.campaign_id == campaign_id)
        conn.execute(
            update(customers)
            .where(*scope, C.result.not_in(FINAL_VALUES), all_numbers_blocked())
            .values(result=CustomerResult.FILTERED.value, modified_at=now)
        )
        conn.execute(
            update(customers)
            .where(*scope, C.result == CustomerResult.FILTERED.value, ~all_numbers_blocked())
            .values(result=CustomerResult.DIALING.value, next_call_at=now, modified_at=now)
        )
