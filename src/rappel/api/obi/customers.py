"""OBI customers: search, add one, add a list, read and delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import RowMapping
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from rappel.api.auth import SUPERVISORS, check_role, container, identify, supervisor
from rappel.api.obi import codec
from rappel.api.obi.http import (
    answer,
    created,
    format_time,
    no_content,
    parse_bool,
    parse_ids,
    parse_int,
    parse_time,
    path_id,
    query_params,
    read_body,
    read_document,
)
from rappel.bootstrap import Container
from rappel.domain.codes import DialingMode
from rappel.domain.errors import ValidationFailed
from rappel.domain.results import NEVER_DUE
from rappel.services import customers as svc
from rappel.services.customers import ItemResult, NewCustomer, Outcome
from rappel.services.tenancy import Principal
from rappel.store.customers import FINAL_VALUES, SEARCHABLE

router = APIRouter(prefix="/RI/obi", tags=["OBI"])

MAX_LIMIT = 1000
#: The seed shows this for customers that will not be called again.
_LIST_ITEMS = ("customer", "attribute")
#: A customer's own dialingMode (the seed: one of PREVIEW, PREDICTIVE).
_CUSTOMER_MODES = {DialingMode.PREVIEW.value, DialingMode.PREDICTIVE.value}
_FIELDS = {
    "id",
    "externalId",
    "numbers",
    "date",
    "agentId",
    "dialingMode",
    "previewTime",
    "priority",
    "timeZone",
    "attributes",
}
#: Output fields a client may send back; ignored on input.
_READ_ONLY = {
    "result",
    "callResult",
    "classifier",
    "callCount",
    "lastBNumber",
    "modificationDate",
    "script",
}
_QUERY = (
    "includeScript",
    "agentId",
    *SEARCHABLE,
    "date",
    "dateEnd",
    "modificationDate",
    "modificationDateEnd",
    "attributeName",
    "attributeValue",
    "offset",
    "limit",
)


def customer_json(row: RowMapping, *, include_script: bool) -> dict[str, Any]:
    date = format_time(row["next_call_at"])
    if date is None and row["result"] in FINAL_VALUES:
        date = format_time(NEVER_DUE)
    out: dict[str, Any] = {
        "attributes": {"attribute": [dict(a) for a in row["attributes"] or []]},
        "script": row["script"] if include_script and row["script"] else None,
        "result": row["result"],
        "callResult": row["call_result"],
        "classifier": row["classifier"],
        "date": date,
        "agentId": row["agent_id"],
        "dialingMode": row["dialing_mode"],
        "previewTime": row["preview_time"],
        "priority": row["priority"],
        "lastBNumber": row["last_b_number"],
        "callCount": row["call_count"],
        "modificationDate": format_time(row["modified_at"]),
        "timeZone": row["time_zone"],
        "externalId": row["external_id"],
        "numbers": row["numbers"],
        "id": row["id"],
    }
    return {k: v for k, v in out.items() if v is not None}


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValidationFailed(name, f"Invalid {name}: {str(value)[:64]} : Not a string")
    return str(value)


def _attributes(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, dict):
        if set(value) == {"attribute"}:  # the seed's wrapper: {"attribute": [...]}
            value = value["attribute"]
        elif value and "name" not in value:
            raise ValidationFailed(
                "attributes", "Invalid attributes: expected a list of name/value"
            )
        # One attribute not in a list (a lone XML <attributes> element) is one attribute.
        value = [value] if isinstance(value, dict) and value else value or []
    if not isinstance(value, list):
        raise ValidationFailed("attributes", "Invalid attributes: expected a list of name/value")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValidationFailed(
                "attributes", "Invalid attributes: each needs a name and a value"
            )
        name = _text("attributes", entry["name"]) or ""
        raw = entry.get("value")
        if raw is None:
            raise ValidationFailed("attributes", f"Invalid attributes: {name[:64]} : Missing value")
        out.append((name, _text("attributes", raw) or ""))
    return tuple(out)


def parse_customer(data: Any) -> NewCustomer:
    """One customer of the seed's shape, typed; ValidationFailed with OBI's error text."""
    if not isinstance(data, dict):
        raise ValidationFailed("body", "Invalid customer: expected an object")
    unknown = sorted(set(data) - _FIELDS - _READ_ONLY)
    if unknown:
        raise ValidationFailed(unknown[0], f"Invalid field: {unknown[0][:64]} : Unknown field")
    mode = _text("dialingMode", data.get("dialingMode"))
    if mode and mode not in _CUSTOMER_MODES:
        raise ValidationFailed(
            "dialingMode", f"Invalid dialingMode: {mode[:64]} : Use PREVIEW or PREDICTIVE"
        )
    agent = _text("agentId", data.get("agentId"))
    date = _text("date", data.get("date"))
    preview = data.get("previewTime")
    priority = data.get("priority")
    return NewCustomer(
        external_id=_text("externalId", data.get("externalId")) or None,
        numbers=_text("numbers", data.get("numbers")),
        date=parse_time("date", date) if date else None,
        agent_id=path_id("agentId", agent.strip()) if agent else None,
        dialing_mode=DialingMode(mode) if mode else None,
        preview_time=parse_int("previewTime", preview, 0, 3600)
        if preview not in (None, "")
        else None,
        priority=parse_int("priority", priority, -(10**6), 10**6)
        if priority not in (None, "")
        else None,
        time_zone=_text("timeZone", data.get("timeZone")) or None,
        attributes=_attributes(data.get("attributes")),
    )


def _parsed(data: Any) -> NewCustomer | ValidationFailed:
    try:
        return parse_customer(data)
    except ValidationFailed as exc:
        return exc


def customer_query(params: dict[str, str]) -> svc.CustomerQuery:
    patterns = tuple((name, params[name]) for name in SEARCHABLE if name in params)

    def when(name: str) -> datetime | None:
        return parse_time(name, params[name]) if name in params else None

    if "attributeValue" in params and not params.get("attributeName"):
        raise ValidationFailed("attributeName", "attributeName is required with attributeValue")
    return svc.CustomerQuery(
        patterns=patterns,
        agent_ids=parse_ids("agentId", params["agentId"]) if "agentId" in params else None,
        date_after=when("date"),
        date_before=when("dateEnd"),
        modified_after=when("modificationDate"),
        modified_before=when("modificationDateEnd"),
        attribute_name=params.get("attributeName") or None,
        attribute_value=params.get("attributeValue"),
        offset=parse_int("offset", params.get("offset", "0"), 0, 10**9),
        limit=parse_int("limit", params.get("limit", "100"), 1, MAX_LIMIT),
    )


@router.get("/campaigns/{campaign_id}/customers")
def list_customers(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Customers of a campaign: field patterns, agents, dates, an attribute, offset/limit."""
    params = query_params(request, _QUERY)
    include = (
        parse_bool("includeScript", params["includeScript"]) if "includeScript" in params else False
    )
    cid = path_id("campaignId", campaign_id)
    rows = svc.list_customers(c.db, who.tenant_id, cid, customer_query(params))
    body = [customer_json(r, include_script=include) for r in rows]
    return answer(request, body, "customers", "customer")


