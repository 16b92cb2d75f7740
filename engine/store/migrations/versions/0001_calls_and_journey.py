"""calls and their journey events

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(64), nullable=False),
        sa.Column("caller_number", sa.String(80), nullable=False, server_default=""),
        sa.Column("caller_name", sa.String(80), nullable=False, server_default=""),
        sa.Column("dialed", sa.String(80), nullable=False, server_default=""),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hung_up_by", sa.String(16), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_txt", sa.String(80), nullable=True),
    )
    op.create_index("ix_calls_channel_id", "calls", ["channel_id"], unique=True)
    op.create_index("ix_calls_ended_at", "calls", ["ended_at"])
    op.create_table(
        "journey_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.Integer(), sa.ForeignKey("calls.id", ondelete="CASCADE"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.UniqueConstraint("call_id", "seq", name="uq_journey_events_call_seq"),
    )
    op.create_index("ix_journey_events_call_id", "journey_events", ["call_id"])


def downgrade() -> None:
    op.drop_table("journey_events")
    op.drop_table("calls")
