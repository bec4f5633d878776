"""Provider use cases: answer a data dip (seed 004) from the tenant's customer records.

Choices where the seed is silent:

- keys are tried in the tenant's priority order; the first key given in the
  request that finds a record decides, and a key that finds nothing hands
  over to the next one;
- several records match one key: the most recently modified wins;
- nothing matches: `{"parameters": {}}` with 200 (a dip that finds no caller
  is a normal outcome for an IVR, not an error);
- a phone value that cannot be read as a number finds nothing (the IVR may
  send whatever the caller typed); numbers are compared in E.164 through the
  tenant's default dial plan (region US when it has none).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select

from rappel.clock import Clock
from rappel.domain import phone
from rappel.domain.datadip import (
    KeyField,
    KeyMapping,
    ProviderConfig,
    Record,
    answer,
    attribute_map,
    parse_provider_config,
    read_dip_request,
)
from rappel.domain.errors import Conflict, NotFound, ValidationFailed
from rappel.domain.ids import new_id
from rappel.services import tenancy
from rappel.store import campaigns as campaign_store
from rappel.store import datadip as store
from rappel.store import tenancy as tenancy_store
from rappel.store.customers import attribute_rows
from rappel.store.db import Database
from rappel.store.tables import customer_attributes, customers


def get_provider_config(db: Database, tenant_id: str) -> ProviderConfig:
    with db.read() as conn:
        document = store.get_provider_config(conn, tenant_id)
    if document is None:
        raise NotFound("this tenant has no data-dip provider configuration")
    return _stored_config(document)


def put_provider_config(
    db: Database, clock: Clock, tenant_id: str, document: dict[str, Any]
) -> ProviderConfig:
    """Check and store how a tenant answers; every listed campaign must be one of its own."""
    config = parse_provider_config(document)
    with db.begin() as conn:
        known = campaign_store.existing_ids(conn, tenant_id, config.campaigns)
        for i, campaign in enumerate(config.campaigns):
            if campaign not in known:
                raise ValidationFailed(f"campaigns[{i}]", f"no campaign {campaign} in this tenant")
        store.put_provider_config(conn, tenant_id, config.to_json(), clock.now())
    return config


def answer_dip(db: Database, tenant_id: str, body: bytes) -> dict[str, Any]:
    """The `{"parameters": {...}}` answer to one dip request body."""
    with db.read() as conn:
        return answer_dip_on(conn, tenant_id, body)


def answer_dip_on(conn: Connection, tenant_id: str, body: bytes) -> dict[str, Any]:
    """`answer_dip` on a connection the caller holds."""
    document = store.get_provider_config(conn, tenant_id)
    if document is None:
        raise NotFound("data dips are not configured for this tenant")
    config = _stored_config(document)
    given = read_dip_request(body, config)
    row = _first_match(conn, tenant_id, config, given)
    return answer(_record(row) if row is not None else None, config)


def _stored_config(document: dict[str, Any]) -> ProviderConfig:
    try:
        return parse_provider_config(document)
    except ValidationFailed as exc:
        # Stored before a rule was added (e.g. campaign entries that were never checked):
        # not the caller's fault, and never a search of more records than configured.
        raise Conflict(
            f"the tenant's data-dip configuration is no longer valid ({exc.message});"
            " an admin must set it again"
        ) from exc


def _first_match(
    conn: Connection, tenant_id: str, config: ProviderConfig, given: list[tuple[KeyMapping, str]]
) -> RowMapping | None:
    plan: phone.DialPlan | None = None
    for mapping, value in given:
        if mapping.field is KeyField.PHONE:
            plan = plan or _dial_plan(conn, tenant_id)
            try:
                number = phone.normalize(value, plan)
            except ValidationFailed:
                continue
            row = store.find_by_phone(conn, tenant_id, number, config.campaigns)
        elif mapping.field is KeyField.EXTERNAL_ID:
            row = store.find_by_external_id(conn, tenant_id, value, config.campaigns)
        else:
            row = store.find_by_attribute(
                conn, tenant_id, mapping.attribute, value, config.campaigns
            )
        if row is not None:
            return row
    return None


def _dial_plan(conn: Connection, tenant_id: str) -> phone.DialPlan:
    tenant = tenancy_store.get_tenant(conn, tenant_id)
    return tenancy.dial_plan(conn, tenant) if tenant is not None else phone.fallback_plan(None)


def _record(row: RowMapping) -> Record:
    fields = {
        "externalId": row["external_id"],
        "number1": row["number1"],
        "number2": row["number2"],
        "number3": row["number3"],
        "campaignId": row["campaign_id"],
        "result": row["result"],
        "classifier": row["classifier"],
    }
    return Record(fields, attribute_map(row["attributes"]))


# -- demo ---------------------------------------------------------------------

DEMO_EXTERNAL_ID = "76541643"
DEMO_NUMBER = "+18015551234"
#: The seed's example answer, made real. The seed obfuscates the e-mail address.
DEMO_ATTRIBUTES = [
    ("Name", "Tom Callahan"),
    ("PhoneNumber", "8015551234"),
    ("AccountManager", "Sam Whitecar(112)"),
    ("Age", "28"),
    ("Email", "tom.callahan@example.com"),
    ("IsVip", "true"),
    ("Language", "English"),
    ("PastDueAmount", "575.00"),
    ("SsnLastFour", "3456"),
]
DEMO_CONFIG: dict[str, Any] = {
    "keys": [
        {"key": "account-num", "field": "externalId"},
        {"key": "phone-num", "field": "phone"},
    ],
    "returns": [
        {"name": name, "source": source, "displayToAgent": show, "saveToDatabase": save}
        for name, source, show, save in (
            ("account-manager", "attribute:AccountManager", True, False),
            ("account-num", "externalId", True, True),
            ("age", "attribute:Age", True, True),
            ("email", "attribute:Email", True, True),
            ("is-vip", "attribute:IsVip", True, True),
            ("language", "attribute:Language", False, False),
            ("name", "attribute:Name", True, True),
            ("past-due-amount", "attribute:PastDueAmount", True, False),
            ("ssn-last-four", "attribute:SsnLastFour", True, False),
        )
    ],
}


def provision_demo_datadip(db: Database, clock: Clock, tenant_id: str) -> list[str]:
    """Tom Callahan of the seed's example in the Web Call Me Back campaign; idempotent."""
    from rappel.services.demo import WEB_CAMPAIGN_ID

    created = []
    # Only the campaign's records: every callback also makes a record of its caller's number.
    config = {**DEMO_CONFIG, "campaigns": [WEB_CAMPAIGN_ID]}
    with db.begin() as conn:
        if store.get_provider_config(conn, tenant_id) is None:
            store.put_provider_config(conn, tenant_id, config, clock.now())
            created.append("data-dip provider configuration")
        found = conn.execute(
            select(customers.c.id).where(
                customers.c.tenant_id == tenant_id,
                customers.c.campaign_id == WEB_CAMPAIGN_ID,
                customers.c.external_id == DEMO_EXTERNAL_ID,
            )
        ).first()
        if found is None:
            _insert_demo_customer(conn, clock, tenant_id, WEB_CAMPAIGN_ID)
            created.append("customer Tom Callahan (data-dip demo)")
    return created


def _insert_demo_customer(conn: Connection, clock: Clock, tenant_id: str, campaign: str) -> None:
    customer_id = new_id()
    now = clock.now()
    conn.execute(
        insert(customers).values(
            tenant_id=tenant_id,
            id=customer_id,
            campaign_id=campaign,
            external_id=DEMO_EXTERNAL_ID,
            numbers=DEMO_NUMBER,
            number1=DEMO_NUMBER,
            attributes=[{"name": n, "value": v} for n, v in DEMO_ATTRIBUTES],
            # Handled, so that the demo campaign's dialer leaves the record alone.
            result="SUCCESS",
            created_at=now,
            modified_at=now,
        )
    )
    conn.execute(
        insert(customer_attributes),
        attribute_rows(
            tenant_id,
            customer_id,
            DEMO_ATTRIBUTES,
            campaign_id=campaign,
            external_id=DEMO_EXTERNAL_ID,
        ),
    )
