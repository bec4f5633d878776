"""agent phones, network causes, agent connections

Each user may have a `phone`: where an agent takes calls on a SIP node (a SIP
URI, or a number sent through the trunk). Each attempt keeps the network's
own word on how it ended (`network_cause`, e.g. "SIP 486 Busy Here") beside
the seed's call_result. Both nullable, so no table rebuild. `agent_connections`
says which worker holds an agent's nailed-up phone call.

Revision ID: 0004
Revises: 0003
Create Date: (hand-written)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rappel.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if "phone" not in _columns("users"):
        op.add_column("users", sa.Column("phone", sa.String(length=255), nullable=True))
    if "network_cause" not in _columns("attempts"):
        op.add_column("attempts", sa.Column("network_cause", sa.String(length=64), nullable=True))
    if not sa.inspect(op.get_bind()).has_table("agent_connections"):
        op.create_table(
            "agent_connections",
            sa.Column("tenant_id", sa.String(length=32), nullable=False),
            sa.Column("agent_id", sa.String(length=32), nullable=False),
            sa.Column("owner", sa.String(length=100), nullable=False),
            sa.Column("call_id", sa.String(length=80), nullable=False),
            sa.Column("since", rappel.store.types.UtcDateTime(), nullable=False),
            sa.Column("lease_until", rappel.store.types.UtcDateTime(), nullable=False),
            sa.ForeignKeyConstraint(
                ["tenant_id", "agent_id"],
                ["users.tenant_id", "users.id"],
                name=op.f("fk_agent_connections_tenant_id_agent_id_users"),
                ondelete="CASCADE",
            ),
            sa.PrimaryKeyConstraint("tenant_id", "agent_id", name=op.f("pk_agent_connections")),
        )


def downgrade() -> None:
    op.drop_table("agent_connections")
    with op.batch_alter_table("attempts") as batch_op:
        batch_op.drop_column("network_cause")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("phone")
