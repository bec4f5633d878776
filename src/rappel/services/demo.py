"""The demo data: the seed documents' own examples made real. Idempotent."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from rappel.clock import Clock
from rappel.domain.tenancy import TokenKind
from rappel.services import provisioning, tenancy
from rappel.services.customers import provision_demo_obi
from rappel.services.datadip import provision_demo_datadip
from rappel.services.secrets import hash_password, token_hash
from rappel.services.widget import provision_demo_widget
from rappel.store.db import Database
from rappel.store.tables import activities, api_tokens, campaigns, dialers

TENANT = "Acme"
API_TOKEN = "fb65d0515b9631c6db72e7e66fe6df49"
DATADIP_TOKEN = "5f0c9a7e3b2d4c61a8e9f1b2c3d4e5f6"
IVR_CHANNEL = "18006661212"
CALLER_ID_CHANNEL = "18006664444"
CALLBACK_QUEUE_ID = "A0000000000000000000000000000103"
CALLBACK_QUEUE_SHORT_ID = 103
TEST_QUEUE_ID = "63AA93F493A54C5A8597FCFA670B2382"
QUEUE_DIALER_ID = "88B8B41C99E6484A94F402EA5E465FC5"
CAMPAIGN_DIALER_ID = "C0000000000000000000000000000001"
TEST_CAMPAIGN_ID = "8A7C98EAF1164F2FAA93B98EECB95D76"
PREVIEW_CAMPAIGN_ID = "62718C7889CC44F7B944C1A6F6BE9B7F"
WEB_CAMPAIGN_ID = "38E8F8DF0A4FD5B1D0F8DF4A618B0001"
WEB_ACTIVITY_ID = "47B8F8EAD10D45C7AC2331C5B47A48B8"

USERS: list[dict[str, Any]] = [
    {"username": "admin", "password": "admin-demo-1", "role": "admin", "display_name": "Ada Admin"},
    {
        "username": "supervisor",
        "password": "supervisor-demo-1",
        "role": "supervisor",
        "display_name": "Sam Supervisor",
    },
    {
        "username": "agent1",
        "password": "agent1-demo",
        "role": "agent",
        "display_name": "Alice Agent",
    },
    {"username": "agent2", "password": "agent2-demo", "role": "agent", "display_name": "Bob Agent"},
    {
        "username": "agent3",
        "password": "agent3-demo",
        "role": "agent",
        "display_name": "Carol Agent",
    },
]


@dataclass
class DemoReport:
    tenant_id: str
    created: list[str] = field(default_factory=list)


@functools.cache
def _demo_hash(password: str) -> str:
    # argon2 is slow on purpose; the demo passwords are public, so one hash per process will do.
    return hash_password(password)


def provision_demo(db: Database, clock: Clock) -> DemoReport:
    tenant = tenancy.find_tenant_by_name(db, TENANT)
    report = DemoReport(tenant_id=tenant.id if tenant else "")
    if tenant is None:
        tenant = tenancy.create_tenant(
            db,
            clock,
            {
                "name": TENANT,
                "time_zone": "America/Los_Angeles",
                "default_caller_id": CALLER_ID_CHANNEL,
                "default_dial_plan_id": 1,
                "back_domains": ["www.acmejet.com"],
                "widget_origins": ["http://localhost:8080", "http://127.0.0.1:8080"],
            },
        )
        report.tenant_id = tenant.id
        report.created.append(f"tenant {TENANT}")
    tid = tenant.id
    for secret, kind, label in (
        (API_TOKEN, TokenKind.API, "demo API token"),
        (DATADIP_TOKEN, TokenKind.DATADIP, "demo data-dip token"),
    ):
        with db.read() as conn:
            exists = conn.execute(
                select(api_tokens.c.id).where(api_tokens.c.token_hash == token_hash(secret))
            ).first()
        if not exists:
            tenancy.create_token(db, clock, tid, label, kind, secret=secret)
            report.created.append(label)
    if not any(p["plan_id"] == 1 for p in provisioning.list_dial_plans(db, tid)):
        provisioning.put_dial_plan(
            db,
            tid,
            {
                "plan_id": 1,
                "name": "North America",
                "default_region": "US",
                "prefix_rules": [{"match": "011", "replace": "+"}],
            },
        )
        report.created.append("dial plan 1")
    channels = {c.number for c in provisioning.list_channels(db, tid)}
    for number, name, script, caller_id in (
        (IVR_CHANNEL, "Web callback IVR", "welcome-callback", True),
        (CALLER_ID_CHANNEL, "Outbound caller id", None, True),
    ):
        if number not in channels:
            provisioning.create_channel(
                db,
                tid,
                {
                    "number": number,
                    "name": name,
                    "ivr_script": script,
                    "usable_as_caller_id": caller_id,
                },
            )
            report.created.append(f"channel {number}")
    queue_ids = {q.id for q in provisioning.list_queues(db, tid)}
    for queue_id, short_id, name in (
        (CALLBACK_QUEUE_ID, CALLBACK_QUEUE_SHORT_ID, "Web Callbacks"),
        (TEST_QUEUE_ID, 104, "Test Queue"),
    ):
        if queue_id not in queue_ids:
            provisioning.create_queue(
                db,
                clock,
                tid,
                {"id": queue_id, "short_id": short_id, "name": name, "direction": "outbound"},
            )
            report.created.append(f"queue {name}")
    with db.begin() as conn:
        report.created += _provision_campaigns(conn, tid, clock)
    existing = {u.username for u in provisioning.list_users(db, tid)}
    for spec in USERS:
        if spec["username"] not in existing:
            queues = [CALLBACK_QUEUE_ID, TEST_QUEUE_ID] if spec["role"] == "agent" else []
            provisioning.create_user(
                db, clock, tid, {**spec, "queue_ids": queues}, _demo_hash(spec["password"])
            )
            report.created.append(f"user {spec['username']}")
    report.created += provision_demo_datadip(db, clock, tid)
    report.created += provision_demo_widget(db, clock, tid)
    report.created += provision_demo_obi(db, clock, tid)
    return report


def _provision_campaigns(conn: Connection, tid: str, clock: Clock) -> list[str]:
    created = []
    now = clock.now()
    have_dialers = {
        r[0] for r in conn.execute(select(dialers.c.id).where(dialers.c.tenant_id == tid))
    }
    for dialer_id, name, kind in (
        (QUEUE_DIALER_ID, "Queue Dialer", "QueueDialer"),
        (CAMPAIGN_DIALER_ID, "Campaign Dialer", "CampaignDialer"),
    ):
        if dialer_id not in have_dialers:
            conn.execute(
                insert(dialers).values(tenant_id=tid, id=dialer_id, name=name, dialer_type=kind)
            )
            created.append(f"dialer {name}")
    have = {r[0] for r in conn.execute(select(campaigns.c.id).where(campaigns.c.tenant_id == tid))}
    base = {
        "tenant_id": tid,
        "queue_id": TEST_QUEUE_ID,
        "status": "Passive",
        "registered": now,
        "modified_at": now,
    }
    specs: list[dict[str, Any]] = [
        {
            "id": TEST_CAMPAIGN_ID,
            "name": "Test Campaign",
            "dialer_id": QUEUE_DIALER_ID,
            "dialing_mode": "PREDICTIVE",
            "time_zone": "Europe/Berlin",
        },
        {
            "id": PREVIEW_CAMPAIGN_ID,
            "name": "Test Preview Campaign",
            "dialer_id": CAMPAIGN_DIALER_ID,
            "dialing_mode": "PREVIEW",
            "time_zone": "Europe/Berlin",
        },
        {
            "id": WEB_CAMPAIGN_ID,
            "name": "Web Call Me Back",
            "dialer_id": CAMPAIGN_DIALER_ID,
            "dialing_mode": "PROGRESSIVE",
            "time_zone": "America/Los_Angeles",
            "field_schema": [
                {"name": "Name", "meaning": "text"},
                {"name": "PhoneNumber", "meaning": "phone"},
            ],
        },
    ]
    for spec in specs:
        if spec["id"] not in have:
            conn.execute(insert(campaigns).values(**{**base, **spec}))
            created.append(f"campaign {spec['name']}")
    have_act = {
        r[0] for r in conn.execute(select(activities.c.id).where(activities.c.tenant_id == tid))
    }
    if WEB_ACTIVITY_ID not in have_act:
        conn.execute(
            insert(activities).values(
                tenant_id=tid,
                id=WEB_ACTIVITY_ID,
                campaign_id=WEB_CAMPAIGN_ID,
                name="Outbound callbacks",
            )
        )
        created.append("activity Outbound callbacks")
    return created


def credentials_text(base_url: str) -> str:
    users = "\n".join(f"    {u['role']:<10} {u['username']:<11} {u['password']}" for u in USERS)
    return f"""Rappel is running at {base_url}
  API docs:        {base_url}/docs
  Agent desktop:   {base_url}/agent
  Supervisor:      {base_url}/supervisor
  Widget demo:     {base_url}/demo
Demo tenant {TENANT}
  API token:       {API_TOKEN}
  Data-dip token:  {DATADIP_TOKEN}
  Users (tenant "{TENANT}"):
{users}
Try: curl "{base_url}/SC/webcallback.php?tenant=Acme&token={API_TOKEN}&phone=16505551212\
&callback_type=1&channel_number=18006661212"
"""
