"""agent state changes, kept for the supervisor's occupancy and for reports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_states",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(80), nullable=False, server_default=""),
        sa.Column("call_id", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_agent_states_at", "agent_states", ["at"])
    op.create_index("ix_agent_states_agent_at", "agent_states", ["agent_id", "at"])
    op.create_index("ix_journey_events_kind_at", "journey_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_journey_events_kind_at", "journey_events")
    op.drop_table("agent_states")