@router.post("/campaigns/{campaign_id}/customers", status_code=201)
async def add_customer(
    campaign_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Add one customer; answers its id (text/html) with a Location."""
    cid = path_id("campaignId", campaign_id)
    query_params(request, ())
    item = await read_document(request, parse_customer, ("attribute",))
    new_id = await run_in_threadpool(svc.add_customer, c.db, c.clock, who.tenant_id, cid, item)
    return created(request, new_id)


def item_json(result: ItemResult) -> dict[str, Any]:
    if result.outcome is Outcome.CREATED:
        return {"statusCode": 201, "id": result.id}
    if result.outcome is Outcome.VALID:
        return {"statusCode": 200}
    assert result.error is not None
    return {"error": result.error.message, "statusCode": 400}


@router.post("/campaigns/{campaign_id}/customers/list")
async def add_customer_list(
    campaign_id: str, request: Request, c: Container = Depends(container)
) -> Response:
    """Add up to 1000 customers; one statusCode (201, 200 or an error) per item.

    The caller is authenticated (as `supervisor` does) in the same worker-thread
    call that parses and imports: as a dependency of its own, the token check
    would cost every request of a bulk import one more thread hop.
    """
    body = await read_body(request)
    results, fmt = await run_in_threadpool(_add_list, request, c, campaign_id, body)
    return answer(request, [item_json(r) for r in results], "items", "item", body_format=fmt)


def _add_list(
    request: Request, c: Container, campaign_id: str, body: bytes
) -> tuple[list[ItemResult], codec.Format]:
    who = check_role(identify(request, c), SUPERVISORS)
    cid = path_id("campaignId", campaign_id)
    params = query_params(request, ("stopProcessIfInvalidEntriesFound",))
    stop = parse_bool(
        "stopProcessIfInvalidEntriesFound", params.get("stopProcessIfInvalidEntriesFound", "false")
    )
    fmt = codec.request_format(request.headers.get("content-type"))
    data = codec.decode(body, fmt, list_items=_LIST_ITEMS)
    if isinstance(data, dict) and set(data) == {"customer"}:
        data = data["customer"] if isinstance(data["customer"], list) else [data["customer"]]
    if not isinstance(data, list):
        raise ValidationFailed("body", "Invalid customer list: expected an array of customers")
    if len(data) > svc.MAX_BULK:
        raise svc.TooManyCustomers(
            "body", f"Too many customers: {len(data)} given, at most {svc.MAX_BULK} per request"
        )
    items = [_parsed(entry) for entry in data]
    results = svc.add_customers(c.db, c.clock, who.tenant_id, cid, items, stop_if_invalid=stop)
    return results, fmt


@router.get("/campaigns/{campaign_id}/customers/{customer_id}")
def get_customer(
    campaign_id: str,
    customer_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """One customer, with its script answers when there are some."""
    query_params(request, ())
    row = svc.get_customer(
        c.db, who.tenant_id, path_id("campaignId", campaign_id), path_id("customerId", customer_id)
    )
    return answer(request, customer_json(row, include_script=True), "customer")


@router.delete("/campaigns/{campaign_id}/customers/{customer_id}", status_code=204)
def delete_customer(
    campaign_id: str,
    customer_id: str,
    request: Request,
    who: Principal = Depends(supervisor),
    c: Container = Depends(container),
) -> Response:
    """Remove a customer from the campaign."""
    query_params(request, ())
    svc.delete_customer(
        c.db, who.tenant_id, path_id("campaignId", campaign_id), path_id("customerId", customer_id)
    )
    return no_content()
