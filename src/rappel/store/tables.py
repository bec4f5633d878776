"""SQLAlchemy Core tables: the one schema under every surface.

Every key starts with `tenant_id` (tenants themselves excepted) so the schema can
be distributed by tenant. Times are stored as timezone-aware UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from rappel.store.types import UtcDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = String(32)
TS = UtcDateTime()


def _tenant_fk(table: str) -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE")


tenants = Table(
    "tenants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("web_callback_enabled", Boolean, nullable=False, default=True),
    Column("time_zone", String(64), nullable=False, default="UTC"),
    Column("default_caller_id", String(32)),
    Column("default_dial_plan_id", Integer),
    Column("back_domains", JSON, nullable=False, default=list),
    Column("widget_origins", JSON, nullable=False, default=list),
    Column("hard_hours_start", String(5), nullable=False, default="08:00"),
    Column("hard_hours_end", String(5), nullable=False, default="21:00"),
    Column("max_callbacks_per_number_hour", Integer, nullable=False, default=5),
    Column("max_callbacks_per_tenant_hour", Integer, nullable=False, default=10000),
    # Standard Webhooks signing secret, encrypted with the app secret; made on first use.
    Column("webhook_secret", Text),
    # The secret before the last rotation, still signing beside the new one for a grace period.
    Column("webhook_secret_previous", Text),
    Column("webhook_secret_rotated_at", TS),
    # When the current secret was shown; it is shown once, then only rotation reveals a new one.
    Column("webhook_secret_revealed_at", TS),
    Column("created_at", TS, nullable=False),
)

# One row, bumped by database triggers (migration 0002) on every change to tenants,
# tokens, channels, queues, dial plans and CRM dip configurations: a process may cache
# those rows and still see each change in its next transaction. A meta row, no tenant_id.
tenancy_version = Table(
    "tenancy_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    # "api" tokens open every tenant surface; "datadip" tokens open only the data-dip provider.
    Column("kind", String(16), nullable=False, default="api"),
    Column("label", String(200), nullable=False, default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("hint", String(8), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    PrimaryKeyConstraint("tenant_id", "id"),
    _tenant_fk("api_tokens"),
)

channels = Table(
    "channels",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("number", String(32), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("ivr_script", String(200)),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("usable_as_caller_id", Boolean, nullable=False, default=True),
    PrimaryKeyConstraint("tenant_id", "number"),
    _tenant_fk("channels"),
)

queues = Table(
    "queues",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("short_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "short_id"),
    _tenant_fk("queues"),
)

dial_plans = Table(
    "dial_plans",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("plan_id", Integer, nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("default_region", String(2), nullable=False),
    Column("prefix_rules", JSON, nullable=False, default=list),
    PrimaryKeyConstraint("tenant_id", "plan_id"),
    _tenant_fk("dial_plans"),
)

users = Table(
    "users",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("username", String(100), nullable=False),
    Column("display_name", String(200), nullable=False, default=""),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("default_caller_id", String(32)),
    Column("created_at", TS, nullable=False),
    Column("phone", String(255)),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "username"),
    _tenant_fk("users"),
)

agent_queues = Table(
    "agent_queues",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("queue_id", ID, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_id", "queue_id"),
    ForeignKeyConstraint(
        ["tenant_id", "agent_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="CASCADE"
    ),
)

user_sessions = Table(
    "user_sessions",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", String(64), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(
        ["tenant_id", "user_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
    ),
)

dialers = Table(
    "dialers",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("dialer_type", String(20), nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    _tenant_fk("dialers"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("remarks", Text),
    Column("dialer_id", ID, nullable=False),
    Column("dialing_mode", String(12), nullable=False),
    Column("status", String(10), nullable=False, default="Passive"),
    Column("queue_id", ID, nullable=False),
    Column("custom_ivr_number", String(32)),
    Column("start_date", TS),
    Column("end_date", TS),
    Column("time_zone", String(64)),
    Column("abandon_rate", Float, nullable=False, default=1.0),
    Column("increase_predictive_ratio", Float, nullable=False, default=0.0),
    Column("retry_count", Integer, nullable=False, default=3),
    Column("busy_retry_delay_s", Integer, nullable=False, default=600),
    Column("no_answer_retry_delay_s", Integer, nullable=False, default=1800),
    Column("preview_time", Integer, nullable=False, default=30),
    Column("hours_start", String(5), nullable=False, default="09:00"),
    Column("hours_end", String(5), nullable=False, default="20:00"),
    # Nixxis "campaign database structure": [{"name": "PhoneNumber", "meaning": "phone"}, ...]
    Column("field_schema", JSON, nullable=False, default=list),
    Column("registered", TS, nullable=False),
    Column("modified_at", TS, nullable=False),
    Column("first_active_at", TS),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(
        ["tenant_id", "dialer_id"], ["dialers.tenant_id", "dialers.id"], ondelete="RESTRICT"
    ),
    ForeignKeyConstraint(
        ["tenant_id", "queue_id"], ["queues.tenant_id", "queues.id"], ondelete="RESTRICT"
    ),
)

activities = Table(
    "activities",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("campaign_id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(
        ["tenant_id", "campaign_id"],
        ["campaigns.tenant_id", "campaigns.id"],
        ondelete="CASCADE",
    ),
)

customers = Table(
    "customers",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    # Callbacks made through 8x8 or the native API have no campaign; they belong to a queue.
    Column("campaign_id", ID),
    Column("activity_id", ID),
    Column("external_id", String(200), nullable=False),
    Column("numbers", String(200), nullable=False),
    Column("number1", String(20)),
    Column("number2", String(20)),
    Column("number3", String(20)),
    Column("attributes", JSON, nullable=False, default=list),
    Column("result", String(20), nullable=False, default="DIALING"),
    Column("call_result", String(20)),
    Column("classifier", String(200)),
    Column("call_count", Integer, nullable=False, default=0),
    Column("last_b_number", Integer, nullable=False, default=0),
    Column("next_call_at", TS),
    Column("agent_id", ID),
    Column("dialing_mode", String(12)),
    Column("preview_time", Integer),
    Column("priority", Integer, nullable=False, default=0),
    Column("time_zone", String(64)),
    Column("state", Integer, nullable=False, default=0),
    Column("import_tag", String(250)),
    Column("amount", Float),
    Column("script", JSON),
    Column("lease_owner", String(64)),
    Column("lease_until", TS),
    Column("created_at", TS, nullable=False),
    Column("modified_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    _tenant_fk("customers"),
    Index("ix_customers_campaign_external", "tenant_id", "campaign_id", "external_id", unique=True),
    Index("ix_customers_campaign_due", "tenant_id", "campaign_id", "result", "next_call_at"),
    Index("ix_customers_number1", "tenant_id", "number1"),
    Index("ix_customers_number2", "tenant_id", "number2"),
    Index("ix_customers_number3", "tenant_id", "number3"),
    Index("ix_customers_modified", "tenant_id", "campaign_id", "modified_at"),
    # Data-dip provider lookups by externalId across a tenant's campaigns.
    Index("ix_customers_external", "tenant_id", "external_id"),
)

customer_attributes = Table(
    "customer_attributes",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    # Lower-cased copies make case-insensitive attribute search index-friendly.
    Column("name_ci", String(200), nullable=False),
    Column("value", Text, nullable=False),
    Column("value_ci", String(500), nullable=False),
    # Copies of the customer's campaign and externalId (neither ever changes), so that a
    # campaign's attribute search is an index walk in externalId order. Every writer
    # fills them; customers without a campaign (callbacks) have none.
    Column("campaign_id", ID),
    Column("external_id", String(200)),
    PrimaryKeyConstraint("tenant_id", "customer_id", "position"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        ondelete="CASCADE",
    ),
    # Pattern operators on PostgreSQL let a value prefix search (`c12*`, LIKE 'c12%')
    # range-scan the index whatever the database collation; equality still uses it.
    Index(
        "ix_customer_attributes_lookup",
        "tenant_id",
        "name_ci",
        "value_ci",
        postgresql_ops={"value_ci": "varchar_pattern_ops"},
    ),
    # OBI search in one campaign: an exact value walks its entries in externalId order;
    # a value prefix range-scans them (and sorts the externalIds when they are few).
    Index(
        "ix_customer_attributes_campaign_value",
        "tenant_id",
        "campaign_id",
        "name_ci",
        "value_ci",
        "external_id",
        postgresql_ops={"value_ci": "varchar_pattern_ops"},
    ),
    # A prefix many customers match: walk the attribute's entries in externalId order and
    # test each value in the index, with no customer row read until a page is found.
    Index(
        "ix_customer_attributes_campaign_order",
        "tenant_id",
        "campaign_id",
        "name_ci",
        "external_id",
        "value_ci",
    ),
)

# Callback requests stored per tenant and clock hour: the tenant's hourly limit is one
# row to read and bump instead of a count over the hour's interactions.
intake_counts = Table(
    "intake_counts",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("hour", TS, nullable=False),
    Column("requests", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "hour"),
    _tenant_fk("intake_counts"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("customer_id", ID, nullable=False),
    Column("campaign_id", ID),
    Column("queue_id", ID),
    Column("channel_number", String(32)),
    Column("flow", String(20), nullable=False),
    Column("callback_type", Integer, nullable=False),
    Column("desired_response_type", String(10), nullable=False, default="Voice"),
    Column("callback_status", Integer, nullable=False),
    Column("status", Integer, nullable=False),
    Column("start_time", TS, nullable=False),
    Column("end_time", TS),
    Column("customer_number", String(32), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("call_result", Integer),
    Column("dn", String(32)),
    Column("location", String(100)),
    Column("callback_server_id", String(100)),
    Column("external_id", String(200)),
    Column("owner_id", Integer),
    Column("creator_app_id", Integer, nullable=False, default=0),
    Column("start_date", TS, nullable=False),
    Column("end_date", TS),
    Column("timeshift", Integer),
    Column("subject", String(500)),
    Column("stopped_reason", String(200)),
    Column("udata", JSON, nullable=False, default=dict),
    Column("ext_transaction_data", JSON, nullable=False, default=list),
    Column("caller_id", String(32)),
    Column("webhook_url", Text),
    Column("source", String(20), nullable=False),
    Column("agent_id", ID),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64)),
    Column("disposition", JSON),
    # When the engine must next look at this interaction; NULL once nothing is pending.
    Column("due_at", TS),
    Column("lease_owner", String(64)),
    Column("lease_until", TS),
    Column("updated_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    ForeignKeyConstraint(
        ["tenant_id", "customer_id"],
        ["customers.tenant_id", "customers.id"],
        ondelete="CASCADE",
    ),
    Index("ix_interactions_due", "due_at"),
    # Routing: the callbacks waiting in a queue for a free agent, oldest first.
    Index("ix_interactions_queue_wait", "tenant_id", "queue_id", "callback_status", "start_time"),
    # Intake's duplicate check and per-number limit: one number's requests by date.
    Index("ix_interactions_number", "tenant_id", "customer_number", "start_date"),
    Index("ix_interactions_idempotency", "tenant_id", "idempotency_key", unique=True),
    Index("ix_interactions_start_date", "tenant_id", "start_date"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("interaction_id", ID, nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("call_id", String(80), nullable=False),
    Column("campaign_id", ID),
    Column("customer_id", ID, nullable=False),
    Column("agent_id", ID),
    Column("number", String(32), nullable=False),
    Column("number_index", Integer, nullable=False, default=0),
    Column("placed_at", TS, nullable=False),
    Column("answered_at", TS),
    Column("ended_at", TS),
    Column("call_result", Integer),
    Column("customer_result", String(20)),
    Column("classifier", String(200)),
    Column("amount", Float),
    Column("dialed", Boolean, nullable=False, default=True),
    #: The network's own word on how the call ended, e.g. "SIP 486 Busy Here".
    Column("network_cause", String(64)),
    PrimaryKeyConstraint("tenant_id", "interaction_id", "attempt_no"),
    UniqueConstraint("call_id"),
    Index("ix_attempts_campaign_time", "tenant_id", "campaign_id", "placed_at"),
)

#: Agents' nailed-up phone calls (progressive, predictive and preview campaigns on a SIP
#: node): rung once and kept up between customers. Only the worker holding the call can
#: join customers to it, so the row says which one does, under a lease like any claim.
agent_connections = Table(
    "agent_connections",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("owner", String(100), nullable=False),
    Column("call_id", String(80), nullable=False),
    Column("since", TS, nullable=False),
    Column("lease_until", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_id"),
    ForeignKeyConstraint(
        ["tenant_id", "agent_id"], ["users.tenant_id", "users.id"], ondelete="CASCADE"
    ),
)

agent_state_log = Table(
    "agent_state_log",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("agent_id", ID, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),
    Column("reason", String(200)),
    Column("at", TS, nullable=False),
    Column("interaction_id", ID),
    Column("campaign_id", ID),
    PrimaryKeyConstraint("tenant_id", "agent_id", "seq"),
    Index("ix_agent_state_log_time", "tenant_id", "at"),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("interaction_id", ID, nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS),
    Column("last_error", Text),
    Column("lease_owner", String(64)),
    Column("lease_until", TS),
    PrimaryKeyConstraint("tenant_id", "id"),
    Index("ix_webhook_outbox_due", "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("webhook_id", ID, nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("at", TS, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Float),
    PrimaryKeyConstraint("tenant_id", "webhook_id", "attempt_no"),
)

session_parameters = Table(
    "session_parameters",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("interaction_id", ID, nullable=False),
    Column("name", String(200), nullable=False),
    Column("value", Text, nullable=False),
    Column("display_to_agent", Boolean, nullable=False),
    PrimaryKeyConstraint("tenant_id", "interaction_id", "name"),
    Index("ix_session_parameters_search", "tenant_id", "name", "value"),
)

datadip_provider_config = Table(
    "datadip_provider_config",
    metadata,
    Column("tenant_id", ID, primary_key=True),
    # {"keys": [{"key": "phone-num", "field": "phone"}, ...] in priority order,
    #  "returns": [{"name": "...", "source": "attribute:City",
    #               "displayToAgent": .., "saveToDatabase": ..}]}
    Column("config", JSON, nullable=False),
    Column("modified_at", TS, nullable=False),
    _tenant_fk("datadip_provider_config"),
)

crm_dip_configs = Table(
    "crm_dip_configs",
    metadata,
    Column("tenant_id", ID, nullable=False),
    # "tenant" (scope_id ""), "queue" or "campaign" overrides.
    Column("scope", String(10), nullable=False),
    Column("scope_id", String(32), nullable=False),
    Column("url", Text, nullable=False),
    Column("token_encrypted", Text, nullable=False),
    Column("mappings", JSON, nullable=False),
    Column("timeout_s", Float, nullable=False, default=2.0),
    Column("retries", Integer, nullable=False, default=1),
    Column("dip_at", String(20), nullable=False, default="intake"),
    Column("modified_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "scope", "scope_id"),
    _tenant_fk("crm_dip_configs"),
)

datadip_log = Table(
    "datadip_log",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("id", ID, nullable=False),
    Column("interaction_id", ID, nullable=False),
    Column("at", TS, nullable=False),
    Column("stage", String(20), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("reason", Text),
    Column("parameter_count", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("tenant_id", "id"),
    Index("ix_datadip_log_interaction", "tenant_id", "interaction_id"),
)

do_not_call = Table(
    "do_not_call",
    metadata,
    Column("tenant_id", ID, nullable=False),
    # "" means tenant-wide; otherwise the campaign id.
    Column("campaign_id", String(32), nullable=False),
    Column("number", String(20), nullable=False),
    Column("created_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id", "number"),
    _tenant_fk("do_not_call"),
)

widget_keys = Table(
    "widget_keys",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("key", String(64), nullable=False, unique=True),
    Column("queue_id", ID),
    Column("enabled", Boolean, nullable=False, default=True),
    # Optional webhook for the key's callbacks, and user data (with 8x8 `$tokens$`) it carries.
    Column("webhook_url", Text),
    Column("udata", JSON, nullable=False, default=dict),
    Column("created_at", TS, nullable=False),
    PrimaryKeyConstraint("tenant_id", "key"),
    _tenant_fk("widget_keys"),
)

agent_schedules = Table(
    "agent_schedules",
    metadata,
    Column("tenant_id", ID, nullable=False),
    Column("queue_id", ID, nullable=False),
    # ISO weekday 1..7 and local "HH:MM" bounds, with how many agents are rostered.
    Column("weekday", Integer, nullable=False),
    Column("start", String(5), nullable=False),
    Column("end", String(5), nullable=False),
    Column("agents", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "queue_id", "weekday", "start"),
    _tenant_fk("agent_schedules"),
)
