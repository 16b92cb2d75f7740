"""calls.arrived_at indexed: the daily retention purge and the reports select calls by arrival time

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_arrived_at", "calls", ["arrived_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_arrived_at", table_name="calls")
