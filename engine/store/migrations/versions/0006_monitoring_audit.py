"""monitoring_audit: supervisors listening to, whispering to and barging into agents' calls

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("supervisor", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False, server_default=""),
        sa.UniqueConstraint("session_id", "seq", name="uq_monitoring_audit_session_seq"),
    )
    op.create_index("ix_monitoring_audit_at", "monitoring_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_monitoring_audit_at", table_name="monitoring_audit")
    op.drop_table("monitoring_audit")
